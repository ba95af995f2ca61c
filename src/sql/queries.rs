//! The bundled queries of `queries/`, compiled into the binary so an
//! installed `s3logs` has them wherever it runs.
//!
//! Each file opens with a header of `-- key: value` lines:
//!
//! ```sql
//! -- title: Who deleted objects
//! -- description: DELETE and BATCH.DELETE.OBJECT requests per requester.
//! -- param: since date 1970-01-01 first day (inclusive)
//! -- param: until date 9999-12-31 last day (inclusive)
//! SELECT … WHERE date BETWEEN $since AND $until
//! ```
//!
//! A query whose every row comes from one day's records says so with
//! `-- daily: COLUMN` (see [`super::kept`]).
//!
//! Parameters are bound as typed values through DataFusion placeholders
//! (`$name`), never spliced into the SQL text.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use datafusion::scalar::ScalarValue;

/// A parameter a query takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Its name, used as `$name` in the SQL and `--param name=value`.
    pub name: String,
    /// `date`, `timestamp`, `int`, `float` or `text`.
    pub kind: String,
    /// The default, as text.
    pub default: String,
    /// What it means.
    pub doc: String,
}

/// A bundled or user query with its header.
#[derive(Clone, Debug)]
pub struct Query {
    /// `audit/deletes`, from the file's path under `queries/`.
    pub name: String,
    /// One line.
    pub title: String,
    /// What it answers.
    pub description: String,
    /// Parameters, in header order.
    pub params: Vec<Param>,
    /// The column that names the day each row of the result comes from
    /// (`-- daily: COLUMN`, a date or a UTC time): every row is computed
    /// from the records of that day alone, so over a lake a day of the
    /// result can be kept ([`super::kept`]).
    pub daily: Option<String>,
    /// The SQL, header included (it is only comments).
    pub sql: String,
}

macro_rules! bundled {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../queries/", $name, ".sql")))),*]
    };
}

/// The bundled queries: name and SQL text.
pub const BUNDLED: &[(&str, &str)] = bundled![
    "audit/deletes",
    "audit/mass_delete_bursts",
    "audit/access_denied",
    "audit/anonymous_access",
    "audit/plain_http",
    "audit/deprecated_tls",
    "audit/sigv2",
    "audit/presigned_urls",
    "audit/cross_account",
    "audit/acl_required",
    "audit/access_points",
    "audit/exfiltration",
    "audit/bucket_enumeration",
    "audit/errors_by_prefix",
    "audit/lifecycle",
    "audit/after_hours",
    "billing/requests_by_class",
    "billing/transfer_out",
    "billing/cost_estimate",
    "clients/countries",
    "clients/networks",
    "clients/clouds",
    "clients/new_origins",
    "clients/bots",
    "clients/unknown_clients",
    "report/overview",
    "report/traffic",
    "report/top_requesters",
    "report/top_remote_ips",
    "report/top_prefixes",
    "report/top_keys",
    "report/top_operations",
    "report/top_error_codes",
    "report/top_user_agents",
    "report/top_referers",
    "report/auth_failures",
    "report/tls_versions",
    "report/rejects_by_reason",
    "report/delivery",
    "report/replaced_utf8",
    "report/missing_hours",
];

impl Query {
    /// Reads a query's header.
    ///
    /// # Errors
    ///
    /// A malformed `-- param:` line.
    pub fn parse(name: &str, sql: &str) -> Result<Query> {
        let mut q = Query {
            name: name.to_string(),
            title: String::new(),
            description: String::new(),
            params: Vec::new(),
            daily: None,
            sql: sql.to_string(),
        };
        for line in sql.lines() {
            let Some(rest) = line.strip_prefix("--") else {
                break;
            };
            let Some((key, value)) = rest.trim().split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "title" => q.title = value.to_string(),
                "daily" => q.daily = Some(value.to_string()),
                "description" => {
                    if !q.description.is_empty() {
                        q.description.push(' ');
                    }
                    q.description.push_str(value);
                }
                "param" => {
                    let mut parts = value.splitn(4, ' ');
                    let (Some(pname), Some(kind), Some(default)) =
                        (parts.next(), parts.next(), parts.next())
                    else {
                        bail!("{name}: `-- param:` needs a name, a type and a default: {line}");
                    };
                    scalar(kind, default)
                        .with_context(|| format!("{name}: the default of {pname}"))?;
                    q.params.push(Param {
                        name: pname.to_string(),
                        kind: kind.to_string(),
                        default: default.to_string(),
                        doc: parts.next().unwrap_or_default().to_string(),
                    });
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// The bound parameter values: `given` over the defaults.
    ///
    /// # Errors
    ///
    /// An unknown parameter, or a value that is not of the parameter's type.
    pub fn bind(&self, given: &BTreeMap<String, String>) -> Result<Vec<(String, ScalarValue)>> {
        for k in given.keys() {
            if !self.params.iter().any(|p| &p.name == k) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "{} takes no parameter {k:?} (it takes: {})",
                    self.name,
                    known.join(", ")
                );
            }
        }
        self.params
            .iter()
            .map(|p| {
                let text = given.get(&p.name).unwrap_or(&p.default);
                let v = scalar(&p.kind, text)
                    .with_context(|| format!("parameter {} of {}", p.name, self.name))?;
                Ok((p.name.clone(), v))
            })
            .collect()
    }
}

/// A parameter value of a given type.
pub fn scalar(kind: &str, text: &str) -> Result<ScalarValue> {
    Ok(match kind {
        "date" => {
            let day = crate::civil::parse_date(text)
                .with_context(|| format!("{text:?} is not a date (YYYY-MM-DD)"))?;
            ScalarValue::Date32(Some(day))
        }
        "timestamp" => {
            let t = chrono::DateTime::parse_from_rfc3339(text)
                .with_context(|| format!("{text:?} is not an RFC 3339 time"))?;
            ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some("UTC".into()))
        }
        "int" => ScalarValue::Int64(Some(
            text.parse()
                .with_context(|| format!("{text:?} is not an integer"))?,
        )),
        "float" => ScalarValue::Float64(Some(
            text.parse()
                .with_context(|| format!("{text:?} is not a number"))?,
        )),
        "text" => ScalarValue::Utf8(Some(text.to_string())),
        other => bail!("unknown parameter type {other:?} (date, timestamp, int, float, text)"),
    })
}

/// Every bundled query, parsed.
pub fn bundled() -> Result<Vec<Query>> {
    BUNDLED.iter().map(|(n, s)| Query::parse(n, s)).collect()
}

/// A bundled query by name (`audit/deletes`, or just `deletes`).
pub fn find(name: &str) -> Result<Option<Query>> {
    for (n, s) in BUNDLED {
        if *n == name || n.rsplit('/').next() == Some(name) {
            return Query::parse(n, s).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_query_has_a_header_and_typed_defaults() {
        let all = bundled().expect("headers parse");
        assert_eq!(all.len(), BUNDLED.len());
        for q in all {
            assert!(!q.title.is_empty(), "{} has a title", q.name);
            assert!(!q.description.is_empty(), "{} has a description", q.name);
            assert!(
                q.params.iter().any(|p| p.name == "since"),
                "{} takes a date range",
                q.name
            );
            assert!(
                q.params.iter().any(|p| p.name == "until"),
                "{} takes a date range",
                q.name
            );
            assert!(
                q.sql.contains("$since") && q.sql.contains("$until"),
                "{} uses its range",
                q.name
            );
        }
    }

    #[test]
    fn binding_is_typed_and_checked() {
        let q = Query::parse(
            "t",
            "-- title: t\n-- param: since date 2024-01-01 start\n-- param: n int 5\nSELECT 1",
        )
        .expect("parse");
        let given = BTreeMap::from([("n".to_string(), "7".to_string())]);
        let bound = q.bind(&given).expect("bind");
        assert_eq!(bound[1], ("n".into(), ScalarValue::Int64(Some(7))));
        let bad = BTreeMap::from([("n".to_string(), "7; DROP TABLE logs".to_string())]);
        assert!(q.bind(&bad).is_err());
        let unknown = BTreeMap::from([("x".to_string(), "1".to_string())]);
        assert!(q.bind(&unknown).is_err());
    }
}
