#!/usr/bin/env bash
# Ingest benchmark (issue 3): a generated corpus of many objects ingested
# into a fresh lake by s3logs, and converted by DuckDB's fastest route
# (read_csv with space delimiter, '"' quote, '-' as NULL, COPY to zstd
# Parquet; ../shared/anchors/duckdb.sql), alternating the two. Prints wall
# time, CPU seconds, peak RSS and output size for each, and the ratios.
#
#   S3LOGS_BENCH_MB   corpus size in MB (default 2100)
#   S3LOGS_BENCH_DIR  where corpora and outputs go (default $TMPDIR/s3logs-bench)
#   S3LOGS_BENCH_ROUNDS  alternations (default 2)
set -euo pipefail
source "$(dirname "$0")/common.sh"
MB="${S3LOGS_BENCH_MB:-2100}"
ROUNDS="${S3LOGS_BENCH_ROUNDS:-2}"
corpus="$base/ingest-corpus-${MB}mb"

if [ ! -d "$corpus" ]; then
  echo "generating a ${MB} MB corpus of 8 MB objects in $corpus" >&2
  "$bin" gen --out "$corpus" --mb "$MB" --object-kb 8000 --days 7 --malformed 0.0005 --late 0.02
fi
bytes=$(du -sbL "$corpus" | cut -f1)
cat "$corpus"/* > /dev/null

sql="$base/duckdb-convert.sql"
sed -n '/^-- convert/,/^-- q1/p' ../shared/anchors/duckdb.sql 2>/dev/null | grep -v '^--' > "$sql.in" || true
if [ ! -s "$sql.in" ]; then
  echo "../shared/anchors/duckdb.sql not found" >&2; exit 2
fi

measure() { # label outdir command...: one line of figures
  local label=$1 out=$2; shift 2
  rm -rf "$out"
  /usr/bin/time -o "$base/$label.time" -f '%e %U %S %M' "$@" > /dev/null 2> "$base/$label.err" || true
  local size
  size=$(du -sb "$out" 2>/dev/null | cut -f1 || echo 0)
  awk -v l="$label" -v s="$size" -v n="$bytes" \
    '{ printf "%-8s wall %7.2f s  cpu %7.2f s  %7.1f MB/s  peak RSS %7.1f MiB  output %8.1f MB\n", l, $1, $2 + $3, n / 1e6 / $1, $4 / 1024, s / 1e6 }' \
    "$base/$label.time"
}

duck_out="$base/duckdb-out"
mkdir -p "$duck_out"  # DuckDB writes $duck_out/logs.parquet
sed -e "s#INPUT#$corpus/*#" -e "s#OUTPUT#$duck_out/logs#" "$sql.in" > "$sql"
cat > "$base/duck.py" <<PY
import duckdb, sys
con = duckdb.connect()
con.execute(open("$sql").read())
PY

echo "corpus: $((bytes / 1000000)) MB, $(ls "$corpus" | wc -l) objects, $(nproc) cores"
for r in $(seq "$ROUNDS"); do
  measure s3logs "$base/lake" "$bin" ingest "$corpus" --lake "$base/lake" --max-reject-ratio 1
  measure duckdb "$duck_out/logs.parquet" "$py" "$base/duck.py"
done | tee "$base/ingest-results.txt"
awk '
  /^s3logs/ { sw += $3; sc += $6; sr = ($12 > sr ? $12 : sr); so = $15; n++ }
  /^duckdb/ { dw += $3; dc += $6; dr = ($12 > dr ? $12 : dr); do_ = $15 }
  END {
    printf "ratio: DuckDB wall / s3logs wall = %.2fx (target >= 2, issue 13)\n", dw / sw
    printf "ratio: DuckDB CPU / s3logs CPU = %.2fx\n", dc / sc
    printf "ratio: s3logs peak RSS / DuckDB peak RSS = %.2f (target < 1)\n", sr / dr
    printf "ratio: s3logs lake / DuckDB Parquet = %.2f (target <= 1)\n", so / do_
  }' "$base/ingest-results.txt"
# Rows each kept: DuckDB's CSV reader drops the lines it cannot split
# (ignore_errors), so its file holds fewer records; compare bytes per record.
ours=$("$bin" query "SELECT count(*) FROM logs" --lake "$base/lake" --format csv | tail -1)
theirs=$("$py" -c "import pyarrow.parquet as pq, sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)" "$duck_out/logs.parquet")
awk -v o="$ours" -v t="$theirs" -v so="$(du -sb "$base/lake" | cut -f1)" -v st="$(du -sb "$duck_out/logs.parquet" | cut -f1)" 'BEGIN {
  printf "records kept: s3logs %d, DuckDB %d (%.1f%% fewer)\n", o, t, 100 * (o - t) / o
  printf "ratio: bytes per record, s3logs lake / DuckDB Parquet = %.3f (s3logs also stores source_file and source_line)\n", (so / o) / (st / t)
}'
