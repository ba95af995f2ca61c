//! Validating log objects without writing anything: the engine behind
//! `s3logs check`.
//!
//! Objects are read in parallel (rayon over objects, and over the chunks of
//! each object, see [`crate::source::lines`]); each chunk is parsed into a
//! [`Stats`] and the chunks' stats are merged. Merging is order-independent
//! except for the reject samples, which are sorted by line afterwards, so
//! the report is the same whatever the scheduling.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::batch::Reject;
use crate::parse::{LogRecord, Reason};
use crate::scan::{Sink, scan};
use crate::source::{Chunk, Line, Object, Opened, Prefetch};

/// What reading some lines found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Lines read as records.
    pub records: u64,
    /// Rejected lines by reason code.
    pub rejects: BTreeMap<&'static str, u64>,
    /// Records with at least one field that needed UTF-8 replacement.
    pub lossy_utf8: u64,
    /// Records by how many of the 27 known fields they have (the format
    /// era); `28` counts records with unknown trailing fields.
    pub field_counts: BTreeMap<u8, u64>,
    /// The earliest `request_time`, microseconds since the epoch.
    pub first_time: Option<i64>,
    /// The latest `request_time`, microseconds since the epoch.
    pub last_time: Option<i64>,
}

impl Stats {
    /// Total rejected lines.
    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.records += other.records;
        for (k, v) in &other.rejects {
            *self.rejects.entry(k).or_default() += v;
        }
        self.lossy_utf8 += other.lossy_utf8;
        for (k, v) in &other.field_counts {
            *self.field_counts.entry(*k).or_default() += v;
        }
        self.first_time = min_opt(self.first_time, other.first_time);
        self.last_time = self.last_time.max(other.last_time);
    }

    fn reject(&mut self, reason: Reason) {
        *self.rejects.entry(reason.as_str()).or_default() += 1;
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The result of checking one object.
#[derive(Clone, Debug, Default)]
pub struct ObjectReport {
    /// The object's name.
    pub name: String,
    /// What was read (up to the error, if there was one).
    pub stats: Stats,
    /// Rejected lines, in line order, when they were asked for.
    pub samples: Vec<Reject>,
    /// Why the object could not be read to its end.
    pub error: Option<String>,
}

/// Parses every line of a chunk; keeps the rejected lines when
/// `keep_rejects` is set.
pub fn check_chunk(chunk: &Chunk, source: &Arc<str>, keep_rejects: bool) -> (Stats, Vec<Reject>) {
    let mut stats = Stats {
        bytes: chunk.data.len() as u64,
        ..Stats::default()
    };
    let mut sink = CheckSink {
        stats: &mut stats,
        samples: Vec::new(),
        source,
        keep_rejects,
    };
    scan(chunk, &mut sink);
    let samples = sink.samples;
    (stats, samples)
}

/// Where [`check_chunk`] counts what it reads.
struct CheckSink<'a> {
    stats: &'a mut Stats,
    samples: Vec<Reject>,
    source: &'a Arc<str>,
    keep_rejects: bool,
}

impl Sink for CheckSink<'_> {
    fn record(&mut self, _: &Line<'_>, rec: &LogRecord<'_>) -> bool {
        let stats = &mut *self.stats;
        stats.lines += 1;
        stats.records += 1;
        stats.lossy_utf8 += u64::from(rec.lossy_utf8);
        let era = if rec.extra_fields.is_some() {
            28
        } else {
            rec.field_count
        };
        *stats.field_counts.entry(era).or_default() += 1;
        stats.first_time = min_opt(stats.first_time, Some(rec.request_time));
        stats.last_time = stats.last_time.max(Some(rec.request_time));
        true
    }

    fn reject(&mut self, line: &Line<'_>, reason: Reason) -> bool {
        self.stats.lines += 1;
        self.stats.reject(reason);
        if self.keep_rejects {
            self.samples.push(Reject::line(self.source, line, reason));
        }
        true
    }

    fn overlong(&mut self, chunk: &Chunk) -> bool {
        if let Some(length) = chunk.overlong {
            self.stats.bytes = length;
        }
        self.stats.lines += 1;
        self.stats.reject(Reason::LineTooLong);
        if self.keep_rejects {
            self.samples.push(Reject::overlong(self.source, chunk));
        }
        true
    }
}

/// Checks one object, parsing its chunks in parallel.
pub fn check_object(object: &Object, keep_rejects: bool) -> ObjectReport {
    check_reader(object, object.open(), keep_rejects)
}

/// Checks one opened object.
fn check_reader(
    object: &Object,
    reader: std::io::Result<Opened>,
    keep_rejects: bool,
) -> ObjectReport {
    let source: Arc<str> = Arc::from(object.name.as_str());
    let mut report = ObjectReport {
        name: object.name.clone(),
        ..ObjectReport::default()
    };
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let results: Vec<Result<(Stats, Vec<Reject>), std::io::Error>> = reader
        .chunks()
        .par_bridge()
        .map(|chunk| chunk.map(|c| check_chunk(&c, &source, keep_rejects)))
        .collect();
    for result in results {
        match result {
            Ok((stats, samples)) => {
                report.stats.merge(&stats);
                report.samples.extend(samples);
            }
            Err(e) => {
                report.error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    report.samples.sort_by_key(|r| r.source_line);
    report
}

/// Checks objects in parallel (those on S3 fetched ahead); reports come
/// back in the objects' order.
pub fn check_objects(objects: &[Object], keep_rejects: bool) -> Vec<ObjectReport> {
    let mut reports: Vec<(usize, ObjectReport)> = Prefetch::new(objects.to_vec())
        .enumerate()
        .par_bridge()
        .map(|(i, (o, reader))| (i, check_reader(&o, reader, keep_rejects)))
        .collect();
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_rejects_eras_and_times() {
        let data = b"o b [06/Feb/2019:00:00:38 +0000] ip - ID REST.GET.OBJECT k \"GET / HTTP/1.1\" 200 - 1 1 1 1 \"-\" \"ua\"\n\
                     bad line\n\
                     o b [05/Feb/2019:00:00:38 +0000] ip - ID REST.GET.OBJECT k - 200 - 1 1 1 1 - - v h s c a h t arn - r more\n"
            .to_vec();
        let chunk = Chunk {
            data: data.into(),
            first_line: 1,
            first_offset: 0,
            overlong: None,
            line_count: 3,
            ..Chunk::default()
        };
        let (stats, samples) = check_chunk(&chunk, &Arc::from("f"), true);
        assert_eq!(stats.lines, 3);
        assert_eq!(stats.records, 2);
        assert_eq!(stats.rejected(), 1);
        assert_eq!(stats.field_counts, BTreeMap::from([(17, 1), (28, 1)]));
        assert!(stats.first_time < stats.last_time);
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].source_line, 2);
        assert_eq!(samples[0].raw, b"bad line");
        assert_eq!(samples[0].reason, "too_few_fields");
    }
}
