//! `s3logs gen`: write a deterministic synthetic corpus.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use s3logs::corpus::{GenOptions, generate};

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Folder to write the log objects into.
    #[arg(long)]
    out: PathBuf,
    /// Total size in MB, about.
    #[arg(long, default_value_t = 64)]
    mb: u64,
    /// Size of each object in KB, about.
    #[arg(long, default_value_t = 4096)]
    object_kb: u64,
    /// Days covered, starting 2024-03-01.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Buckets.
    #[arg(long, default_value_t = 3)]
    buckets: u32,
    /// Share of malformed lines, 0 to 1.
    #[arg(long, default_value_t = 0.001)]
    malformed: f64,
    /// Share of late lines, 0 to 1.
    #[arg(long, default_value_t = 0.01)]
    late: f64,
    /// Seed: the same seed and options give the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    let opts = GenOptions {
        bytes: args.mb * 1_000_000,
        object_bytes: args.object_kb * 1_000,
        days: args.days,
        buckets: args.buckets,
        malformed: args.malformed.clamp(0.0, 1.0),
        late: args.late.clamp(0.0, 1.0),
        seed: args.seed,
        ..GenOptions::default()
    };
    let paths = generate(&args.out, &opts)
        .with_context(|| format!("writing a corpus into {}", args.out.display()))?;
    eprintln!(
        "s3logs: wrote {} objects into {}",
        paths.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
