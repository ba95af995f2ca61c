//! Country and network (ASN) of an address, from databases on disk:
//! MaxMind DB files (`.mmdb`: GeoLite2, DB-IP, IPinfo, ip-location-db's
//! country files) and ip-location-db's ASN table (CSV of inclusive ranges:
//! `start,end,asn,organisation`). Nothing is fetched at run time:
//! `make geo-data` puts the free databases in the data folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::ip;

/// The folder `make geo-data` fills: `S3LOGS_GEO_DIR`, else
/// `~/.local/share/s3logs/geo`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("S3LOGS_GEO_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/s3logs/geo"))
}

/// An inclusive range of addresses (as [`ip::to_u128`]) and its network:
/// number and organisation.
type AsnRange = (u128, u128, i64, Arc<str>);

/// The databases of a session.
#[derive(Default)]
pub struct Geo {
    mmdbs: Vec<(PathBuf, maxminddb::Reader<Vec<u8>>)>,
    /// The ASN table's file, read on the first network lookup (half a
    /// million rows: a query that asks only for countries never reads it).
    asn_file: Option<PathBuf>,
    asn: OnceLock<Result<Vec<AsnRange>, String>>,
}

impl std::fmt::Debug for Geo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geo")
            .field(
                "mmdbs",
                &self.mmdbs.iter().map(|m| &m.0).collect::<Vec<_>>(),
            )
            .field("asn_file", &self.asn_file)
            .finish()
    }
}

impl Geo {
    /// Opens the user's `.mmdb` files (`--geoip`), then what the data folder
    /// holds (`country.mmdb`, `asn.csv`).
    ///
    /// # Errors
    ///
    /// A file given or found cannot be read; the message names it.
    pub fn load(geoip: &[PathBuf], dir: Option<&Path>) -> Result<Geo> {
        let mut geo = Geo::default();
        for path in geoip {
            geo.open_mmdb(path)?;
        }
        if let Some(dir) = dir {
            let country = dir.join("country.mmdb");
            if country.is_file() {
                geo.open_mmdb(&country)?;
            }
            let asn = dir.join("asn.csv");
            if asn.is_file() {
                geo.asn_file = Some(asn);
            }
        }
        Ok(geo)
    }

    fn open_mmdb(&mut self, path: &Path) -> Result<()> {
        let reader = maxminddb::Reader::open_readfile(path)
            .with_context(|| format!("opening the IP database {}", path.display()))?;
        self.mmdbs.push((path.to_path_buf(), reader));
        Ok(())
    }

    /// Whether any database is open.
    pub fn is_empty(&self) -> bool {
        self.mmdbs.is_empty() && self.asn_file.is_none()
    }

    /// Whether a database that answers countries is open.
    pub fn has_countries(&self) -> bool {
        !self.mmdbs.is_empty()
    }

    /// Whether a database that answers networks is open.
    pub fn has_networks(&self) -> bool {
        self.asn_file.is_some() || !self.mmdbs.is_empty()
    }

    /// The ISO 3166 country code of an address.
    pub fn country(&self, text: &str) -> Option<String> {
        let addr = ip::parse(text)?;
        self.records(addr).find_map(|v| {
            let code = v["country"]["iso_code"]
                .as_str()
                .or(v["country_code"].as_str())
                .or(v["country"].as_str())?;
            Some(code.to_string())
        })
    }

    /// The autonomous system number and its organisation.
    ///
    /// # Errors
    ///
    /// The ASN table cannot be read (on the first lookup); the message
    /// names it.
    pub fn network(&self, text: &str) -> Result<Option<(i64, Option<String>)>> {
        let Some(addr) = ip::parse(text) else {
            return Ok(None);
        };
        if let Some(file) = &self.asn_file {
            let table = self
                .asn
                .get_or_init(|| read_asn(file).map_err(|e| format!("{e:#}")))
                .as_ref()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let n = ip::to_u128(addr);
            let at = table.partition_point(|r| r.0 <= n);
            if let Some(r) = at.checked_sub(1).map(|i| &table[i])
                && n <= r.1
            {
                return Ok(Some((r.2, Some(r.3.to_string()))));
            }
        }
        Ok(self.records(addr).find_map(|v| {
            let asn = match &v["autonomous_system_number"] {
                Value::Number(n) => n.as_i64(),
                _ => match &v["asn"] {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim_start_matches("AS").parse().ok(),
                    _ => None,
                },
            }?;
            let name = v["autonomous_system_organization"]
                .as_str()
                .or(v["as_name"].as_str())
                .map(str::to_string);
            Some((asn, name))
        }))
    }

    fn records(&self, addr: std::net::IpAddr) -> impl Iterator<Item = Value> + '_ {
        self.mmdbs.iter().filter_map(move |(_, reader)| {
            let found = reader.lookup(addr).ok()?;
            found.decode::<Value>().ok().flatten()
        })
    }
}

/// ip-location-db's ASN CSV (IPv4 and IPv6 rows), sorted by start.
fn read_asn(path: &Path) -> Result<Vec<AsnRange>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the ASN table {}", path.display()))?;
    let mut out = Vec::with_capacity(text.len() / 48);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = || -> Option<AsnRange> {
            let mut parts = line.splitn(4, ',');
            let start = ip::to_u128(ip::parse(parts.next()?)?);
            let end = ip::to_u128(ip::parse(parts.next()?)?);
            let asn = parts.next()?.trim().parse().ok()?;
            let name = parts
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .replace("\"\"", "\"");
            Some((start, end, asn, Arc::from(name)))
        };
        match row() {
            Some(r) => out.push(r),
            None => bail!(
                "{} line {}: not start,end,asn,organisation: {line:?}",
                path.display(),
                n + 1
            ),
        }
    }
    out.sort_by_key(|r| r.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_ranges_are_inclusive_and_both_families() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("asn.csv"),
            "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n54.239.0.0,54.239.255.255,16509,AMAZON-02\n2001::,2001::ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC\n",
        )
        .expect("write");
        let geo = Geo::load(&[], Some(dir.path())).expect("load");
        let net = |ip: &str| geo.network(ip).expect("the table");
        assert_eq!(
            net("1.0.0.255"),
            Some((13335, Some("Cloudflare, Inc.".into())))
        );
        assert_eq!(net("54.239.6.87").map(|n| n.0), Some(16509));
        assert_eq!(net("2001::5").map(|n| n.0), Some(6939));
        assert_eq!(net("1.0.1.0"), None);
        assert_eq!(net("xx.xx.41.39"), None);
        assert_eq!(geo.country("1.0.0.1"), None, "no country database");
        std::fs::write(dir.path().join("asn.csv"), "garbage\n").expect("write");
        let geo = Geo::load(&[], Some(dir.path())).expect("read on first use");
        let e = geo.network("1.0.0.1").expect_err("bad table");
        assert!(format!("{e:#}").contains("asn.csv line 1"), "{e:#}");
    }
}
