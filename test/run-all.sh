#!/usr/bin/env bash
# Runs every test program given on the command line, each under a time limit, and prints one
# summary line "N passed, M failed" (exit status 1 when M > 0). A program reports its counts in
# a line "RESULT <n> passed, <m> failed"; one that dies without that line counts as one failure.
# Each program's wall time is printed after it, and the slowest ones at the end (the budget of
# make test is 15 minutes on a 2-core CI machine).
set -uo pipefail
limit=${TEST_TIME_LIMIT:-600}
passed=0
failed=0
broken=()
times=()
for t in "$@"; do
  name=$(basename "$t")
  echo "=== $name"
  out=$(mktemp)
  t0=$SECONDS
  timeout --signal=KILL "$limit" "$t" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  echo "=== $name: $((SECONDS - t0)) s"
  times+=("$((SECONDS - t0)) $name")
  line=$(grep -E '^RESULT [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
  rm -f "$out"
  if [ -n "$line" ]; then
    p=$(awk '{print $2}' <<<"$line")
    f=$(awk '{print $4}' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -gt 0 ] && broken+=("$name")
  else
    echo "$name: exited with status $rc without a RESULT line" >&2
    failed=$((failed + 1))
    broken+=("$name")
  fi
done
if [ $# -gt 1 ]; then
  echo "slowest: $(printf '%s\n' "${times[@]}" | sort -rn | head -8 | awk '{ printf "%s%s %d s", (NR > 1 ? ", " : ""), $2, $1 }')"
fi
[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
