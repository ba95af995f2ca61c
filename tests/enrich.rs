//! The enrichment functions through `s3logs query`: on the lake and on raw
//! files alike, cloud ranges in their published formats and the billing
//! classes they give, the country and network databases of `make
//! geo-data`, and what a query says without them.

use std::path::Path;

use serde_json::Value;

use crate::util::{s3logs_cmd, sample_logs};

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>, String) {
    let mut cmd = s3logs_cmd();
    cmd.arg("query").args(args).args(["--format", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    let rows = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        rows,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lines from public addresses of known owners: S3 in us-east-1 (the
/// bucket's region), EC2 in eu-west-1, CloudFront, Cloudflare, Google DNS.
fn public_logs(dir: &Path) -> std::path::PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    let mut text = String::new();
    for (i, (ip, agent)) in [
        ("52.95.1.2", "aws-cli/2.15.17 Python/3.11.6 Linux/6.5.0"),
        ("52.95.130.9", "Boto3/1.34.34 md/Botocore#1.34.34"),
        ("54.239.6.87", "Amazon CloudFront"),
        (
            "104.16.1.1",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ),
        ("8.8.8.8", "curl/8.5.0"),
        ("xx.xx.41.39", "-"),
    ]
    .iter()
    .enumerate()
    {
        let agent = if *agent == "-" {
            "-".to_string()
        } else {
            format!("\"{agent}\"")
        };
        text.push_str(&format!(
            "owner bkt [06/Feb/2024:00:0{i}:38 +0000] {ip} - REQ{i} REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 1000000 1000000 7 6 \"-\" {agent} - host SigV4 ECDHE AuthHeader bkt.s3.us-east-1.amazonaws.com TLSv1.2 - -\n"
        ));
    }
    std::fs::write(logs.join("2024-02-06-00-00-00-ABCDEF0123456789"), text).expect("write");
    logs
}

const AWS_RANGES: &str = r#"{"syncToken":"1","createDate":"2026-11-30-00-00-00","prefixes":[
  {"ip_prefix":"52.95.0.0/16","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"},
  {"ip_prefix":"52.95.0.0/16","region":"us-east-1","service":"S3","network_border_group":"us-east-1"},
  {"ip_prefix":"52.95.128.0/21","region":"eu-west-1","service":"EC2","network_border_group":"eu-west-1"},
  {"ip_prefix":"54.239.0.0/16","region":"GLOBAL","service":"CLOUDFRONT","network_border_group":"GLOBAL"}],
  "ipv6_prefixes":[]}"#;

#[test]
fn functions_give_the_same_on_the_lake_and_on_raw_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (out, _) = crate::ingest::ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());
    let sql = "SELECT remote_ip, ip_class(remote_ip) AS class, ua_family(user_agent) AS family, \
               ua_version(user_agent) AS version, ua_is_bot(user_agent) AS bot, count(*) AS n \
               FROM logs GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5";
    let lake_arg = lake.display().to_string();
    let (code, from_lake, err) = run(&[sql, "--lake", &lake_arg], &[]);
    assert_eq!(code, 0, "{err}");
    let raw = sample_logs().display().to_string();
    let (code, from_raw, err) = run(&["--raw", &raw, sql], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(from_lake, from_raw);
    let find = |ip: &str| from_lake.iter().find(|r| r["remote_ip"] == ip).cloned();
    assert_eq!(
        find("10.0.4.17").map(|r| r["class"].clone()),
        Some("private".into())
    );
    assert_eq!(
        find("192.0.2.10").map(|r| r["class"].clone()),
        Some("documentation".into())
    );
    assert!(
        from_lake
            .iter()
            .any(|r| r["family"] == "aws-cli" && r["version"] == "2.15.17")
    );
    assert!(
        from_lake
            .iter()
            .any(|r| r["family"] == "Boto3" && r["bot"] == false)
    );
    // A line without an address has no class; masked and mistyped
    // addresses, which real logs hold, are invalid, not errors.
    assert!(
        from_lake
            .iter()
            .any(|r| r["remote_ip"].is_null() && r["class"].is_null())
    );
    let sql = "SELECT ip_class('xx.xx.41.39') AS a, ip_class('1192.0.2.3') AS b, ip_class('') AS c";
    let (code, rows, err) = run(&[sql, "--lake", &lake_arg], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        rows[0],
        serde_json::json!({"a": "invalid", "b": "invalid", "c": "invalid"})
    );
}

#[test]
fn cloud_ranges_class_the_egress_and_the_billing_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = public_logs(dir.path()).display().to_string();
    let aws = dir.path().join("ip-ranges.json");
    std::fs::write(&aws, AWS_RANGES).expect("write");
    let cf = dir.path().join("ips-v4");
    std::fs::write(&cf, "104.16.0.0/13\n").expect("write");
    let ranges = format!("{},{}", aws.display(), cf.display());

    let sql = "SELECT remote_ip, ip_cloud_provider(remote_ip) AS provider, ip_cloud_service(remote_ip) AS service, \
               ip_cloud_region(remote_ip) AS region FROM logs ORDER BY request_time";
    let (code, rows, err) = run(&["--raw", &logs, "--ip-ranges", &ranges, sql], &[]);
    assert_eq!(code, 0, "{err}");
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("NULL").to_string();
            (s("provider"), s("service"), s("region"))
        })
        .collect();
    let want = [
        ("aws", "S3", "us-east-1"),
        ("aws", "EC2", "eu-west-1"),
        ("aws", "CLOUDFRONT", "NULL"),
        ("cloudflare", "Cloudflare", "NULL"),
        ("NULL", "NULL", "NULL"),
        ("NULL", "NULL", "NULL"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);

    // billing/transfer_out: with ranges, AWS destinations by kind.
    let (code, rows, err) = run(
        &[
            "billing/transfer_out",
            "--raw",
            &logs,
            "--ip-ranges",
            &ranges,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let dest: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["destination"].as_str().unwrap_or(""),
                r["requests"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        dest,
        [
            ("aws_other_region", 1),
            ("aws_same_region", 1),
            ("cloudfront", 1),
            ("internet", 3)
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r["basis"] == "estimate, with IP ranges")
    );
    // Without them, every public address is internet, and the basis says so.
    let (code, rows, err) = run(&["billing/transfer_out", "--raw", &logs], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["destination"], "internet");
    assert_eq!(rows[0]["requests"], 6);
    assert_eq!(rows[0]["basis"], "estimate");
    // The cost estimate leaves AWS's addresses out of internet egress.
    let sum = |rows: &[Value]| -> i64 {
        rows.iter()
            .filter_map(|r| r["internet_bytes"].as_i64())
            .sum()
    };
    let (_, with, _) = run(
        &[
            "billing/cost_estimate",
            "--raw",
            &logs,
            "--ip-ranges",
            &ranges,
        ],
        &[],
    );
    let (_, without, _) = run(&["billing/cost_estimate", "--raw", &logs], &[]);
    assert_eq!(sum(&with), 3_000_000);
    assert_eq!(sum(&without), 6_000_000);

    // A file in no known format is an error that names it.
    let bad = dir.path().join("ranges.json");
    std::fs::write(&bad, "{\"hello\": 1}").expect("write");
    let (code, _, err) = run(
        &[
            "clients/clouds",
            "--raw",
            &logs,
            "--ip-ranges",
            &bad.display().to_string(),
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("ranges.json") && err.contains("Azure Service Tags"),
        "{err}"
    );
}

#[test]
fn countries_and_networks_from_the_geo_data_and_a_note_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = public_logs(dir.path()).display().to_string();
    // No database: NULL, and one note on stderr however many rows ask.
    let empty = dir.path().join("no-geo");
    let sql = "SELECT ip_country(remote_ip) AS c, ip_asn(remote_ip) AS a FROM logs";
    let (code, rows, err) = run(
        &["--raw", &logs, sql],
        &[("S3LOGS_GEO_DIR", &empty.display().to_string())],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r["c"].is_null() && r["a"].is_null()));
    assert_eq!(err.matches("make geo-data").count(), 1, "{err}");

    let Some(geo) = s3logs::enrich::geo::default_dir().filter(|d| d.join("country.mmdb").is_file())
    else {
        assert_ne!(
            std::env::var("S3LOGS_GEO").as_deref(),
            Ok("required"),
            "S3LOGS_GEO=required, but `make geo-data` has not been run"
        );
        eprintln!("no IP databases (make geo-data); skipped");
        return;
    };
    let sql = "SELECT remote_ip, ip_country(remote_ip) AS c, ip_asn(remote_ip) AS a, ip_as_name(remote_ip) AS n \
               FROM logs ORDER BY request_time";
    let (code, rows, err) = run(&["--raw", &logs, sql], &[]);
    assert_eq!(code, 0, "{err}");
    let google = rows
        .iter()
        .find(|r| r["remote_ip"] == "8.8.8.8")
        .expect("8.8.8.8");
    assert_eq!(google["c"], "US");
    assert_eq!(google["a"], 15169);
    let cloudflare = rows
        .iter()
        .find(|r| r["remote_ip"] == "104.16.1.1")
        .expect("104.16.1.1");
    assert_eq!(cloudflare["a"], 13335);
    assert!(
        cloudflare["n"]
            .as_str()
            .is_some_and(|n| n.contains("Cloudflare")),
        "{cloudflare}"
    );
    let masked = rows
        .iter()
        .find(|r| r["remote_ip"] == "xx.xx.41.39")
        .expect("masked");
    assert!(masked["c"].is_null() && masked["a"].is_null());
    assert!(!err.contains("make geo-data"), "{err}");
    // A user's own .mmdb through --geoip, with no data folder.
    let mmdb = geo.join("country.mmdb").display().to_string();
    let (code, rows, err) = run(
        &[
            "--raw",
            &logs,
            "--geoip",
            &mmdb,
            "SELECT ip_country('8.8.8.8') AS c",
        ],
        &[("S3LOGS_GEO_DIR", &empty.display().to_string())],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows[0]["c"], "US");
    // The bundled query groups by it.
    let (code, rows, err) = run(&["clients/countries", "--raw", &logs], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(rows.iter().any(|r| r["country"] == "US"), "{rows:?}");
    assert!(rows.iter().any(|r| r["country"] == "(invalid)"), "{rows:?}");
}

/// The expected values of one column over the conformance corpus.
fn corpus_values(column: &str) -> Vec<String> {
    let path = crate::util::shared().join("conformance/cases.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            assert_ne!(
                std::env::var("S3LOGS_CONFORMANCE").as_deref(),
                Ok("required"),
                "{} unreadable: {e}",
                path.display()
            );
            return Vec::new();
        }
    };
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|c| c["expect"][column].as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_conformance_corpus_addresses_and_agents_classify() {
    use s3logs::enrich::{ip, ranges::CloudRanges, ua};
    let ips = corpus_values("remote_ip");
    let agents = corpus_values("user_agent");
    if ips.is_empty() {
        eprintln!("no conformance corpus; skipped");
        return;
    }
    let classes = [
        "private",
        "loopback",
        "link_local",
        "shared",
        "documentation",
        "multicast",
        "reserved",
        "public",
        "invalid",
    ];
    for v in &ips {
        assert!(classes.contains(&ip::class(v)), "{v}");
    }
    for (v, want) in [
        ("xxx.xxxx.xx.xxx", "invalid"),
        ("192.0.2.3", "documentation"),
        ("10.0.1.2", "private"),
        ("3.89.6.210", "public"),
    ] {
        assert!(ips.iter().any(|i| i == v), "{v} is in the corpus");
        assert_eq!(ip::class(v), want, "{v}");
    }
    // The corpus's AWS addresses against a slice in AWS's published format.
    let slice = crate::util::root().join("tests/data/aws-ip-ranges-slice.json");
    let r = CloudRanges::load(&[slice]).expect("the slice");
    let owner = |v: &str| {
        r.lookup(v).map(|o| {
            (
                o.provider.to_string(),
                o.service.as_deref().map(str::to_string),
                o.region.as_deref().map(str::to_string),
            )
        })
    };
    let aws = |s: &str, r: Option<&str>| {
        Some((
            "aws".to_string(),
            Some(s.to_string()),
            r.map(str::to_string),
        ))
    };
    assert_eq!(owner("3.89.6.210"), aws("EC2", Some("us-east-1")));
    assert_eq!(owner("52.12.241.113"), aws("EC2", Some("us-west-2")));
    assert_eq!(owner("18.68.18.10"), aws("CLOUDFRONT", None));
    assert_eq!(
        owner("130.176.48.151"),
        aws("CLOUDFRONT_ORIGIN_FACING", None)
    );
    assert_eq!(owner("89.160.20.156"), None);

    // User agents: every one classifies without error; the AWS ones with
    // their versions.
    let family = |v: &str| ua::client(v).map(|c| (c.family, c.version, c.bot));
    for v in &agents {
        let _ = family(v);
    }
    for (v, fam, ver, bot) in [
        (
            "aws-cli/1.16.102 Python/2.7.16 Linux/4.14.171-105.231.amzn1.x86_64 botocore/1.12.92",
            "aws-cli",
            Some("1.16.102"),
            false,
        ),
        (
            "Boto3/1.21.19 Python/3.9.10 Linux/4.4.0-1104-aws Botocore/1.24.19 Resource",
            "Boto3",
            Some("1.21.19"),
            false,
        ),
        ("S3Console/0.4", "S3Console", Some("0.4"), false),
        ("Amazon CloudFront", "CloudFront", None, false),
        ("curl/7.38.0", "curl", Some("7.38.0"), true),
        (
            "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            "Baiduspider",
            None,
            true,
        ),
    ] {
        assert!(agents.iter().any(|a| a == v), "{v} is in the corpus");
        let got = family(v).expect(v);
        assert_eq!(got.0, fam, "{v}");
        assert_eq!(got.1.as_deref(), ver, "{v}");
        assert_eq!(got.2, bot, "{v}");
    }
    let java = agents
        .iter()
        .find(|a| a.starts_with("aws-sdk-java/1.9.8"))
        .expect("an SDK");
    assert_eq!(family(java).map(|f| f.0), Some("aws-sdk-java".to_string()));
    // Something nobody wrote a rule for stays unknown.
    let sra = agents
        .iter()
        .find(|a| a.contains("sra-toolkit"))
        .expect("sra");
    assert_eq!(family(sra), None);
}

#[test]
fn bad_data_files_are_named_and_fail_the_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = public_logs(dir.path()).display().to_string();
    let truncated = dir.path().join("ip-ranges.json");
    std::fs::write(&truncated, &AWS_RANGES[..120]).expect("write");
    let garbage = dir.path().join("GeoLite2-Country.mmdb");
    std::fs::write(&garbage, b"this is not a MaxMind database").expect("write");
    let missing = dir.path().join("nowhere.json").display().to_string();
    let t = truncated.display().to_string();
    let g = garbage.display().to_string();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--ip-ranges",
                &t,
                "SELECT ip_cloud_provider(remote_ip) FROM logs",
            ],
            "ip-ranges.json",
        ),
        (
            &[
                "--ip-ranges",
                &missing,
                "SELECT ip_cloud_region(remote_ip) FROM logs",
            ],
            "nowhere.json",
        ),
        (
            &["--geoip", &g, "SELECT ip_country(remote_ip) FROM logs"],
            "GeoLite2-Country.mmdb",
        ),
    ];
    for (args, name) in cases {
        let out = s3logs_cmd()
            .args(["query", "--format", "csv", "--raw", &logs])
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}: nothing half-written");
    }
}
