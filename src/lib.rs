//! # s3logs
//!
//! Turns Amazon S3 server access logs into a lake you can trust and answers
//! audit and billing questions about it in SQL.
//!
//! ```text
//!  log objects ──► source ──► chunks of lines ──► parse ──► LogRecord<'a>
//!  (dirs, .gz,      (find: walk   (lines: framing,    (nom, zero-copy,
//!   .zst, s3://)     or list;      line numbers)        no allocation)
//!                    decode)
//!                                                         │
//!                       rejects (raw bytes + reason) ◄────┤
//!                                                         ▼
//!                                    batch::LogBatchBuilder ──► RecordBatch
//!                                                         │
//!                                                         ▼
//!                                        Parquet / Delta lake ──► SQL
//! ```
//!
//! - [`parse`]: one line to a [`parse::LogRecord`] borrowing the line, or a
//!   [`parse::ParseLineError`] with a reason code and byte offset.
//! - [`schema`]: the table contract (column names, types, order).
//! - [`civil`]: days, dates and times, for every module that counts them.
//! - [`source`]: finding objects (local folders, `s3://` prefixes),
//!   fetching and decompressing them, cutting them into chunks of whole
//!   lines that any thread can parse.
//! - [`scan`]: a chunk of lines through the parser into a sink: the loop
//!   `check`, `ingest` and `query --raw` share.
//! - [`batch`]: records to Arrow batches.
//! - [`check`]: validating objects in parallel (`s3logs check`).
//! - [`ingest`]: one run into the lake, in steps (plan, pipeline, rollback,
//!   commit, summary); [`lake`]: the Delta tables and their upkeep, which
//!   never import `ingest` or [`sql`].
//! - [`enrich`]: SQL functions for who is behind a request (IP class,
//!   cloud ranges, country and network, user-agent family, bots).
//! - [`report`]: the HTML report, from the bundled queries.
//! - [`store`]: the S3 store (URLs, credentials, region, endpoint,
//!   retries) that `s3://` sources and `s3://` lakes share.
//! - [`runtime`]: the process's one tokio runtime, for DataFusion,
//!   deltalake and every S3 request.
//! - [`corpus`]: a deterministic generator of realistic corpora.
//!
//! ```
//! use s3logs::parse::{parse_line, text};
//!
//! let line = br#"79a5 awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a5 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lz= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"#;
//! let rec = parse_line(line).expect("a valid line");
//! assert_eq!(rec.field_count, 27);
//! assert_eq!(rec.acl_required, Some(true));
//! assert_eq!(rec.key, None);
//! assert_eq!(text(rec.request_uri.unwrap()), "GET /awsexamplebucket1?versioning HTTP/1.1");
//! ```
#![deny(missing_docs)]
#![warn(clippy::clone_on_ref_ptr)]

pub mod batch;
pub mod check;
pub mod civil;
pub mod corpus;
pub mod enrich;
pub mod ingest;
pub mod lake;
pub mod output;
pub mod parse;
pub mod report;
pub mod runtime;
pub mod scan;
pub mod schema;
pub mod source;
pub mod sql;
pub mod store;

/// A tuning knob from the environment (`S3LOGS_…`): its value when it is
/// set to a whole number, else `None`.
pub(crate) fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}
