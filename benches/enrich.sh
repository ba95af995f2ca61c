#!/usr/bin/env bash
# Enrichment benchmark (issue 15): over the query benchmark's lake, the
# same grouping by who is behind a request,
#   enriched: ip_country(remote_ip), ip_cloud_provider(remote_ip),
#             ua_family(user_agent), count(*) GROUP BY 1, 2, 3
#   plain:    remote_ip, user_agent, count(*) GROUP BY 1, 2
# alternating, each a whole `s3logs query` process; the ratio of the best
# runs is the cost of the functions (target: within 1.5x). Uses the IP
# databases of `make geo-data` and the AWS ranges slice of tests/data.
#
#   S3LOGS_BENCH_MB      corpus size in MB (default 2100, shared with bench-query)
#   S3LOGS_BENCH_ROUNDS  runs of each (default 3)
set -euo pipefail
source "$(dirname "$0")/common.sh"
MB="${S3LOGS_BENCH_MB:-2100}"
ROUNDS="${S3LOGS_BENCH_ROUNDS:-3}"
corpus="$base/query-corpus-${MB}mb"
lake="$base/query-lake-${MB}mb"
geo="${S3LOGS_GEO_DIR:-$HOME/.local/share/s3logs/geo}"
[ -f "$geo/country.mmdb" ] || bash benches/geo-data.sh
if [ ! -d "$corpus" ]; then
  echo "generating a ${MB} MB corpus of 8 MB objects in $corpus" >&2
  "$bin" gen --out "$corpus" --mb "$MB" --object-kb 8000 --days 7 --malformed 0.0005 --late 0.02
fi
if [ ! -d "$lake/logs" ]; then
  echo "ingesting $corpus into $lake" >&2
  "$bin" ingest "$corpus" --lake "$lake" --max-reject-ratio 1 2> /dev/null
fi
ranges=tests/data/aws-ip-ranges-slice.json
enriched="SELECT ip_country(remote_ip) AS country, ip_cloud_provider(remote_ip) AS cloud, ua_family(user_agent) AS client, count(*) AS n FROM logs GROUP BY 1, 2, 3"
plain="SELECT remote_ip, user_agent, count(*) AS n FROM logs GROUP BY 1, 2"
out="$base/enrich-out"
mkdir -p "$out"
best() { sort -n | head -1; }
: > "$out/times"
for r in $(seq "$ROUNDS"); do
  for kind in enriched plain; do
    sql=$enriched; [ "$kind" = plain ] && sql=$plain
    /usr/bin/time -o "$out/$kind.time" -f '%e' "$bin" query "$sql" --lake "$lake" --ip-ranges "$ranges" --format csv > "$out/$kind.csv" 2> "$out/$kind.err"
    echo "$kind $(cat "$out/$kind.time")" >> "$out/times"
  done
done
e=$(awk '$1 == "enriched" { print $2 }' "$out/times" | best)
p=$(awk '$1 == "plain" { print $2 }' "$out/times" | best)
echo "distinct: $(($(wc -l < "$out/plain.csv") - 1)) (remote_ip, user_agent) pairs, $(($(wc -l < "$out/enriched.csv") - 1)) (country, cloud, client) groups"
echo "enriched ${e} s, plain ${p} s (best of $ROUNDS)"
awk -v e="$e" -v p="$p" 'BEGIN { printf "ratio: enriched / plain = %.2fx (target <= 1.5)\n", e / p }'
