//! Parquet flow logs (AWS's Parquet delivery, or any file with its column names) read as text:
//! a header line naming the columns read, then one line per row, so that the scanner reads them
//! exactly as it reads the same records delivered as text. Only the columns verdicts use are
//! decoded.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field as Value;
use parquet::record::reader::RowIter;
use parquet::schema::types::Type;

use super::format::{Field, Format};

/// Whether bytes begin a Parquet file.
pub fn is_parquet(head: &[u8]) -> bool {
    head.starts_with(b"PAR1")
}

/// A flow-log field's column name in AWS's Parquet delivery (`log-status` is `log_status`).
fn column_name(field: &str) -> String {
    field.replace('-', "_")
}

/// The rows of a Parquet file as flow-log lines (the first one a header).
pub struct Lines {
    rows: RowIter<'static>,
    /// The columns read, in order, by their place in the projected rows.
    width: usize,
    pending: Vec<u8>,
    at: usize,
    done: bool,
}

/// Opens a Parquet file. Columns flowgate does not use are not read; a file without the
/// columns every record needs reads as records the scanner names as unjudgeable.
pub fn open(file: File) -> Result<Lines, String> {
    let reader =
        SerializedFileReader::new(file).map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let schema = reader.metadata().file_metadata().schema().clone();
    let mut wanted: Vec<Arc<Type>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for column in schema.get_fields() {
        let name = column.name().to_ascii_lowercase().replace('_', "-");
        let Ok(format) = Format::parse(&name) else {
            continue; // a column AWS does not document for flow logs
        };
        if format.columns.first().is_some_and(|f| *f != Field::Other) && column.is_primitive() {
            wanted.push(Arc::clone(column));
            names.push(name);
        }
    }
    if wanted.is_empty() {
        return Err("a Parquet file without any flow-log column (srcaddr, dstaddr, ...)".into());
    }
    debug_assert!(names.iter().all(|n| column_name(n).len() == n.len()));
    let projection = Type::group_type_builder(schema.name())
        .with_fields(wanted)
        .build()
        .map_err(|e| format!("cannot read the Parquet columns: {e}"))?;
    let rows = RowIter::from_file_into(Box::new(reader))
        .project(Some(projection))
        .map_err(|e| format!("cannot read the Parquet columns: {e}"))?;
    let mut header = names.join(" ").into_bytes();
    header.push(b'\n');
    Ok(Lines {
        rows,
        width: names.len(),
        pending: header,
        at: 0,
        done: false,
    })
}

/// A value as a flow-log field: numbers in decimal, text as it is, nothing as `-`. A value with
/// a space would shift the fields after it: it is written as is, and the line fails to parse.
fn text(v: &Value, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let _ = match v {
        Value::Null => write!(out, "-"),
        Value::Str(s) => write!(out, "{s}"),
        Value::Bytes(b) => write!(out, "{}", String::from_utf8_lossy(b.data())),
        Value::Byte(n) => write!(out, "{n}"),
        Value::Short(n) => write!(out, "{n}"),
        Value::Int(n) => write!(out, "{n}"),
        Value::Long(n) => write!(out, "{n}"),
        Value::UByte(n) => write!(out, "{n}"),
        Value::UShort(n) => write!(out, "{n}"),
        Value::UInt(n) => write!(out, "{n}"),
        Value::ULong(n) => write!(out, "{n}"),
        other => write!(out, "{other}"),
    };
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            if self.done {
                return Ok(0);
            }
            self.pending.clear();
            self.at = 0;
            match self.rows.next() {
                None => {
                    self.done = true;
                    return Ok(0);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(std::io::Error::other(format!("a Parquet row: {e}")));
                }
                Some(Ok(row)) => {
                    let mut n = 0;
                    for (_, value) in row.get_column_iter() {
                        if n > 0 {
                            self.pending.push(b' ');
                        }
                        text(value, &mut self.pending);
                        n += 1;
                    }
                    if n != self.width {
                        return Err(std::io::Error::other(format!(
                            "a Parquet row with {n} of the {} columns read",
                            self.width
                        )));
                    }
                    self.pending.push(b'\n');
                }
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
