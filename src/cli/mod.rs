//! Command-line types and dispatch. One file per subcommand; the library
//! never sees clap.

mod audit;
mod check;
mod ddl;
mod generate;
mod ingest;
mod query;
mod report;
mod upkeep;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, Parser, Subcommand};

/// Exit codes, listed in `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success: every line was read
  1  finished, but some lines were rejected (check) or more than allowed (ingest)
  2  usage, configuration or I/O error, including an unreadable input";

/// Turn Amazon S3 server access logs into a lake you can trust, and answer
/// audit and billing questions about it in SQL.
#[derive(Debug, Parser)]
#[command(name = "s3logs", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Worker threads, 1 to 1024 (default: one per core).
    #[arg(long, global = true, env = "S3LOGS_THREADS", value_parser = parse_threads)]
    threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate log files or folders without writing anything.
    Check(check::CheckArgs),
    /// Ingest log objects not seen before into the lake (one atomic run).
    Ingest(ingest::IngestArgs),
    /// Run SQL, or a bundled query, over the lake or raw log files.
    Query(query::QueryArgs),
    /// Run every audit finding under a policy; exit 1 when one crosses its
    /// threshold (for cron, CI or a monitor).
    Audit(audit::AuditArgs),
    /// Write one self-contained HTML page of what happened: findings,
    /// traffic, who, security, cost and data quality.
    Report(report::ReportArgs),
    /// List the bundled queries with their parameters.
    Queries(query::QueriesArgs),
    /// Merge small files per day and drop exact duplicate records.
    Compact(upkeep::CompactArgs),
    /// Delete files no table references any more.
    Vacuum(upkeep::VacuumArgs),
    /// Remove days of logs and rejects past a retention period.
    Expire(upkeep::ExpireArgs),
    /// What the lake holds: versions, days, rejects, runs.
    Status(upkeep::StatusArgs),
    /// Print the SQL that registers the lake's tables in Athena, Trino,
    /// Spark (or Sail) or DuckDB, to query them there.
    Ddl(ddl::DdlArgs),
    /// Generate a realistic synthetic corpus of access logs.
    Gen(generate::GenArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff, for `man -l -`).
    Man,
}

#[derive(Debug, clap::Args)]
struct CompletionsArgs {
    /// The shell: put the script where it loads completions, for example
    /// `s3logs completions bash > ~/.local/share/bash-completion/completions/s3logs`.
    shell: clap_complete::Shell,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("setting up {n} threads: {e}"))?;
    }
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Gen(args) => generate::run(args),
        Command::Ingest(args) => ingest::run_cmd(args),
        Command::Query(args) => query::run(args),
        Command::Queries(args) => query::list(args),
        Command::Audit(args) => audit::run(args),
        Command::Report(args) => report::run(args),
        Command::Compact(args) => upkeep::compact(args),
        Command::Vacuum(args) => upkeep::vacuum(args),
        Command::Expire(args) => upkeep::expire(args),
        Command::Status(args) => upkeep::status(args),
        Command::Ddl(args) => ddl::run(args),
        Command::Completions(args) => {
            use clap_complete::Generator;
            let mut cmd = Cli::command();
            cmd.set_bin_name("s3logs");
            cmd.build();
            let mut out = stdout();
            args.shell.try_generate(&cmd, &mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut out = stdout();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Set once a write to stdout found the reader gone (`| head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether an error is stdout being closed by the reader (`| head`): not a
/// failure. Writers that report I/O errors as text (arrow's CSV writer,
/// serde_json) lose the `io::Error`, so [`stdout`] also remembers it.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
        || err.chain().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        })
}

/// Standard output, buffered, noting a closed pipe (see [`is_broken_pipe`]).
/// Every command writes its data through it.
pub fn stdout() -> std::io::BufWriter<PipeAware<std::io::Stdout>> {
    std::io::BufWriter::new(PipeAware(std::io::stdout()))
}

/// A writer that notes when its reader has gone.
pub struct PipeAware<W>(W);

impl<W: std::io::Write> PipeAware<W> {
    fn note<T>(r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<W: std::io::Write> std::io::Write for PipeAware<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::note(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Self::note(self.0.flush())
    }
}

/// An error and its causes, `: `-separated, leaving out a cause whose start
/// the messages before it already hold (object_store and DataFusion repeat
/// their sources' messages in their own, not always to the byte). Control
/// characters are escaped: errors name objects, whose names are anyone's
/// who can write to the bucket, and they go to a terminal.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let start: String = text.chars().take(48).collect();
        if out.contains(&start) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    s3logs::output::printable_lines(&out)
}

/// Table on a terminal, the machine format otherwise.
fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_skip_repeated_causes() {
        let inner = anyhow::anyhow!("404 Not Found");
        let err = inner
            .context("listing x: 404 Not Found")
            .context("opening the lake");
        assert_eq!(
            error_chain(&err),
            "opening the lake: listing x: 404 Not Found"
        );
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}

/// Which objects to read and how to reach S3: shared by `check`, `ingest`
/// and `query --raw`.
#[derive(Debug, Clone, clap::Args)]
pub struct SelectionArgs {
    /// Only objects whose names carry this day or a later one (YYYY-MM-DD,
    /// the delivery day AWS puts in log object names). On S3 the listing
    /// starts there instead of listing everything.
    #[arg(long, value_parser = parse_day)]
    since: Option<i32>,

    /// Only objects whose names carry this day or an earlier one.
    #[arg(long, value_parser = parse_day)]
    until: Option<i32>,

    /// Endpoint of an S3-compatible store for s3:// sources (path-style
    /// requests).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,

    /// Region of the s3:// sources (default: AWS_REGION, the profile's, or
    /// us-east-1).
    #[arg(long)]
    region: Option<String>,
}

impl SelectionArgs {
    /// The selection, or an error when `--since` is after `--until`.
    fn selection(&self) -> anyhow::Result<s3logs::source::Selection> {
        check_range(self.since, self.until)?;
        Ok(s3logs::source::Selection {
            since: self.since,
            until: self.until,
            s3: s3logs::source::S3Options {
                endpoint: self.endpoint_url.clone(),
                region: self.region.clone(),
            },
            resume: Default::default(),
        })
    }
}

/// An error when `since` is after `until` (days since the epoch): the range
/// holds no day, and a run over it would quietly find nothing.
fn check_range(since: Option<i32>, until: Option<i32>) -> anyhow::Result<()> {
    match (since, until) {
        (Some(s), Some(u)) if s > u => anyhow::bail!(
            "--since {} is after --until {}: the range holds no day",
            s3logs::civil::date_string(s),
            s3logs::civil::date_string(u)
        ),
        _ => Ok(()),
    }
}

/// [`check_range`] of `YYYY-MM-DD` texts.
fn check_text_range(since: Option<&str>, until: Option<&str>) -> anyhow::Result<()> {
    let day = |d: Option<&str>| d.and_then(s3logs::civil::parse_date);
    check_range(day(since), day(until))
}

/// Where the enrichment functions (`ip_cloud_*`, `ip_country`, …) find
/// their data: shared by `query`, `audit` and `report`.
#[derive(Debug, Clone, clap::Args)]
pub struct EnrichArgs {
    /// Cloud IP range files for ip_cloud_provider/service/region: AWS
    /// ip-ranges.json, Google cloud.json, Azure Service Tags JSON,
    /// Cloudflare ips-v4/ips-v6 (repeat, or separate with commas).
    #[arg(
        long = "ip-ranges",
        value_name = "FILE",
        env = "S3LOGS_IP_RANGES",
        value_delimiter = ','
    )]
    ip_ranges: Vec<std::path::PathBuf>,

    /// A MaxMind DB file (GeoLite2, DB-IP, IPinfo) for ip_country, ip_asn
    /// and ip_as_name, before the databases of `make geo-data` (repeat, or
    /// separate with commas).
    #[arg(long, value_name = "FILE", env = "S3LOGS_GEOIP", value_delimiter = ',')]
    geoip: Vec<std::path::PathBuf>,
}

impl EnrichArgs {
    fn options(&self) -> s3logs::enrich::Options {
        s3logs::enrich::Options {
            ip_ranges: self.ip_ranges.clone(),
            geoip: self.geoip.clone(),
            geo_dir: None,
        }
    }
}

/// The most worker threads `--threads` takes: far more than any machine
/// has cores, few enough to start in milliseconds (100,000 took minutes).
const MAX_THREADS: usize = 1024;

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a number of threads from 1 to {MAX_THREADS}"
        )),
    }
}

/// A share from 0 to 1 (`NaN` would compare false with everything and so
/// turn the check it sets off).
fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a share from 0 to 1 (0.01 is 1%)")),
    }
}

/// Checks, before a command changes anything, that `path` (given as
/// `flag`) can be written: it is not a folder, its folder exists and takes
/// a new file, and it is not one of the log files of `sources` that the
/// command reads (which it would replace, or empty before reading it): a
/// source file, or a file in a source folder. A new file in a source folder
/// is written, with a warning that later runs over it will read it as a log.
fn check_writable(
    path: &std::path::Path,
    flag: &str,
    sources: &[std::path::PathBuf],
) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{flag} {}: is a folder; name a file", path.display());
    }
    let dir = parent(path);
    if !dir.is_dir() {
        anyhow::bail!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let probe = dir.join(format!(".s3logs-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        anyhow::anyhow!(
            "{flag} {}: cannot write in {}: {e}",
            path.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    let target = match (std::fs::canonicalize(&dir), path.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => return Ok(()),
    };
    // An existing file is known by its real path (a link to a log is one).
    let target = std::fs::canonicalize(&target).unwrap_or(target);
    for source in sources {
        let Ok(real) = std::fs::canonicalize(source) else {
            continue; // s3:// URLs, and paths the command will report
        };
        let inside = real.is_dir() && target.starts_with(&real);
        if real == target || (inside && target.is_file()) {
            anyhow::bail!(
                "{flag} {}: is one of the logs being read (from {}); name another file",
                path.display(),
                source.display()
            );
        }
        if inside {
            eprintln!(
                "s3logs: warning: {flag} {} is inside {}, a folder of logs being read: \
                 later runs over it will read it as a log",
                path.display(),
                source.display()
            );
        }
    }
    Ok(())
}

/// Replaces a file at once (a reader never sees half of it): a synced
/// temporary file beside it, renamed over it.
fn replace_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow::anyhow!("{} names no file", path.display()))?;
    s3logs::lake::manifest::write_atomic(&parent(path), &name, bytes)?;
    Ok(())
}

fn parent(path: &std::path::Path) -> std::path::PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// A `YYYY-MM-DD` date, as text.
fn parse_date_text(s: &str) -> Result<String, String> {
    s3logs::civil::parse_date(s)
        .map(s3logs::civil::date_string)
        .ok_or_else(|| format!("{s:?} is not a YYYY-MM-DD date"))
}

/// `YYYY-MM-DD` to days since the epoch.
fn parse_day(s: &str) -> Result<i32, String> {
    s3logs::civil::parse_date(s).ok_or_else(|| format!("{s:?} is not a YYYY-MM-DD date"))
}
