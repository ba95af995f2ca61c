//! Findings: what needs attention, measured by the bundled audit queries
//! and judged by a policy. `s3logs audit` prints them and alerts on them;
//! the report's first section is meant to show the same list, from here.
//!
//! A finding runs one bundled query and measures its result (its rows, or
//! the sum or the largest value of a column), leaving out rows the policy
//! allows. It crosses its threshold when the measure is above it.
//!
//! The policy is TOML, one table per finding; every key is optional:
//!
//! ```toml
//! [access_denied]
//! threshold = 100            # alert above this many denied requests in an hour
//!
//! [cross_account]
//! enabled = true             # off by default: it needs the owner's account
//! params = { owner_account = "111122223333" }
//! allow = ["444455556666"]   # partners whose requests are expected
//!
//! [after_hours]
//! enabled = false
//! ```

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::{Answers, command, queries};

/// How a finding measures its query's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// The number of rows.
    Rows,
    /// The sum of a column.
    Sum(&'static str),
    /// The largest value of a column.
    Max(&'static str),
}

/// A finding, as the code defines it.
#[derive(Clone, Copy, Debug)]
pub struct Definition {
    /// Its name in policies and output.
    pub name: &'static str,
    /// The bundled query that finds its rows.
    pub query: &'static str,
    /// What it counts, as a sentence's subject ("requests over plain HTTP").
    pub what: &'static str,
    /// How the query's result is measured.
    pub measure: Measure,
    /// The column that says since when (a date or time), when the query
    /// has one.
    pub since: Option<&'static str>,
    /// The column whose values a policy's `allow` list leaves out.
    pub allow_column: Option<&'static str>,
    /// Alert above this, by default.
    pub threshold: f64,
    /// Whether the default policy evaluates it.
    pub enabled: bool,
}

/// Every finding, with the default policy: conservative, so that a quiet
/// bucket stays quiet and anything insecure is said.
pub const FINDINGS: &[Definition] = &[
    Definition {
        name: "plain_http",
        query: "audit/plain_http",
        what: "requests over plain HTTP (no TLS)",
        measure: Measure::Sum("requests"),
        since: Some("date"),
        allow_column: Some("bucket"),
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "deprecated_tls",
        query: "audit/deprecated_tls",
        what: "requests over TLS 1.0 or 1.1",
        measure: Measure::Sum("requests"),
        since: Some("date"),
        allow_column: Some("bucket"),
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "sigv2",
        query: "audit/sigv2",
        what: "requests signed with the retired Signature Version 2",
        measure: Measure::Sum("requests"),
        since: Some("first_seen"),
        allow_column: Some("requester"),
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "anonymous_access",
        query: "audit/anonymous_access",
        what: "anonymous requests",
        measure: Measure::Sum("requests"),
        since: Some("date"),
        allow_column: Some("bucket"),
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "access_denied",
        query: "audit/access_denied",
        what: "denied or badly signed requests in the worst hour",
        measure: Measure::Max("failures"),
        since: Some("hour"),
        allow_column: Some("requester"),
        threshold: 100.0,
        enabled: true,
    },
    Definition {
        name: "mass_delete_bursts",
        query: "audit/mass_delete_bursts",
        what: "hours in which one requester deleted 100 objects or more",
        measure: Measure::Rows,
        since: Some("hour"),
        allow_column: Some("requester"),
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "cross_account",
        query: "audit/cross_account",
        what: "requests from other AWS accounts",
        measure: Measure::Sum("requests"),
        since: None,
        allow_column: Some("account"),
        threshold: 0.0,
        enabled: false,
    },
    Definition {
        name: "presigned_fan_out",
        query: "audit/presigned_urls",
        what: "distinct IPs using one presigned URL, at most",
        measure: Measure::Max("distinct_ips"),
        since: Some("first_seen"),
        allow_column: Some("bucket"),
        threshold: 10.0,
        enabled: true,
    },
    Definition {
        name: "acl_required",
        query: "audit/acl_required",
        what: "requests that needed an ACL to be allowed",
        measure: Measure::Sum("requests"),
        since: None,
        allow_column: Some("bucket"),
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "exfiltration",
        query: "audit/exfiltration",
        what: "hours in which a principal was sent far more than its own baseline",
        measure: Measure::Rows,
        since: Some("hour"),
        allow_column: Some("principal"),
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "missing_deliveries",
        query: "report/missing_hours",
        what: "hours that look like missing log deliveries (far below their own baseline, or none at all)",
        measure: Measure::Sum("hours"),
        since: Some("start"),
        allow_column: None,
        threshold: 0.0,
        enabled: true,
    },
    Definition {
        name: "new_origins",
        query: "clients/new_origins",
        what: "countries or networks new for a requester against its own baseline",
        measure: Measure::Rows,
        since: Some("first_seen"),
        allow_column: Some("requester"),
        threshold: 0.0,
        enabled: false,
    },
    Definition {
        name: "after_hours",
        query: "audit/after_hours",
        what: "requests outside business hours",
        measure: Measure::Sum("requests"),
        since: Some("first_seen"),
        allow_column: Some("requester"),
        threshold: 0.0,
        enabled: false,
    },
];

/// What a policy says of one finding.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Evaluate it (default: as [`Definition::enabled`]).
    pub enabled: Option<bool>,
    /// Alert above this (default: [`Definition::threshold`]).
    pub threshold: Option<f64>,
    /// Values of [`Definition::allow_column`] whose rows do not count.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Parameters of its query (`--param` of `s3logs query`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// A policy: rules by finding name.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    rules: BTreeMap<String, Rule>,
}

impl Policy {
    /// Reads a policy.
    ///
    /// # Errors
    ///
    /// It is not TOML of the shape above, names a finding that does not
    /// exist, or sets a threshold that is not a finite number.
    pub fn parse(text: &str) -> Result<Policy> {
        let rules: BTreeMap<String, Rule> = toml::from_str(text).context("reading the policy")?;
        for (name, rule) in &rules {
            if !FINDINGS.iter().any(|f| f.name == name) {
                let known: Vec<&str> = FINDINGS.iter().map(|f| f.name).collect();
                bail!(
                    "the policy names a finding {name:?} that does not exist; the findings are {}",
                    known.join(", ")
                );
            }
            if rule.threshold.is_some_and(|t| !t.is_finite()) {
                bail!("the policy's threshold of {name} is not a number");
            }
        }
        Ok(Policy { rules })
    }

    fn rule(&self, name: &str) -> Rule {
        self.rules.get(name).cloned().unwrap_or_default()
    }
}

/// One evaluated finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Its name.
    pub name: String,
    /// What it counts.
    pub what: String,
    /// The measure (`null` when it was not evaluated).
    pub value: Option<f64>,
    /// Its threshold.
    pub threshold: f64,
    /// Whether the measure is above the threshold.
    pub alert: bool,
    /// Whether the policy evaluates it.
    pub enabled: bool,
    /// The earliest date or time among its rows.
    pub since: Option<String>,
    /// The command that lists its rows.
    pub rows: String,
}

/// Evaluates every finding of `policy` over the tables of `ctx`, for the
/// days `since` to `until` (`YYYY-MM-DD`, inclusive) when given.
///
/// # Errors
///
/// A query failed or a parameter is invalid.
pub async fn evaluate(
    ctx: &SessionContext,
    policy: &Policy,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<Finding>> {
    let mut answers = Answers::default();
    answers.run_all(ctx, wanted(policy, since, until)?).await?;
    evaluate_with(ctx, policy, since, until, &mut answers).await
}

/// How many records the range holds (`report/overview`'s `requests`), so
/// that an audit can say when it had nothing to read: every finding is
/// then "ok", which a cron job would take for a quiet, healthy bucket even
/// when the logs stopped arriving.
///
/// # Errors
///
/// The query failed.
pub async fn records_in(
    ctx: &SessionContext,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<u64> {
    let query = queries::find("report/overview")?.context("no bundled query report/overview")?;
    let answer = Answers::default()
        .run(ctx, &query, &given(&Rule::default(), since, until))
        .await
        .context("counting the records of the range")?;
    let mut records = 0;
    for batch in &answer.batches {
        let column = batch
            .column_by_name("requests")
            .context("report/overview has no requests column")?;
        let column = arrow::compute::cast(column, &DataType::UInt64)?;
        records += column
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .iter()
            .flatten()
            .sum::<u64>();
    }
    Ok(records)
}

/// The queries, with their parameters, that [`evaluate`] runs for
/// `policy`.
///
/// # Errors
///
/// A finding names a query that is not bundled.
pub fn wanted(
    policy: &Policy,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<(queries::Query, BTreeMap<String, String>)>> {
    let mut out = Vec::new();
    for def in FINDINGS {
        let rule = policy.rule(def.name);
        if rule.enabled.unwrap_or(def.enabled) {
            out.push((bundled(def)?, given(&rule, since, until)));
        }
    }
    Ok(out)
}

/// [`evaluate`], reading the results that `answers` holds already.
///
/// # Errors
///
/// A query failed or a parameter is invalid.
pub async fn evaluate_with(
    ctx: &SessionContext,
    policy: &Policy,
    since: Option<&str>,
    until: Option<&str>,
    answers: &mut Answers,
) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    for def in FINDINGS {
        let rule = policy.rule(def.name);
        let enabled = rule.enabled.unwrap_or(def.enabled);
        let threshold = rule.threshold.unwrap_or(def.threshold);
        let given = given(&rule, since, until);
        let mut finding = Finding {
            name: def.name.into(),
            what: def.what.into(),
            value: None,
            threshold,
            alert: false,
            enabled,
            since: None,
            rows: command(def.query, &given),
        };
        if enabled {
            let answer = answers
                .run(ctx, &bundled(def)?, &given)
                .await
                .with_context(|| format!("evaluating {}", def.name))?;
            let (value, first) = measure(def, &rule.allow, &answer.batches)?;
            finding.alert = value > threshold;
            finding.value = Some(value);
            finding.since = first;
        }
        out.push(finding);
    }
    Ok(out)
}

fn bundled(def: &Definition) -> Result<queries::Query> {
    queries::find(def.query)?
        .with_context(|| format!("{}: no bundled query {}", def.name, def.query))
}

/// A rule's parameters, with the range.
fn given(rule: &Rule, since: Option<&str>, until: Option<&str>) -> BTreeMap<String, String> {
    let mut given = rule.params.clone();
    if let Some(s) = since {
        given.insert("since".into(), s.into());
    }
    if let Some(u) = until {
        given.insert("until".into(), u.into());
    }
    given
}

/// The measure of a result, and its earliest `since` value, leaving out
/// the rows whose [`Definition::allow_column`] value `allow` names.
fn measure(
    def: &Definition,
    allow: &[String],
    batches: &[RecordBatch],
) -> Result<(f64, Option<String>)> {
    let (mut total, mut max, mut rows) = (0.0f64, 0.0f64, 0u64);
    let mut first: Option<String> = None;
    let text = |b: &RecordBatch, name: &str| -> Result<Option<arrow::array::ArrayRef>> {
        match b.column_by_name(name) {
            None => Ok(None),
            Some(c) => Ok(Some(arrow::compute::cast(c, &DataType::Utf8)?)),
        }
    };
    for b in batches {
        let allowed = match def.allow_column {
            Some(col) if !allow.is_empty() => text(b, col)?,
            _ => None,
        };
        let since = match def.since {
            Some(col) => text(b, col)?,
            None => None,
        };
        let numbers = match def.measure {
            Measure::Sum(c) | Measure::Max(c) => {
                let col = b
                    .column_by_name(c)
                    .with_context(|| format!("{}: the query has no column {c}", def.name))?;
                Some(arrow::compute::cast(col, &DataType::Float64)?)
            }
            Measure::Rows => None,
        };
        for i in 0..b.num_rows() {
            if let Some(a) = &allowed {
                let a = a.as_string::<i32>();
                if a.is_valid(i) && allow.iter().any(|v| v == a.value(i)) {
                    continue;
                }
            }
            rows += 1;
            if let Some(n) = &numbers
                && n.is_valid(i)
            {
                let v = n.as_primitive::<Float64Type>().value(i);
                total += v;
                max = max.max(v);
            }
            if let Some(s) = &since {
                let s = s.as_string::<i32>();
                if s.is_valid(i) && first.as_deref().is_none_or(|f| s.value(i) < f) {
                    first = Some(s.value(i).to_string());
                }
            }
        }
    }
    let value = match def.measure {
        Measure::Rows => rows as f64,
        Measure::Sum(_) => total,
        Measure::Max(_) => max,
    };
    Ok((value, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finding_runs_a_bundled_query_with_the_columns_it_reads() {
        for def in FINDINGS {
            let q = queries::find(def.query).expect("parse").expect(def.query);
            let sql = q.sql.to_lowercase();
            for col in
                [def.since, def.allow_column]
                    .into_iter()
                    .flatten()
                    .chain(match def.measure {
                        Measure::Sum(c) | Measure::Max(c) => Some(c),
                        Measure::Rows => None,
                    })
            {
                assert!(sql.contains(col), "{}: {col} in {}", def.name, def.query);
            }
        }
    }

    #[test]
    fn policies_are_checked() {
        assert!(Policy::parse("[access_denied]\nthreshold = 5\n").is_ok());
        let unknown = Policy::parse("[nope]\nthreshold = 1\n").expect_err("unknown");
        assert!(unknown.to_string().contains("\"nope\""), "{unknown}");
        assert!(Policy::parse("[plain_http]\nthreshhold = 1\n").is_err());
        assert!(Policy::parse("[plain_http]\nthreshold = nan\n").is_err());
        assert!(Policy::parse("not toml [").is_err());
    }
}
