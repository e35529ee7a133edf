//! Reading one file, or one part of a large plain file, line by line into evidence.
//!
//! The hot path: most records of a busy VPC concern no check. For those, the line is split, its
//! log-status and two addresses are read, and it is counted; nothing else is parsed or stored.
//! Only lines whose addresses some check could match (see `Plan::interesting`), and lines that
//! are not plain OK flows (NODATA, SKIPDATA, anything broken), go through the full parse.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::format::Format;
use super::record::{Layout, Record};
use crate::evidence::{BadFile, CheckEvidence, Gaps, Origin, Stats};
use crate::plan::Plan;
use crate::resolve::Ranges;

/// What one worker, or one part of a file, gathered.
pub struct Partial {
    pub checks: Vec<CheckEvidence>,
    pub gaps: Gaps,
    pub stats: Stats,
}

impl Partial {
    pub fn new(plan: &Plan) -> Partial {
        Partial {
            checks: vec![CheckEvidence::default(); plan.checks.len()],
            gaps: Gaps::default(),
            stats: Stats::default(),
        }
    }

    pub fn merge(&mut self, other: Partial) {
        for (mine, theirs) in self.checks.iter_mut().zip(other.checks) {
            mine.merge(theirs);
        }
        self.gaps.merge(other.gaps);
        self.stats.merge(&other.stats);
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
pub struct Read {
    pub lines: u64,
    /// A header line after line 1: the parts after it may have used the wrong format.
    pub late_header: bool,
}

/// Longest line kept: a record is well under 1 KiB, and an endless "line" must not fill memory.
pub const MAX_LINE: usize = 64 * 1024;

const BUFFER: usize = 256 * 1024;

enum LineEnd {
    Newline,
    TooLong,
    Eof,
}

/// Reads one line into `buf`, without its `\n` and keeping at most `MAX_LINE` bytes. Returns how
/// the line ended and the bytes consumed, or `None` at the end of the input.
fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<(LineEnd, u64)>> {
    let mut consumed = 0u64;
    let mut too_long = false;
    loop {
        let avail = reader.fill_buf()?;
        if avail.is_empty() {
            let end = if too_long { LineEnd::TooLong } else { LineEnd::Eof };
            return Ok((consumed > 0).then_some((end, consumed)));
        }
        let (take, found) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        too_long |= take > room;
        buf.extend_from_slice(&avail[..take.min(room)]);
        let used = take + usize::from(found);
        reader.consume(used);
        consumed += used as u64;
        if found {
            let end = if too_long { LineEnd::TooLong } else { LineEnd::Newline };
            return Ok(Some((end, consumed)));
        }
    }
}

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
}

impl Scanner<'_> {
    /// The format in force at the start of a file: its header, if line 1 is one.
    fn initial_layout(&self, path: &Path) -> Layout {
        let first = File::open(path).ok().and_then(|f| {
            let mut reader = BufReader::new(f);
            let mut line = Vec::new();
            read_line(&mut reader, &mut line).ok().flatten()?;
            String::from_utf8(line).ok()
        });
        match first.as_deref().map(|l| l.trim_end_matches('\r')) {
            Some(l) if Format::is_header(l) => Layout::new(&Format::from_header(l)),
            _ => Layout::new(self.default),
        }
    }

    pub fn scan(&self, unit: &Unit, part: &mut Partial) -> Read {
        let path = &self.files[unit.file as usize];
        let bad_file = |part: &mut Partial, reason: String| {
            part.gaps.bad_files.push(BadFile {
                file: unit.file,
                reason,
            })
        };
        let mut read = Read {
            lines: 0,
            late_header: false,
        };
        let mut layout = Layout::new(self.default);
        let stop = unit.range.map_or(u64::MAX, |r| r.1);
        let opened = match unit.range {
            // Parts are only made of plain files: seek, then start at the first line that begins
            // at or after the part's start (the line running across it belongs to the part before).
            Some((start, _)) if start > 0 => {
                layout = self.initial_layout(path);
                open_at(path, start - 1).map_err(|e| format!("cannot read: {e}"))
            }
            _ => open(path).map(|r| (r, 0)),
        };
        let (mut reader, mut at) = match opened {
            Ok(opened) => opened,
            Err(reason) => {
                bad_file(part, reason);
                return read;
            }
        };
        let needs_time = self.plan.window.is_bounded();
        let first_line_of_file = unit.range.is_none_or(|r| r.0 == 0);
        // Set while the format in force cannot be judged; every record under it is a bad line.
        let mut unusable: Option<String> = None;
        if needs_time {
            unusable = missing_fields(self.default, true, 0);
        }
        let mut buf = Vec::with_capacity(512);
        let mut spans = Vec::with_capacity(32);
        while at < stop {
            buf.clear();
            let end = match read_line(&mut *reader, &mut buf) {
                Ok(None) => break,
                Ok(Some((end, n))) => {
                    part.stats.bytes += n;
                    at += n;
                    end
                }
                Err(e) => {
                    bad_file(part, format!("reading stopped after line {}: {e}", read.lines));
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
                    part.gaps.bad_line(origin(), format!("longer than {MAX_LINE} bytes"));
                    continue;
                }
                // AWS ends every line; a last line without its end is where a copy was cut short.
                LineEnd::Eof => {
                    part.gaps
                        .bad_line(origin(), "the last line has no line end: the file may be cut short".into());
                    continue;
                }
            }
            let Ok(line) = std::str::from_utf8(&buf) else {
                part.gaps.bad_line(origin(), "not UTF-8 text".into());
                continue;
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            // Records carry digits in their first field (version, an id, an address); headers do not.
            if !line.split_ascii_whitespace().next().is_some_and(|w| w.bytes().any(|b| b.is_ascii_digit()))
                && Format::is_header(line)
            {
                let format = Format::from_header(line);
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
            if let (Some(interesting), Some((src, dst))) = (&self.interesting, layout.flow_addresses(&fields))
                && !interesting.contains(src)
                && !interesting.contains(dst)
            {
                // A flow no check can match: count it, place it in the window, and move on.
                match (needs_time, layout.times(&fields)) {
                    (false, _) => {
                        part.stats.records += 1;
                        continue;
                    }
                    (true, Some((start, end))) => {
                        part.stats.records += 1;
                        if !self.plan.window.overlaps(start, end) {
                            part.stats.outside_window += 1;
                        }
                        continue;
                    }
                    // Times that do not read: the full parse says what is wrong.
                    (true, None) => {}
                }
            }
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
                    continue;
                }
            }
            match record {
                Record::NoData { .. } => part.stats.nodata += 1,
                Record::SkipData { iface, .. } => *part.gaps.skipdata.entry(iface).or_default() += 1,
                Record::Flow(flow) => {
                    for (check, ev) in self.plan.checks.iter().zip(part.checks.iter_mut()) {
                        for role in check.roles_of(&flow) {
                            ev.observe(role, &flow, || (origin(), line.to_string()));
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
        format!("the format lacks {}, so the records cannot be judged", missing.join(", "))
    } else {
        format!(
            "the header at line {header_line} lacks {}, so its records cannot be judged",
            missing.join(", ")
        )
    })
}

fn open(path: &Path) -> Result<Box<dyn BufRead>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let head = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    Ok(if sniff(path, head)? {
        Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    })
}

/// A reader at the first line starting after byte `after`, and that line's offset.
fn open_at(path: &Path, after: u64) -> std::io::Result<(Box<dyn BufRead>, u64)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(after))?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let skipped = read_line(&mut reader, &mut Vec::new())?.map_or(0, |(_, n)| n);
    Ok((Box::new(reader), after + skipped))
}
