#!/usr/bin/env bash
# Runs every test program given on the command line, each under a time limit, TEST_JOBS of them
# at once (2; 1 = one after the other), and prints one summary line "N passed, M failed" (exit
# status 1 when M > 0). A program reports its counts in a line "RESULT <n> passed, <m> failed";
# one that dies without that line counts as one failure. Each program's output is printed whole
# when it ends, with its wall time, and the slowest ones at the end (the budget of make test is
# 15 minutes on a 2-core CI machine).
#
# Programs running at once must not take each other's ports: each job slot gets its own range,
# TEST_PORT_LO..TEST_PORT_HI in the environment, inside 10000-32000 (below Linux's ephemeral
# ports), which every port picker of the tests honours (test/support/check.sh's random_base and
# free_port, test/cluster/procs.c's cluster_port_pick). Programs of one exclusive group (the
# Docker tests: one engine, image builds) never overlap.
#
# Order: longest first (the figures of test/test-times.txt, from an earlier run; a program not
# listed there counts as 30 s), so that no long program starts last. Each run writes its own
# figures to $TEST_TIMES_OUT when set (make test: build/<mode>/test-times.txt).
set -uo pipefail
limit=${TEST_TIME_LIMIT:-600}
jobs=${TEST_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run-all: TEST_JOBS must be a positive number" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
times_file=$here/test-times.txt

# The exclusive group of a program, or "" (none).
group_of() {
  case $(basename "$1") in
  test-docker*) echo docker ;;
  *) echo "" ;;
  esac
}

# Programs, longest first by the recorded figures (stable for equal figures).
order() {
  local t i=0 name secs
  for t in "$@"; do
    name=$(basename "$t")
    secs=$(awk -v n="$name" '$2 == n { print $1; exit }' "$times_file" 2>/dev/null)
    printf '%s\t%d\t%s\n' "${secs:-30}" $((i++)) "$t"
  done | sort -t$'\t' -k1,1rn -k2,2n | cut -f3
}

mapfile -t queue < <(order "$@")
outdir=$(mktemp -d "${TMPDIR:-/tmp}/run-all.XXXXXX")
trap 'rm -rf "$outdir"' EXIT
span=$((22000 / jobs))
passed=0
failed=0
broken=()
times=()
declare -A slot_of=() name_of=() start_of=() group_busy=() group_pid=()
free_slots=()
for ((s = 0; s < jobs; s++)); do free_slots+=("$s"); done

# Starts queue entry $1 in a free slot.
start() {
  local t=${queue[$1]} slot=${free_slots[0]} name g pid
  free_slots=("${free_slots[@]:1}")
  name=$(basename "$t")
  g=$(group_of "$t")
  TEST_PORT_LO=$((10000 + slot * span)) TEST_PORT_HI=$((10000 + (slot + 1) * span)) \
    timeout --signal=KILL "$limit" "$t" >"$outdir/$slot.out" 2>&1 &
  pid=$!
  slot_of[$pid]=$slot
  name_of[$pid]=$name
  start_of[$pid]=$SECONDS
  if [ -n "$g" ]; then group_busy[$g]=1; group_pid[$pid]=$g; fi
}

# Reports the program that ran as pid and exited with rc, and frees its slot.
finish() {
  local pid=$1 rc=$2 slot=${slot_of[$1]} name=${name_of[$1]} took line p f
  took=$((SECONDS - ${start_of[$1]}))
  echo "=== $name"
  cat "$outdir/$slot.out"
  echo "=== $name: $took s"
  times+=("$took $name")
  line=$(grep -E '^RESULT [0-9]+ passed, [0-9]+ failed$' "$outdir/$slot.out" | tail -n 1)
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
  if [ -n "${group_pid[$pid]:-}" ]; then unset "group_busy[${group_pid[$pid]}]" "group_pid[$pid]"; fi
  unset "slot_of[$pid]" "name_of[$pid]" "start_of[$pid]"
  free_slots+=("$slot")
}

next=() # indexes of queue not started yet
for i in "${!queue[@]}"; do next+=("$i"); done
while [ ${#next[@]} -gt 0 ] || [ ${#slot_of[@]} -gt 0 ]; do
  # Start what fits: the first waiting program whose group is not busy, while a slot is free.
  while [ ${#free_slots[@]} -gt 0 ] && [ ${#next[@]} -gt 0 ]; do
    picked=-1
    for k in "${!next[@]}"; do
      g=$(group_of "${queue[${next[$k]}]}")
      if [ -z "$g" ] || [ -z "${group_busy[$g]:-}" ]; then picked=$k; break; fi
    done
    [ $picked -ge 0 ] || break
    start "${next[$picked]}"
    next=("${next[@]:0:$picked}" "${next[@]:$((picked + 1))}")
  done
  wait -n -p done_pid "${!slot_of[@]}"
  rc=$?
  finish "$done_pid" "$rc"
done

if [ -n "${TEST_TIMES_OUT:-}" ]; then
  printf '%s\n' "${times[@]}" | sort -rn >"$TEST_TIMES_OUT"
fi
if [ $# -gt 1 ]; then
  echo "slowest: $(printf '%s\n' "${times[@]}" | sort -rn | head -8 | awk '{ printf "%s%s %d s", (NR > 1 ? ", " : ""), $2, $1 }')"
fi
[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
