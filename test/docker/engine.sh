# Sourced by the Docker tests after test/support/check.sh: skips the test (RESULT 0 passed, exit
# 0, with a message) when no Docker engine or docker-compose is reachable, and fails it when the
# raftkv:latest image is missing.   require_engine NAME
require_engine() {
  if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1 || ! command -v docker-compose >/dev/null; then
    echo "$1: skipped: no Docker engine (or no docker-compose) is reachable"
    check_result
    exit 0
  fi
  if ! docker image inspect raftkv:latest >/dev/null 2>&1; then
    echo "$1: the raftkv:latest image is missing (make image)"
    CHECK_FAILED=1
    check_result
    exit 1
  fi
}
