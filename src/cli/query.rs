//! `s3logs query` and `s3logs queries`: SQL over the lake, or straight over
//! raw log files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use s3logs::output::{OutputFormat, write};
use s3logs::sql::queries::{self, Query};
use s3logs::sql::{Sources, context};

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL text, the name of a bundled query (see `s3logs queries`), or
    /// @FILE to read SQL from a file. It may also come last, after the
    /// paths of `--raw`: `s3logs query --raw LOGS... QUERY`.
    query: Option<String>,

    /// The lake's folder, or an s3://bucket/prefix URL.
    #[arg(long, env = "S3LOGS_LAKE", default_value = "s3logs-lake")]
    lake: PathBuf,

    /// Query raw log files, folders or s3://bucket/prefix URLs directly as
    /// `logs` and `rejects`, without ingesting. With no query before it,
    /// its last value is the query.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    raw: Vec<PathBuf>,

    #[command(flatten)]
    selection: super::SelectionArgs,

    #[command(flatten)]
    enrich: super::EnrichArgs,

    /// A query parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,

    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// Write the results to this file instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,

    /// The pricing plan for billing queries: a bundled name or a TOML file.
    #[arg(long, env = "S3LOGS_PRICING", default_value = "us-east-1-standard")]
    pricing: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

#[derive(Debug, Args)]
pub struct QueriesArgs {}

/// Resolves the query argument to a query with its header.
fn resolve(arg: &str) -> anyhow::Result<Query> {
    if let Some(path) = arg.strip_prefix('@') {
        let sql = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        return Query::parse(path, &sql);
    }
    if let Some(q) = queries::find(arg)? {
        return Ok(q);
    }
    let looks_like_name = !arg.contains(char::is_whitespace) && !arg.contains(';');
    if looks_like_name {
        bail!("no bundled query named {arg:?}; `s3logs queries` lists them");
    }
    Query::parse("adhoc", arg)
}

pub fn run(mut args: QueryArgs) -> anyhow::Result<ExitCode> {
    // `--raw` takes every value after it, so `query --raw LOGS QUERY` hands
    // it the query too: then the query is its last value.
    let text = match args.query.take() {
        Some(q) => q,
        None if args.raw.len() >= 2 => args
            .raw
            .pop()
            .map(|q| q.to_string_lossy().into_owned())
            .unwrap_or_default(),
        None => bail!(
            "no query given: s3logs query QUERY [--raw PATH...], or s3logs query --raw PATH... QUERY"
        ),
    };
    if let Some(path) = &args.output {
        super::check_writable(path, "--output", &args.raw)?;
    }
    let query = resolve(&text)?;
    let given: BTreeMap<String, String> = args.params.iter().cloned().collect();
    let params = query.bind(&given)?;
    let format = match args.format {
        Some(Format::Table) => OutputFormat::Table,
        Some(Format::Csv) => OutputFormat::Csv,
        Some(Format::Json) => OutputFormat::Json,
        Some(Format::Ndjson) => OutputFormat::NdJson,
        Some(Format::Parquet) => OutputFormat::Parquet,
        None if args.output.is_none() && super::stdout_is_terminal() => OutputFormat::Table,
        None => OutputFormat::Csv,
    };
    let sources = Sources {
        lake: Some(args.lake.clone()),
        raw: args.raw.clone(),
        pricing: args.pricing.clone(),
        selection: args.selection.selection()?,
        enrich: args.enrich.options(),
    };
    let rt = s3logs::runtime::get();
    rt.block_on(async {
        let ctx = context(&sources).await?;
        let stream = s3logs::sql::run(&ctx, &query, params).await?;
        let rows = match &args.output {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                write(stream, format, std::io::BufWriter::new(file)).await?
            }
            None => write(stream, format, super::stdout()).await?,
        };
        if query.name != "adhoc" {
            eprintln!("s3logs: {}: {rows} rows", query.name);
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

pub fn list(_args: QueriesArgs) -> anyhow::Result<ExitCode> {
    let mut out = super::stdout();
    for q in queries::bundled()? {
        writeln!(out, "{}\n    {}\n    {}", q.name, q.title, q.description)?;
        for p in &q.params {
            writeln!(
                out,
                "    --param {}=<{}> (default {}) {}",
                p.name, p.kind, p.default, p.doc
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Daily views (tables in every query, kept in the lake per day; see the README's \"Daily views\"):"
    )?;
    for v in s3logs::sql::views::all()? {
        writeln!(out, "    {:<24} {}", v.name, v.title)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "SQL functions (in every query; see the README's \"Who is behind a request\"):"
    )?;
    for (signature, doc) in s3logs::enrich::FUNCTIONS {
        writeln!(out, "    {signature:<24} {doc}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
