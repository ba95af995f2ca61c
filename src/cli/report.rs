//! `s3logs report`: one self-contained HTML page of what happened to a
//! bucket.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use s3logs::report::{self, Options};
use s3logs::sql::{Sources, context, in_memory};

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
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    super::check_writable(&args.output, "--output")?;
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
            in_memory(&ctx, options.since.as_deref(), options.until.as_deref()).await?;
        }
        let built = report::build(&ctx, &options).await?;
        anyhow::Ok(report::html::render(&built))
    })?;
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
