//! `s3logs query`: every bundled query on the sample, the lake and `--raw`
//! agreeing, typed parameters that cannot inject SQL, partition pruning, and
//! expected results computed independently from the rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int16Type, Int64Type};
use serde_json::Value;

use s3logs::lake::{Lake, Table};

use crate::ingest::ingest;
use crate::util::sample_logs;

/// One lake of the sample logs, shared by the tests of this module.
fn lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        let (out, _) = ingest(&[&sample_logs()], &lake, &["--max-reject-ratio", "1"]);
        assert!(out.status.success());
        (dir, lake)
    });
    p
}

fn query(args: &[&str]) -> (i32, String, String) {
    let out = crate::util::s3logs_cmd()
        .arg("query")
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lake_json(name: &str, params: &[&str]) -> Vec<Value> {
    let lake = lake().display().to_string();
    let mut args = vec![name, "--lake", &lake, "--format", "json"];
    for p in params {
        args.extend(["--param", p]);
    }
    let (code, out, err) = query(&args);
    assert_eq!(code, 0, "{name}: {err}");
    serde_json::from_str::<Vec<Value>>(&out).unwrap_or_else(|e| panic!("{name}: {e}: {out}"))
}

fn rows() -> Vec<RecordBatch> {
    Lake::new(lake())
        .read_all_blocking(Table::Logs)
        .expect("read")
}

/// Calls `f(batch, row)` for every row of the lake.
fn each_row(mut f: impl FnMut(&RecordBatch, usize)) {
    for b in rows() {
        for i in 0..b.num_rows() {
            f(&b, i);
        }
    }
}

fn text(b: &RecordBatch, col: usize, i: usize) -> Option<String> {
    let a = b.column(col).as_string::<i32>();
    (!a.is_null(i)).then(|| a.value(i).to_string())
}

fn status(b: &RecordBatch, i: usize) -> Option<i16> {
    let a = b.column(9).as_primitive::<Int16Type>();
    (!a.is_null(i)).then(|| a.value(i))
}

fn sum_field(rows: &[Value], field: &str) -> i64 {
    rows.iter().map(|r| r[field].as_i64().unwrap_or(0)).sum()
}

#[test]
fn every_bundled_query_runs_and_raw_equals_the_lake() {
    let lake = lake().display().to_string();
    let raw = sample_logs().display().to_string();
    let names = s3logs::sql::queries::BUNDLED.iter().map(|(n, _)| *n);
    for name in names {
        let (code, from_lake, err) = query(&[name, "--lake", &lake, "--format", "csv"]);
        assert_eq!(code, 0, "{name} on the lake: {err}");
        let (code, from_raw, err) = query(&[name, "--raw", &raw, "--format", "csv"]);
        assert_eq!(code, 0, "{name} on --raw: {err}");
        assert_eq!(from_lake, from_raw, "{name}: the lake and --raw disagree");
        assert!(from_lake.lines().count() >= 1, "{name}: a header at least");
    }
}

/// The report's queries that read a daily view, each beside the SQL it
/// replaced, which reads the records (as it was before the view, with its
/// default range; `missing_hours` with `min_baseline=1`, so that the
/// sample's hours are judged).
const OVER_VIEWS: &[(&str, &str)] = &[
    (
        "report/top_remote_ips",
        r#"
SELECT coalesce(remote_ip, 'none') AS remote_ip,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31'
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
"#,
    ),
    (
        "report/top_user_agents",
        r#"
SELECT coalesce(user_agent, 'none') AS user_agent,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31'
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
"#,
    ),
    (
        "report/top_referers",
        r#"
SELECT referer AS referer,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31' AND referer IS NOT NULL
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
"#,
    ),
    (
        "report/top_error_codes",
        r#"
SELECT error_code, http_status,
       count(*) AS requests,
       count(DISTINCT coalesce(requester, 'anonymous')) AS requesters
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31' AND error_code IS NOT NULL
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
LIMIT 15
"#,
    ),
    (
        "report/overview",
        r#"
SELECT count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       CASE WHEN count(*) = 0 THEN 0.0
            ELSE CAST(sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS DOUBLE) / count(*)
       END AS error_rate,
       count(DISTINCT bucket) AS buckets,
       count(DISTINCT date) AS days,
       min(request_time) AS first_request,
       max(request_time) AS last_request
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31'
"#,
    ),
    (
        "report/missing_hours",
        r#"
WITH hours AS (
  SELECT date_trunc('hour', request_time) AS hour, count(*) AS records
  FROM logs
  WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31'
  GROUP BY 1
), judged AS (
  SELECT hour, records,
         avg(records) OVER (ORDER BY hour ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING) AS baseline,
         avg(records) OVER (ORDER BY hour ROWS BETWEEN 23 PRECEDING AND CURRENT ROW) AS baseline_after,
         lead(hour) OVER (ORDER BY hour) AS next_hour
  FROM hours
)
SELECT hour AS start, 'low' AS kind, CAST(1 AS BIGINT) AS hours, records, baseline
FROM judged
WHERE baseline >= 1 AND records < 0.2 * baseline
UNION ALL
SELECT hour + INTERVAL '1 hour' AS start, 'no records' AS kind,
       CAST((to_unixtime(next_hour) - to_unixtime(hour)) / 3600 - 1 AS BIGINT) AS hours,
       CAST(0 AS BIGINT) AS records, baseline_after AS baseline
FROM judged
WHERE next_hour > hour + INTERVAL '1 hour' AND baseline_after >= 1
ORDER BY start, kind
"#,
    ),
    (
        "clients/clouds",
        r#"
WITH by_ip AS (
  SELECT remote_ip, count(*) AS requests, coalesce(sum(bytes_sent), 0) AS bytes_sent
  FROM logs
  WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31'
  GROUP BY 1
)
SELECT coalesce(ip_cloud_provider(remote_ip), '(' || ip_class(coalesce(remote_ip, '-')) || ')') AS provider,
       ip_cloud_service(remote_ip) AS service,
       ip_cloud_region(remote_ip) AS region,
       sum(requests) AS requests,
       sum(bytes_sent) AS bytes_sent
FROM by_ip
GROUP BY 1, 2, 3
ORDER BY requests DESC, 1, 2, 3
"#,
    ),
    (
        "clients/bots",
        r#"
SELECT bucket, coalesce(ua_family(user_agent), 'unknown') AS family,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       count(DISTINCT remote_ip) AS remote_ips,
       min(user_agent) AS example_user_agent
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31' AND ua_is_bot(user_agent)
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
"#,
    ),
    (
        "clients/unknown_clients",
        r#"
SELECT coalesce(user_agent, '(none)') AS user_agent,
       count(*) AS requests,
       count(DISTINCT coalesce(requester, 'anonymous')) AS requesters,
       count(DISTINCT remote_ip) AS remote_ips,
       min(date) AS first_seen
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31'
  AND ua_family(user_agent) IS NULL
  AND operation NOT LIKE 'S3.%'
  AND operation NOT IN ('BATCH.DELETE.OBJECT', 'REST.COPY.OBJECT_GET')
GROUP BY 1
ORDER BY requests DESC, 1
"#,
    ),
    (
        "audit/sigv2",
        r#"
SELECT bucket, coalesce(requester, 'anonymous') AS requester, user_agent,
       count(*) AS requests, min(request_time) AS first_seen, max(request_time) AS last_seen
FROM logs
WHERE date BETWEEN DATE '1970-01-01' AND DATE '9999-12-31'
  AND signature_version = 'SigV2'
GROUP BY 1, 2, 3
ORDER BY requests DESC, bucket, requester, user_agent
"#,
    ),
];

#[test]
fn queries_over_views_answer_as_over_the_records() {
    let lake = lake().display().to_string();
    let raw = sample_logs().display().to_string();
    for (name, records) in OVER_VIEWS {
        let bundled = s3logs::sql::queries::BUNDLED
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is bundled"))
            .1;
        assert!(!bundled.contains("FROM logs"), "{name} reads a view");
        for (source, path) in [("--lake", &lake), ("--raw", &raw)] {
            let mut args = vec![*name, source, path.as_str(), "--format", "csv"];
            if *name == "report/missing_hours" {
                args.extend(["--param", "min_baseline=1"]);
            }
            let (code, over_view, err) = query(&args);
            assert_eq!(code, 0, "{name} {source}: {err}");
            let (code, over_records, err) = query(&[records, source, path, "--format", "csv"]);
            assert_eq!(code, 0, "{name} over the records {source}: {err}");
            assert_eq!(over_view, over_records, "{name} {source}");
            // Every query has rows to compare on the sample.
            assert!(over_view.lines().count() >= 2, "{name}: {over_view}");
        }
    }
    // A range without records: the overview still says so in one row of
    // zeros, as `count(*)` over no rows did.
    let (code, empty, err) = query(&[
        "report/overview",
        "--lake",
        &lake,
        "--param",
        "since=2030-01-01",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        empty,
        "requests,bytes_sent,error_rate,buckets,days,first_request,last_request\n0,0,0.0,0,0,,\n"
    );
}

/// The logs stopping before the end of a range is the gap that matters
/// most: `missing_hours` lists the hours from the last record to the end
/// of an `until` that is given, and to three hours before now at the
/// latest (records that may not be delivered yet are not missed).
#[test]
fn missing_hours_sees_the_logs_stop_before_the_range_ends() {
    let tail = |params: &[&str]| -> Option<Value> {
        let all = [&["min_baseline=1"][..], params].concat();
        lake_json("report/missing_hours", &all)
            .into_iter()
            .filter(|r| r["kind"] == "no records")
            .max_by_key(|r| r["start"].as_str().unwrap_or_default().to_string())
    };
    // The sample's last record is at 2024-03-04 01:51.
    let last = tail(&[]).expect("gaps");
    assert_eq!(last["start"], "2024-03-04T00:00:00Z", "no range, no tail");
    let last = tail(&["until=2024-03-04"]).expect("gaps");
    assert_eq!(last["start"], "2024-03-04T02:00:00Z");
    assert_eq!(last["hours"], 22, "02:00 to midnight");
    // A range whose last hour has records (2024-03-03 23:00) has no tail.
    let last = tail(&["until=2024-03-03"]).expect("gaps");
    assert_eq!(last["start"], "2024-03-03T19:00:00Z", "{last}");
    // A range that ends in the future: up to three hours before now.
    let last = tail(&["until=9999-12-30"]).expect("gaps");
    let start = chrono::DateTime::parse_from_rfc3339("2024-03-04T02:00:00Z").expect("time");
    let hours = (chrono::Utc::now() - start.with_timezone(&chrono::Utc)).num_hours() - 3;
    let got = last["hours"].as_i64().expect("hours");
    assert!((hours - 1..=hours).contains(&got), "{got} against {hours}");
}

#[test]
fn parameters_are_typed_values_never_sql() {
    let lake = lake().display().to_string();
    // A quote in a text parameter is data: it matches no account, so every
    // account is "another" one, exactly as with an account that does not exist.
    let inject = lake_json("audit/cross_account", &["owner_account=x' OR '1'='1"]);
    let none = lake_json("audit/cross_account", &["owner_account=000000000000"]);
    assert_eq!(inject, none);
    assert!(!inject.is_empty());
    // A date parameter that is not a date is refused before anything runs.
    let (code, _, err) = query(&[
        "audit/deletes",
        "--lake",
        &lake,
        "--param",
        "since=2024-03-01'; DROP TABLE logs; --",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a date"), "{err}");
    let (code, _, err) = query(&["audit/deletes", "--lake", &lake, "--param", "nope=1"]);
    assert_eq!(code, 2);
    assert!(err.contains("takes no parameter"), "{err}");
}

#[test]
fn a_date_range_prunes_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Queries of the rejects table alone have no day partitions to prune.
    let over_logs = s3logs::sql::queries::BUNDLED
        .iter()
        .filter(|(_, sql)| sql.contains("FROM logs"));
    for (name, sql) in over_logs {
        let q = s3logs::sql::queries::Query::parse(name, sql).expect("parse");
        let header: String = sql
            .lines()
            .take_while(|l| l.starts_with("--"))
            .map(|l| format!("{l}\n"))
            .collect();
        let body: String = sql
            .lines()
            .skip_while(|l| l.starts_with("--"))
            .map(|l| format!("{l}\n"))
            .collect();
        let file = dir.path().join("explain.sql");
        std::fs::write(&file, format!("{header}EXPLAIN {body}")).expect("write");
        let lake = lake().display().to_string();
        let at = format!("@{}", file.display());
        let (code, out, err) = query(&[
            &at,
            "--lake",
            &lake,
            "--format",
            "csv",
            "--param",
            "since=2024-03-02",
            "--param",
            "until=2024-03-02",
        ]);
        assert_eq!(code, 0, "{}: {err}", q.name);
        assert!(
            out.contains("date=2024-03-02/"),
            "{}: scans the day",
            q.name
        );
        for other in ["date=2024-03-01/", "date=2024-03-03/", "date=2024-03-04/"] {
            assert!(!out.contains(other), "{}: {other} is pruned: {out}", q.name);
        }
    }
}

/// The plan of a filtered query on the lake, with `env` set.
fn explain_filtered(env: &[(&str, &str)]) -> String {
    let sql =
        "EXPLAIN SELECT requester, count(*) FROM logs WHERE http_status = 403 GROUP BY requester";
    crate::util::query_with_env(lake(), sql, "csv", env)
}

#[test]
fn the_lake_filters_rows_in_the_parquet_reader_only_when_the_session_says_so() {
    // deltalake's scans follow the session's pushdown_filters, off by
    // default as in DataFusion: the filter runs above the scan, once, and
    // the scan still prunes row groups by the predicate.
    let plan = explain_filtered(&[]);
    assert!(plan.contains("FilterExec: http_status@"), "{plan}");
    assert!(
        plan.contains("predicate=http_status@"),
        "prunes by it: {plan}"
    );
    assert!(
        !plan.contains("AND http_status@"),
        "the predicate once: {plan}"
    );
    // Set, the filter goes into the reader.
    let plan = explain_filtered(&[("DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS", "true")]);
    assert!(!plan.contains("FilterExec"), "{plan}");
    assert!(plan.contains("predicate=http_status@"), "{plan}");
}

#[test]
fn a_sql_error_exits_2_with_datafusions_message() {
    let lake = lake().display().to_string();
    let (code, out, err) = query(&["SELECT nope FROM logs", "--lake", &lake]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn a_query_opens_only_the_tables_it_names() {
    // A copy of the sample lake whose ledger has an unreadable commit.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("lake");
    let (code, _, err) = query(&["SELECT 1", "--lake", &lake().display().to_string()]);
    assert_eq!(code, 0, "{err}");
    copy_dir(lake(), &copy);
    let log = copy.join("ingested/_delta_log");
    let next = std::fs::read_dir(&log).expect("log").count();
    std::fs::write(log.join(format!("{next:020}.json")), b"not json\n").expect("write");
    let lake = copy.display().to_string();
    let (code, out, err) = query(&["SELECT count(*) AS n FROM logs", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0)),
        "{out}"
    );
    let (code, out, err) = query(&["SELECT count(*) FROM ingested", "--lake", &lake]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("opening the ingested table at file://"),
        "{err}"
    );
    assert!(!err.contains("External error"), "{err}");
    // Listing the tables names every one without reading any.
    let (code, out, err) = query(&["SHOW TABLES", "--lake", &lake, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    for t in ["logs", "rejects", "ingested", "pricing"] {
        assert!(out.contains(&format!(",public,{t},")), "{out}");
    }
}

/// What a lake answers from kept days, with its parameters: the queries
/// that read the daily views, the views themselves, and the daily queries
/// (`-- daily:`), some with other parameters (`grain=week` groups several
/// days in a row: not daily, so run as written).
const KEPT: &[&[&str]] = &[
    &["billing/cost_estimate"],
    &["clients/countries"],
    &["clients/networks"],
    &["clients/new_origins"],
    &["audit/cross_account"],
    &["report/top_operations"],
    &["report/replaced_utf8"],
    &["SELECT * FROM daily_billing ORDER BY date, bucket, prefix, requester"],
    &["SELECT * FROM daily_origins ORDER BY date, requester, ip_class, country, asn"],
    &[
        "SELECT * FROM daily_requesters WHERE date >= DATE '2024-03-02' \
       ORDER BY date, bucket, requester, operation",
    ],
    &["report/top_keys"],
    &["report/top_prefixes", "--param", "since=2024-03-02"],
    &["report/tls_versions"],
    &[
        "audit/exfiltration",
        "--param",
        "min_bytes=1",
        "--param",
        "factor=1.5",
    ],
    &["SELECT * FROM daily_keys ORDER BY date, key NULLS FIRST"],
    &[
        "SELECT * FROM daily_protocols ORDER BY date, tls_version, has_host_header, signature_version, by_s3",
    ],
    &["SELECT * FROM hourly_principals ORDER BY date, hour, principal"],
    &["audit/presigned_urls"],
    &[
        "audit/after_hours",
        "--param",
        "start_hour=9",
        "--param",
        "end_hour=17",
    ],
    &["SELECT * FROM daily_presigned ORDER BY date, bucket, key, signer, remote_ip"],
    &["SELECT * FROM hourly_requesters ORDER BY date, hour, requester, bucket"],
    &["audit/plain_http"],
    &["audit/deprecated_tls"],
    &["audit/anonymous_access"],
    &["audit/access_denied"],
    &[
        "audit/access_denied",
        "--param",
        "min_failures=1",
        "--param",
        "since=2024-03-02",
    ],
    &["audit/mass_delete_bursts", "--param", "min_deletes=1"],
    &["billing/transfer_out"],
    &["billing/requests_by_class"],
    &["report/traffic"],
    &["report/traffic", "--param", "grain=hour"],
    &["report/traffic", "--param", "grain=week"],
    &[
        "report/auth_failures",
        "--param",
        "grain=hour",
        "--param",
        "until=2024-03-03",
    ],
    &["report/delivery"],
    &["report/top_remote_ips"],
    &["report/top_user_agents"],
    &["report/top_referers", "--param", "since=2024-03-02"],
    &["report/top_error_codes"],
    &["report/overview"],
    &[
        "report/overview",
        "--param",
        "since=2024-03-03",
        "--param",
        "until=2024-03-02",
    ],
    &["report/missing_hours", "--param", "min_baseline=1"],
    &["clients/clouds"],
    &["clients/bots"],
    &["clients/unknown_clients"],
    &["audit/sigv2"],
    &["SELECT * FROM daily_sigv2 ORDER BY date, bucket, requester, user_agent NULLS FIRST"],
    &["SELECT * FROM daily_remote_ips ORDER BY date, remote_ip NULLS FIRST"],
    &["SELECT * FROM daily_user_agents ORDER BY date, user_agent NULLS FIRST"],
    &["SELECT * FROM daily_referers ORDER BY date, referer"],
    &["SELECT * FROM daily_errors ORDER BY date, error_code, http_status, requester"],
    &["SELECT * FROM hourly_buckets ORDER BY date, hour, bucket"],
    &[
        "SELECT * FROM daily_odd_clients ORDER BY date, bucket, user_agent NULLS FIRST, \
         requester NULLS FIRST, remote_ip NULLS FIRST, is_bot, unknown",
    ],
];

/// Each query of [`KEPT`] as CSV, over `--lake DIR` or `--raw PATH`
/// (where nothing is kept).
fn kept_answers(source: &str, path: &Path) -> Vec<String> {
    let path = path.display().to_string();
    KEPT.iter()
        .map(|q| {
            let mut args = q.to_vec();
            args.extend([source, &path, "--format", "csv"]);
            let (code, out, err) = query(&args);
            assert_eq!(code, 0, "{q:?} {source}: {err}");
            out
        })
        .collect()
}

/// Every bundled query that says `-- daily:` is asked in [`KEPT`].
#[test]
fn every_daily_query_is_tested_against_raw() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut daily = Vec::new();
    for group in std::fs::read_dir(&root).expect("queries") {
        let group = group.expect("entry").path();
        if !group.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&group).expect("group") {
            let file = file.expect("entry").path();
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.lines().any(|l| l.starts_with("-- daily:")) {
                let name = file.strip_prefix(&root).expect("under queries");
                // A kept day is keyed by the logs' files: nothing else.
                let sql: String = text.lines().filter(|l| !l.starts_with("--")).collect();
                for other in ["pricing", "rejects", "ingested", "daily_"] {
                    assert!(!sql.contains(other), "{name:?} reads {other}");
                }
                daily.push(name.with_extension("").display().to_string());
            }
        }
    }
    assert!(daily.len() >= 10, "{daily:?}");
    for name in daily {
        assert!(KEPT.iter().any(|q| q[0] == name), "{name} is not in KEPT");
    }
}

#[test]
fn daily_views_and_queries_are_kept_per_day_and_follow_every_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    // The first run ingests the photos-prod objects delivered at hour 01.
    let photos = sample_logs().join("simple-prefix/photos-prod");
    let names: Vec<_> = std::fs::read_dir(&photos)
        .expect("sample")
        .map(|e| e.expect("entry").file_name())
        .collect();
    let first = logs.join("photos-prod");
    std::fs::create_dir_all(&first).expect("mkdir");
    for n in names
        .iter()
        .filter(|n| n.to_string_lossy().contains("-01-"))
    {
        std::fs::copy(photos.join(n), first.join(n)).expect("copy");
    }
    let (out, _) = ingest(&[&logs], &lake, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());
    let before = kept_answers("--lake", &lake);
    assert_eq!(
        before,
        kept_answers("--raw", &logs),
        "the first run's views"
    );
    for kept in [
        "_s3logs/views/daily_requesters",
        "_s3logs/queries/billing/requests_by_class/default",
        "_s3logs/queries/report/traffic/default",
    ] {
        let entries = std::fs::read_dir(lake.join(kept))
            .expect("the days are kept")
            .count();
        assert!(entries >= 3, "{entries} days kept in {kept}");
    }
    // Another set of parameters has its own days; a grain of a week none.
    let traffic = std::fs::read_dir(lake.join("_s3logs/queries/report/traffic"))
        .expect("traffic")
        .count();
    assert_eq!(traffic, 2, "the default days and grain=hour's");
    // Read back, not computed: the same answers.
    assert_eq!(kept_answers("--lake", &lake), before, "read back");
    // A range that ends before it starts holds no day.
    let (code, out, err) = query(&[
        "SELECT count(*) AS n FROM daily_requesters \
         WHERE date BETWEEN DATE '2024-03-03' AND DATE '2024-03-01'",
        "--lake",
        &lake.display().to_string(),
        "--format",
        "csv",
    ]);
    assert_eq!((code, out.as_str()), (0, "n\n0\n"), "{err}");
    // A second run adds objects to the same days (and the other folders).
    for n in names.iter().filter(|n| !first.join(n).exists()) {
        std::fs::copy(photos.join(n), first.join(n)).expect("copy");
    }
    copy_dir(
        &sample_logs().join("partitioned-prefix"),
        &logs.join("partitioned-prefix"),
    );
    let (out, _) = ingest(&[&logs], &lake, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());
    let after = kept_answers("--lake", &lake);
    assert_ne!(after, before, "the new records changed the views");
    assert_eq!(
        after,
        kept_answers("--raw", &logs),
        "kept days follow a new run"
    );
    // A torn or foreign entry is a miss, never an answer.
    tear(&lake.join("_s3logs"));
    assert_eq!(
        kept_answers("--lake", &lake),
        after,
        "torn entries are computed again"
    );
    // A lake that cannot be written still answers, and says so.
    let ro = dir.path().join("ro");
    copy_dir(&lake, &ro);
    std::fs::remove_dir_all(ro.join("_s3logs/views")).expect("rm");
    std::fs::write(
        ro.join("_s3logs/views"),
        b"a file where the folder would be",
    )
    .expect("block");
    let (code, out, err) = query(&[
        KEPT[0][0],
        "--lake",
        &ro.display().to_string(),
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, after[0]);
    assert!(
        err.contains("kept days of") && err.contains("not written"),
        "{err}"
    );
}

/// Every kept entry under `dir` torn.
fn tear(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let path = e.expect("entry").path();
        if path.is_dir() {
            tear(&path);
        } else if path.extension().is_some_and(|x| x == "arrow") {
            std::fs::write(&path, b"ARROW1 torn").expect("tear");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn output_formats() {
    let lake = lake().display().to_string();
    let sql = "SELECT date, count(*) AS n FROM logs GROUP BY date ORDER BY date";
    let (_, csv, _) = query(&[sql, "--lake", &lake, "--format", "csv"]);
    assert_eq!(csv.lines().next(), Some("date,n"));
    assert_eq!(csv.lines().nth(1), Some("2024-03-01,78"));
    let (_, nd, _) = query(&[sql, "--lake", &lake, "--format", "ndjson"]);
    assert_eq!(nd.lines().count(), 4);
    let (_, table, _) = query(&[sql, "--lake", &lake, "--format", "table"]);
    assert!(table.contains("| 2024-03-04 | 10 "), "{table}");
    let dir = tempfile::tempdir().expect("tempdir");
    let pq = dir.path().join("out.parquet");
    let (code, _, _) = query(&[
        sql,
        "--lake",
        &lake,
        "--format",
        "parquet",
        "--output",
        pq.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 0);
    let batches = s3logs::lake::read_parquet(&pq).expect("parquet");
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
}

#[test]
fn deletes_and_bursts_match_the_rows() {
    // Independent: successful DELETE and BATCH.DELETE.OBJECT rows per requester.
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    each_row(|b, i| {
        let op = text(b, 6, i).unwrap_or_default();
        let ok = status(b, i).is_some_and(|s| (200..300).contains(&s));
        if ok && (op == "REST.DELETE.OBJECT" || op == "BATCH.DELETE.OBJECT") {
            *want
                .entry(text(b, 4, i).unwrap_or("anonymous".into()))
                .or_default() += 1;
        }
    });
    let got = lake_json("audit/deletes", &[]);
    let mut have: BTreeMap<String, i64> = BTreeMap::new();
    for r in got.iter().filter(|r| r["action"] == "delete") {
        *have
            .entry(r["requester"].as_str().unwrap_or("").to_string())
            .or_default() += r["objects"].as_i64().unwrap_or(0);
    }
    assert_eq!(have, want);
    // Checked by hand: the multi-object delete of the hard cases (2 keys,
    // 2024-03-02 10:00, partner-sync) is a burst of at least 2.
    let bursts = lake_json("audit/mass_delete_bursts", &["min_deletes=2"]);
    assert!(
        bursts.iter().any(|r| r["hour"] == "2024-03-02T10:00:00Z"
            && r["requester"] == "arn:aws:iam::444455556666:user/partner-sync"
            && r["deletes"].as_i64() >= Some(2)),
        "{bursts:?}"
    );
}

#[test]
fn access_denied_anonymous_and_enumeration_match_the_rows() {
    let (mut denied, mut anonymous, mut lists) = (0, 0, 0);
    each_row(|b, i| {
        let err = text(b, 10, i).unwrap_or_default();
        if status(b, i) == Some(403)
            || [
                "AccessDenied",
                "SignatureDoesNotMatch",
                "InvalidAccessKeyId",
            ]
            .contains(&err.as_str())
        {
            denied += 1;
        }
        let op = text(b, 6, i).unwrap_or_default();
        if text(b, 4, i).is_none() && !op.starts_with("S3.") {
            anonymous += 1;
        }
        if op == "REST.GET.BUCKET" {
            lists += 1;
        }
    });
    assert_eq!(
        sum_field(&lake_json("audit/access_denied", &[]), "failures"),
        denied
    );
    assert_eq!(
        sum_field(&lake_json("audit/anonymous_access", &[]), "requests"),
        anonymous
    );
    assert_eq!(
        sum_field(&lake_json("audit/bucket_enumeration", &[]), "lists"),
        lists
    );
}

#[test]
fn tls_signature_and_acl_queries_match_the_rows() {
    let (mut plain, mut acl) = (0, 0);
    each_row(|b, i| {
        let op = text(b, 6, i).unwrap_or_default();
        let lifecycle_or_companion =
            op.starts_with("S3.") || op == "BATCH.DELETE.OBJECT" || op == "REST.COPY.OBJECT_GET";
        if text(b, 22, i).is_some() && text(b, 23, i).is_none() && !lifecycle_or_companion {
            plain += 1;
        }
        let a = b.column(25).as_boolean();
        if !a.is_null(i) && a.value(i) {
            acl += 1;
        }
    });
    assert_eq!(
        sum_field(&lake_json("audit/plain_http", &[]), "requests"),
        plain
    );
    assert_eq!(
        sum_field(&lake_json("audit/acl_required", &[]), "requests"),
        acl
    );
    // Checked by hand: the only pre-1.2 TLS line is the 24-field hard case
    // (TLSV1.1, upper-case V), which is also the only SigV2 line.
    let old = lake_json("audit/deprecated_tls", &[]);
    assert_eq!(old.len(), 1);
    assert_eq!(old[0]["tls_version"], "TLSV1.1");
    let v2 = lake_json("audit/sigv2", &[]);
    assert_eq!(v2.len(), 1);
    assert_eq!(v2[0]["requests"], 1);
    // Checked by hand: one access-point line (partner-sync's PUT), and the
    // lifecycle expiry and transition of the hard cases.
    let ap = lake_json("audit/access_points", &[]);
    assert_eq!(ap.len(), 1);
    assert_eq!(ap[0]["operation"], "REST.PUT.OBJECT");
    let lc = lake_json("audit/lifecycle", &[]);
    let ops: Vec<&str> = lc.iter().filter_map(|r| r["operation"].as_str()).collect();
    assert_eq!(ops, ["S3.EXPIRE.OBJECT", "S3.TRANSITION_SIA.OBJECT"]);
}

#[test]
fn presigned_and_cross_account_match_the_rows() {
    let mut presigned = 0;
    let mut foreign = 0;
    each_row(|b, i| {
        if text(b, 21, i).as_deref() == Some("QueryString") {
            presigned += 1;
        }
        if text(b, 4, i).is_some_and(|r| r.starts_with("arn:aws:iam::444455556666:")) {
            foreign += 1;
        }
    });
    let p = lake_json("audit/presigned_urls", &[]);
    assert_eq!(sum_field(&p, "requests"), presigned);
    // Checked by hand: the hard-case presigned URL says X-Amz-Expires=3600.
    assert!(
        p.iter()
            .any(|r| r["key"] == "reports/q1.pdf" && r["expires_secs"] == 3600),
        "{p:?}"
    );
    let x = lake_json("audit/cross_account", &["owner_account=111122223333"]);
    assert_eq!(sum_field(&x, "requests"), foreign);
    assert!(
        x.iter()
            .all(|r| r["account"] == "444455556666" && r["cross_account"] == true)
    );
}

#[test]
fn billing_classes_transfer_and_cost_match_the_rows() {
    let (mut t1, mut t2, mut free, mut none) = (0i64, 0i64, 0i64, 0i64);
    let mut bytes_by_dest: BTreeMap<&str, i64> = BTreeMap::new();
    each_row(|b, i| {
        let op = text(b, 6, i).unwrap_or_default();
        let st = status(b, i).unwrap_or(0);
        if st >= 500
            || op == "REST.COPY.OBJECT_GET"
            || op == "BATCH.DELETE.OBJECT"
            || op.starts_with("S3.")
        {
            none += 1;
        } else if op.starts_with("REST.DELETE.") || op == "REST.POST.MULTI_OBJECT_DELETE" {
            free += 1;
        } else if op.starts_with("REST.PUT.")
            || op.starts_with("REST.COPY.")
            || op.starts_with("REST.POST.")
            || op == "REST.GET.BUCKET"
        {
            t1 += 1;
        } else {
            t2 += 1;
        }
        let ip = text(b, 3, i);
        let requester = text(b, 4, i).unwrap_or_default();
        let dest = match ip.as_deref() {
            None => "none",
            Some(ip)
                if ip.starts_with("10.")
                    || ip.starts_with("192.168.")
                    || ip.starts_with("172.31.") =>
            {
                "private"
            }
            Some(_) if requester.starts_with("svc:") || requester == "AmazonS3" => "aws",
            Some(_) => "internet",
        };
        let sent = b.column(11).as_primitive::<Int64Type>();
        *bytes_by_dest.entry(dest).or_default() += if sent.is_null(i) { 0 } else { sent.value(i) };
    });
    let classes = lake_json("billing/requests_by_class", &[]);
    assert_eq!(sum_field(&classes, "tier1_requests"), t1);
    assert_eq!(sum_field(&classes, "tier2_requests"), t2);
    assert_eq!(sum_field(&classes, "free_requests"), free);
    assert_eq!(sum_field(&classes, "not_billed"), none);
    assert!(classes.iter().all(|r| r["basis"] == "estimate"));
    let transfer = lake_json("billing/transfer_out", &[]);
    for (dest, want) in &bytes_by_dest {
        let got: i64 = transfer
            .iter()
            .filter(|r| r["destination"] == *dest)
            .map(|r| r["bytes_sent"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(got, *want, "{dest}");
    }
    // The sample sends well under 100 GB a month: egress is in the free
    // tier, so the cost is the request charges alone.
    let cost = lake_json("billing/cost_estimate", &[]);
    let total: f64 = cost
        .iter()
        .map(|r| r["total_usd"].as_f64().unwrap_or(0.0))
        .sum();
    let want = t1 as f64 / 1000.0 * 0.005 + t2 as f64 / 1000.0 * 0.0004;
    assert!((total - want).abs() < 1e-4, "{total} vs {want}");
    assert!(cost.iter().all(|r| r["egress_usd"].as_f64() == Some(0.0)));
}

#[test]
fn latency_exfiltration_and_after_hours_run_with_their_parameters() {
    // Checked by hand: the sample holds no throttling and no 5xx.
    let e = lake_json("audit/errors_by_prefix", &[]);
    assert_eq!(sum_field(&e, "server_errors"), 0);
    let mut requests = 0;
    each_row(|b, i| requests += i64::from(!text(b, 6, i).unwrap_or_default().starts_with("S3.")));
    assert_eq!(sum_field(&e, "requests"), requests);
    // With a tiny threshold every principal's first hour has no baseline and
    // is listed; with an impossible one nothing is.
    assert!(!lake_json("audit/exfiltration", &["min_bytes=1", "factor=1"]).is_empty());
    assert!(lake_json("audit/exfiltration", &["min_bytes=999999999999999"]).is_empty());
    // Business hours covering the whole day leave only weekend requests:
    // 2024-03-02 and 03 are a Saturday and a Sunday.
    let weekend = lake_json("audit/after_hours", &["start_hour=0", "end_hour=24"]);
    assert_eq!(
        sum_field(&weekend, "requests"),
        sum_field(&weekend, "on_weekends")
    );
    assert!(sum_field(&weekend, "requests") > 0);
}

#[test]
fn raw_builds_only_the_columns_a_query_reads() {
    let raw = sample_logs().display().to_string();
    let (code, plan, err) = query(&[
        "EXPLAIN SELECT operation, sum(bytes_sent) FROM logs GROUP BY operation",
        "--raw",
        &raw,
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains("StreamingTableExec") && plan.contains("projection=[operation, bytes_sent]"),
        "{plan}"
    );
    // No column at all: only rows are counted.
    let (code, out, err) = query(&["SELECT count(*) AS n FROM logs", "--raw", &raw]);
    assert_eq!((code, out.as_str()), (0, "n\n260\n"), "{err}");
}

#[test]
fn raw_streams_many_objects_and_agrees_with_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("logs");
    let opts = s3logs::corpus::GenOptions {
        bytes: 3_000_000,
        object_bytes: 100_000,
        days: 3,
        buckets: 2,
        malformed: 0.01,
        late: 0.05,
        seed: 9,
        ..s3logs::corpus::GenOptions::default()
    };
    s3logs::corpus::generate(&corpus, &opts).expect("corpus");
    // The lake names objects by canonical path; name them so here too.
    let corpus = corpus.canonicalize().expect("canonical");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&corpus], &lake, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());
    let raw = corpus.display().to_string();
    let lake = lake.display().to_string();
    for sql in [
        "SELECT date, operation, count(*), sum(bytes_sent), max(source_line) FROM logs \
         GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT source_file, source_line, reason, raw FROM rejects ORDER BY 1, 2",
        "SELECT count(*), count(DISTINCT source_file), min(request_time) FROM logs",
    ] {
        let (code, from_raw, err) = query(&[sql, "--raw", &raw, "--format", "csv"]);
        assert_eq!(code, 0, "{err}");
        let (code, from_lake, err) = query(&[sql, "--lake", &lake, "--format", "csv"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(from_raw, from_lake, "{sql}");
        assert!(from_raw.lines().count() > 1, "{sql}: {from_raw}");
    }
    // Source files are named the same way by both paths.
    let (_, names, _) = query(&["SELECT DISTINCT source_file FROM logs", "--raw", &raw]);
    assert!(
        names.lines().skip(1).all(|n| n.contains("logs/")),
        "{names}"
    );

    // A LIMIT stops reading early and still answers.
    let (code, out, err) = query(&["SELECT request_id FROM logs LIMIT 3", "--raw", &raw]);
    assert_eq!((code, out.lines().count()), (0, 4), "{err}");
}

#[test]
fn raw_names_an_object_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.log"), b"").expect("write");
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend_from_slice(b"not deflate at all");
    std::fs::write(dir.path().join("b.gz"), gz).expect("write");
    let raw = dir.path().display().to_string();
    let (code, out, err) = query(&["SELECT count(*) FROM logs", "--raw", &raw]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("b.gz"), "{err}");
}

#[test]
fn raw_reads_a_large_file_in_pieces_with_the_right_line_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("one");
    let opts = s3logs::corpus::GenOptions {
        bytes: 5_000_000,
        object_bytes: 5_000_000,
        malformed: 0.01,
        ..s3logs::corpus::GenOptions::default()
    };
    s3logs::corpus::generate(&corpus, &opts).expect("corpus");
    let corpus = corpus.canonicalize().expect("canonical");
    let lake = dir.path().join("lake");
    let (out, _) = ingest(&[&corpus], &lake, &["--max-reject-ratio", "1"]);
    assert!(out.status.success());
    let (raw, lake) = (corpus.display().to_string(), lake.display().to_string());
    for sql in [
        "SELECT count(*), count(DISTINCT source_line), min(source_line), max(source_line), \
         sum(source_line * bytes_sent) FROM logs",
        "SELECT source_line, byte_offset, reason, raw FROM rejects ORDER BY 1",
    ] {
        // 1 MiB pieces: five pieces of one object, read in parallel.
        let out = crate::util::s3logs_cmd()
            .args(["query", sql, "--raw", &raw, "--format", "csv"])
            .env("S3LOGS_RAW_PIECE_MB", "1")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (code, from_lake, err) = query(&[sql, "--lake", &lake, "--format", "csv"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), from_lake, "{sql}");
    }
    let plan = crate::util::s3logs_cmd()
        .args([
            "query",
            "EXPLAIN SELECT count(*) FROM logs",
            "--raw",
            &raw,
            "--format",
            "csv",
        ])
        .env("S3LOGS_RAW_PIECE_MB", "1")
        .output()
        .expect("run");
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("partition_sizes=2"),
        "one object, two partitions: {plan}"
    );
}
