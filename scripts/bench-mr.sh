#!/usr/bin/env bash
# Word count over a generated corpus (>= 200 MB, kept in build/bench-mr/corpus): mrsequential,
# mrcoordinator + 1 worker, mrcoordinator + 2 workers, and the shell pipeline
# `LC_ALL=C tr -cs 'A-Za-z' '\n' | sort | uniq -c`, in the same run. Prints seconds and MB/s
# (10^6 bytes of input per second, end to end: from starting the processes until the last one
# exits) and the ratios, and checks that all four outputs are equal.
#   BIN=bin OUT=build/release scripts/bench-mr.sh
# Environment: BENCH_MR_FILES (16) x BENCH_MR_FILE_MB (13) MB of input, BENCH_MR_REPEAT (5)
# runs of each MapReduce configuration (the median is reported), BENCH_MR_VOCAB (50000: with
# it about 1 M words of text hold about 48 000 distinct lower-case words, as the Brown corpus
# of American English does).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-bin}
OUT=${OUT:-build/release}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
[[ $OUT = /* ]] || OUT=$ROOT/$OUT
FILES=${BENCH_MR_FILES:-16}
FILE_MB=${BENCH_MR_FILE_MB:-13}
REPEAT=${BENCH_MR_REPEAT:-5}
VOCAB=${BENCH_MR_VOCAB:-50000}
WC=$BIN/mrapps/wc.so
DIR=$ROOT/build/bench-mr
CORPUS=$DIR/corpus
RUN=$DIR/run

# ---- the corpus (regenerated when the parameters or the generator change) ----
stamp="files=$FILES size=${FILE_MB}MB vocab=$VOCAB gen=$(cksum <"$OUT/test/mr-gen-corpus" | cut -d' ' -f1)"
if [ "$(cat "$CORPUS/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "bench-mr: generating the corpus ($FILES files x $FILE_MB MB) in $CORPUS"
  rm -rf "$CORPUS"
  mkdir -p "$CORPUS"
  names=()
  for i in $(seq -w 1 "$FILES"); do names+=("$CORPUS/part-$i.txt"); done
  "$OUT/test/mr-gen-corpus" --vocab "$VOCAB" --size $((FILE_MB * 1000000)) "${names[@]}"
  echo "$stamp" >"$CORPUS/.stamp"
fi
inputs=("$CORPUS"/part-*.txt)
bytes=$(cat "${inputs[@]}" | wc -c)
cat "${inputs[@]}" >/dev/null # warm the page cache, as it is for every run below
words=$(LC_ALL=C tr -cs 'A-Za-z' '\n' <"${inputs[0]}" | grep -c .)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

now_ns() { date +%s%N; }
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

# run_mr WORKERS: one job with that many workers; prints the seconds it took.
run_mr() {
  local n=$1 port t0 t1 rc=0
  rm -rf "$RUN"
  mkdir -p "$RUN"
  port=$(free_port)
  t0=$(now_ns)
  (cd "$RUN" && exec "$BIN/mrcoordinator" --listen "127.0.0.1:$port" --no-progress-bar \
     --log-level warn "${inputs[@]}") 2>>"$DIR/coordinator.log" &
  local cpid=$! wpids=()
  for _ in $(seq "$n"); do
    (cd "$RUN" && exec "$BIN/mrworker" --coordinator "127.0.0.1:$port" --log-level warn "$WC") \
      2>>"$DIR/worker.log" &
    wpids+=($!)
  done
  pids=($cpid "${wpids[@]}")
  wait "$cpid" || rc=1
  for p in "${wpids[@]}"; do wait "$p" || rc=1; done
  t1=$(now_ns)
  pids=()
  [ $rc = 0 ] || { echo "bench-mr: the $n-worker run failed (see $DIR/*.log)" >&2; exit 1; }
  echo "$(( (t1 - t0) / 1000000 ))"
}

median() { tr ' ' '\n' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "bench-mr: $FILES files, $bytes bytes, about $((words * FILES / 1000000)) M words; nproc $(nproc)"

# 1. mrsequential
rm -rf "$RUN" && mkdir -p "$RUN"
t0=$(now_ns)
(cd "$RUN" && "$BIN/mrsequential" --output "$DIR/seq.txt" "$WC" "${inputs[@]}")
seq_ms=$(( ($(now_ns) - t0) / 1000000 ))
LC_ALL=C sort "$DIR/seq.txt" >"$DIR/expected.txt"

# 2, 3. coordinator + 1 and + 2 workers, REPEAT times each; outputs checked every time.
check_output() {
  LC_ALL=C sort "$RUN"/mr-out-* | grep . >"$DIR/mr.txt"
  cmp -s "$DIR/mr.txt" "$DIR/expected.txt" ||
    { echo "bench-mr: the $1-worker output differs from mrsequential's" >&2; exit 1; }
}
all1=() all2=()
for _ in $(seq "$REPEAT"); do
  all1+=("$(run_mr 1)")
  check_output 1
  all2+=("$(run_mr 2)")
  check_output 2
done
w1_ms=$(echo "${all1[@]}" | median)
w2_ms=$(echo "${all2[@]}" | median)

# 4. the shell pipeline
t0=$(now_ns)
cat "${inputs[@]}" | LC_ALL=C tr -cs 'A-Za-z' '\n' | LC_ALL=C sort | uniq -c >"$DIR/shell-raw.txt"
sh_ms=$(( ($(now_ns) - t0) / 1000000 ))
awk 'NF == 2 {print $2, $1}' "$DIR/shell-raw.txt" | LC_ALL=C sort >"$DIR/shell.txt"
cmp -s "$DIR/shell.txt" "$DIR/expected.txt" ||
  { echo "bench-mr: the shell pipeline's output differs from mrsequential's" >&2; exit 1; }
echo "bench-mr: all four outputs are equal ($(wc -l <"$DIR/expected.txt") distinct words)"

awk -v b="$bytes" -v s="$seq_ms" -v w1="$w1_ms" -v w2="$w2_ms" -v sh="$sh_ms" \
    -v r1="${all1[*]}" -v r2="${all2[*]}" -v rep="$REPEAT" 'BEGIN {
  mb = b / 1e6
  printf "\n%-34s %9s %9s\n", "word count", "seconds", "MB/s"
  printf "%-34s %9.3f %9.1f\n", "mrsequential", s / 1000, mb / (s / 1000)
  printf "%-34s %9.3f %9.1f   (median of %d: %s ms)\n", "mrcoordinator + 1 worker", w1 / 1000, mb / (w1 / 1000), rep, r1
  printf "%-34s %9.3f %9.1f   (median of %d: %s ms)\n", "mrcoordinator + 2 workers", w2 / 1000, mb / (w2 / 1000), rep, r2
  printf "%-34s %9.3f %9.1f\n", "tr | sort | uniq -c (LC_ALL=C)", sh / 1000, mb / (sh / 1000)
  printf "\n2 workers vs shell pipeline: %.1fx (target >= 5x)\n", sh / w2
  printf "2 workers vs 1 worker: %.2fx; 2 workers vs mrsequential: %.2fx\n", w1 / w2, s / w2
  printf "2 workers: %.0f MB/s (target >= 150, stretch >= 290)\n", mb / (w2 / 1000)
}'
