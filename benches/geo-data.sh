#!/usr/bin/env bash
# Fetches the free IP databases of ip-location-db from the npm registry
# and puts them where s3logs looks for them (run once, at set-up: s3logs
# never fetches anything at run time). `make geo-data` runs this.
#
#   country.mmdb  @ip-location-db/geo-whois-asn-country-mmdb (CC0-1.0)
#   asn.csv       @ip-location-db/asn, IPv4 and IPv6 rows (CC BY 4.0:
#                 RouteViews, DB-IP, NRO; attribution in SOURCES.txt)
#
#   S3LOGS_GEO_DIR        where to put them (default ~/.local/share/s3logs/geo)
#   S3LOGS_GEO_VERSION    the packages' version (default the one the README names)
set -euo pipefail
dir="${S3LOGS_GEO_DIR:-$HOME/.local/share/s3logs/geo}"
version="${S3LOGS_GEO_VERSION:-2.3.2026061719}"
command -v npm > /dev/null || { echo "geo-data needs npm (Node.js) to fetch the packages" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
for pkg in geo-whois-asn-country-mmdb asn; do
  npm pack --silent "@ip-location-db/$pkg@$version" > /dev/null
  mkdir "$pkg"
  tar xzf "ip-location-db-$pkg-$version.tgz" -C "$pkg"
done
mkdir -p "$dir"
cp geo-whois-asn-country-mmdb/package/geo-whois-asn-country.mmdb "$dir/country.mmdb.tmp"
cat asn/package/asn-ipv4.csv asn/package/asn-ipv6.csv > "$dir/asn.csv.tmp"
mv "$dir/country.mmdb.tmp" "$dir/country.mmdb"
mv "$dir/asn.csv.tmp" "$dir/asn.csv"
for f in asn/package/*LICENSE* geo-whois-asn-country-mmdb/package/*LICENSE*; do
  cp "$f" "$dir/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
done
cat > "$dir/SOURCES.txt" <<TXT
Fetched $(date -u +%Y-%m-%d) by s3logs's benches/geo-data.sh from the npm registry.

country.mmdb: @ip-location-db/geo-whois-asn-country-mmdb@$version
  licence CC0-1.0 (public domain dedication); data from RIR whois and ASN
  assignments (NRO).
asn.csv: @ip-location-db/asn@$version (asn-ipv4.csv and asn-ipv6.csv)
  licence CC BY 4.0, by RouteViews (https://www.routeviews.org/), DB-IP
  (https://db-ip.com/) and NRO (https://www.nro.net/): attribute them when
  you publish what you derive from it.
TXT
echo "IP databases in $dir: $(du -sh "$dir" | cut -f1) ($(wc -l < "$dir/asn.csv") ASN ranges)" >&2
