//! `s3logs check`: validate log objects and report what they hold.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

use s3logs::check::{ObjectReport, Stats, check_objects};
use s3logs::source::find;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Log files or folders (walked recursively), or s3://bucket/prefix
    /// URLs; .gz and .zst are detected by their magic bytes.
    #[arg(required = true)]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    selection: super::SelectionArgs,

    /// List each rejected line as `file:line: reason` and the raw line,
    /// escaped.
    #[arg(long)]
    rejects: bool,

    /// Report format (default: table on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Serialize)]
struct FileJson<'a> {
    path: &'a str,
    #[serde(flatten)]
    stats: StatsJson<'a>,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct StatsJson<'a> {
    #[serde(flatten)]
    stats: &'a Stats,
    rejected: u64,
    first_time_utc: Option<String>,
    last_time_utc: Option<String>,
}

#[derive(Serialize)]
struct RejectJson<'a> {
    file: &'a str,
    line: i64,
    byte_offset: i64,
    reason: &'a str,
    raw: String,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    files: Vec<FileJson<'a>>,
    total: StatsJson<'a>,
    unreadable: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejects: Option<Vec<RejectJson<'a>>>,
}

fn stats_json(stats: &Stats) -> StatsJson<'_> {
    StatsJson {
        stats,
        rejected: stats.rejected(),
        first_time_utc: stats.first_time.map(iso),
        last_time_utc: stats.last_time.map(iso),
    }
}

fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A raw line made printable: ASCII as is, everything else escaped.
fn escape(raw: &[u8]) -> String {
    raw.escape_ascii().to_string()
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let found = find(&args.paths, &args.selection.selection()?);
    let (objects, missing) = (found.objects, found.errors);
    let mut unreadable: Vec<String> = Vec::new();
    for m in &missing {
        eprintln!(
            "s3logs: {}: {}",
            s3logs::output::printable(&m.source),
            s3logs::output::printable(&m.error)
        );
        unreadable.push(m.source.clone());
    }
    let reports = check_objects(&objects, args.rejects);
    let mut total = Stats::default();
    for r in &reports {
        total.merge(&r.stats);
        if let Some(e) = &r.error {
            eprintln!(
                "s3logs: {}: {}",
                s3logs::output::printable(&r.name),
                s3logs::output::printable(&e.to_string())
            );
            unreadable.push(r.name.clone());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "s3logs: checked {} objects, {} lines, {:.1} MB in {:.2}s ({:.1} MB/s)",
        objects.len(),
        total.lines,
        total.bytes as f64 / 1e6,
        secs,
        total.bytes as f64 / 1e6 / secs.max(1e-9),
    );

    let format = args.format.unwrap_or(if super::stdout_is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = super::stdout();
    match format {
        Format::Json => write_json(&mut out, &reports, &total, unreadable.clone(), args.rejects)?,
        Format::Table => write_table(&mut out, &reports, &total, args.rejects)?,
    }
    out.flush().context("writing the report")?;

    Ok(if !unreadable.is_empty() {
        ExitCode::from(2)
    } else if total.rejected() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_json(
    out: &mut impl Write,
    reports: &[ObjectReport],
    total: &Stats,
    unreadable: Vec<String>,
    rejects: bool,
) -> anyhow::Result<()> {
    let report = ReportJson {
        files: reports
            .iter()
            .map(|r| FileJson {
                path: &r.name,
                stats: stats_json(&r.stats),
                error: r.error.as_deref(),
            })
            .collect(),
        total: stats_json(total),
        unreadable,
        rejects: rejects.then(|| {
            reports
                .iter()
                .flat_map(|r| &r.samples)
                .map(|s| RejectJson {
                    file: &s.source_file,
                    line: s.source_line,
                    byte_offset: s.byte_offset,
                    reason: s.reason,
                    raw: escape(&s.raw),
                })
                .collect()
        }),
    };
    serde_json::to_writer_pretty(&mut *out, &report).context("writing the report")?;
    writeln!(out).context("writing the report")?;
    Ok(())
}

fn write_table(
    out: &mut impl Write,
    reports: &[ObjectReport],
    total: &Stats,
    rejects: bool,
) -> anyhow::Result<()> {
    let w = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let row = |out: &mut dyn Write, name: &str, s: &Stats, note: &str| -> std::io::Result<()> {
        let reasons: Vec<String> = s.rejects.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let eras: Vec<String> = s
            .field_counts
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        writeln!(
            out,
            "{name:<w$} {:>9} {:>9} {:>8} {:>6}  {:<20}  {:<20}  {}  {}{note}",
            s.lines,
            s.records,
            s.rejected(),
            s.lossy_utf8,
            s.first_time.map(iso).unwrap_or_else(|| "-".into()),
            s.last_time.map(iso).unwrap_or_else(|| "-".into()),
            if eras.is_empty() {
                "-".into()
            } else {
                eras.join(",")
            },
            if reasons.is_empty() {
                String::new()
            } else {
                format!("[{}]", reasons.join(" "))
            },
        )
    };
    writeln!(
        out,
        "{:<w$} {:>9} {:>9} {:>8} {:>6}  {:<20}  {:<20}  fields:records  [rejects]",
        "file", "lines", "records", "rejected", "lossy", "first (UTC)", "last (UTC)"
    )?;
    for r in reports {
        let note = r
            .error
            .as_deref()
            .map(|e| format!("  ERROR: {e}"))
            .unwrap_or_default();
        row(out, &r.name, &r.stats, &note)?;
    }
    row(out, "TOTAL", total, "")?;
    if rejects {
        writeln!(out)?;
        for s in reports.iter().flat_map(|r| &r.samples) {
            writeln!(out, "{}:{}: {}", s.source_file, s.source_line, s.reason)?;
            writeln!(out, "    {}", escape(&s.raw))?;
        }
    }
    Ok(())
}
