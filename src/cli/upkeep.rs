//! `s3logs compact`, `s3logs vacuum` and `s3logs status`: keeping the lake
//! in shape and seeing what it holds.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use s3logs::lake::{Lake, LockMode};

/// The lake argument shared by the upkeep commands.
#[derive(Debug, Args)]
pub struct LakeArg {
    /// The lake's folder, or an s3://bucket/prefix URL.
    #[arg(long, env = "S3LOGS_LAKE", default_value = "s3logs-lake")]
    lake: PathBuf,
    /// Seconds to wait for another run writing to the same lake.
    #[arg(long, env = "S3LOGS_LOCK_WAIT", default_value_t = 300)]
    lock_wait: u64,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    lake: LakeArg,
    /// Only days on or after this date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    since: Option<String>,
    /// Target size of the merged files, in MiB.
    #[arg(long, default_value_t = 128)]
    target_file_mb: u64,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    lake: LakeArg,
    /// Keep unreferenced files younger than this many hours (readers of
    /// older table versions may still need them).
    #[arg(long, default_value_t = 168)]
    retain_hours: u64,
}

#[derive(Debug, Args)]
pub struct ExpireArgs {
    #[command(flatten)]
    lake: LakeArg,
    /// Remove the days of `logs` before this many days ago (UTC), and the
    /// rejected lines of objects wholly before then; the ledger keeps them.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    older_than: u32,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    lake: LakeArg,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, value_parser = ["table", "json"])]
    format: Option<String>,
    /// Also check that every file the tables name exists with the size
    /// recorded (a HEAD per file on S3); exit 2 when one does not.
    #[arg(long)]
    verify: bool,
}

fn parse_date(s: &str) -> Result<String, String> {
    s3logs::civil::parse_date(s)
        .map(s3logs::civil::date_string)
        .ok_or_else(|| format!("{s:?} is not a YYYY-MM-DD date"))
}

/// Opens the lake and holds it in `mode`: `compact` runs beside shard
/// workers (a commit of theirs that lands first makes it conflict and start
/// over); `vacuum` and `expire` wait until no shard is running.
fn open_for_write(
    arg: &LakeArg,
    rt: &tokio::runtime::Runtime,
    mode: LockMode,
) -> anyhow::Result<(Lake, s3logs::lake::LakeLock)> {
    let lake = existing_lake(&arg.lake, rt)?;
    let lock = lake.lock_as(mode, Duration::from_secs(arg.lock_wait))?;
    // Held against every shard, this completes their stopped runs too.
    rt.block_on(lake.recover())
        .context("completing an interrupted run")?;
    Ok((lake, lock))
}

/// The lake at a folder or `s3://` URL, which must exist (S3 options from
/// the environment: `AWS_ENDPOINT_URL`, `AWS_REGION`).
fn existing_lake(path: &std::path::Path, rt: &tokio::runtime::Runtime) -> anyhow::Result<Lake> {
    let lake = Lake::at(path, &s3logs::source::S3Options::default())?;
    let exists = if lake.is_remote() {
        rt.block_on(lake.open(s3logs::lake::Table::Logs))?.is_some()
    } else {
        path.is_dir()
    };
    if !exists {
        anyhow::bail!("no lake at {}", lake.display());
    }
    Ok(lake)
}

pub fn compact(args: CompactArgs) -> anyhow::Result<ExitCode> {
    let rt = s3logs::runtime::get();
    let (lake, _lock) = open_for_write(&args.lake, rt, LockMode::BesideShards)?;
    let report =
        rt.block_on(lake.compact(args.since.as_deref(), args.target_file_mb.max(1) << 20))?;
    if report.days.is_empty() {
        eprintln!("s3logs: nothing to compact");
    } else {
        eprintln!(
            "s3logs: compacted {} days: {} files into {}, {} exact duplicate records dropped; logs table version {}",
            report.days.len(),
            report.files_before,
            report.files_after,
            report.duplicates_dropped,
            report.table_version
        );
        if report.attempts > 1 {
            eprintln!(
                "s3logs: the compaction took {} attempts: other writers committed meanwhile",
                report.attempts
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn vacuum(args: VacuumArgs) -> anyhow::Result<ExitCode> {
    let rt = s3logs::runtime::get();
    let (lake, _lock) = open_for_write(&args.lake, rt, LockMode::Exclusive)?;
    let deleted = rt.block_on(lake.vacuum(Duration::from_secs(args.retain_hours * 3600)))?;
    let parts: Vec<String> = deleted.iter().map(|(t, n)| format!("{t} {n}")).collect();
    eprintln!("s3logs: vacuum deleted files: {}", parts.join(", "));
    Ok(ExitCode::SUCCESS)
}

pub fn expire(args: ExpireArgs) -> anyhow::Result<ExitCode> {
    let rt = s3logs::runtime::get();
    let (lake, _lock) = open_for_write(&args.lake, rt, LockMode::Exclusive)?;
    let today = s3logs::civil::day_of(s3logs::civil::now_micros());
    let cutoff = s3logs::civil::date_string(today - args.older_than as i32);
    let report = rt.block_on(lake.expire(&cutoff))?;
    if report.days.is_empty() && report.rejects_removed == 0 && report.kept_removed == 0 {
        eprintln!("s3logs: nothing before {cutoff} to expire");
    } else {
        eprintln!(
            "s3logs: expired {} days before {cutoff} ({} files, {} records), {} rejected lines \
             and {} kept days of views and queries; the ledger keeps their objects, so they are \
             not ingested again; `s3logs vacuum` frees the files",
            report.days.len(),
            report.files_removed,
            report.records_removed,
            report.rejects_removed,
            report.kept_removed
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let rt = s3logs::runtime::get();
    let lake = existing_lake(&args.lake.lake, rt)?;
    let mut st = rt.block_on(lake.status())?;
    if args.verify {
        st.problems = Some(rt.block_on(lake.verify())?);
    }
    let json = match args.format.as_deref() {
        Some("json") => true,
        Some(_) => false,
        None => !super::stdout_is_terminal(),
    };
    let mut out = super::stdout();
    if json {
        serde_json::to_writer_pretty(&mut out, &st).context("writing the status")?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "logs table version: {}",
            st.logs_version.map_or("-".into(), |v| v.to_string())
        )?;
        writeln!(
            out,
            "{:<12} {:>6} {:>12} {:>14}",
            "date", "files", "rows", "bytes"
        )?;
        for (day, d) in &st.days {
            writeln!(
                out,
                "{day:<12} {:>6} {:>12} {:>14}",
                d.files, d.rows, d.bytes
            )?;
        }
        let rejects: Vec<String> = st.rejects.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(
            out,
            "rejects: {}",
            if rejects.is_empty() {
                "none".into()
            } else {
                rejects.join(" ")
            }
        )?;
        writeln!(out, "ledger: {} objects", st.ledger_objects)?;
        if !st.to_retry.is_empty() {
            writeln!(
                out,
                "to read again ({} objects that a run could not read):",
                st.to_retry.len()
            )?;
            for e in &st.to_retry {
                writeln!(
                    out,
                    "  {} (failing since {}: {})",
                    s3logs::output::printable(&e.object),
                    e.since_run,
                    s3logs::output::printable(&e.error)
                )?;
            }
        }
        match &st.problems {
            None => {}
            Some(p) if p.is_empty() => writeln!(out, "verified: every file is there")?,
            Some(p) => {
                writeln!(out, "verify: {} files missing or damaged:", p.len())?;
                for line in p {
                    writeln!(out, "  {line}")?;
                }
            }
        }
        if !st.shards.is_empty() {
            writeln!(out, "shards:")?;
            for s in &st.shards {
                let r = &s.last_run;
                writeln!(
                    out,
                    "  {:<7} last run {} at {}: {} objects, {} records",
                    s.shard, r.run_id, r.ingested_at, r.objects, r.records
                )?;
            }
        }
        writeln!(out, "last runs:")?;
        for r in &st.last_runs {
            writeln!(
                out,
                "  {} at {}: {} objects, {} records, {} rejects",
                r.run_id, r.ingested_at, r.objects, r.records, r.rejects
            )?;
        }
    }
    out.flush()?;
    if let Some(p) = st.problems.as_ref().filter(|p| !p.is_empty()) {
        eprintln!(
            "s3logs: error: {} files the tables name are missing or damaged (first: {}); \
             queries that read them fail",
            p.len(),
            s3logs::output::printable(&p[0].to_string())
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
