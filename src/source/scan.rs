//! Reading one file, or one part of a large plain file, line by line into evidence.
//!
//! The hot path: most records of a busy VPC concern no check. For those, the line is split, its
//! log-status and two addresses are read, and it is counted; nothing else is parsed or stored.
//! Only lines whose addresses some check could match (see `Plan::interesting`), and lines that
//! are not plain OK flows (NODATA, SKIPDATA, anything broken), go through the full parse.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::format::Format;
use super::ledger::{Book, Ledger};
use super::lines::{LineEnd, Lines, MAX_LINE};
use super::record::{Layout, Record};
use crate::evidence::flows::{Fold, Folded};
use crate::evidence::{Action, BadFile, Gaps, Origin, Stats};
use crate::plan::Plan;
use crate::resolve::Ranges;

/// What one reader gathered.
pub struct Partial<'l> {
    pub book: Book<'l>,
    pub gaps: Gaps,
    pub stats: Stats,
    /// The flows folded for a question about flows (see `Scanner::folding`).
    pub folded: Folded,
}

impl<'l> Partial<'l> {
    pub fn new(ledger: &'l Ledger, fold: Fold) -> Partial<'l> {
        Partial {
            book: ledger.book(),
            gaps: Gaps::default(),
            stats: Stats::default(),
            folded: Folded::new(fold),
        }
    }
}

/// A piece of reading work: a whole file, or the lines starting inside a byte range of one.
#[derive(Debug, Clone)]
pub struct Unit {
    pub file: u32,
    pub chunk: u32,
    pub range: Option<(u64, u64)>,
}

/// How a unit's reading ended, for stitching the parts of a file together.
pub struct Reading {
    pub lines: u64,
    /// A header line after line 1: the parts after it may have used the wrong format.
    pub late_header: bool,
}

const BUFFER: usize = 256 * 1024;

/// Whether a file's first bytes say gzip. `Err` for files flowgate cannot read as text.
fn sniff(path: &Path, head: &[u8]) -> Result<bool, String> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(true)
    } else if path.extension().is_some_and(|e| e == "gz") {
        Err("named .gz but not gzip: empty or damaged".into())
    } else if head.starts_with(b"PAR1") {
        Err("Parquet flow logs are not supported: deliver them as text (the default) or convert them".into())
    } else {
        Ok(false)
    }
}

/// Whether a file is plain text that can be split into parts (gzip cannot be entered midway).
pub fn is_plain(path: &Path) -> bool {
    let mut head = [0u8; 4];
    File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .is_ok_and(|n| matches!(sniff(path, &head[..n]), Ok(false)))
}

pub struct Scanner<'a> {
    pub plan: &'a Plan,
    pub files: &'a [std::path::PathBuf],
    /// The format of lines before any header.
    pub default: &'a Format,
    pub interesting: Option<Ranges>,
    /// Folds every flow in the window with this action that the prefilter lets through
    /// (triage, observe).
    pub folding: Option<Action>,
}

impl Scanner<'_> {
    /// The header on line 1 of a file, if it has one: the format in force where a part starts.
    fn header(&self, path: &Path) -> Option<Format> {
        let mut lines = File::open(path).ok().map(Lines::new);
        let first = lines
            .as_mut()
            .and_then(|l| l.next_line().ok().flatten())
            .and_then(|(line, _, _)| std::str::from_utf8(line).ok());
        match first.map(|l| l.trim_end_matches('\r')) {
            Some(l) if Format::is_header(l) => Some(Format::from_header(l)),
            _ => None,
        }
    }

    pub fn scan(&self, unit: &Unit, part: &mut Partial<'_>) -> Reading {
        let path = &self.files[unit.file as usize];
        let bad_file = |part: &mut Partial, reason: String| {
            part.gaps.bad_files.push(BadFile {
                file: unit.file,
                reason,
            })
        };
        let mut read = Reading {
            lines: 0,
            late_header: false,
        };
        let mut layout = Layout::new(self.default);
        let needs_time = self.plan.window.is_bounded();
        // Set while the format in force cannot be judged; every record under it is a bad line.
        let mut unusable: Option<String> = None;
        if needs_time {
            unusable = missing_fields(self.default, true, 0);
        }
        let stop = unit.range.map_or(u64::MAX, |r| r.1);
        let opened = match unit.range {
            // Parts are only made of plain files: seek, then start at the first line that begins
            // at or after the part's start (the line running across it belongs to the part before).
            // The header on line 1 rules there as it does for the part that read it.
            Some((start, _)) if start > 0 => {
                if let Some(format) = self.header(path) {
                    unusable = missing_fields(&format, needs_time, 1);
                    layout = Layout::new(&format);
                }
                open_at(path, start - 1).map_err(|e| format!("cannot read: {e}"))
            }
            _ => open(path).map(|r| (r, 0)),
        };
        let (mut lines, mut at) = match opened {
            Ok(opened) => opened,
            Err(reason) => {
                bad_file(part, reason);
                return read;
            }
        };
        let first_line_of_file = unit.range.is_none_or(|r| r.0 == 0);
        let mut spans = Vec::with_capacity(32);
        while at < stop {
            let (line, end) = match lines.next_line() {
                Ok(None) => break,
                Ok(Some((line, end, n))) => {
                    part.stats.bytes += n;
                    at += n;
                    (line, end)
                }
                Err(e) => {
                    bad_file(
                        part,
                        format!("reading stopped after line {}: {e}", read.lines),
                    );
                    return read;
                }
            };
            read.lines += 1;
            let origin = || Origin {
                file: unit.file,
                chunk: unit.chunk,
                line: read.lines,
            };
            match end {
                LineEnd::Newline => {}
                LineEnd::TooLong => {
                    part.gaps
                        .bad_line(origin(), format!("longer than {MAX_LINE} bytes"));
                    continue;
                }
                // AWS ends every line; a last line without its end is where a copy was cut short.
                LineEnd::Eof => {
                    part.gaps.bad_line(
                        origin(),
                        "the last line has no line end: the file may be cut short".into(),
                    );
                    continue;
                }
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.trim_ascii().is_empty() {
                continue;
            }
            // Records carry digits in their first field (version, an id, an address); headers do not.
            let first = line.split(|b| *b == b' ').next().unwrap_or_default();
            if !first.iter().any(u8::is_ascii_digit)
                && let Ok(text) = std::str::from_utf8(line)
                && Format::is_header(text)
            {
                let format = Format::from_header(text);
                unusable = missing_fields(&format, needs_time, read.lines);
                layout = Layout::new(&format);
                read.late_header |= !(first_line_of_file && read.lines == 1);
                continue;
            }
            if let Some(why) = &unusable {
                part.gaps.bad_line(origin(), why.clone());
                continue;
            }
            let fields = match layout.split(line, &mut spans) {
                Ok(f) => f,
                Err(reason) => {
                    part.gaps.bad_line(origin(), reason);
                    continue;
                }
            };
            if let (Some(interesting), Some((src, dst))) =
                (&self.interesting, layout.flow_addresses(&fields))
                && !interesting.contains(src)
                && !interesting.contains(dst)
            {
                // A flow no check can match: count it, place it in the window, and move on. It
                // is read in full all the same: a broken line is a gap wherever its addresses
                // point (they may be as broken as the rest), as the plain reading says.
                let times = match layout.record(&fields) {
                    Ok(r) => r.times(),
                    Err(reason) => {
                        part.gaps.bad_line(origin(), reason);
                        continue;
                    }
                };
                match (needs_time, times) {
                    (false, _) => {
                        part.stats.records += 1;
                        continue;
                    }
                    (true, (Some(start), Some(end))) => {
                        part.stats.records += 1;
                        if !self.plan.window.overlaps(start, end) {
                            part.stats.outside_window += 1;
                        }
                        continue;
                    }
                    // Times missing: the full parse below says so.
                    (true, _) => {}
                }
            }
            let text = fields.text();
            let record = match layout.record(&fields) {
                Ok(r) => r,
                Err(reason) => {
                    part.gaps.bad_line(origin(), reason);
                    continue;
                }
            };
            part.stats.records += 1;
            if needs_time {
                let (Some(start), Some(end)) = record.times() else {
                    part.gaps.bad_line(
                        origin(),
                        "start or end is `-`, so the record cannot be placed in the window".into(),
                    );
                    continue;
                };
                if !self.plan.window.overlaps(start, end) {
                    part.stats.outside_window += 1;
                    if let Record::Flow(flow) = record
                        && self.plan.window.in_context(end)
                    {
                        for (i, check) in self.plan.checks.iter().enumerate() {
                            for role in check.roles_of(&flow) {
                                part.book.observe_context(i, role, &flow);
                            }
                        }
                    }
                    continue;
                }
            }
            match record {
                Record::NoData { .. } => part.stats.nodata += 1,
                Record::SkipData { iface, .. } => {
                    *part.gaps.skipdata.entry(iface).or_default() += 1
                }
                Record::Flow(flow) => {
                    if self.folding == Some(flow.action) {
                        part.folded.add(&flow);
                    }
                    for (i, check) in self.plan.checks.iter().enumerate() {
                        for role in check.roles_of(&flow) {
                            part.book
                                .observe(i, role, &flow, origin(), || text.to_string());
                        }
                    }
                }
            }
        }
        read
    }
}

fn missing_fields(format: &Format, needs_time: bool, header_line: u64) -> Option<String> {
    let missing = format.missing(needs_time);
    if missing.is_empty() {
        return None;
    }
    Some(if header_line == 0 {
        format!(
            "the format lacks {}, so the records cannot be judged",
            missing.join(", ")
        )
    } else {
        format!(
            "the header at line {header_line} lacks {}, so its records cannot be judged",
            missing.join(", ")
        )
    })
}

fn open(path: &Path) -> Result<Lines<Box<dyn Read>>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let head = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    let reader: Box<dyn Read> = if sniff(path, head)? {
        Box::new(MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    Ok(Lines::new(reader))
}

/// Lines from the first one starting after byte `after`, and that line's offset.
fn open_at(path: &Path, after: u64) -> std::io::Result<(Lines<Box<dyn Read>>, u64)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(after))?;
    let mut lines = Lines::new(Box::new(file) as Box<dyn Read>);
    let skipped = lines.next_line()?.map_or(0, |(_, _, n)| n);
    Ok((lines, after + skipped))
}
