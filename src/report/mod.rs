//! `s3logs report`: one self-contained HTML page of what happened to a
//! bucket, built from the bundled queries.
//!
//! [`build`] runs the findings of [`crate::sql::findings`] and every panel's
//! bundled query (`queries/report`, `queries/audit`, `queries/billing`) over
//! a session, and keeps only aggregates and the first [`MAX_ROWS`] rows of
//! each: the page's size is bounded whatever the lake's. [`html::render`]
//! turns that into the page. Every panel names its query and parameters,
//! so `s3logs query` gives the same numbers.

pub mod chart;
pub mod html;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;

use crate::sql::findings::{self, Finding, Policy};
use crate::sql::{Answers, command, queries};

/// The most rows of one panel kept for the page.
pub const MAX_ROWS: usize = 50;

/// What a report covers and where it came from.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// What the data is (a lake's path or the raw paths), shown in the title.
    pub source: String,
    /// First day, `YYYY-MM-DD`, inclusive.
    pub since: Option<String>,
    /// Last day, `YYYY-MM-DD`, inclusive.
    pub until: Option<String>,
}

/// A value of a result cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Anything else, as `s3logs query --format csv` writes it (dates,
    /// times, text from the logs).
    Text(String),
}

impl Cell {
    /// Text that orders cells of one column as the query would.
    fn sort_key(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Int(i) => format!("{:020}", i.wrapping_add(i64::MIN) as u64),
            Cell::Float(f) => format!("{f:024.6}"),
            Cell::Text(t) => format!("~{t}"),
        }
    }

    /// The cell as a number, when it is one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// How a panel is drawn beside its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChartSpec {
    /// The column of the x axis (a time).
    pub x: &'static str,
    /// The column that splits the bars into series, if any.
    pub series: Option<&'static str>,
    /// The column of the bars' values.
    pub value: &'static str,
}

/// One panel: a bundled query's result.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Its anchor in the page.
    pub id: String,
    /// The section it belongs to.
    pub section: &'static str,
    /// The bundled query.
    pub query: String,
    /// The query's title and description.
    pub title: String,
    /// What the query computes.
    pub description: String,
    /// The command that reruns it.
    pub command: String,
    /// Its SQL.
    pub sql: String,
    /// The chart drawn from it, if any.
    pub chart: Option<ChartSpec>,
    /// Column names.
    pub columns: Vec<String>,
    /// Up to [`MAX_ROWS`] rows (every row for a charted panel).
    pub rows: Vec<Vec<Cell>>,
    /// How many rows the query returned.
    pub total_rows: usize,
    /// The sum of each numeric column over every row the query returned.
    pub totals: BTreeMap<String, f64>,
}

impl Panel {
    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The sum of a numeric column over every row of the result.
    pub fn sum(&self, name: &str) -> f64 {
        self.totals.get(name).copied().unwrap_or(0.0)
    }
}

/// Everything the page shows.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was asked for.
    pub options: Options,
    /// `hour` or `day`: the bars of the time charts.
    pub grain: &'static str,
    /// Every finding of the default policy.
    pub findings: Vec<Finding>,
    /// The panels, in page order.
    pub panels: Vec<Panel>,
}

impl Report {
    /// A panel by its bundled query.
    pub fn panel(&self, query: &str) -> Option<&Panel> {
        self.panels.iter().find(|p| p.query == query)
    }

    /// The anchor of the panel of a bundled query.
    pub fn anchor(query: &str) -> String {
        format!("q-{}", query.replace('/', "-"))
    }
}

/// A panel to build: its query, parameters and drawing.
struct Spec {
    section: &'static str,
    query: &'static str,
    params: &'static [(&'static str, &'static str)],
    chart: Option<ChartSpec>,
    rollup: Option<Rollup>,
}

/// A panel that sums a detailed query's rows by some of its columns (the
/// billing queries give a row per day, bucket, prefix and requester): the
/// sums are taken over every row the query returned, so they are exact.
#[derive(Clone, Copy, Debug)]
pub struct Rollup {
    /// The columns to group by.
    pub by: &'static [&'static str],
    /// The columns to sum; rows are ordered by their total, largest first.
    pub sums: &'static [&'static str],
    /// Keep the groups' own order instead (for a chart over time).
    pub in_order: bool,
}

const fn table(section: &'static str, query: &'static str) -> Spec {
    Spec {
        section,
        query,
        params: &[],
        chart: None,
        rollup: None,
    }
}

const fn summed(
    section: &'static str,
    query: &'static str,
    by: &'static [&'static str],
    sums: &'static [&'static str],
) -> Spec {
    Spec {
        section,
        query,
        params: &[],
        chart: None,
        rollup: Some(Rollup {
            by,
            sums,
            in_order: false,
        }),
    }
}

const fn timeline(
    section: &'static str,
    query: &'static str,
    series: Option<&'static str>,
    value: &'static str,
) -> Spec {
    Spec {
        section,
        query,
        params: &[("grain", "")],
        chart: Some(ChartSpec {
            x: "period",
            series,
            value,
        }),
        rollup: None,
    }
}

/// The sections of the page, in order.
pub const SECTIONS: &[(&str, &str)] = &[
    ("traffic", "Traffic"),
    ("who", "Who and what"),
    ("security", "Security"),
    ("billing", "Cost and egress"),
    ("quality", "Data quality"),
    ("audit", "Audit findings in detail"),
];

const PANELS: &[Spec] = &[
    table("overview", "report/overview"),
    timeline(
        "traffic",
        "report/traffic",
        Some("status_class"),
        "requests",
    ),
    timeline(
        "traffic",
        "report/traffic",
        Some("status_class"),
        "bytes_sent",
    ),
    table("who", "report/top_requesters"),
    table("who", "report/top_remote_ips"),
    table("who", "report/top_prefixes"),
    table("who", "report/top_keys"),
    table("who", "report/top_operations"),
    table("who", "report/top_error_codes"),
    table("who", "report/top_user_agents"),
    table("who", "report/top_referers"),
    table("who", "clients/countries"),
    table("who", "clients/networks"),
    table("who", "clients/clouds"),
    table("who", "clients/bots"),
    table("who", "clients/unknown_clients"),
    timeline(
        "security",
        "report/auth_failures",
        Some("error_code"),
        "failures",
    ),
    table("security", "report/tls_versions"),
    table("security", "audit/presigned_urls"),
    Spec {
        section: "billing",
        query: "billing/cost_estimate",
        params: &[],
        chart: Some(ChartSpec {
            x: "date",
            series: None,
            value: "total_usd",
        }),
        rollup: Some(Rollup {
            by: &["date"],
            sums: &["request_usd", "egress_usd", "total_usd"],
            in_order: true,
        }),
    },
    summed(
        "billing",
        "billing/cost_estimate",
        &["bucket", "prefix"],
        &["request_usd", "egress_usd", "total_usd"],
    ),
    summed(
        "billing",
        "billing/requests_by_class",
        &["bucket", "prefix"],
        &[
            "tier1_requests",
            "tier2_requests",
            "free_requests",
            "not_billed",
        ],
    ),
    summed(
        "billing",
        "billing/transfer_out",
        &["bucket", "destination"],
        &["requests", "bytes_sent"],
    ),
    table("quality", "report/rejects_by_reason"),
    Spec {
        section: "quality",
        query: "report/delivery",
        params: &[],
        chart: Some(ChartSpec {
            x: "date",
            series: None,
            value: "late_records",
        }),
        rollup: None,
    },
    table("quality", "report/replaced_utf8"),
    table("quality", "report/missing_hours"),
];

/// Runs the findings and every panel's query over `ctx`.
///
/// Each distinct query runs once (the findings and their panels share a
/// result), and, once the overview has chosen the grain, the rest run
/// side by side ([`Answers::run_all`]).
///
/// # Errors
///
/// A query failed.
pub async fn build(ctx: &SessionContext, options: &Options) -> Result<Report> {
    let (since, until) = (options.since.as_deref(), options.until.as_deref());
    let policy = Policy::default();
    let mut answers = Answers::default();
    // The overview decides the grain: hours for up to three days.
    let overview = panel(ctx, options, &PANELS[0], "day", &mut answers).await?;
    let span = overview_span(&overview);
    let grain = if span.is_some_and(|s| s <= 3) {
        "hour"
    } else {
        "day"
    };
    // A panel for each finding's rows, unless a section has it already.
    let audit: Vec<Spec> = findings::FINDINGS
        .iter()
        .filter(|def| !PANELS.iter().any(|p| p.query == def.query))
        .map(|def| table("audit", def.query))
        .collect();
    let specs: Vec<&Spec> = PANELS[1..].iter().chain(&audit).collect();
    let mut wanted = findings::wanted(&policy, since, until)?;
    for spec in &specs {
        wanted.push((bundled(spec)?, given(options, spec, grain)));
    }
    answers.run_all(ctx, wanted).await?;
    let found = findings::evaluate_with(ctx, &policy, since, until, &mut answers).await?;
    let mut report = Report {
        options: options.clone(),
        grain,
        findings: found,
        panels: vec![overview],
    };
    for spec in specs {
        let panel = panel(ctx, options, spec, grain, &mut answers).await?;
        report.panels.push(panel);
    }
    Ok(report)
}

/// Days from the first to the last request of the overview, when there
/// are requests.
fn overview_span(overview: &Panel) -> Option<i64> {
    let row = overview.rows.first()?;
    let day = |name: &str| match overview.column(name).map(|i| &row[i]) {
        Some(Cell::Text(t)) => crate::civil::parse_date(t.get(..10)?),
        _ => None,
    };
    Some(i64::from(day("last_request")?) - i64::from(day("first_request")?) + 1)
}

fn bundled(spec: &Spec) -> Result<queries::Query> {
    queries::find(spec.query)?.with_context(|| format!("no bundled query {}", spec.query))
}

/// The parameters of a panel's query: its own, the grain, the range.
fn given(options: &Options, spec: &Spec, grain: &str) -> BTreeMap<String, String> {
    let mut given = BTreeMap::new();
    for (k, v) in spec.params {
        let v = if *k == "grain" { grain } else { v };
        given.insert((*k).to_string(), v.to_string());
    }
    if let Some(s) = &options.since {
        given.insert("since".into(), s.clone());
    }
    if let Some(u) = &options.until {
        given.insert("until".into(), u.clone());
    }
    given
}

async fn panel(
    ctx: &SessionContext,
    options: &Options,
    spec: &Spec,
    grain: &str,
    answers: &mut Answers,
) -> Result<Panel> {
    let query = bundled(spec)?;
    let given = given(options, spec, grain);
    let command = command(&query.name, &given);
    let answer = answers.run(ctx, &query, &given).await?;
    let (mut columns, batches) = (answer.columns.clone(), &answer.batches);
    let keep = if spec.chart.is_some() {
        usize::MAX
    } else {
        MAX_ROWS
    };
    let mut rows = Vec::new();
    let mut total_rows = 0;
    let mut totals = BTreeMap::new();
    for batch in batches {
        total_rows += batch.num_rows();
        let cols = batch
            .columns()
            .iter()
            .map(|c| cells(c.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        for (name, col) in columns.iter().zip(&cols) {
            // One running sum in row order, so that a total does not depend
            // on where the batches of the result happen to end.
            let mut numbers = col.iter().filter_map(Cell::number).peekable();
            if numbers.peek().is_some() {
                let total = totals.entry(name.clone()).or_insert(0.0);
                for n in numbers {
                    *total += n;
                }
            }
        }
        if spec.rollup.is_none() {
            for r in 0..batch.num_rows() {
                if rows.len() < keep {
                    rows.push(cols.iter().map(|c| c[r].clone()).collect());
                }
            }
        }
    }
    let mut title = query.title.clone();
    let mut description = query.description.clone();
    let mut id = Report::anchor(spec.query);
    if let Some(c) = spec.chart
        && spec.query == "report/traffic"
    {
        title = format!("{title}: {}", c.value.replace('_', " "));
        id = format!("{id}-{}", c.value);
    }
    if let Some(r) = spec.rollup {
        (columns, rows, total_rows) = rollup(&columns, batches, r, keep)?;
        let by = r.by.join(" and ");
        title = format!("{title}, by {}", by.replace('_', " "));
        description = format!("The sums of the query's rows by {by}. {description}");
        if r.by != ["date"] {
            id = format!("{id}-by-{}", r.by.join("-"));
        }
    }
    Ok(Panel {
        id,
        section: spec.section,
        query: query.name.clone(),
        title,
        description,
        command,
        sql: query
            .sql
            .lines()
            .skip_while(|l| l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n"),
        chart: spec.chart,
        columns,
        rows,
        total_rows,
        totals,
    })
}

/// Sums the rows of `batches` by the columns `r.by`: one row per group,
/// the group's columns then the sums, the largest groups first (or in the
/// groups' order with `in_order`).
fn rollup(
    columns: &[String],
    batches: &[RecordBatch],
    r: Rollup,
    keep: usize,
) -> Result<(Vec<String>, Vec<Vec<Cell>>, usize)> {
    let find = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .with_context(|| format!("the query has no column {name}"))
    };
    let by: Vec<usize> = r.by.iter().map(|c| find(c)).collect::<Result<_>>()?;
    let sums: Vec<usize> = r.sums.iter().map(|c| find(c)).collect::<Result<_>>()?;
    // Group key (as text, for ordering) -> (key cells, sums, all whole).
    type Group = (Vec<Cell>, Vec<f64>, bool);
    let mut groups: BTreeMap<Vec<String>, Group> = Default::default();
    for batch in batches {
        let column = |i: &usize| cells(batch.column(*i).as_ref());
        let keys: Vec<Vec<Cell>> = by.iter().map(column).collect::<Result<_>>()?;
        let values: Vec<Vec<Cell>> = sums.iter().map(column).collect::<Result<_>>()?;
        for row in 0..batch.num_rows() {
            let key: Vec<Cell> = keys.iter().map(|c| c[row].clone()).collect();
            let text: Vec<String> = key.iter().map(Cell::sort_key).collect();
            let group = groups
                .entry(text)
                .or_insert_with(|| (key, vec![0.0; sums.len()], true));
            for (k, c) in values.iter().enumerate() {
                group.1[k] += c[row].number().unwrap_or(0.0);
                group.2 &= !matches!(c[row], Cell::Float(_));
            }
        }
    }
    let total = groups.len();
    let mut rows: Vec<Group> = groups.into_values().collect();
    if !r.in_order {
        let size = |g: &Group| g.1.iter().sum::<f64>();
        rows.sort_by(|a, b| size(b).total_cmp(&size(a)));
    }
    let out_columns = r.by.iter().chain(r.sums).map(|c| c.to_string()).collect();
    let out_rows = rows
        .into_iter()
        .take(keep)
        .map(|(mut key, values, whole)| {
            key.extend(values.into_iter().map(|v| {
                if whole && v.fract() == 0.0 && v.abs() < 9e15 {
                    Cell::Int(v as i64)
                } else {
                    Cell::Float(v)
                }
            }));
            key
        })
        .collect();
    Ok((out_columns, out_rows, total))
}

/// The cells of a column: numbers as numbers, the rest as `s3logs query`
/// prints it.
fn cells(array: &dyn Array) -> Result<Vec<Cell>> {
    let ty = array.data_type();
    if ty.is_integer() {
        let ints = cast(array, &DataType::Int64)?;
        let ints = ints.as_primitive::<Int64Type>().iter();
        return Ok(ints.map(|v| v.map_or(Cell::Null, Cell::Int)).collect());
    }
    if ty.is_floating() || matches!(ty, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        let floats = cast(array, &DataType::Float64)?;
        let floats = floats.as_primitive::<Float64Type>().iter();
        return Ok(floats.map(|v| v.map_or(Cell::Null, Cell::Float)).collect());
    }
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(array, &options)?;
    Ok((0..array.len())
        .map(|i| {
            if array.is_null(i) {
                Cell::Null
            } else {
                Cell::Text(formatter.value(i).to_string())
            }
        })
        .collect())
}
