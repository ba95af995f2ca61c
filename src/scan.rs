//! The scan core: a chunk of lines through the parser, each outcome handed
//! to a [`Sink`]. `check`, `ingest` and `query --raw` all read lines this
//! way; what they do with a record or a rejected line is their sink's
//! business (the design of ripgrep's `grep-searcher` `Sink`). A second input
//! format would add a parser here, not a fourth copy of the loop.

use crate::parse::{LogRecord, Reason, parse_line};
use crate::source::{Chunk, Line};

/// What a scan hands on. Each method returns whether to go on: `false`
/// stops the scan (the consumer has gone).
pub trait Sink {
    /// A line read as a record.
    fn record(&mut self, line: &Line<'_>, record: &LogRecord<'_>) -> bool;

    /// A line that is not a record, and why (the first failure reading left
    /// to right). By default, nothing is done with it.
    fn reject(&mut self, line: &Line<'_>, reason: Reason) -> bool {
        let _ = (line, reason);
        true
    }

    /// A line longer than [`crate::source::MAX_LINE`]: `chunk` holds its
    /// first bytes and its length (`line_too_long`). By default, nothing is
    /// done with it.
    fn overlong(&mut self, chunk: &Chunk) -> bool {
        let _ = chunk;
        true
    }
}

/// Parses every line of `chunk` into `sink`, in order. Returns `false` when
/// the sink stopped the scan.
pub fn scan(chunk: &Chunk, sink: &mut impl Sink) -> bool {
    if chunk.overlong.is_some() {
        return sink.overlong(chunk);
    }
    for line in chunk.lines() {
        let go = match parse_line(line.bytes) {
            Ok(record) => sink.record(&line, &record),
            Err(e) => sink.reject(&line, e.reason),
        };
        if !go {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Tally {
        records: Vec<u64>,
        rejects: Vec<(u64, Reason)>,
        stop_after: Option<usize>,
    }

    impl Sink for Tally {
        fn record(&mut self, line: &Line<'_>, _: &LogRecord<'_>) -> bool {
            self.records.push(line.number);
            self.stop_after != Some(self.records.len())
        }
        fn reject(&mut self, line: &Line<'_>, reason: Reason) -> bool {
            self.rejects.push((line.number, reason));
            true
        }
    }

    fn chunk(text: &str) -> Chunk {
        Chunk {
            data: text.as_bytes().to_vec().into(),
            first_line: 7,
            line_count: text.lines().count() as u64,
            ..Chunk::default()
        }
    }

    const LINE: &str =
        "o b [06/Feb/2019:00:00:38 +0000] ip - ID REST.GET.OBJECT k - - - - - - - - -";

    #[test]
    fn records_and_rejects_arrive_in_line_order_and_a_sink_can_stop() {
        let text = format!("{LINE}\nnot a line\n{LINE}\n{LINE}\n");
        let mut all = Tally::default();
        assert!(scan(&chunk(&text), &mut all));
        assert_eq!(all.records, [7, 9, 10]);
        assert_eq!(all.rejects, [(8, Reason::BadTime)]);
        let mut two = Tally {
            stop_after: Some(2),
            ..Tally::default()
        };
        assert!(!scan(&chunk(&text), &mut two));
        assert_eq!(two.records, [7, 9]);
    }
}
