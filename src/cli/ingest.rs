//! `s3logs ingest`: log folders into the lake, incrementally.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use s3logs::ingest::{Options, Summary, run};
use s3logs::lake::Shard;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Log files or folders (walked recursively), or s3://bucket/prefix
    /// URLs; .gz and .zst are detected by their magic bytes.
    #[arg(required = true)]
    sources: Vec<PathBuf>,

    #[command(flatten)]
    selection: super::SelectionArgs,

    /// For s3:// sources: list from this many days before the latest day
    /// already ingested from the source, to catch late deliveries, instead
    /// of listing everything.
    #[arg(long, env = "S3LOGS_LOOKBACK_DAYS", default_value_t = 2)]
    lookback_days: u32,

    /// For s3:// sources: list everything under the prefix every run.
    #[arg(long)]
    full_listing: bool,

    /// The lake's folder, or an s3://bucket/prefix URL.
    #[arg(long, env = "S3LOGS_LAKE", default_value = "s3logs-lake")]
    lake: PathBuf,

    /// Exit 1 when rejected lines exceed this share of lines read (the run
    /// still commits what it read).
    #[arg(long, env = "S3LOGS_MAX_REJECT_RATIO", default_value_t = 0.01, value_parser = super::parse_ratio)]
    max_reject_ratio: f64,

    /// Write the run summary as JSON to this file, or `-` for stdout.
    #[arg(long, env = "S3LOGS_SUMMARY_JSON")]
    summary_json: Option<PathBuf>,

    /// Write the run as Prometheus metrics to this file (for
    /// node_exporter's textfile collector), replacing it at once, whether
    /// the run succeeded or not. Its folder must exist.
    #[arg(long, env = "S3LOGS_METRICS_FILE")]
    metrics_file: Option<PathBuf>,

    /// Memory for buffered rows, in MiB, before the largest day is written
    /// out.
    #[arg(long, env = "S3LOGS_MEMORY_MB", default_value_t = 64)]
    memory_mb: usize,

    /// Read again objects that changed since they were ingested, replacing
    /// their earlier records (by default a changed object is an error: S3
    /// log objects never change).
    #[arg(long)]
    reingest_changed: bool,

    /// After the run, compact the days it changed whose files more than
    /// this many writes made, in the same run (an hourly cron adds a file a
    /// day each run; the several files one large run writes for a day count
    /// once); 0 turns it off.
    #[arg(long, env = "S3LOGS_COMPACT_OVER", default_value_t = 8)]
    compact_over: usize,

    /// Seconds to wait for another run writing to the same lake.
    #[arg(long, env = "S3LOGS_LOCK_WAIT", default_value_t = 300)]
    lock_wait: u64,

    /// Take only shard K of N of the objects (by a stable hash of each
    /// object's file name), committing beside the other N-1 workers, which
    /// may run at the same time on any machine with the same arguments.
    #[arg(long, env = "S3LOGS_SHARD", value_name = "K/N", value_parser = parse_shard)]
    shard: Option<Shard>,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text).map_err(|e| e.to_string())
}

/// Writes the summary as JSON to a file (replaced at once: a reader never
/// sees half of one) or to stdout for `-`.
fn write_summary(path: &std::path::Path, summary: &Summary) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(summary).context("encoding the summary")? + "\n";
    if path.as_os_str() == "-" {
        let mut out = super::stdout();
        out.write_all(json.as_bytes())
            .and_then(|()| out.flush())
            .context("writing the summary")?;
        return Ok(());
    }
    super::replace_file(path, json.as_bytes())
        .with_context(|| format!("writing the summary to {}", path.display()))?;
    Ok(())
}

/// Writes the metrics of a run, carrying the last success over from the
/// file's previous contents when this run failed.
fn write_metrics(path: &std::path::Path, summary: &Summary, succeeded: bool) -> anyhow::Result<()> {
    let last_success = std::fs::read_to_string(path).ok().and_then(|old| {
        old.lines()
            .find_map(|l| l.strip_prefix("s3logs_ingest_last_success_timestamp_seconds "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as i64)
    });
    let now = s3logs::civil::now_micros() / 1_000_000;
    let text = summary.prometheus(now, succeeded, last_success);
    super::replace_file(path, text.as_bytes())
        .with_context(|| format!("writing the metrics to {}", path.display()))?;
    Ok(())
}

pub fn run_cmd(args: IngestArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.metrics_file {
        super::check_writable(path, "--metrics-file", &args.sources)?;
    }
    if let Some(path) = args.summary_json.as_ref().filter(|p| p.as_os_str() != "-") {
        super::check_writable(path, "--summary-json", &args.sources)?;
    }
    let mut opts = Options::new(args.sources, args.lake);
    opts.selection = args.selection.selection()?;
    opts.lookback_days = (!args.full_listing).then_some(args.lookback_days as i32);
    opts.memory_budget = args.memory_mb.max(16) << 20;
    opts.lock_wait = Duration::from_secs(args.lock_wait);
    opts.progress = std::io::stderr().is_terminal();
    opts.reingest_changed = args.reingest_changed;
    opts.compact_over = args.compact_over;
    opts.shard = args.shard;
    let summary = match run(&opts) {
        Ok(outcome) => outcome.summary,
        Err(e) => {
            // A monitor reading the summary must not go on seeing the last
            // run's success: a failed run writes one too, with its error.
            let failed = Summary {
                error: Some(super::error_chain(&e)),
                ..Summary::default()
            };
            if let Some(path) = &args.summary_json
                && let Err(w) = write_summary(path, &failed)
            {
                eprintln!("s3logs: error: {}", super::error_chain(&w));
            }
            if let Some(path) = &args.metrics_file
                && let Err(w) = write_metrics(path, &failed, false)
            {
                eprintln!("s3logs: error: {}", super::error_chain(&w));
            }
            return Err(e);
        }
    };
    eprint!("{}", summary.human());
    if let Some(path) = &args.summary_json {
        write_summary(path, &summary)?;
    }
    if let Some(path) = &args.metrics_file {
        write_metrics(path, &summary, summary.errors.is_empty())?;
    }
    Ok(if !summary.errors.is_empty() {
        ExitCode::from(2)
    } else if summary.reject_ratio() > args.max_reject_ratio {
        eprintln!(
            "s3logs: {:.2}% of lines were rejected, more than --max-reject-ratio {}",
            summary.reject_ratio() * 100.0,
            args.max_reject_ratio
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
