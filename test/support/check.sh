# Helpers for shell test suites (source it). Each check prints one line; `check_result` prints
# the "RESULT <n> passed, <m> failed" line test/run-all.sh reads and returns non-zero on failure.
#   check NAME COMMAND...              passes when COMMAND succeeds
#   expect STATUS PATTERN COMMAND...   COMMAND exits with STATUS and its stderr matches PATTERN
CHECK_PASSED=0
CHECK_FAILED=0
CHECK_TIMEOUT=${CHECK_TIMEOUT:-30s}

check() {
  local name=$1
  shift
  if "$@"; then
    CHECK_PASSED=$((CHECK_PASSED + 1))
    echo "ok - $name"
  else
    CHECK_FAILED=$((CHECK_FAILED + 1))
    echo "not ok - $name"
  fi
}

expect() {
  local want=$1 pattern=$2 rc
  shift 2
  timeout -k 2s "$CHECK_TIMEOUT" "$@" >out.txt 2>err.txt
  rc=$?
  if [ $rc != "$want" ] || { [ -n "$pattern" ] && ! grep -Eq -- "$pattern" err.txt; }; then
    echo "    $* -> exit $rc (want $want), stderr: $(head -c 300 err.txt)"
    return 1
  fi
}

check_result() {
  echo "RESULT $CHECK_PASSED passed, $CHECK_FAILED failed"
  [ "$CHECK_FAILED" -eq 0 ]
}

# Test ports come from TEST_PORT_LO..TEST_PORT_HI (test/run-all.sh gives each of the programs it
# runs at once its own range; alone: 20000-32000). Below Linux's ephemeral range (32768-60999),
# which outgoing connections take their local ports from: a port free of listeners there can
# still be taken when the daemon binds it.
TEST_PORT_LO=${TEST_PORT_LO:-20000}
TEST_PORT_HI=${TEST_PORT_HI:-32000}

# A random base port with SPAN ports above it inside the range (a suite's ports are base + k).
random_base() {
  local span=${1:-400}
  echo $((TEST_PORT_LO + (RANDOM * 32768 + RANDOM) % (TEST_PORT_HI - TEST_PORT_LO - span)))
}

# A TCP port on 127.0.0.1 in the range that nothing listens on now (bounded: 100 tries).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$(random_base 1)
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return 0; }
  done
  return 1
}
