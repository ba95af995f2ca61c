//! `s3logs ddl`: the SQL that registers the lake in another engine.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use s3logs::lake::ddl::{Engine, Location, ddl};
use s3logs::store::S3Url;

#[derive(Debug, Args)]
pub struct DdlArgs {
    /// The engine to register the tables in.
    #[arg(long, value_enum)]
    engine: Engine,
    /// The lake's folder, or an s3://bucket/prefix URL.
    #[arg(long, env = "S3LOGS_LAKE", default_value = "s3logs-lake")]
    lake: PathBuf,
    /// The database (schema) the tables are created in.
    #[arg(long, default_value = "s3logs")]
    database: String,
    /// Trino's Delta Lake catalog.
    #[arg(long, default_value = "delta")]
    catalog: String,
}

pub fn run(args: DdlArgs) -> anyhow::Result<ExitCode> {
    let text = args.lake.to_str().and_then(S3Url::parse);
    let location = match text {
        Some(url) => Location::S3(format!(
            "s3://{}{}",
            url.bucket,
            match url.prefix.trim_matches('/') {
                "" => String::new(),
                p => format!("/{p}"),
            }
        )),
        None => {
            if !args.lake.join("logs").join("_delta_log").is_dir() {
                anyhow::bail!(
                    "no lake at {}: run s3logs ingest first, or give --lake",
                    args.lake.display()
                );
            }
            let abs = std::fs::canonicalize(&args.lake)
                .with_context(|| format!("resolving {}", args.lake.display()))?;
            let Some(abs) = abs.to_str() else {
                anyhow::bail!("the lake path {} is not UTF-8", abs.display());
            };
            Location::Local(abs.to_string())
        }
    };
    let sql = ddl(args.engine, &location, &args.database, &args.catalog)?;
    let mut out = super::stdout();
    out.write_all(sql.as_bytes())
        .and_then(|()| out.flush())
        .context("writing the DDL")?;
    Ok(ExitCode::SUCCESS)
}
