//! All integration tests, compiled into one binary (each extra test binary
//! costs seconds of linking).

// The shared conformance corpus: real log lines and the row each must give.
mod conformance;
// Shared helpers: sample paths, the CLI under test.
mod util;
// `s3logs check`.
mod check;
// Property tests of the parser.
mod props;
// `s3logs ingest` and the lake.
mod ingest;
// Crash safety of ingest: kill -9 and rerun.
mod crash;
// Ingest edge cases: bad input, full disk, locks, other readers.
mod ingest_edges;
// compact, vacuum, status.
mod upkeep;
// s3logs query and the bundled queries.
mod query;
// s3:// sources against moto's S3 server.
mod s3;
// The lake against hostile input, queries and a flaky world.
mod trust;
// Completions, the manual page and the README's commands.
mod cli;
// Compaction as runs add files, and expiry.
mod health;
// s3logs audit: findings and policies.
mod audit;
// s3logs report: the HTML page in a real browser.
mod report;
// SQL enrichment functions: IP class, cloud ranges, geo data, user agents.
mod enrich;
// Sharded ingest: many workers, one lake; the Delta protocol kept minimal.
mod shards;
// Other engines (Sail, DuckDB) over the lake through `s3logs ddl`.
mod engines;
