#!/usr/bin/env bash
# Report benchmark (issue 16): GoAccess (`--log-format=AWSS3`, one HTML
# report) over the ingest benchmark's corpus, against `s3logs report --raw`
# over the same files, alternating the two; then `s3logs report --lake`
# over that corpus's lake. Prints wall time, CPU seconds and peak RSS of
# each, and the ratios.
#
#   S3LOGS_BENCH_MB      corpus size in MB (default 2100, shared with bench-ingest)
#   S3LOGS_BENCH_ROUNDS  alternations (default 2)
#   GOACCESS             the GoAccess binary (default: goaccess on PATH;
#                        `apt-get install goaccess`)
set -euo pipefail
source "$(dirname "$0")/common.sh"
MB="${S3LOGS_BENCH_MB:-2100}"
ROUNDS="${S3LOGS_BENCH_ROUNDS:-2}"
goaccess="${GOACCESS:-goaccess}"
command -v "$goaccess" > /dev/null || { echo "GoAccess not found: apt-get install goaccess" >&2; exit 2; }
corpus="$base/ingest-corpus-${MB}mb"
if [ ! -d "$corpus" ]; then
  echo "generating a ${MB} MB corpus of 8 MB objects in $corpus" >&2
  "$bin" gen --out "$corpus" --mb "$MB" --object-kb 8000 --days 7 --malformed 0.0005 --late 0.02
fi
bytes=$(du -sbL "$corpus" | cut -f1)
lake="$base/report-lake"
if [ ! -d "$lake" ]; then
  "$bin" ingest "$corpus" --lake "$lake" --max-reject-ratio 1 2> /dev/null
fi
cat "$corpus"/* > /dev/null

measure() { # label command...: one line of figures
  local label=$1; shift
  /usr/bin/time -o "$base/$label.time" -f '%e %U %S %M' "$@" > /dev/null 2> "$base/$label.err" || {
    echo "$label failed:" >&2; tail -5 "$base/$label.err" >&2; exit 1; }
  awk -v l="$label" -v n="$bytes" \
    '{ printf "%-8s wall %7.2f s  cpu %7.2f s  %7.1f MB/s  peak RSS %7.1f MiB\n", l, $1, $2 + $3, n / 1e6 / $1, $4 / 1024 }' \
    "$base/$label.time"
}

echo "corpus: $((bytes / 1000000)) MB, $(ls "$corpus" | wc -l) objects, $(nproc) cores"
for r in $(seq "$ROUNDS"); do
  measure goaccess "$goaccess" --log-format=AWSS3 --no-global-config \
    -o "$base/goaccess-report.html" "$corpus"/*
  measure raw "$bin" report --raw "$corpus" --output "$base/raw-report.html"
  measure lake "$bin" report --lake "$lake" --output "$base/lake-report.html"
done | tee "$base/report-results.txt"
awk '
  /^goaccess/ { gw += $3; gc += $6; n++ }
  /^raw/ { rw += $3; rc += $6 }
  /^lake/ { lw += $3; if ($3 > lmax) lmax = $3 }
  END {
    printf "ratio: GoAccess wall / s3logs report --raw wall = %.2fx (target >= 10)\n", gw / rw
    printf "ratio: GoAccess CPU / s3logs report --raw CPU = %.2fx\n", gc / rc
    printf "s3logs report --lake: %.2f s mean, %.2f s slowest (target < 3 s)\n", lw / n, lmax
  }' "$base/report-results.txt"
ls -l "$base/goaccess-report.html" "$base/raw-report.html" "$base/lake-report.html" | awk '{ print $5, $9 }'
