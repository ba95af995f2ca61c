#!/usr/bin/env bash
# Query benchmark (issue 4): three typical queries (q1 requests and bytes by
# bucket and operation; q2 top 20 requesters by 403s; q3 hourly counts for
# one day), each run as a whole process, alternating with DuckDB (PyPI) in
# the same run:
#   lake: `s3logs query --lake` on our Delta lake vs DuckDB on its own
#         Parquet of the same data (../shared/anchors/duckdb.sql, convert);
#   raw:  `s3logs query --raw` on the log files vs DuckDB's read_csv route
#         over the same files.
# Each figure is the best of S3LOGS_BENCH_ROUNDS runs. The answers are
# compared too: the corpus holds user agents with raw quotes (one line in a
# hundred), which DuckDB's CSV reader drops or shifts.
#
#   S3LOGS_BENCH_MB      corpus size in MB (default 2100)
#   S3LOGS_BENCH_DIR     where corpora and outputs go (default $TMPDIR/s3logs-bench)
#   S3LOGS_BENCH_ROUNDS  runs of each query (default 3)
#   S3LOGS_BIN           a release binary already built (skips the build)
set -euo pipefail
source "$(dirname "$0")/common.sh"
MB="${S3LOGS_BENCH_MB:-2100}"
ROUNDS="${S3LOGS_BENCH_ROUNDS:-3}"
corpus="$base/query-corpus-${MB}mb"
lake="$base/query-lake-${MB}mb"
duck="$base/query-duck-${MB}mb"
anchors=../shared/anchors/duckdb.sql

if [ ! -f "$anchors" ]; then
  echo "$anchors not found" >&2; exit 2
fi

if [ ! -d "$corpus" ]; then
  echo "generating a ${MB} MB corpus of 8 MB objects in $corpus" >&2
  "$bin" gen --out "$corpus" --mb "$MB" --object-kb 8000 --days 7 --malformed 0.0005 --late 0.02
fi
if [ ! -d "$lake/logs" ]; then
  echo "ingesting $corpus into $lake" >&2
  "$bin" ingest "$corpus" --lake "$lake" --max-reject-ratio 1 2> /dev/null
fi
if [ ! -f "$duck/logs.parquet" ]; then
  echo "converting $corpus with DuckDB into $duck/logs.parquet" >&2
  mkdir -p "$duck"
  "$py" benches/query_duckdb.py "$anchors" convert "$corpus" "$duck/logs" > /dev/null
fi
bytes=$(du -sbL "$corpus" | cut -f1)
cat "$corpus"/* > /dev/null

# Our three queries: the same questions, asked the way a user of s3logs
# asks them (q3 names the day by its partition).
ours() {
  case $1 in
    q1) echo "SELECT bucket, operation, count(*) AS requests, sum(bytes_sent) AS bytes_sent FROM logs GROUP BY bucket, operation ORDER BY requests DESC, bucket, operation" ;;
    q2) echo "SELECT requester, count(*) AS n FROM logs WHERE http_status = 403 GROUP BY requester ORDER BY n DESC, requester LIMIT 20" ;;
    q3) echo "SELECT date_trunc('hour', request_time) AS hour, count(*) AS requests FROM logs WHERE date = DATE '2024-03-04' GROUP BY hour ORDER BY hour" ;;
  esac
}

out="$base/query-out"
rm -rf "$out"; mkdir -p "$out"
time_it() { # label stdout-file command...: prints wall seconds, to the millisecond
  local start end
  start=$(date +%s%N)
  if ! "${@:3}" > "$2" 2> "$out/$1.err"; then
    echo "$1 failed:" >&2; cat "$out/$1.err" >&2; echo fail; return
  fi
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}
inner() { # label: DuckDB's own query seconds
  sed -n 's/^query_seconds //p' "$out/$1.err"
}

echo "corpus: $((bytes / 1000000)) MB, $(ls "$corpus" | wc -l) objects, $(nproc) cores; best of $ROUNDS"
results="$out/results.txt"
: > "$results"
for q in q1 q2 q3; do
  for r in $(seq "$ROUNDS"); do
    echo "lake $q s3logs $(time_it "lake-$q-s3logs" "$out/lake-$q-s3logs.csv" "$bin" query "$(ours $q)" --lake "$lake" --format csv)" >> "$results"
    echo "lake $q duckdb $(time_it "lake-$q-duckdb" "$out/lake-$q-duckdb.csv" "$py" benches/query_duckdb.py "$anchors" "$q" parquet "$duck/logs")" >> "$results"
    echo "lake $q duckdb-inner $(inner "lake-$q-duckdb")" >> "$results"
    echo "raw $q s3logs $(time_it "raw-$q-s3logs" "$out/raw-$q-s3logs.csv" "$bin" query "$(ours $q)" --raw "$corpus" --format csv)" >> "$results"
    echo "raw $q duckdb $(time_it "raw-$q-duckdb" "$out/raw-$q-duckdb.csv" "$py" benches/query_duckdb.py "$anchors" "$q" raw "$corpus")" >> "$results"
    echo "raw $q duckdb-inner $(inner "raw-$q-duckdb")" >> "$results"
  done
done

if grep -q fail "$results"; then echo "some runs failed (see above)" >&2; exit 2; fi
awk '
  { k = $1 " " $2 " " $3; if (!(k in best) || $4 < best[k]) best[k] = $4 }
  END {
    printf "%-5s %-3s %10s %10s %14s %8s %8s\n", "route", "q", "s3logs s", "duckdb s", "duckdb inner s", "ratio", "inner"
    split("lake raw", routes, " ")
    for (r = 1; r <= 2; r++) for (i = 1; i <= 3; i++) {
      q = "q" i; s = best[routes[r] " " q " s3logs"]; d = best[routes[r] " " q " duckdb"]
      di = best[routes[r] " " q " duckdb-inner"]
      printf "%-5s %-3s %10.3f %10.3f %14.3f %7.2fx %7.2fx\n", routes[r], q, s, d, di, d / s, di / s
    }
    print "ratio = DuckDB time / s3logs time, both whole processes; inner = DuckDB query time"
    print "inside Python (no interpreter start) / s3logs whole process."
    print "targets (issue 13): lake inner >= 0.83 (within 1.2x of DuckDB in-process); raw >= 1.5"
  }' "$results"

# Answers: total requests and bytes of q1 by each route.
echo "q1 answers (requests, bytes_sent summed over all rows):"
for f in lake-q1-s3logs raw-q1-s3logs lake-q1-duckdb raw-q1-duckdb; do
  awk -F, -v f="$f" 'NR > 1 { n += $(NF-1); b += $NF } END { printf "  %-15s %12.0f %18.0f\n", f, n, b }' "$out/$f.csv"
done
if cmp -s "$out/lake-q1-s3logs.csv" "$out/raw-q1-s3logs.csv"; then
  echo "  s3logs: the lake and --raw give the same q1 answer"
else
  echo "  s3logs: the lake and --raw DISAGREE on q1" >&2; exit 1
fi
