#!/usr/bin/env bash
# Whole-file benchmark of `s3logs check` against a baseline measured in the
# same run: a minimal memchr field splitter over the same files (one core).
# Prints MB/s and peak RSS; targets (issue 2): parsing on one core >= 50% of
# the splitter, two cores >= 1.7x one core, peak RSS < 200 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/s3logs-target}"
MB="${S3LOGS_BENCH_MB:-1100}"
dir="${S3LOGS_BENCH_DIR:-${TMPDIR:-/tmp}/s3logs-bench}/corpus-${MB}mb"

# S3LOGS_BIN: a release binary already built (skips the build).
if [ -z "${S3LOGS_BIN:-}" ]; then
  cargo build --release --quiet
fi
bin="${S3LOGS_BIN:-$CARGO_TARGET_DIR/release/s3logs}"
if [ ! -d "$dir" ]; then
  echo "generating a ${MB} MB corpus in $dir" >&2
  "$bin" gen --out "$dir" --mb "$MB" --object-kb 64000 --malformed 0.001
fi
bytes=$(du -sb "$dir" | cut -f1)
# Warm the page cache so every contestant reads from memory.
cat "$dir"/* > /dev/null

run() { # label, command...: prints "label seconds MB/s peakRSS_MiB"
  local label=$1; shift
  local t0 t1 rss
  t0=$(date +%s.%N)
  local out
  out=$(mktemp)
  /usr/bin/time -o "$out" -f '%M' "$@" > /dev/null 2>/dev/null || true
  rss=$(tail -1 "$out"); rm -f "$out"
  t1=$(date +%s.%N)
  awk -v l="$label" -v a="$t0" -v b="$t1" -v n="$bytes" -v r="$rss" \
    'BEGIN { s = b - a; printf "%-28s %7.2f s %8.1f MB/s %7.1f MiB\n", l, s, n / 1e6 / s, r / 1024 }'
}

split_mbs=$(cargo bench --quiet --bench splitter -- "$dir" 2>/dev/null)
echo "corpus: $((bytes / 1000000)) MB in $dir"
printf '%-28s %19.1f MB/s\n' "memchr splitter (1 core)" "$split_mbs"
one=$(run "s3logs check (1 core)" "$bin" --threads 1 check "$dir" --format json)
two=$(run "s3logs check (2 cores)" "$bin" --threads 2 check "$dir" --format json)
echo "$one"; echo "$two"
m1=$(echo "$one" | awk '{print $(NF-3)}'); m2=$(echo "$two" | awk '{print $(NF-3)}')
awk -v s="$split_mbs" -v a="$m1" -v b="$m2" 'BEGIN {
  printf "ratio: check 1 core / splitter = %.2f (target >= 0.50)\n", a / s
  printf "ratio: check 2 cores / 1 core = %.2f (target >= 1.70)\n", b / a }'
