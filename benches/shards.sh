#!/usr/bin/env bash
# Sharded ingest benchmark (issue 17), against moto's S3 server (PyPI, the
# one the tests use) on 127.0.0.1: a ~2 GB corpus ingested from the server
# by one worker, then by 2 and by 4 shard workers started at once (each
# into a fresh local lake), measured in the same run. On a 2-core machine
# more workers cannot add cores, so what counts is the throughput per
# CPU-second (the cost of sharding) and the commit conflicts: each shard's
# time, Delta commits and retries are printed from its summary. The lakes
# must hold the same records.
#
#   S3LOGS_BENCH_DIR  where the corpus and lakes go (default $TMPDIR/s3logs-bench)
#   S3LOGS_BENCH_MB   corpus size in MB (default 2100)
#   S3LOGS_BIN        a release binary already built (skips the build)
set -euo pipefail
source "$(dirname "$0")/common.sh"
MB="${S3LOGS_BENCH_MB:-2100}"

# The ingest benchmark's corpus (the same generator options).
corpus="$base/ingest-corpus-${MB}mb"
if [ ! -d "$corpus" ]; then
  "$bin" gen --out "$corpus" --mb "$MB" --object-kb 8000 --days 7 --malformed 0.0005 --late 0.02 2> /dev/null
fi
start_s3_server
"$py" tests/s3/seed.py "$endpoint" bench-shards "$corpus" > /dev/null
objects=$(find "$corpus" -type f | wc -l)
mb=$(( $(du -sb "$corpus" | cut -f1) / 1000000 ))
echo "moto S3 server at $endpoint; $(nproc) cores; $objects objects, $mb MB"

run() { # N: ingest with N workers at once into a fresh lake; prints wall and CPU seconds
  local n=$1 lake="$base/shard-lake-$1" start end pids=()
  rm -rf "$lake"
  start=$(date +%s.%N)
  for k in $(seq "$n"); do
    local shard=()
    if [ "$n" -gt 1 ]; then shard=(--shard "$k/$n"); fi
    /usr/bin/time -f '%e %U %S' -o "$base/shard-$n-$k.time" \
      "$bin" ingest s3://bench-shards/ --lake "$lake" --max-reject-ratio 1 "${shard[@]}" \
      --summary-json "$base/shard-$n-$k.json" > /dev/null 2> "$base/shard-$n-$k.err" &
    pids+=($!)
  done
  # (a bare `wait` would wait for the S3 server too)
  for pid in "${pids[@]}"; do
    wait "$pid" || { cat "$base"/shard-"$n"-*.err >&2; exit 2; }
  done
  end=$(date +%s.%N)
  "$py" - "$n" "$start" "$end" "$mb" "$base" <<'PY'
import json, sys
n, start, end, mb, base = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
wall = end - start
cpu = 0.0
rows = []
for k in range(1, n + 1):
    e, u, s = map(float, open(f"{base}/shard-{n}-{k}.time").read().split())
    cpu += u + s
    j = json.load(open(f"{base}/shard-{n}-{k}.json"))
    rows.append((k, e, u + s, j["objects_ingested"], j["records"], j["commits"], j["commit_retries"]))
print(f"{n} worker(s): {wall:6.2f} s wall, {cpu:6.2f} CPU-s, {mb / wall:6.1f} MB/s, {mb / cpu:6.1f} MB per CPU-s")
for k, e, c, o, r, commits, retries in rows:
    label = f"shard {k}/{n}" if n > 1 else "unsharded"
    print(f"   {label:<10} {e:6.2f} s, {c:6.2f} CPU-s, {o:4d} objects, {r:9d} records, {commits} commits, {retries} retries")
open(f"{base}/shard-{n}.result", "w").write(f"{wall} {cpu}\n")
PY
}
run 1
run 2
run 4
want=$("$bin" query "SELECT count(*), sum(bytes_sent), count(DISTINCT source_file) FROM logs" --lake "$base/shard-lake-1" --format csv | tail -1)
for n in 2 4; do
  got=$("$bin" query "SELECT count(*), sum(bytes_sent), count(DISTINCT source_file) FROM logs" --lake "$base/shard-lake-$n" --format csv | tail -1)
  [ "$got" = "$want" ] || { echo "the lake of $n shards differs: $got vs $want" >&2; exit 1; }
done
echo "same records, bytes and objects in all three lakes: $want"
read -r w1 c1 < "$base/shard-1.result"
for n in 2 4; do
  read -r w c < "$base/shard-$n.result"
  awk -v n="$n" -v w="$w" -v c="$c" -v w1="$w1" -v c1="$c1" 'BEGIN {
    printf "%d shards vs 1 worker: wall %.2fx, CPU %.2fx (cost of sharding per record)\n", n, w / w1, c / c1 }'
done
