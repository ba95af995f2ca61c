//! Writing query results: a table, CSV, JSON, NDJSON or Parquet, to any
//! `io::Write`. Every format streams batch by batch.

use std::io::Write;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray};

use arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table, for reading: column widths come from the
    /// first [`TABLE_WIDTH_ROWS`] rows, so memory stays flat whatever the
    /// result's size; control characters in values are shown escaped.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    NdJson,
    /// A Parquet file (zstd).
    Parquet,
}

/// Writes every batch of `stream` to `out` in `format`; returns the rows.
pub async fn write<W: Write + Send>(
    mut stream: SendableRecordBatchStream,
    format: OutputFormat,
    out: W,
) -> Result<u64> {
    let schema = stream.schema();
    let mut rows = 0u64;
    match format {
        OutputFormat::Table => {
            let mut table = TableWriter::new(out, &schema);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                table.write(&b)?;
            }
            table.finish()?;
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing CSV")?;
            }
            if rows == 0 {
                w.write(&RecordBatch::new_empty(schema))
                    .context("writing CSV")?;
            }
            w.into_inner().flush()?;
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing JSON")?;
            }
            w.finish().context("writing JSON")?;
            let mut out = w.into_inner();
            out.write_all(b"\n")?;
            out.flush()?;
        }
        OutputFormat::NdJson => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing NDJSON")?;
            }
            w.finish().context("writing NDJSON")?;
            w.into_inner().flush()?;
        }
        OutputFormat::Parquet => {
            let props = (*crate::lake::writer_properties()).clone();
            let mut w = parquet::arrow::ArrowWriter::try_new(out, schema, Some(props))?;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing Parquet")?;
            }
            w.into_inner().context("writing Parquet")?.flush()?;
        }
    }
    Ok(rows)
}

/// Rows a table holds back to size its columns; later rows are padded to
/// those widths (a wider value widens its own row only).
pub const TABLE_WIDTH_ROWS: usize = 1000;

/// An aligned text table written as rows arrive: `+---+` borders and `|`
/// separators, as arrow's pretty printer draws them, but without holding
/// the whole result (10 M rows took 11 GB that way).
struct TableWriter<W: Write> {
    out: W,
    header: Vec<String>,
    /// Rows held back until the widths are known; `None` once they are.
    pending: Option<Vec<Vec<String>>>,
    widths: Vec<usize>,
}

impl<W: Write> TableWriter<W> {
    fn new(out: W, schema: &arrow::datatypes::Schema) -> Self {
        let header: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| printable(f.name()))
            .collect();
        let widths = header.iter().map(|h| h.chars().count()).collect();
        TableWriter {
            out,
            header,
            pending: Some(Vec::new()),
            widths,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let options = arrow::util::display::FormatOptions::default();
        let formatters = batch
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        // Money and sizes, as numbers to show in their unit.
        let units: Vec<Option<(Unit, arrow::array::ArrayRef)>> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, col)| {
                let unit = Unit::of(f.name(), f.data_type());
                let numbers = arrow::compute::cast(col, &arrow::datatypes::DataType::Float64);
                (unit != Unit::Plain)
                    .then_some(())
                    .and(numbers.ok())
                    .map(|n| (unit, n))
            })
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .zip(&units)
                .map(|(f, unit)| match unit {
                    Some((unit, numbers)) if numbers.is_valid(row) => unit.show(
                        numbers
                            .as_primitive::<arrow::datatypes::Float64Type>()
                            .value(row),
                    ),
                    _ => printable(&f.value(row).to_string()),
                })
                .collect();
            match &mut self.pending {
                Some(rows) => {
                    for (w, c) in self.widths.iter_mut().zip(&cells) {
                        *w = (*w).max(c.chars().count());
                    }
                    rows.push(cells);
                    if rows.len() >= TABLE_WIDTH_ROWS {
                        self.start()?;
                    }
                }
                None => self.row(&cells)?,
            }
        }
        Ok(())
    }

    /// The widths are known: the header, then the rows held back.
    fn start(&mut self) -> Result<()> {
        let Some(rows) = self.pending.take() else {
            return Ok(());
        };
        self.border()?;
        let header = std::mem::take(&mut self.header);
        self.row(&header)?;
        self.border()?;
        for r in &rows {
            self.row(r)?;
        }
        Ok(())
    }

    fn border(&mut self) -> Result<()> {
        let mut line = String::from("+");
        for w in &self.widths {
            line.push_str(&"-".repeat(w + 2));
            line.push('+');
        }
        writeln!(self.out, "{line}").context("writing the results")
    }

    fn row(&mut self, cells: &[String]) -> Result<()> {
        let mut line = String::from("|");
        for (c, w) in cells.iter().zip(&self.widths) {
            let pad = w.saturating_sub(c.chars().count());
            line.push(' ');
            line.push_str(c);
            line.extend(std::iter::repeat_n(' ', pad + 1));
            line.push('|');
        }
        writeln!(self.out, "{line}").context("writing the results")
    }

    fn finish(mut self) -> Result<()> {
        self.start()?;
        self.border()?;
        self.out.flush().context("writing the results")
    }
}

/// How a table shows a column's numbers: money as money and sizes as
/// sizes, by the column's name (`…_usd`, `…bytes`, `…_size`). Only the
/// table: CSV, JSON and Parquet keep the raw values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Plain,
    /// US dollars, to the millionth (request prices are fractions of a cent).
    Usd,
    /// Bytes, in B, kB, MB, GB, TB (powers of 1000).
    Bytes,
}

impl Unit {
    fn of(name: &str, ty: &arrow::datatypes::DataType) -> Unit {
        let name = name.to_ascii_lowercase();
        if ty.is_floating()
            || ty.is_integer()
            || matches!(ty, arrow::datatypes::DataType::Decimal128(..))
        {
            if name == "usd" || name.ends_with("_usd") {
                return Unit::Usd;
            }
            if ty.is_integer() && (name.ends_with("bytes") || name.ends_with("_size")) {
                return Unit::Bytes;
            }
        }
        Unit::Plain
    }

    /// A value shown in this unit.
    fn show(self, value: f64) -> String {
        match self {
            Unit::Usd => format!("${value:.6}"),
            Unit::Bytes => human_bytes(value),
            Unit::Plain => value.to_string(),
        }
    }
}

/// `6065979` bytes as `6.07 MB`: three significant digits, powers of 1000.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut unit = 0;
    while v.abs() >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    let decimals = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$} {}", UNITS[unit])
}

/// Text from a log made safe to show on a terminal: control characters
/// (newlines, escape sequences, C1 controls) as Rust escapes (`\u{1b}`),
/// everything else as it is. Log values are written by strangers, and an
/// escape sequence in a user agent must not reach the terminal.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`printable`], but keeping line breaks: for messages of several lines
/// (an error naming a file whose name came from a bucket, followed by
/// DataFusion's list of valid fields), where only the breaks are ours.
pub fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn messages_keep_their_lines_and_lose_their_escapes() {
        assert_eq!(
            printable_lines("a\u{1b}[31mb: bad\nValid fields: x\r"),
            "a\\u{1b}[31mb: bad\nValid fields: x\\r"
        );
        assert_eq!(printable_lines("plain"), "plain");
    }

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn table(batches: &[RecordBatch], schema: &Schema) -> String {
        let mut out = Vec::new();
        let mut t = TableWriter::new(&mut out, schema);
        for b in batches {
            t.write(b).expect("write");
        }
        t.finish().expect("finish");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn tables_show_money_and_sizes_as_such() {
        use arrow::array::Float64Array;
        let schema = Arc::new(Schema::new(vec![
            Field::new("total_usd", DataType::Float64, true),
            Field::new("internet_bytes", DataType::Int64, true),
            Field::new("requests", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Float64Array::from(vec![Some(5e-6), Some(12.5), None])),
                Arc::new(Int64Array::from(vec![
                    Some(6_065_979),
                    Some(243),
                    Some(1_500_000_000_000),
                ])),
                Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3)])),
            ],
        )
        .expect("batch");
        let text = table(&[batch], &schema);
        for want in [
            "$0.000005",
            "$12.500000",
            "6.07 MB",
            "243 B",
            "1.50 TB",
            "| 3 ",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
        assert!(!text.contains("5e-6"), "{text}");
    }

    #[test]
    fn tables_align_escape_and_do_not_hold_every_row() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ua", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![Some("curl/8.4"), None])),
                Arc::new(Int64Array::from(vec![Some(1), Some(22)])),
            ],
        )
        .expect("batch");
        let evil = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![Some("a\u{1b}[2Jb\nc")])),
                Arc::new(Int64Array::from(vec![Some(3)])),
            ],
        )
        .expect("batch");
        let text = table(&[batch, evil], &schema);
        assert_eq!(
            text,
            concat!(
                "+----------------+----+\n",
                "| ua             | n  |\n",
                "+----------------+----+\n",
                "| curl/8.4       | 1  |\n",
                "|                | 22 |\n",
                "| a\\u{1b}[2Jb\\nc | 3  |\n",
                "+----------------+----+\n",
            )
        );
        // Past the rows that size the columns, rows are written as they
        // come: nothing is held back.
        let wide = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![Some("x"); TABLE_WIDTH_ROWS])),
                Arc::new(Int64Array::from(vec![Some(1); TABLE_WIDTH_ROWS])),
            ],
        )
        .expect("batch");
        let mut out = Vec::new();
        let mut t = TableWriter::new(&mut out, &schema);
        t.write(&wide).expect("write");
        t.write(&wide).expect("write");
        assert!(t.pending.is_none(), "the widths are fixed");
        t.finish().expect("finish");
        assert_eq!(
            String::from_utf8(out).expect("utf8").lines().count(),
            2 * TABLE_WIDTH_ROWS + 4
        );
    }
}
