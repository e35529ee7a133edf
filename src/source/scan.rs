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

use super::blob::{Blob, Fetcher, OpenError, open_local};
use super::format::Format;
use super::ledger::{Book, Ledger};
use super::lines::{LineEnd, Lines, MAX_LINE};
use super::parquet;
use super::record::{Layout, Record};
use crate::aws::AwsError;
use crate::evidence::flows::{Fold, Folded};
use crate::evidence::{Action, BadFile, Flow, Gaps, Origin, Role, Stats};
use crate::plan::Plan;
use crate::plan::index::Index;
use crate::resolve::Ranges;

/// What one reader gathered.
pub struct Partial<'l> {
    pub book: Book<'l>,
    pub gaps: Gaps,
    pub stats: Stats,
    /// The flows folded for a question about flows (see `Scanner::folding`).
    pub folded: Folded,
    /// A failure that puts all evidence out of reach (access to S3 denied, say).
    pub fatal: Option<AwsError>,
    /// The checks the record at hand may concern (reused from record to record).
    pub candidates: Vec<u32>,
}

impl<'l> Partial<'l> {
    pub fn new(ledger: &'l Ledger, fold: Fold) -> Partial<'l> {
        Partial {
            book: ledger.book(),
            gaps: Gaps::default(),
            stats: Stats::default(),
            folded: Folded::new(fold),
            fatal: None,
            candidates: Vec::new(),
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
    /// The fields of the format the unit's records were read in, for showing sample records
    /// with their column names.
    pub columns: String,
}

const BUFFER: usize = 256 * 1024;

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Gzip,
    Parquet,
}

/// What a file is, by its own first bytes (its name only decides that a `.gz` that is not gzip
/// is damaged). `Err` for files flowgate cannot read.
fn sniff(name: &str, head: &[u8]) -> Result<Kind, String> {
    // A `.gz` that holds plain text (a copy unpacked and renamed back) is read as text.
    let text = !head.is_empty()
        && head
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Kind::Gzip)
    } else if name.ends_with(".gz") && !text {
        Err("named .gz but not gzip: empty or damaged".into())
    } else if parquet::is_parquet(head) {
        Ok(Kind::Parquet)
    } else {
        Ok(Kind::Plain)
    }
}

/// Whether a file is plain text that can be split into parts (gzip and Parquet cannot be
/// entered midway).
pub fn is_plain(path: &Path) -> bool {
    let mut head = [0u8; 4];
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .is_ok_and(|n| matches!(sniff(name, &head[..n]), Ok(Kind::Plain)))
}

pub struct Scanner<'a> {
    pub plan: &'a Plan,
    /// The plan's checks by address: a record asks only those it may concern.
    pub index: &'a Index,
    pub files: &'a [Blob],
    /// Opens S3 objects; `None` when every file is on disk.
    pub fetcher: Option<&'a Fetcher>,
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
        let blob = &self.files[unit.file as usize];
        let bad_file = |part: &mut Partial, reason: String| {
            part.gaps.bad_files.push(BadFile {
                file: unit.file,
                reason,
            })
        };
        let mut read = Reading {
            lines: 0,
            late_header: false,
            columns: self.default.to_string(),
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
                // Only local plain files are split.
                let path = blob.local().expect("parts are made of local files only");
                if let Some(format) = self.header(path) {
                    unusable = unusable_header(&format, needs_time, 1);
                    layout = Layout::new(&format);
                    read.columns = format.to_string();
                }
                open_at(path, start - 1).map_err(|e| format!("cannot read: {e}"))
            }
            _ => match self.open(blob) {
                Ok(r) => Ok((r, 0)),
                Err(OpenError::Gap(reason)) => Err(reason),
                Err(OpenError::Fatal(e)) => {
                    part.fatal.get_or_insert(e);
                    return read;
                }
            },
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
            // Records carry digits in their first field (version, an id, an address); headers
            // begin with a field name, which has digits only when AWS documents it so.
            let first = line.split(|b| *b == b' ').next().unwrap_or_default();
            if first.first().is_some_and(u8::is_ascii_lowercase)
                && (!first.iter().any(u8::is_ascii_digit) || Format::is_name(first))
                && let Ok(text) = std::str::from_utf8(line)
                && Format::is_header(text)
            {
                let format = Format::from_header(text);
                unusable = unusable_header(&format, needs_time, read.lines);
                layout = Layout::new(&format);
                read.columns = format.to_string();
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
            // The prefilter's addresses, read once for the full parse as well.
            let addresses = match self.interesting {
                Some(_) => layout.flow_addresses(&fields),
                None => None,
            };
            if let (Some(interesting), Some((src, dst))) = (&self.interesting, addresses)
                && !interesting.contains(src)
                && !interesting.contains(dst)
            {
                // A flow no check can match: count it, place it in the window, and move on. It
                // is read in full all the same: a broken line is a gap wherever its addresses
                // point (they may be as broken as the rest), as the plain reading says.
                let (times, tgw) = match layout.record_with(&fields, addresses) {
                    Ok(r) => (r.times(), layout.is_tgw()),
                    Err(reason) => {
                        part.gaps.bad_line(origin(), reason);
                        continue;
                    }
                };
                match (needs_time, times) {
                    // A transit gateway's records are not VPC records: they never make a window
                    // look delivered (see `Stats::tgw_records`).
                    (_, (Some(_), Some(_))) | (false, _) if tgw => {
                        part.stats.tgw_records += 1;
                        continue;
                    }
                    (false, _) => {
                        part.stats.records += 1;
                        continue;
                    }
                    (true, (Some(start), Some(end))) => {
                        part.stats.records += 1;
                        part.stats.saw(start, end);
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
            let record = match layout.record_with(&fields, addresses) {
                Ok(r) => r,
                Err(reason) => {
                    part.gaps.bad_line(origin(), reason);
                    continue;
                }
            };
            // Every record of a Transit Gateway flow log, NODATA included, is the gateway's.
            let tgw = layout.is_tgw();
            if tgw {
                part.stats.tgw_records += 1;
            } else {
                part.stats.records += 1;
            }
            if needs_time {
                let (Some(start), Some(end)) = record.times() else {
                    part.gaps.bad_line(
                        origin(),
                        "start or end is `-`, so the record cannot be placed in the window".into(),
                    );
                    continue;
                };
                if !tgw {
                    part.stats.saw(start, end);
                }
                if !self.plan.window.overlaps(start, end) {
                    if tgw {
                        continue;
                    }
                    part.stats.outside_window += 1;
                    if let Record::Flow(flow) = record
                        && self.plan.window.in_context(end)
                    {
                        for (i, role) in self.concerned(&flow, &mut part.candidates) {
                            part.book.observe_context(i, role, &flow);
                        }
                    }
                    continue;
                }
            }
            match record {
                Record::NoData { .. } if !tgw => part.stats.nodata += 1,
                Record::NoData { .. } => {}
                Record::SkipData { iface, .. } => {
                    *part.gaps.skipdata.entry(iface).or_default() += 1
                }
                // What a transit gateway carried and dropped: evidence about the path, never
                // a connection of its own (the VPC flow logs judge those).
                Record::Tgw(flow, hop) => {
                    for (i, role) in self.concerned(&flow, &mut part.candidates) {
                        part.book.observe_tgw(
                            i,
                            role,
                            &flow,
                            (&hop, 1),
                            Some((origin(), text.to_string())),
                        );
                    }
                }
                Record::Flow(flow) => {
                    if self.folding == Some(flow.action) {
                        part.folded.add(&flow);
                    }
                    for (i, role) in self.concerned(&flow, &mut part.candidates) {
                        part.book
                            .observe(i, role, &flow, origin(), || text.to_string());
                    }
                }
            }
        }
        read
    }
}

impl Scanner<'_> {
    /// The checks a flow concerns, each with the role the flow plays there (the index narrows,
    /// `roles_of` decides); `candidates` is the reader's reused list.
    fn concerned<'s>(
        &'s self,
        flow: &'s Flow,
        candidates: &'s mut Vec<u32>,
    ) -> impl Iterator<Item = (usize, Role)> + 's {
        self.index.candidates(flow.src, flow.dst, candidates);
        candidates.iter().flat_map(move |&i| {
            let i = i as usize;
            self.plan.checks[i]
                .roles_of(flow)
                .map(move |role| (i, role))
        })
    }
}

/// Why the records after a header cannot be judged: a misspelt field, or missing ones.
fn unusable_header(format: &Format, needs_time: bool, header_line: u64) -> Option<String> {
    if let Some((name, known)) = format.typo() {
        return Some(format!(
            "the header at line {header_line} names `{name}`, which is not a flow-log field (the closest is `{known}`): fix the header, so the columns after it are not misread"
        ));
    }
    missing_fields(format, needs_time, header_line)
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

impl Scanner<'_> {
    /// A file's lines, whatever it is: plain, gzip, Parquet (also inside gzip), on disk or in S3.
    fn open(&self, blob: &Blob) -> Result<Lines<Box<dyn Read>>, OpenError> {
        let raw: Box<dyn Read + Send> = match blob {
            Blob::Local(path) => open_local(path).map_err(OpenError::Gap)?,
            Blob::S3(o) => match self.fetcher {
                Some(f) => f.open(o)?,
                None => return Err(OpenError::Gap("no S3 client to fetch it with".into())),
            },
        };
        let gap = |e: std::io::Error| OpenError::Gap(format!("cannot read: {e}"));
        let mut reader = BufReader::with_capacity(BUFFER, raw);
        let head = reader.fill_buf().map_err(gap)?;
        let reader: Box<dyn Read> = match sniff(blob.file_name(), head).map_err(OpenError::Gap)? {
            Kind::Plain => Box::new(reader),
            Kind::Parquet => Box::new(parquet_lines(reader, blob)?),
            Kind::Gzip => {
                let mut inner = BufReader::with_capacity(BUFFER, MultiGzDecoder::new(reader));
                let head = inner.fill_buf().map_err(gap)?;
                if parquet::is_parquet(head) {
                    Box::new(parquet_lines(inner, blob)?)
                } else {
                    Box::new(inner)
                }
            }
        };
        Ok(Lines::new(reader))
    }
}

/// A Parquet file's rows as lines. Parquet keeps its index at the end, so a stream (an S3
/// body, a gzip stream) is first spooled to an unnamed temporary file: memory stays flat.
fn parquet_lines(mut from: impl Read, blob: &Blob) -> Result<parquet::Lines, OpenError> {
    let file = match blob {
        Blob::Local(path) if !blob.file_name().ends_with(".gz") => {
            File::open(path).map_err(|e| OpenError::Gap(format!("cannot open: {e}")))?
        }
        _ => {
            let mut spool = tempfile::tempfile()
                .map_err(|e| OpenError::Gap(format!("cannot spool it to a temporary file: {e}")))?;
            std::io::copy(&mut from, &mut spool)
                .map_err(|e| OpenError::Gap(format!("reading stopped: {e}")))?;
            spool
        }
    };
    parquet::open(file).map_err(OpenError::Gap)
}

/// Lines from the first one starting after byte `after`, and that line's offset.
fn open_at(path: &Path, after: u64) -> std::io::Result<(Lines<Box<dyn Read>>, u64)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(after))?;
    let mut lines = Lines::new(Box::new(file) as Box<dyn Read>);
    let skipped = lines.next_line()?.map_or(0, |(_, _, n)| n);
    Ok((lines, after + skipped))
}
