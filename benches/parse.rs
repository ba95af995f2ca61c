//! Criterion benchmarks of the hot path: `parse_line` alone, and parsing into
//! Arrow batches with `LogBatchBuilder`, over a generated corpus, reported
//! as MB/s.
//!
//! The whole-file comparison against a memchr field splitter and the
//! multi-core run of `s3logs check` live in `benches/check.sh` (`make bench`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use s3logs::batch::LogBatchBuilder;
use s3logs::corpus::{GenOptions, generate};
use s3logs::parse::parse_line;

fn corpus() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = GenOptions {
        bytes: 8_000_000,
        object_bytes: 8_000_000,
        ..GenOptions::default()
    };
    let paths = generate(dir.path(), &opts).expect("generate");
    paths
        .iter()
        .flat_map(|p| std::fs::read(p).expect("read"))
        .collect()
}

/// The baseline: split each line into space-separated fields with memchr,
/// touching every field, and nothing else.
fn split_fields(data: &[u8]) -> usize {
    let mut fields = 0;
    for line in data.split(|&c| c == b'\n') {
        let mut start = 0;
        for i in memchr::memchr_iter(b' ', line) {
            fields += usize::from(i > start);
            start = i + 1;
        }
        fields += usize::from(start < line.len());
    }
    fields
}

fn bench(c: &mut Criterion) {
    let data = corpus();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("memchr_split_baseline", |b| {
        b.iter(|| split_fields(std::hint::black_box(&data)))
    });
    group.bench_function("parse_line", |b| {
        b.iter(|| {
            data.split(|&c| c == b'\n')
                .filter(|l| parse_line(l).is_ok())
                .count()
        })
    });
    group.bench_function("parse_to_arrow", |b| {
        let mut builder = LogBatchBuilder::default();
        b.iter(|| {
            let mut rows = 0;
            for (i, line) in data.split(|&c| c == b'\n').enumerate() {
                if let Ok(rec) = parse_line(line) {
                    builder.append(&rec, "bench", i as i64 + 1);
                    if builder.is_full() {
                        rows += builder.finish().num_rows();
                    }
                }
            }
            rows + builder.finish().num_rows()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
