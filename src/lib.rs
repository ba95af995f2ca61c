//! placeholder
#![deny(missing_docs)]
pub mod batch;
pub mod parse;
pub mod schema;
pub mod source;
