//! `s3logs audit`: every finding, judged by a policy, for cron, CI or a
//! monitor to alert on.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use s3logs::sql::findings::{self, Finding, Policy};
use s3logs::sql::{Sources, context};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The lake's folder, or an s3://bucket/prefix URL.
    #[arg(long, env = "S3LOGS_LAKE", default_value = "s3logs-lake")]
    lake: PathBuf,

    /// Audit raw log files, folders or s3://bucket/prefix URLs instead of
    /// the lake.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    raw: Vec<PathBuf>,

    /// First day of records to audit (YYYY-MM-DD, inclusive).
    #[arg(long, value_parser = super::parse_date_text)]
    since: Option<String>,

    /// Last day of records to audit (YYYY-MM-DD, inclusive).
    #[arg(long, value_parser = super::parse_date_text)]
    until: Option<String>,

    /// The policy: which findings count and their thresholds (TOML; see
    /// the README). Default: the documented conservative policy.
    #[arg(long, env = "S3LOGS_POLICY")]
    policy: Option<PathBuf>,

    /// Also write the findings as JSON to this file, or `-` for stdout
    /// (instead of the table).
    #[arg(long)]
    summary_json: Option<PathBuf>,

    /// Write the findings as Prometheus metrics to this file (for
    /// node_exporter's textfile collector), replacing it at once.
    #[arg(long)]
    metrics_file: Option<PathBuf>,

    #[command(flatten)]
    enrich: super::EnrichArgs,

    /// Endpoint of an S3-compatible store (path-style requests).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    super::check_text_range(args.since.as_deref(), args.until.as_deref())?;
    if let Some(path) = &args.metrics_file {
        super::check_writable(path, "--metrics-file", &args.raw)?;
    }
    if let Some(path) = args.summary_json.as_ref().filter(|p| p.as_os_str() != "-") {
        super::check_writable(path, "--summary-json", &args.raw)?;
    }
    let policy = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the policy {}", path.display()))?;
            Policy::parse(&text).with_context(|| format!("the policy {}", path.display()))?
        }
        None => Policy::default(),
    };
    let sources = Sources {
        lake: Some(args.lake.clone()),
        raw: args.raw.clone(),
        pricing: "us-east-1-standard".into(),
        selection: s3logs::source::Selection {
            s3: s3logs::source::S3Options {
                endpoint: args.endpoint_url.clone(),
                region: None,
            },
            ..Default::default()
        },
        enrich: args.enrich.options(),
    };
    let rt = s3logs::runtime::get();
    let (since, until) = (args.since.as_deref(), args.until.as_deref());
    let (found, records) = rt.block_on(async {
        let ctx = context(&sources).await?;
        let found = findings::evaluate(&ctx, &policy, since, until).await?;
        let records = findings::records_in(&ctx, since, until).await?;
        anyhow::Ok((found, records))
    })?;
    let mut out = super::stdout();
    match &args.summary_json {
        Some(path) if path.as_os_str() == "-" => {
            serde_json::to_writer_pretty(&mut out, &found).context("writing the findings")?;
            writeln!(out)?;
        }
        other => {
            write_table(&mut out, &found)?;
            if let Some(path) = other {
                let json = serde_json::to_vec_pretty(&found).context("encoding the findings")?;
                super::replace_file(path, &json)
                    .with_context(|| format!("writing the findings to {}", path.display()))?;
            }
        }
    }
    out.flush()?;
    if let Some(path) = &args.metrics_file {
        super::replace_file(path, metrics(&found, records).as_bytes())
            .with_context(|| format!("writing the metrics to {}", path.display()))?;
    }
    if records == 0 {
        eprintln!(
            "s3logs: no records in the range audited, so there was nothing to find: \
             a quiet bucket, or logs that stopped arriving"
        );
    }
    let alerts = found.iter().filter(|f| f.alert).count();
    if alerts > 0 {
        eprintln!("s3logs: {alerts} findings above their thresholds");
        return Ok(ExitCode::from(1));
    }
    eprintln!("s3logs: nothing above its threshold");
    Ok(ExitCode::SUCCESS)
}

/// The findings, and the records they were measured over, in the
/// Prometheus text format.
fn metrics(found: &[Finding], records: u64) -> String {
    let mut out = String::from(
        "# HELP s3logs_audit_finding The measure of each finding (see s3logs audit).\n\
         # TYPE s3logs_audit_finding gauge\n",
    );
    for f in found.iter().filter(|f| f.value.is_some()) {
        out.push_str(&format!(
            "s3logs_audit_finding{{name=\"{}\"}} {}\n",
            f.name,
            f.value.unwrap_or(0.0)
        ));
    }
    out.push_str(
        "# HELP s3logs_audit_alert 1 when a finding is above its threshold.\n\
         # TYPE s3logs_audit_alert gauge\n",
    );
    for f in found.iter().filter(|f| f.enabled) {
        out.push_str(&format!(
            "s3logs_audit_alert{{name=\"{}\"}} {}\n",
            f.name,
            u8::from(f.alert)
        ));
    }
    // A monitor alerts on 0: every finding is "ok" over no records.
    out.push_str(&format!(
        "# HELP s3logs_audit_records The records in the range audited.\n\
         # TYPE s3logs_audit_records gauge\n\
         s3logs_audit_records {records}\n"
    ));
    out.push_str(&format!(
        "# HELP s3logs_audit_last_run_timestamp_seconds When the audit ran.\n\
         # TYPE s3logs_audit_last_run_timestamp_seconds gauge\n\
         s3logs_audit_last_run_timestamp_seconds {}\n",
        s3logs::civil::now_micros() / 1_000_000
    ));
    out
}

fn write_table(out: &mut impl Write, found: &[Finding]) -> anyhow::Result<()> {
    let w = found.iter().map(|f| f.name.len()).max().unwrap_or(0).max(7);
    writeln!(
        out,
        "{:<w$}  {:<5}  {:>10}  {:>9}  {:<20}  what (rows: the command)",
        "finding", "", "count", "threshold", "since"
    )?;
    for f in found {
        let (status, value) = match f.value {
            None => ("off", "-".to_string()),
            Some(v) => (if f.alert { "ALERT" } else { "ok" }, format!("{v}")),
        };
        writeln!(
            out,
            "{:<w$}  {status:<5}  {value:>10}  {:>9}  {:<20}  {} ({})",
            f.name,
            f.threshold,
            f.since
                .as_deref()
                .map(s3logs::output::printable)
                .unwrap_or_else(|| "-".into()),
            f.what,
            f.rows
        )?;
    }
    Ok(())
}
