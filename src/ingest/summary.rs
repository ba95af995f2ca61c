//! The run summary: what a cron job needs to know after a run, for humans
//! (stderr) and as JSON (`--summary-json`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::civil;
use crate::lake::Table;
use crate::lake::manifest::Manifest;
use crate::schema;

/// Delivery lag distribution, in log-spaced buckets (about 9% wide), so the
/// median is an estimate and says so.
#[derive(Clone, Debug, Default)]
pub struct LagHistogram {
    buckets: BTreeMap<u32, u64>,
    max: i64,
    count: u64,
}

const STEPS_PER_DOUBLING: f64 = 8.0;

impl LagHistogram {
    /// Records one lag in seconds (negative lags count as 0).
    pub fn add(&mut self, lag_secs: i64) {
        let lag = lag_secs.max(0);
        let b = ((lag as f64 + 1.0).log2() * STEPS_PER_DOUBLING) as u32;
        *self.buckets.entry(b).or_default() += 1;
        self.max = self.max.max(lag);
        self.count += 1;
    }

    /// Adds another histogram.
    pub fn merge(&mut self, other: &LagHistogram) {
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
        self.max = self.max.max(other.max);
        self.count += other.count;
    }

    /// The largest lag, exact.
    pub fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    /// The median lag, to within a bucket (the bucket's midpoint).
    pub fn p50(&self) -> Option<i64> {
        let half = self.count.div_ceil(2);
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= half {
                let lo = 2f64.powf(f64::from(*b) / STEPS_PER_DOUBLING) - 1.0;
                let hi = 2f64.powf(f64::from(*b + 1) / STEPS_PER_DOUBLING) - 1.0;
                return Some(((lo + hi) / 2.0).round() as i64);
            }
        }
        None
    }
}

/// One day the run added records to.
#[derive(Clone, Debug, Serialize)]
pub struct DaySummary {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Records added to the day.
    pub records: u64,
    /// The day already held data before this run: these records are late.
    pub late: bool,
}

/// What one ingest run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// The run id stored in the tables (empty when nothing was committed).
    pub run_id: String,
    /// Objects found under the sources.
    pub objects_found: u64,
    /// LIST requests made for `s3://` sources.
    pub list_requests: u64,
    /// Seconds spent finding the objects (listing, for `s3://` sources).
    pub list_seconds: f64,
    /// Objects read in this run.
    pub objects_ingested: u64,
    /// Objects a run before could not read, read again this run whatever
    /// the listing window (see [`crate::lake::retry`]).
    pub objects_retried: u64,
    /// Objects still to be read again after this run (they failed).
    pub objects_to_retry: u64,
    /// Objects under the sources that are the lake's own files, not read.
    pub objects_in_lake: u64,
    /// The shard this run ingested (`2/4`), when it was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Objects under the sources that belong to other shards, not read.
    pub objects_other_shards: u64,
    /// Delta commits the run made (three per run, more when it completed
    /// an interrupted one or compacted).
    pub commits: u64,
    /// How many times deltalake retried them on a later table version
    /// because another writer (a shard, a compaction) committed first.
    pub commit_retries: u64,
    /// Objects skipped because the ledger already holds them unchanged.
    pub objects_skipped: u64,
    /// Objects that could not be read (named in `errors`); none of their
    /// records were committed.
    pub objects_failed: u64,
    /// Records committed.
    pub records: u64,
    /// Rejected lines committed to `rejects`, by reason.
    pub rejects: BTreeMap<&'static str, u64>,
    /// Total rejected lines.
    pub rejected: u64,
    /// Records with at least one field needing UTF-8 replacement.
    pub lossy_utf8_records: u64,
    /// Days that received records, with counts.
    pub days: Vec<DaySummary>,
    /// Records that landed in days that already held data before this run.
    pub late_records: u64,
    /// Largest delivery lag in seconds: from the delivery time in the object
    /// name, else S3's LastModified.
    pub delivery_lag_max_secs: Option<i64>,
    /// Median delivery lag in seconds, an estimate (log-spaced buckets).
    pub delivery_lag_p50_secs: Option<i64>,
    /// Local objects whose names carry no delivery time (PartitionedPrefix
    /// with `EventTime`), timed by their file's modification time instead:
    /// right only if the copy kept S3's time (`aws s3 sync` does, git and a
    /// plain `cp` do not), so their lags are kept apart.
    pub file_time_lag_objects: u64,
    /// Largest delivery lag by file time, in seconds.
    pub file_time_lag_max_secs: Option<i64>,
    /// Median delivery lag by file time, in seconds, an estimate.
    pub file_time_lag_p50_secs: Option<i64>,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Throughput, decompressed MB per second.
    pub mb_per_sec: f64,
    /// Version of the `logs` table after the run.
    pub table_version: Option<i64>,
    /// Whether the run committed anything.
    pub committed: bool,
    /// The days this run compacted after its commit, because they held
    /// more files than `--compact-over`.
    pub compacted: Option<crate::lake::upkeep::CompactReport>,
    /// Runs that had stopped while committing and that this run completed
    /// first; their records are counted in `records` and `days`.
    pub recovered_runs: Vec<String>,
    /// Errors, each naming the object or path.
    pub errors: Vec<String>,
    /// Why the run failed as a whole, when it did (nothing was committed
    /// by it then); `null` otherwise.
    pub error: Option<String>,
}

impl Summary {
    /// Rejected lines as a share of all lines read.
    pub fn reject_ratio(&self) -> f64 {
        let lines = self.records + self.rejected;
        if lines == 0 {
            0.0
        } else {
            self.rejected as f64 / lines as f64
        }
    }

    /// The days that changed: `days` (this run's records per day) and the
    /// days of the runs it completed from their `recovered` manifests, each
    /// late when it held data before (`existing`).
    pub fn set_days(
        &mut self,
        recovered: &[Manifest],
        days: &BTreeMap<i32, u64>,
        existing: &BTreeSet<String>,
    ) {
        let mut changed: BTreeMap<String, u64> = BTreeMap::new();
        for m in recovered.iter().filter(|m| m.kind == "ingest") {
            for add in m.adds.get(&Table::Logs).into_iter().flatten() {
                let Some(date) = add.partition_values.get(schema::DATE).cloned().flatten() else {
                    continue;
                };
                let rows = add
                    .get_stats()
                    .ok()
                    .flatten()
                    .map_or(0, |s| s.num_records.max(0) as u64);
                *changed.entry(date).or_default() += rows;
            }
        }
        for (&d, &n) in days.iter().filter(|(_, n)| **n > 0) {
            *changed.entry(civil::date_string(d)).or_default() += n;
        }
        self.days = changed
            .into_iter()
            .map(|(date, records)| DaySummary {
                late: existing.contains(&date),
                date,
                records,
            })
            .collect();
        self.records = self.days.iter().map(|d| d.records).sum();
        self.late_records = self.days.iter().filter(|d| d.late).map(|d| d.records).sum();
    }

    /// The delivery lags: from object names and S3 times, and from the
    /// local file times of `by_file_objects` objects.
    pub fn set_lags(&mut self, lag: &LagHistogram, by_file: &LagHistogram, by_file_objects: usize) {
        self.delivery_lag_max_secs = lag.max();
        self.delivery_lag_p50_secs = lag.p50();
        self.file_time_lag_objects = by_file_objects as u64;
        self.file_time_lag_max_secs = by_file.max();
        self.file_time_lag_p50_secs = by_file.p50();
    }

    /// The human summary, for stderr.
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        if self.list_requests > 0 {
            let _ = writeln!(
                s,
                "s3logs: listed {} objects in {} LIST requests ({:.2}s)",
                self.objects_found, self.list_requests, self.list_seconds
            );
        }
        for run in &self.recovered_runs {
            let _ = writeln!(
                s,
                "s3logs: completed {run}, which had stopped while committing; its records are counted below"
            );
        }
        if self.objects_retried > 0 {
            let _ = writeln!(
                s,
                "s3logs: read again {} objects that an earlier run could not read",
                self.objects_retried
            );
        }
        if let Some(shard) = &self.shard {
            let _ = writeln!(
                s,
                "s3logs: shard {shard}: left {} objects to the other shards; {} commits, \
                 retried {} times after other writers' commits",
                self.objects_other_shards, self.commits, self.commit_retries
            );
        }
        if self.objects_in_lake > 0 {
            let _ = writeln!(
                s,
                "s3logs: skipped {} files inside the lake's own folder (a source holds the lake)",
                self.objects_in_lake
            );
        }
        if !self.committed && self.objects_failed > 0 {
            let _ = writeln!(
                s,
                "s3logs: nothing committed: {} objects found, {} already ingested, {} could not be read",
                self.objects_found, self.objects_skipped, self.objects_failed
            );
        } else if !self.committed {
            let _ = writeln!(
                s,
                "s3logs: nothing new: {} objects found, {} already ingested; nothing committed",
                self.objects_found, self.objects_skipped
            );
        } else {
            let _ = writeln!(
                s,
                "s3logs: run {}: {} objects ({} skipped, {} failed), {} records, {} rejected, {:.1} MB in {:.2}s ({:.1} MB/s), logs table version {}",
                self.run_id,
                self.objects_ingested,
                self.objects_skipped,
                self.objects_failed,
                self.records,
                self.rejected,
                self.bytes as f64 / 1e6,
                self.seconds,
                self.mb_per_sec,
                self.table_version.unwrap_or(0)
            );
            if !self.rejects.is_empty() {
                let r: Vec<String> = self
                    .rejects
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(s, "  rejects: {}", r.join(" "));
            }
            if self.lossy_utf8_records > 0 {
                let _ = writeln!(
                    s,
                    "  records with invalid UTF-8 (replaced): {}",
                    self.lossy_utf8_records
                );
            }
            let days: Vec<String> = self
                .days
                .iter()
                .map(|d| {
                    format!(
                        "{} {}{}",
                        d.date,
                        d.records,
                        if d.late { " (late)" } else { "" }
                    )
                })
                .collect();
            let _ = writeln!(s, "  days changed: {}", days.join(", "));
            let _ = writeln!(
                s,
                "  late records (into days that already held data): {}",
                self.late_records
            );
            if let (Some(max), Some(p50)) = (self.delivery_lag_max_secs, self.delivery_lag_p50_secs)
            {
                let _ = writeln!(
                    s,
                    "  delivery lag: max {}, median about {} (from object names and S3 times)",
                    duration(max),
                    duration(p50)
                );
            }
            if let (Some(max), Some(p50)) =
                (self.file_time_lag_max_secs, self.file_time_lag_p50_secs)
            {
                let objects = match self.file_time_lag_objects {
                    1 => "1 object".to_string(),
                    n => format!("{n} objects"),
                };
                let _ = writeln!(
                    s,
                    "  delivery lag by file time, {objects} with no delivery time in the name: \
                     max {}, median about {} (right only if the files kept S3's times, as \
                     `aws s3 sync` keeps them)",
                    duration(max),
                    duration(p50)
                );
            }
        }
        if let Some(c) = &self.compacted {
            let _ = writeln!(
                s,
                "  compacted {} days that held too many files ({} files into {}, {} duplicate records dropped)",
                c.days.len(),
                c.files_before,
                c.files_after,
                c.duplicates_dropped
            );
        }
        for e in &self.errors {
            // An object's name is anyone's who can write to the bucket.
            let _ = writeln!(s, "s3logs: error: {}", crate::output::printable(e));
        }
        if self.objects_to_retry > 0 {
            let _ = writeln!(
                s,
                "s3logs: {} objects could not be read and will be read again by the next run \
                 (whatever its listing window); `s3logs status` lists them",
                self.objects_to_retry
            );
        }
        s
    }
}

impl Summary {
    /// The run in the Prometheus text format, for node_exporter's textfile
    /// collector: what it read and committed, how long it took, delivery
    /// lag, and when it ran. `last_success` is the time (seconds since the
    /// epoch) of the last run that succeeded; it is this run's when
    /// `succeeded`, so a monitor can alert on its age.
    pub fn prometheus(&self, now: i64, succeeded: bool, last_success: Option<i64>) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut metric = |name: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP s3logs_ingest_{name} {help}");
            let _ = writeln!(out, "# TYPE s3logs_ingest_{name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(out, "s3logs_ingest_{name}{labels} {value}");
            }
        };
        let one = |v: f64| vec![(String::new(), v)];
        metric(
            "success",
            "1 when the last run succeeded, else 0.",
            &one(f64::from(u8::from(succeeded))),
        );
        metric(
            "last_run_timestamp_seconds",
            "When the last run ended.",
            &one(now as f64),
        );
        if let Some(t) = if succeeded { Some(now) } else { last_success } {
            metric(
                "last_success_timestamp_seconds",
                "When the last successful run ended.",
                &one(t as f64),
            );
        }
        metric(
            "records",
            "Records the last run committed.",
            &one(self.records as f64),
        );
        metric(
            "late_records",
            "Records the last run added to days that already held data.",
            &one(self.late_records as f64),
        );
        metric(
            "commit_retries",
            "Times the last run's Delta commits were retried because another writer committed first.",
            &one(self.commit_retries as f64),
        );
        let mut rejects: Vec<(String, f64)> = self
            .rejects
            .iter()
            .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), *n as f64))
            .collect();
        if rejects.is_empty() {
            rejects.push(("{reason=\"none\"}".into(), 0.0));
        }
        metric(
            "rejects",
            "Lines the last run rejected, by reason.",
            &rejects,
        );
        let objects = [
            ("found", self.objects_found),
            ("ingested", self.objects_ingested),
            ("skipped", self.objects_skipped),
            ("failed", self.objects_failed),
            ("retried", self.objects_retried),
            ("to_retry", self.objects_to_retry),
        ];
        let objects: Vec<(String, f64)> = objects
            .iter()
            .map(|(state, n)| (format!("{{state=\"{state}\"}}"), *n as f64))
            .collect();
        metric(
            "objects",
            "Log objects of the last run, by what became of them.",
            &objects,
        );
        metric(
            "errors",
            "Errors of the last run (objects or paths it could not read).",
            &one(self.errors.len() as f64 + f64::from(u8::from(self.error.is_some()))),
        );
        metric(
            "bytes",
            "Bytes the last run read (decompressed).",
            &one(self.bytes as f64),
        );
        metric(
            "duration_seconds",
            "How long the last run took.",
            &one(self.seconds),
        );
        let mut lag = Vec::new();
        if let Some(max) = self.delivery_lag_max_secs {
            lag.push(("{quantile=\"1\"}".to_string(), max as f64));
        }
        if let Some(p50) = self.delivery_lag_p50_secs {
            lag.push(("{quantile=\"0.5\"}".to_string(), p50 as f64));
        }
        if !lag.is_empty() {
            metric(
                "delivery_lag_seconds",
                "Delivery lag of the last run's records (the median is an estimate).",
                &lag,
            );
        }
        out
    }
}

/// `90061` seconds as `1d 1h 1m 1s`, leaving out zero parts.
pub fn duration(secs: i64) -> String {
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let out: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if out.is_empty() {
        "0s".into()
    } else {
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_well() {
        assert_eq!(super::duration(90_061), "1d 1h 1m 1s");
        assert_eq!(super::duration(3600), "1h");
        assert_eq!(super::duration(0), "0s");
    }

    use super::*;

    #[test]
    fn metrics_are_prometheus_text() {
        let mut s = Summary {
            records: 5,
            ..Summary::default()
        };
        s.rejects.insert("bad_time", 2);
        let text = s.prometheus(1_700_000_000, true, None);
        assert!(text.contains("# TYPE s3logs_ingest_records gauge\ns3logs_ingest_records 5\n"));
        assert!(text.contains("s3logs_ingest_rejects{reason=\"bad_time\"} 2\n"));
        assert!(text.contains("s3logs_ingest_last_success_timestamp_seconds 1700000000\n"));
        let failed = s.prometheus(1_700_000_100, false, Some(1_700_000_000));
        assert!(failed.contains("s3logs_ingest_success 0\n"));
        assert!(failed.contains("s3logs_ingest_last_success_timestamp_seconds 1700000000\n"));
        // Every sample line is `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').expect("a value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(name.starts_with("s3logs_ingest_"), "{line}");
        }
    }

    #[test]
    fn median_is_within_a_bucket() {
        let mut h = LagHistogram::default();
        for lag in [10, 100, 1000, 3600, 7200] {
            h.add(lag);
        }
        let p50 = h.p50().expect("some");
        assert!((900..=1100).contains(&p50), "{p50}");
        assert_eq!(h.max(), Some(7200));
        assert_eq!(LagHistogram::default().p50(), None);
    }
}
