//! Flow-log files as S3 delivers them (or as `aws s3 cp --recursive` copies them down): plain or
//! gzip, with or without a header line, read in parallel across files.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::bufread::MultiGzDecoder;

use super::format::Format;
use super::record::{Layout, Record};
use super::{Source, SourceError};
use crate::evidence::{BadFile, CheckEvidence, Evidence, Gaps, Origin, Stats};
use crate::plan::Plan;

/// Flow-log files found under the paths the user gave.
pub struct FileSource {
    files: Vec<PathBuf>,
    /// The format of lines before any header: `--log-format`, else the default v2 format.
    format: Format,
}

impl FileSource {
    /// Lists the files under `paths` (directories recursively, hidden entries skipped, sorted).
    /// A path that does not exist, or a directory with no files, is a usage error: judging
    /// nothing would turn every check into NO_TRAFFIC for a typo.
    pub fn open(paths: &[PathBuf], log_format: Option<&str>) -> Result<FileSource, SourceError> {
        let format = match log_format {
            None => Format::default_v2(),
            Some(text) => Format::parse(text).map_err(|e| {
                SourceError::Usage(format!(
                    "--log-format: {e}\n  help: list the fields as in the flow log's definition, e.g. \
                     \"${{version}} ${{interface-id}} ${{srcaddr}} ...\""
                ))
            })?,
        };
        let missing = format.missing(false);
        if !missing.is_empty() {
            return Err(SourceError::Usage(format!(
                "--log-format lacks {}, which every record needs to be judged",
                missing.join(", ")
            )));
        }
        let mut files = Vec::new();
        for path in paths {
            let meta = std::fs::metadata(path)
                .map_err(|e| SourceError::Usage(format!("--flow-logs {}: {e}", path.display())))?;
            if !meta.is_dir() {
                files.push(path.clone());
                continue;
            }
            let before = files.len();
            for entry in walkdir::WalkDir::new(path)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                })
            {
                let entry = entry.map_err(|e| {
                    SourceError::Usage(format!("--flow-logs {}: {e}", path.display()))
                })?;
                if entry.file_type().is_file() {
                    files.push(entry.into_path());
                }
            }
            if files.len() == before {
                return Err(SourceError::Usage(format!(
                    "--flow-logs {}: the directory holds no files\n  help: point it at the flow-log \
                     files (e.g. the AWSLogs/ folder copied from S3)",
                    path.display()
                )));
            }
        }
        // The same file named twice (a directory and a file in it, say) is read once.
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
        Ok(FileSource { files, format })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl Source for FileSource {
    async fn collect(&self, plan: Arc<Plan>) -> Result<Evidence, SourceError> {
        if plan.window.is_bounded() {
            let missing = self.format.missing(true);
            if missing.iter().any(|f| *f == "start" || *f == "end") {
                return Err(SourceError::Usage(
                    "--start/--end/--since need the `start` and `end` fields, which --log-format lacks".into(),
                ));
            }
        }
        let files = self.files.clone();
        let format = self.format.clone();
        tokio::task::spawn_blocking(move || scan(&files, &format, &plan))
            .await
            .map_err(|e| SourceError::Failed(format!("reading the flow-log files stopped: {e}")))
    }

    fn describe(&self) -> String {
        let n = self.files.len();
        format!("{n} flow-log file{}", if n == 1 { "" } else { "s" })
    }
}

/// What one worker gathered.
struct Partial {
    checks: Vec<CheckEvidence>,
    gaps: Gaps,
    stats: Stats,
}

impl Partial {
    fn new(plan: &Plan) -> Partial {
        Partial {
            checks: vec![CheckEvidence::default(); plan.checks.len()],
            gaps: Gaps::default(),
            stats: Stats::default(),
        }
    }

    fn merge(&mut self, other: Partial) {
        for (mine, theirs) in self.checks.iter_mut().zip(other.checks) {
            mine.merge(theirs);
        }
        self.gaps.merge(other.gaps);
        self.stats.merge(&other.stats);
    }
}

/// Reads every file once, matching each record against every check of the plan.
pub fn scan(files: &[PathBuf], format: &Format, plan: &Plan) -> Evidence {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len())
        .max(1);
    let partials: Vec<Partial> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut part = Partial::new(plan);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        scan_file(i as u32, path, format, plan, &mut part);
                    }
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a flow-log reader panicked"))
            .collect()
    });
    let mut total = Partial::new(plan);
    for p in partials {
        total.merge(p);
    }
    total.gaps.no_records = total.stats.records == total.stats.outside_window;
    Evidence {
        checks: total.checks.into_iter().map(Ok).collect(),
        gaps: total.gaps,
        stats: total.stats,
        files: files.iter().map(|p| p.display().to_string()).collect(),
    }
}

fn open_reader(path: &Path) -> Result<Box<dyn BufRead>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let head = reader.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        )))
    } else if path.extension().is_some_and(|e| e == "gz") {
        Err("named .gz but not gzip: empty or damaged".into())
    } else if head.starts_with(b"PAR1") {
        Err("Parquet flow logs are not supported: deliver them as text (the default) or convert them".into())
    } else {
        Ok(Box::new(reader))
    }
}

/// Longest line kept: a record is well under 1 KiB, and an endless "line" must not fill memory.
const MAX_LINE: usize = 64 * 1024;

enum LineEnd {
    Newline,
    TooLong,
    Eof,
}

/// Reads one line into `buf`, without its `\n` and keeping at most `MAX_LINE` bytes. Returns how
/// the line ended and the bytes consumed, or `None` at the end of the input.
fn read_line(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(LineEnd, u64)>> {
    let mut consumed = 0u64;
    let mut too_long = false;
    loop {
        let avail = reader.fill_buf()?;
        if avail.is_empty() {
            return Ok((consumed > 0).then_some((
                if too_long {
                    LineEnd::TooLong
                } else {
                    LineEnd::Eof
                },
                consumed,
            )));
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
            return Ok(Some((
                if too_long {
                    LineEnd::TooLong
                } else {
                    LineEnd::Newline
                },
                consumed,
            )));
        }
    }
}

fn scan_file(index: u32, path: &Path, default: &Format, plan: &Plan, part: &mut Partial) {
    part.stats.files += 1;
    let bad_file = |part: &mut Partial, reason: String| {
        part.gaps.bad_files.push(BadFile {
            file: index,
            reason,
        })
    };
    let mut reader = match open_reader(path) {
        Ok(r) => r,
        Err(reason) => return bad_file(part, reason),
    };
    let needs_time = plan.window.is_bounded();
    let mut layout = Layout::new(default);
    // Set while the format in force cannot be judged; every record under it is a bad line.
    let mut unusable: Option<String> = None;
    let mut buf = Vec::with_capacity(512);
    let mut line_no: u64 = 0;
    loop {
        buf.clear();
        let end = match read_line(&mut *reader, &mut buf) {
            Ok(None) => break,
            Ok(Some((end, n))) => {
                part.stats.bytes += n;
                end
            }
            Err(e) => {
                return bad_file(part, format!("reading stopped after line {line_no}: {e}"));
            }
        };
        line_no += 1;
        let origin = || Origin {
            file: index,
            line: line_no,
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
        let Ok(line) = std::str::from_utf8(&buf) else {
            part.gaps.bad_line(origin(), "not UTF-8 text".into());
            continue;
        };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if Format::is_header(line) {
            let format = Format::from_header(line);
            let missing = format.missing(needs_time);
            unusable = (!missing.is_empty()).then(|| {
                format!(
                    "the header at line {line_no} lacks {}, so its records cannot be judged",
                    missing.join(", ")
                )
            });
            layout = Layout::new(&format);
            continue;
        }
        if let Some(why) = &unusable {
            part.gaps.bad_line(origin(), why.clone());
            continue;
        }
        let record = match layout.parse(line) {
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
            if !plan.window.overlaps(start, end) {
                part.stats.outside_window += 1;
                continue;
            }
        }
        match record {
            Record::NoData { .. } => part.stats.nodata += 1,
            Record::SkipData { iface, .. } => *part.gaps.skipdata.entry(iface).or_default() += 1,
            Record::Flow(flow) => {
                for (check, ev) in plan.checks.iter().zip(part.checks.iter_mut()) {
                    for role in check.roles_of(&flow) {
                        ev.observe(role, &flow, || (origin(), line.to_string()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::plan::Window;

    const SPEC: &str = "app: t\nhosts:\n  web: {ips: [10.0.1.10, '2001:db8::10']}\n  app: {ips: [10.0.2.20, '2001:db8::20']}\nexpect:\n  - {from: web, to: app, port: 8080}\n";
    const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

    fn plan(window: Window) -> Plan {
        let spec = crate::spec::parse(Path::new("t.yaml"), SPEC).unwrap();
        crate::plan::build(&[spec], window).unwrap()
    }

    fn rec(src: &str, dst: &str, sport: u16, dport: u16, start: u64, action: &str) -> String {
        format!(
            "2 123456789012 eni-1 {src} {dst} {sport} {dport} 6 1 60 {start} {} {action} OK",
            start + 60
        )
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn scan_dir(dir: &Path, window: Window) -> Evidence {
        let source = FileSource::open(&[dir.to_path_buf()], None).unwrap();
        scan(source.files(), &source.format, &plan(window))
    }

    fn request_accepts(ev: &Evidence) -> u64 {
        let checks = ev.checks[0].as_ref().unwrap();
        checks
            .pairs
            .values()
            .map(|p| p.records.request_accept)
            .sum()
    }

    #[test]
    fn finds_plain_and_gzip_files_recursively_skipping_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let line = rec("10.0.1.10", "10.0.2.20", 40000, 8080, 100, "ACCEPT");
        write(
            dir.path(),
            "b/x.log.gz",
            &gz(format!("{HEADER}\n{line}\n").as_bytes()),
        );
        write(dir.path(), "a.log", format!("{line}\n").as_bytes());
        write(dir.path(), ".hidden/c.log", b"junk\n");
        write(dir.path(), ".DS_Store", b"junk\n");
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(ev.files.len(), 2, "{:?}", ev.files);
        assert!(ev.files[0].ends_with("a.log") && ev.files[1].ends_with("x.log.gz"));
        assert_eq!(request_accepts(&ev), 2);
        assert!(ev.gaps.is_empty(), "{:?}", ev.gaps);
    }

    #[test]
    fn a_header_sets_the_order_for_the_lines_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let v2 = rec("10.0.1.10", "10.0.2.20", 40000, 8080, 100, "ACCEPT");
        let custom = "dstport srcport dstaddr srcaddr protocol action tcp-flags interface-id log-status start end";
        let body = format!(
            "{v2}\n{custom}\n8080 40001 2001:db8::20 2001:db8::10 6 ACCEPT 3 eni-2 OK 100 160\n8080 40001 10.0.2.20 10.0.1.10 6 ACCEPT 3 eni-2 OK 100 160\n"
        );
        write(dir.path(), "f.log", body.as_bytes());
        let ev = scan_dir(dir.path(), Window::default());
        assert!(ev.gaps.is_empty(), "{:?}", ev.gaps);
        let pairs = &ev.checks[0].as_ref().unwrap().pairs;
        assert_eq!(pairs.len(), 2, "an IPv4 and an IPv6 pair");
        assert!(pairs.keys().any(|(c, _)| c.is_ipv6()));
    }

    #[test]
    fn bad_lines_are_counted_and_named_and_the_rest_still_counts() {
        let dir = tempfile::tempdir().unwrap();
        let good = rec("10.0.1.10", "10.0.2.20", 40000, 8080, 100, "ACCEPT");
        let mut bytes = format!("{good}\n2 123 eni-1 10.0.1.10\n\n{good}\r\n").into_bytes();
        bytes.extend_from_slice(b"\xff\n");
        write(dir.path(), "f.log", &bytes);
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(request_accepts(&ev), 2, "CRLF lines are records too");
        assert_eq!(ev.gaps.bad_lines, 2);
        let named: Vec<(u64, &str)> = ev
            .gaps
            .bad_line_samples
            .iter()
            .map(|b| (b.origin.line, b.reason.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (2, "4 fields where the format has 14"),
                (5, "not UTF-8 text")
            ]
        );
    }

    #[test]
    fn a_truncated_gzip_file_is_named_and_what_came_before_still_counts() {
        let dir = tempfile::tempdir().unwrap();
        let lines: String = (0..2000)
            .map(|i| rec("10.0.1.10", "10.0.2.20", 30000 + i, 8080, 100, "ACCEPT") + "\n")
            .collect();
        let whole = gz(lines.as_bytes());
        write(dir.path(), "cut.log.gz", &whole[..whole.len() / 2]);
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(ev.gaps.bad_files.len(), 1);
        assert!(
            ev.gaps.bad_files[0]
                .reason
                .starts_with("reading stopped after line"),
            "{:?}",
            ev.gaps.bad_files
        );
        assert!(request_accepts(&ev) > 0 && request_accepts(&ev) < 2000);
    }

    #[test]
    fn parquet_files_are_named_as_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "x.parquet", b"PAR1\x00\x00");
        let ev = scan_dir(dir.path(), Window::default());
        assert!(ev.gaps.bad_files[0].reason.contains("Parquet"));
    }

    #[test]
    fn the_window_keeps_only_overlapping_records() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = [50, 100, 200, 300]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                rec(
                    "10.0.1.10",
                    "10.0.2.20",
                    40000 + i as u16,
                    8080,
                    *t,
                    "ACCEPT",
                ) + "\n"
            })
            .collect();
        write(dir.path(), "f.log", body.as_bytes());
        let ev = scan_dir(
            dir.path(),
            Window {
                start: Some(120),
                end: Some(250),
            },
        );
        assert_eq!(
            request_accepts(&ev),
            2,
            "100..160 and 200..260 overlap 120..250"
        );
        assert_eq!(ev.stats.outside_window, 2);
        assert_eq!(request_accepts(&scan_dir(dir.path(), Window::default())), 4);
    }

    #[test]
    fn skipdata_is_a_gap_per_interface_and_nodata_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let body = "2 1 eni-7 - - - - - - - 100 160 - SKIPDATA\n2 1 eni-8 - - - - - - - 100 160 - NODATA\n2 1 eni-7 - - - - - - - 900 960 - SKIPDATA\n";
        write(dir.path(), "f.log", body.as_bytes());
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(ev.gaps.skipdata_records(), 2);
        assert_eq!(ev.stats.nodata, 1);
        let windowed = scan_dir(
            dir.path(),
            Window {
                start: Some(0),
                end: Some(500),
            },
        );
        assert_eq!(
            windowed.gaps.skipdata_records(),
            1,
            "only SKIPDATA in the window counts"
        );
    }

    #[test]
    fn a_header_without_the_needed_fields_makes_its_records_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "f.log",
            b"interface-id srcaddr dstaddr action\neni-1 10.0.1.10 10.0.2.20 ACCEPT\n",
        );
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(ev.gaps.bad_lines, 1);
        assert_eq!(
            ev.gaps.bad_line_samples[0].reason,
            "the header at line 1 lacks srcport, dstport, protocol, so its records cannot be judged"
        );
    }

    #[test]
    fn an_endless_line_is_a_bad_line_not_a_memory_bomb() {
        let dir = tempfile::tempdir().unwrap();
        let good = rec("10.0.1.10", "10.0.2.20", 40000, 8080, 100, "ACCEPT");
        let mut body = vec![b'a'; 3 * MAX_LINE];
        body.push(b'\n');
        body.extend_from_slice(format!("{good}\n").as_bytes());
        write(dir.path(), "f.log.gz", &gz(&body));
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(
            ev.gaps.bad_line_samples[0].reason,
            format!("longer than {MAX_LINE} bytes")
        );
        assert_eq!(request_accepts(&ev), 1, "reading goes on at the next line");
    }

    #[test]
    fn a_last_line_without_its_end_is_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = rec("10.0.1.10", "10.0.2.20", 40000, 8080, 100, "ACCEPT");
        // Cut inside the last field: "OK" became "O", or a port lost a digit.
        write(
            dir.path(),
            "f.log",
            format!("{good}\n{}", &good[..good.len() - 1]).as_bytes(),
        );
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(request_accepts(&ev), 1);
        assert_eq!(ev.gaps.bad_lines, 1);
        assert!(ev.gaps.bad_line_samples[0].reason.contains("no line end"));
    }

    #[test]
    fn a_gz_file_that_is_not_gzip_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "empty.log.gz", b"");
        let ev = scan_dir(dir.path(), Window::default());
        assert_eq!(
            ev.gaps.bad_files[0].reason,
            "named .gz but not gzip: empty or damaged"
        );
    }

    #[test]
    fn no_record_in_the_window_is_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "f.log",
            (rec("10.0.1.10", "10.0.2.20", 40000, 8080, 100, "ACCEPT") + "\n").as_bytes(),
        );
        assert!(
            scan_dir(
                dir.path(),
                Window {
                    start: Some(1000),
                    end: None
                }
            )
            .gaps
            .no_records
        );
        assert!(!scan_dir(dir.path(), Window::default()).gaps.no_records);
        write(dir.path(), "g.log", format!("{HEADER}\n").as_bytes());
        let only_nodata = "2 1 eni-8 - - - - - - - 2000 2060 - NODATA\n";
        write(dir.path(), "h.log", only_nodata.as_bytes());
        let ev = scan_dir(
            dir.path(),
            Window {
                start: Some(1000),
                end: None,
            },
        );
        assert!(
            !ev.gaps.no_records,
            "NODATA in the window shows the logs are there"
        );
    }

    #[test]
    fn a_file_named_twice_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "f.log", b"x\n");
        let source = FileSource::open(&[dir.path().to_path_buf(), f], None).unwrap();
        assert_eq!(source.files().len(), 1);
    }

    #[test]
    fn missing_paths_empty_directories_and_bad_formats_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let usage = |r: Result<FileSource, SourceError>| match r {
            Err(SourceError::Usage(m)) => m,
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(usage(FileSource::open(&[dir.path().join("nope")], None)).contains("nope"));
        assert!(
            usage(FileSource::open(&[dir.path().to_path_buf()], None)).contains("holds no files")
        );
        write(dir.path(), "f.log", b"x\n");
        assert!(
            usage(FileSource::open(
                &[dir.path().to_path_buf()],
                Some("srcaddr dstadr")
            ))
            .contains("unknown field `dstadr`")
        );
        assert!(
            usage(FileSource::open(
                &[dir.path().to_path_buf()],
                Some("srcaddr dstaddr")
            ))
            .contains("lacks srcport")
        );
    }
}
