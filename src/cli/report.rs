//! `s3logs report`: one self-contained HTML page of what happened to a
//! bucket.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use anyhow::{Context, bail};
use s3logs::output::human_bytes;
use s3logs::report::{self, Options};
use s3logs::sql::{Sources, context, in_memory, raw_objects};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The lake's folder, or an s3://bucket/prefix URL.
    #[arg(long, env = "S3LOGS_LAKE", default_value = "s3logs-lake")]
    lake: PathBuf,

    /// Report on raw log files, folders or s3://bucket/prefix URLs instead
    /// of the lake (they are read once).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    raw: Vec<PathBuf>,

    /// First day of records to show (YYYY-MM-DD, inclusive).
    #[arg(long, value_parser = super::parse_date_text)]
    since: Option<String>,

    /// Last day of records to show (YYYY-MM-DD, inclusive).
    #[arg(long, value_parser = super::parse_date_text)]
    until: Option<String>,

    /// Where to write the page.
    #[arg(long, short, default_value = "s3logs-report.html")]
    output: PathBuf,

    #[command(flatten)]
    enrich: super::EnrichArgs,

    /// Endpoint of an S3-compatible store (path-style requests).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,

    /// Region of s3:// sources (default: AWS_REGION, the profile's, or
    /// us-east-1).
    #[arg(long)]
    region: Option<String>,

    /// The pricing plan of the cost panels: a bundled name or a TOML file.
    #[arg(long, env = "S3LOGS_PRICING", default_value = "us-east-1-standard")]
    pricing: String,

    /// With --raw: the most log text, in MiB, to hold in memory (compressed
    /// objects count ten times their size); more is read once into a
    /// temporary lake on disk instead. Default: half the memory available
    /// (the machine's, or its cgroup's when that is less).
    #[arg(long, env = "S3LOGS_RAW_MEMORY_MB", value_name = "MIB")]
    raw_memory_mb: Option<u64>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    super::check_text_range(args.since.as_deref(), args.until.as_deref())?;
    super::check_writable(&args.output, "--output", &args.raw)?;
    let sources = Sources {
        lake: Some(args.lake.clone()),
        raw: args.raw.clone(),
        pricing: args.pricing.clone(),
        selection: selection(&args),
        enrich: args.enrich.options(),
    };
    let source = if args.raw.is_empty() {
        args.lake.display().to_string()
    } else {
        let paths: Vec<String> = args.raw.iter().map(|p| p.display().to_string()).collect();
        paths.join(" ")
    };
    let options = Options {
        source,
        since: args.since.clone(),
        until: args.until.clone(),
    };
    let rt = s3logs::runtime::get();
    let page = rt.block_on(async {
        let ctx = context(&sources).await?;
        if !args.raw.is_empty() {
            // A report killed before it ended left its temporary lake.
            s3logs::lake::remove_dead_temp_dirs(TEMP_LAKE);
            let objects = raw_objects(&ctx).await?.unwrap_or_default();
            let text = text_size(&objects);
            let budget = args.raw_memory_mb.map(|m| m << 20).or_else(memory_for_raw);
            if let Some(budget) = budget.filter(|&b| text > b) {
                eprintln!(
                    "s3logs: the raw files hold about {} of logs, more than the {} \
                     to hold in memory (--raw-memory-mb): reading them once into a \
                     temporary lake on disk",
                    human_bytes(text as f64),
                    human_bytes(budget as f64)
                );
                return Ok(Err(objects.to_vec()));
            }
            let (since, until) = (options.since.as_deref(), options.until.as_deref());
            match in_memory(&ctx, since, until, budget).await {
                // Compressed objects whose text is far more than ten times
                // their size: found out while reading them.
                Err(e) if s3logs::sql::is_over_budget(&e) => {
                    eprintln!(
                        "s3logs: the raw files hold more than the {} of logs to hold in \
                         memory (--raw-memory-mb), more than their sizes suggested: \
                         reading them once into a temporary lake on disk",
                        human_bytes(budget.unwrap_or_default() as f64)
                    );
                    return Ok(Err(objects.to_vec()));
                }
                read => read?,
            }
        }
        let built = report::build(&ctx, &options).await?;
        anyhow::Ok(Ok(report::html::render(&built)))
    })?;
    let page = match page {
        Ok(page) => page,
        Err(objects) => through_lake(&args, sources, objects, &options)?,
    };
    super::replace_file(&args.output, page.as_bytes())?;
    eprintln!("s3logs: wrote the report to {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// Which raw objects to read: those named for the days of the range, and
/// the day after it, which holds the records AWS delivered late (a record
/// delivered more than a day late is only in the lake's report).
fn selection(args: &ReportArgs) -> s3logs::source::Selection {
    let day = |d: &Option<String>| d.as_deref().and_then(s3logs::civil::parse_date);
    s3logs::source::Selection {
        since: day(&args.since),
        until: day(&args.until).map(|d| d.saturating_add(1)),
        s3: s3logs::source::S3Options {
            endpoint: args.endpoint_url.clone(),
            region: args.region.clone(),
        },
        resume: Default::default(),
    }
}

/// The prefix of the temporary lakes in `TMPDIR` (then the PID, for
/// people, then a random part).
const TEMP_LAKE: &str = "s3logs-report-";

/// The page of `--raw` sources too large for memory (`objects`, as they
/// were listed for it): they are ingested once into a temporary lake
/// (which bounds memory whatever their size, as `ingest` does), and the
/// report is the lake's. The lake is removed afterwards, whether the
/// report succeeded or not.
fn through_lake(
    args: &ReportArgs,
    sources: Sources,
    objects: Vec<s3logs::source::Object>,
    options: &Options,
) -> anyhow::Result<String> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{TEMP_LAKE}{}-", std::process::id()))
        .tempdir()
        .context("making a temporary lake (TMPDIR says where)")?;
    let owner = s3logs::lake::own_temp_dir(dir.path())
        .with_context(|| format!("locking the temporary lake {}", dir.path().display()))?;
    let lake = dir.path().join("lake");
    let mut opts = s3logs::ingest::Options::new(args.raw.clone(), lake.clone());
    opts.selection = selection(args);
    opts.lookback_days = None;
    // As listed for the page: a prefix of many objects is listed once.
    opts.listed = Some(objects);
    opts.compact_over = 0;
    opts.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary = s3logs::ingest::run(&opts)
        .with_context(|| format!("reading the raw files into {}", lake.display()))?
        .summary;
    if !summary.errors.is_empty() {
        bail!("reading the raw files: {}", summary.errors.join("; "));
    }
    let sources = Sources {
        lake: Some(lake),
        raw: Vec::new(),
        ..sources
    };
    let rt = s3logs::runtime::get();
    let page = rt.block_on(async {
        let ctx = context(&sources).await?;
        let built = report::build(&ctx, options).await?;
        anyhow::Ok(report::html::render(&built))
    })?;
    drop(owner);
    dir.close().context("removing the temporary lake")?;
    Ok(page)
}

/// About how much log text `objects` hold: their sizes, with those whose
/// names say they are compressed counted ten times (S3 access logs shrink
/// about that much under gzip or zstd).
fn text_size(objects: &[s3logs::source::Object]) -> u64 {
    objects
        .iter()
        .map(|o| {
            let compressed = [".gz", ".gzip", ".zst", ".zstd"]
                .iter()
                .any(|ext| o.name.to_ascii_lowercase().ends_with(ext));
            if compressed {
                o.size.saturating_mul(10)
            } else {
                o.size
            }
        })
        .fold(0, u64::saturating_add)
}

/// Half the memory available to this process: the machine's available
/// memory, or what its cgroup (v2) still allows when that is less. `None`
/// where neither can be read (no limit is then applied).
fn memory_for_raw() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    let mut available = kib.saturating_mul(1024);
    if let Some(room) = cgroup_room() {
        available = available.min(room);
    }
    Some(available / 2)
}

/// What the cgroup v2 of this process may still allocate (`memory.max`
/// less `memory.current`), when it has a limit.
fn cgroup_room() -> Option<u64> {
    let me = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = me.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    // `memory.max` reads `max` where there is no limit: no number.
    Some(read("memory.max")?.saturating_sub(read("memory.current")?))
}
