//! Cloud IP ranges in the formats their providers publish, and the
//! longest-prefix match of an address over them.
//!
//! - AWS `ip-ranges.json`: `prefixes[].ip_prefix` and
//!   `ipv6_prefixes[].ipv6_prefix`, with `service` and `region`. AWS lists
//!   each range under `AMAZON` as well as under its service; at the same
//!   prefix the service wins.
//! - Google `cloud.json` (and `goog.json`): `prefixes[].ipv4Prefix` or
//!   `ipv6Prefix`, with `service` and `scope` (the region).
//! - Azure Service Tags: `values[].properties.addressPrefixes`, with
//!   `systemService` and `region`.
//! - Cloudflare `ips-v4` / `ips-v6`: one CIDR a line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::ip;

/// Who a range belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// `aws`, `google`, `azure`, `cloudflare`.
    pub provider: Arc<str>,
    /// The service of the range (`S3`, `EC2`, `CLOUDFRONT`, `AMAZON`, …).
    pub service: Option<Arc<str>>,
    /// Its region (`us-east-1`, `eastus`, …), when the file gives one.
    pub region: Option<Arc<str>>,
}

/// Ranges of every file given, by prefix length.
#[derive(Debug, Default)]
pub struct CloudRanges {
    /// Longest prefixes first: (length over 128 bits, network → owner).
    by_length: Vec<(u8, HashMap<u128, Owner>)>,
    files: usize,
}

impl CloudRanges {
    /// Reads range files, each in one of the published formats (found by
    /// its content).
    ///
    /// # Errors
    ///
    /// A file cannot be read or is in none of the formats; the message
    /// names it.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<CloudRanges> {
        let mut out = CloudRanges::default();
        let mut all: HashMap<(u8, u128), Owner> = HashMap::new();
        for path in paths {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the IP ranges {}", path.display()))?;
            let ranges =
                parse(&text).with_context(|| format!("the IP ranges {}", path.display()))?;
            for (prefix, owner) in ranges {
                let key = (prefix.1, prefix.0);
                // At one prefix, a named service beats AWS's catch-all.
                let keep = all
                    .get(&key)
                    .is_some_and(|old| old.service.as_deref() != Some("AMAZON"));
                if !keep {
                    all.insert(key, owner);
                }
            }
            out.files += 1;
        }
        let mut by_length: HashMap<u8, HashMap<u128, Owner>> = HashMap::new();
        for ((bits, net), owner) in all {
            by_length.entry(bits).or_default().insert(net, owner);
        }
        out.by_length = by_length.into_iter().collect();
        out.by_length.sort_by_key(|b| std::cmp::Reverse(b.0));
        Ok(out)
    }

    /// Whether any file was given.
    pub fn is_empty(&self) -> bool {
        self.files == 0
    }

    /// The owner of the longest prefix holding the address in `text`.
    pub fn lookup(&self, text: &str) -> Option<&Owner> {
        let addr = ip::to_u128(ip::parse(text)?);
        self.by_length
            .iter()
            .find_map(|(bits, nets)| nets.get(&(addr & ip::mask(*bits))))
    }
}

type Ranges = Vec<((u128, u8), Owner)>;

fn parse(text: &str) -> Result<Ranges> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return cidr_lines(text);
    }
    let v: Value = serde_json::from_str(text).context("not JSON")?;
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(Arc::from);
    let mut out = Vec::new();
    let mut add = |cidr: &str, owner: Owner| -> Result<()> {
        let prefix =
            ip::parse_cidr(cidr).with_context(|| format!("{cidr:?} is not a CIDR prefix"))?;
        out.push((prefix, owner));
        Ok(())
    };
    let first = &v["prefixes"][0];
    let is_aws =
        first.get("ip_prefix").is_some() || v["ipv6_prefixes"][0].get("ipv6_prefix").is_some();
    if is_aws {
        let aws: Arc<str> = Arc::from("aws");
        for (list, key) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
            for p in v[list].as_array().into_iter().flatten() {
                let Some(cidr) = p[key].as_str() else {
                    continue;
                };
                let owner = Owner {
                    provider: Arc::clone(&aws),
                    service: s(&p["service"]),
                    region: s(&p["region"]).filter(|r| &**r != "GLOBAL"),
                };
                add(cidr, owner)?;
            }
        }
    } else if let Some(prefixes) = v.get("prefixes").and_then(Value::as_array) {
        let google: Arc<str> = Arc::from("google");
        for p in prefixes {
            let Some(cidr) = p["ipv4Prefix"].as_str().or(p["ipv6Prefix"].as_str()) else {
                continue;
            };
            let owner = Owner {
                provider: Arc::clone(&google),
                service: s(&p["service"]),
                region: s(&p["scope"]),
            };
            add(cidr, owner)?;
        }
    } else if let Some(values) = v.get("values").and_then(Value::as_array) {
        let azure: Arc<str> = Arc::from("azure");
        for tag in values {
            let props = &tag["properties"];
            let service = s(&props["systemService"]).or_else(|| s(&tag["name"]));
            for cidr in props["addressPrefixes"].as_array().into_iter().flatten() {
                let Some(cidr) = cidr.as_str() else { continue };
                let owner = Owner {
                    provider: Arc::clone(&azure),
                    service: service.clone(),
                    region: s(&props["region"]),
                };
                add(cidr, owner)?;
            }
        }
    } else {
        bail!("neither AWS ip-ranges.json, Google cloud.json nor Azure Service Tags JSON");
    }
    Ok(out)
}

/// Cloudflare's lists: one CIDR a line (blank lines and `#` comments
/// allowed).
fn cidr_lines(text: &str) -> Result<Ranges> {
    let cloudflare: Arc<str> = Arc::from("cloudflare");
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let prefix = ip::parse_cidr(line)
            .with_context(|| format!("line {}: {line:?} is not a CIDR prefix", n + 1))?;
        let owner = Owner {
            provider: Arc::clone(&cloudflare),
            service: Some(Arc::from("Cloudflare")),
            region: None,
        };
        out.push((prefix, owner));
    }
    if out.is_empty() {
        bail!("no CIDR prefix in it");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: &str = r#"{"syncToken":"1","createDate":"2026-11-30-00-00-00","prefixes":[
      {"ip_prefix":"52.95.0.0/16","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"},
      {"ip_prefix":"52.95.0.0/16","region":"us-east-1","service":"S3","network_border_group":"us-east-1"},
      {"ip_prefix":"52.95.128.0/21","region":"eu-west-1","service":"EC2","network_border_group":"eu-west-1"},
      {"ip_prefix":"54.239.0.0/16","region":"GLOBAL","service":"CLOUDFRONT","network_border_group":"GLOBAL"}],
      "ipv6_prefixes":[{"ipv6_prefix":"2600:1f18::/33","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"}]}"#;

    #[test]
    fn the_longest_prefix_and_the_named_service_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let aws = dir.path().join("ip-ranges.json");
        std::fs::write(&aws, AWS).expect("write");
        let cf = dir.path().join("ips-v4");
        std::fs::write(&cf, "173.245.48.0/20\n# comment\n104.16.0.0/13\n").expect("write");
        let r = CloudRanges::load(&[&aws, &cf]).expect("load");
        let s3 = r.lookup("52.95.1.2").expect("s3");
        assert_eq!(
            (&*s3.provider, s3.service.as_deref(), s3.region.as_deref()),
            ("aws", Some("S3"), Some("us-east-1"))
        );
        let ec2 = r.lookup("52.95.130.9").expect("ec2");
        assert_eq!(
            (ec2.service.as_deref(), ec2.region.as_deref()),
            (Some("EC2"), Some("eu-west-1"))
        );
        let cloudfront = r.lookup("54.239.6.87").expect("cloudfront");
        assert_eq!(
            (cloudfront.service.as_deref(), cloudfront.region.as_deref()),
            (Some("CLOUDFRONT"), None)
        );
        assert_eq!(
            r.lookup("2600:1f18::1").and_then(|o| o.region.as_deref()),
            Some("us-east-1")
        );
        assert_eq!(
            r.lookup("104.16.1.1").map(|o| &*o.provider),
            Some("cloudflare")
        );
        assert_eq!(r.lookup("8.8.8.8"), None);
        assert_eq!(r.lookup("xx.xx.41.39"), None);
    }

    #[test]
    fn google_and_azure_formats() {
        let google = r#"{"syncToken":"1","creationTime":"x","prefixes":[{"ipv4Prefix":"34.1.208.0/20","service":"Google Cloud","scope":"africa-south1"}]}"#;
        let azure = r#"{"changeNumber":1,"cloud":"Public","values":[{"name":"AzureCloud.eastus","id":"AzureCloud.eastus","properties":{"region":"eastus","systemService":"","addressPrefixes":["20.42.0.0/17","2603:1030::/44"]}}]}"#;
        let dir = tempfile::tempdir().expect("tempdir");
        let (g, a) = (
            dir.path().join("cloud.json"),
            dir.path().join("ServiceTags_Public.json"),
        );
        std::fs::write(&g, google).expect("write");
        std::fs::write(&a, azure).expect("write");
        let r = CloudRanges::load(&[&g, &a]).expect("load");
        let o = r.lookup("34.1.210.1").expect("google");
        assert_eq!(
            (&*o.provider, o.region.as_deref()),
            ("google", Some("africa-south1"))
        );
        let o = r.lookup("2603:1030::5").expect("azure");
        assert_eq!(
            (&*o.provider, o.service.as_deref(), o.region.as_deref()),
            ("azure", Some("AzureCloud.eastus"), Some("eastus"))
        );
    }

    #[test]
    fn a_bad_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("ranges.txt");
        std::fs::write(&bad, "not a prefix\n").expect("write");
        let e = CloudRanges::load(&[&bad]).expect_err("bad");
        let msg = format!("{e:#}");
        assert!(
            msg.contains("ranges.txt") && msg.contains("line 1"),
            "{msg}"
        );
    }
}
