#!/usr/bin/env bash
# S3 benchmark (issue 5), against moto's S3 server (PyPI, the one the tests
# use) on 127.0.0.1, measured in the same run as its baselines:
#   1. 2,000 log objects of 100 and 450 KB ingested from the server vs the
#      same objects from local disk (best of S3LOGS_BENCH_ROUNDS each), and
#      the server's own ceiling: every object fetched by a 16-thread boto3
#      client, no parsing.
#   2. An hourly cron run on a bucket holding S3LOGS_BENCH_HISTORY old
#      objects (default 100,000, over 100 days): after a first run that
#      ingested the last day, an hour of new objects arrives; the run's LIST
#      requests and listing seconds, vs listing the whole prefix.
#
#   S3LOGS_BENCH_DIR      where corpora and lakes go (default $TMPDIR/s3logs-bench)
#   S3LOGS_BENCH_HISTORY  old objects in the listing bucket (default 100000)
#   S3LOGS_BENCH_ROUNDS   runs of each ingest (default 2)
#   S3LOGS_BIN            a release binary already built (skips the build)
set -euo pipefail
source "$(dirname "$0")/common.sh"
HISTORY="${S3LOGS_BENCH_HISTORY:-100000}"
ROUNDS="${S3LOGS_BENCH_ROUNDS:-2}"

start_s3_server
echo "moto S3 server at $endpoint; $(nproc) cores"

# 1. Ingest from the server vs from disk.
corpus="$base/s3-corpus"
if [ ! -d "$corpus" ]; then
  "$bin" gen --out "$corpus/small" --mb 100 --object-kb 100 --days 3 --seed 1 2> /dev/null
  "$bin" gen --out "$corpus/large" --mb 450 --object-kb 450 --days 3 --seed 2 2> /dev/null
fi
objects=$(find "$corpus" -type f | wc -l)
mb=$(( $(du -sb "$corpus" | cut -f1) / 1000000 ))
"$py" tests/s3/seed.py "$endpoint" bench-objects "$corpus" > /dev/null
cat "$corpus"/*/* > /dev/null
echo "1. $objects objects, $mb MB"
best() { sort -n | head -1; }
measure() { # lake command...: wall seconds
  rm -rf "$1"
  /usr/bin/time -f '%e' -o "$base/s3-time" "${@:2}" --lake "$1" --max-reject-ratio 1 > /dev/null 2> "$base/s3-err" \
    || { cat "$base/s3-err" >&2; exit 2; }
  cat "$base/s3-time"
}
local_t=$(for r in $(seq "$ROUNDS"); do measure "$base/s3-lake-local" "$bin" ingest "$corpus"; done | best)
s3_t=$(for r in $(seq "$ROUNDS"); do measure "$base/s3-lake-s3" "$bin" ingest s3://bench-objects/; done | best)
read -r fetch_t fetch_mb < <("$py" benches/s3_bench.py "$endpoint" get-all bench-objects "")
same=$("$bin" query "SELECT count(*), sum(bytes_sent) FROM logs" --lake "$base/s3-lake-s3" --format csv | tail -1)
want=$("$bin" query "SELECT count(*), sum(bytes_sent) FROM logs" --lake "$base/s3-lake-local" --format csv | tail -1)
[ "$same" = "$want" ] || { echo "the lakes differ: $same vs $want" >&2; exit 1; }
awk -v l="$local_t" -v s="$s3_t" -v f="$fetch_t" -v mb="$fetch_mb" 'BEGIN {
  printf "   from local disk  %6.2f s\n", l
  printf "   from the server  %6.2f s   ratio %.2fx of local (target <= 1.5)\n", s, s / l
  printf "   server ceiling   %6.2f s   (boto3, 16 threads, GET only, %.0f MB: %.0f MB/s)\n", f, mb, mb / f
  printf "   s3logs from the server vs the ceiling: %.2fx\n", s / f
}'
echo "   same rows and bytes from both: $same"

# 2. An hourly run on a bucket with a long history.
line="$base/s3-line.log"
head -1 sample-logs/simple-prefix/photos-prod/2024-03-01-01-22-06-967A64CB14028D51 > "$line"
if ! "$py" benches/s3_bench.py "$endpoint" list-all bench-history hist/ 2> /dev/null | grep -q " $HISTORY\$"; then
  echo "2. uploading $HISTORY old objects (takes a while)" >&2
  "$py" benches/s3_bench.py "$endpoint" history bench-history hist/ "$HISTORY" 100 "$line"
fi
hlake="$base/s3-lake-history"
rm -rf "$hlake"
# The first run takes the last three days of history (the look-back
# window); then an hour arrives.
"$bin" ingest s3://bench-history/hist/ --since 2024-04-07 --lake "$hlake" 2> /dev/null
"$py" benches/s3_bench.py "$endpoint" hour bench-history hist/ 100 "$line"
"$bin" ingest s3://bench-history/hist/ --lake "$hlake" --summary-json "$base/s3-hour.json" 2> /dev/null
read -r all_t all_req all_keys < <("$py" benches/s3_bench.py "$endpoint" list-all bench-history hist/)
"$py" - "$base/s3-hour.json" "$all_t" "$all_req" "$all_keys" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
all_t, all_req, all_keys = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("2. hourly run on %d old objects: %d LIST requests, %.2f s of listing, %d objects listed, "
      "%d ingested, %.2f s in all" % (all_keys - 12, s["list_requests"], s["list_seconds"],
      s["objects_found"], s["objects_ingested"], s["seconds"]))
print("   listing the whole prefix instead: %d LIST requests, %.2f s" % (all_req, all_t))
PY
