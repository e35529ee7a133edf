//! Flow-log files as S3 delivers them, read from S3 itself or from disk (as `aws s3 cp
//! --recursive` copies them down): plain, gzip or Parquet, with or without a header line, read
//! in parallel across files. Local files hold what they hold; S3 objects are listed for each
//! time range the checks ask about (see `s3`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::blob::{Blob, Fetcher};
use super::ledger::{self, Ledger};
use super::scan::{self, Partial, Scanner, Unit};
use crate::evidence::{Gaps, Stats};
use crate::resolve::Ranges;

use super::format::Format;
use super::s3::{self, Lister, Listing};
use super::walk::{self, Exclude};
use super::{FlowQuestion, Question, SourceError};
use crate::evidence::flows::{Fold, Folded};
use crate::evidence::{Evidence, Provenance, Unavailable};
use crate::plan::index::Index;
use crate::plan::{Plan, Window};

/// Flow-log files found under the paths the user gave, and S3 locations to list.
pub struct FileSource {
    files: Vec<Blob>,
    /// The format of lines before any header: `--log-format`, else the default v2 format.
    format: Format,
    s3: Option<Remote>,
    /// What the walk left out, for the run summary.
    notes: Vec<String>,
}

/// Flow logs in S3: where to list them, how to fetch them, and how long to wait for a window's
/// objects to be delivered (`--wait`).
pub struct Remote {
    pub lister: Lister,
    pub fetcher: Fetcher,
    pub wait: Option<Duration>,
}

impl FileSource {
    /// Lists the files under `paths` (see `walk`). A path that does not exist, or a directory
    /// with no flow-log files, is a usage error: judging nothing would turn every check into
    /// NO_TRAFFIC for a typo.
    pub fn open(
        paths: &[PathBuf],
        format: Format,
        exclude: &Exclude,
    ) -> Result<FileSource, SourceError> {
        let found = walk::walk(paths, exclude)?;
        let notes = found.notes();
        Ok(FileSource {
            files: found.files.into_iter().map(Blob::Local).collect(),
            format,
            s3: None,
            notes,
        })
    }

    /// Also reads the flow logs at these S3 locations.
    pub fn with_s3(mut self, remote: Remote) -> FileSource {
        self.s3 = Some(remote);
        self
    }

    /// The format of lines before any header.
    pub fn format(&self) -> &Format {
        &self.format
    }

    pub fn files(&self) -> Vec<PathBuf> {
        self.files.iter().filter_map(Blob::local).cloned().collect()
    }
}

/// The format of records before any header: `--log-format`, else the default (version 2)
/// format. One that lacks what every record needs is a usage error.
pub fn headerless_format(given: Option<Format>) -> Result<Format, SourceError> {
    let format = given.unwrap_or_else(Format::default_v2);
    let missing = format.missing(false);
    if !missing.is_empty() {
        return Err(SourceError::Usage(format!(
            "--log-format lacks {}, which every record needs to be judged",
            missing.join(", ")
        )));
    }
    Ok(format)
}

impl FileSource {
    /// The files that would be read, and for S3 the objects a window's listing finds (listed,
    /// not fetched), for `flowgate query`.
    pub async fn preview(&self, question: &Question) -> Result<String, SourceError> {
        let mut out = String::new();
        if !self.files.is_empty() {
            out.push_str(&format!(
                "# {} on disk would be read:\n",
                plural(self.files.len() as u64)
            ));
            for f in &self.files {
                out.push_str(&format!("{}\n", f.name()));
            }
        }
        let Some(remote) = &self.s3 else {
            return Ok(out);
        };
        for (range, _) in self.ranges(question) {
            let listing = remote.lister.objects(range).await?;
            let (skipped, skipped_bytes) = listing.read.skipped();
            out.push_str(&format!(
                "# {} .. {}: {} prefixes listed under {}; {} objects ({}) would be read, {skipped} ({}) skipped as outside the window{}\n",
                crate::evidence::time(range.0),
                crate::evidence::time(range.1),
                listing.read.prefixes,
                listing.read.locations.join(", "),
                listing.read.fetched,
                crate::report::bytes(listing.read.fetched_bytes),
                crate::report::bytes(skipped_bytes),
                listing.read.others_words(),
            ));
            for o in &listing.objects {
                out.push_str(&format!("s3://{}/{} ({} bytes)\n", o.bucket, o.key, o.size));
            }
        }
        Ok(out)
    }

    /// The time ranges to list S3 for, and the checks each serves.
    fn ranges(&self, question: &Question) -> Vec<((u64, u64), Vec<usize>)> {
        let now = crate::now();
        match question {
            Question::Checks(plan) => plan
                .by_range(now, s3::DELIVERY_MARGIN)
                .into_iter()
                .collect(),
            Question::Flows { plan, .. } => vec![(plan.span(now, s3::DELIVERY_MARGIN), Vec::new())],
        }
    }

    /// Reads every file once for the checks of `plan`, or, for a question about flows, folds
    /// those it asks about. Files on disk are read over the window as they have it (see
    /// `Window::on_disk`); with S3 locations, over the ranges the checks ask for, each with the
    /// objects listed for it.
    pub async fn gather(&self, question: &Question) -> Result<Evidence, SourceError> {
        let mut ev = self.gather_all(question).await?;
        if let Some(why) = nothing_to_judge(&ev, &question.plan().window.on_disk(crate::now())) {
            return Err(SourceError::Failed(why));
        }
        for n in &self.notes {
            if !ev.notes.contains(n) {
                ev.notes.push(n.clone());
            }
        }
        Ok(ev)
    }

    async fn gather_all(&self, question: &Question) -> Result<Evidence, SourceError> {
        let plan = question.plan();
        let window = plan.window.on_disk(crate::now());
        if window.is_bounded() || self.s3.is_some() {
            let missing = self.format.missing(true);
            if missing.iter().any(|f| *f == "start" || *f == "end") {
                return Err(SourceError::Usage(
                    "--start/--end/--since (and S3, whose objects are chosen by time) need the `start` and `end` fields, which --log-format lacks".into(),
                ));
            }
        }
        let Some(remote) = &self.s3 else {
            let mut ev = self
                .read(question, plan.window.on_disk(crate::now()), &[], None, None)
                .await?;
            ev.provenance = vec![Provenance::Files {
                files: self.files.len() as u64,
            }];
            return Ok(ev);
        };
        let mut all = Evidence {
            checks: plan
                .checks
                .iter()
                .map(|c| Err(Unavailable(c.unavailable.clone().unwrap_or_default())))
                .collect(),
            ..Evidence::default()
        };
        if let Question::Flows { ask, .. } = question {
            all.flows = Folded::new(ask.fold);
        }
        if !self.files.is_empty() {
            all.provenance.push(Provenance::Files {
                files: self.files.len() as u64,
            });
        }
        for (range, ids) in self.ranges(question) {
            let listing = self.listing(remote, range).await?;
            let window = Window {
                start: Some(range.0),
                end: Some(range.1),
                since: None,
            };
            let objects: Vec<Blob> = listing.objects.iter().cloned().map(Blob::S3).collect();
            let mut ev = self
                .read(
                    question,
                    window,
                    &ids,
                    Some(&objects),
                    Some(remote.fetcher.clone()),
                )
                .await?;
            if objects.is_empty() && self.files.is_empty() {
                ev.gaps.missing.push(format!(
                    "no flow-log object in {} for {} .. {}: the flow logs are not delivered yet, or deliver elsewhere",
                    listing.read.locations.join(", "),
                    crate::evidence::time(range.0),
                    crate::evidence::time(range.1),
                ));
            }
            for silent in &listing.silent {
                ev.gaps.missing.push(format!(
                    "no object of flow log {silent} for {} .. {}: not delivered yet, or delivering elsewhere",
                    crate::evidence::time(range.0),
                    crate::evidence::time(range.1),
                ));
            }
            let delivered = crate::now().saturating_sub(s3::DELIVERY_MARGIN);
            if range.1 > delivered {
                ev.gaps.missing.push(format!(
                    "the window's last {} not delivered yet: it ends at {}, and flow logs reach S3 up to {} late (end the window earlier, or --wait)",
                    humantime::format_duration(Duration::from_secs(range.1 - delivered)),
                    crate::evidence::time(range.1),
                    humantime::format_duration(Duration::from_secs(s3::DELIVERY_MARGIN)),
                ));
            }
            ev.provenance = vec![Provenance::S3(listing.read)];
            all.absorb(ev, &ids);
        }
        Ok(all)
    }

    /// The objects of one range; with `--wait`, listed again until an object named at or after
    /// the range's end is there (the window is delivered) or the time is up.
    async fn listing(&self, remote: &Remote, range: (u64, u64)) -> Result<Listing, SourceError> {
        let deadline = remote.wait.map(|w| std::time::Instant::now() + w);
        loop {
            let listing = remote.lister.objects(range).await?;
            let delivered = listing.newest.is_some_and(|t| t >= range.1);
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            match left {
                Some(left) if !delivered && !left.is_zero() => {
                    let why = format!(
                        "the window's objects are not all in S3 yet (newest: {})",
                        listing.newest.map_or("none".into(), crate::evidence::time)
                    );
                    crate::progress::wait(&why, left.min(RETRY_EVERY), left).await;
                }
                _ => return Ok(listing),
            }
        }
    }

    /// One reading: the local files and `objects`, over `window`, for the checks `ids` of the
    /// question's plan (all of them when `objects` is `None`: files on disk only).
    async fn read(
        &self,
        question: &Question,
        window: Window,
        ids: &[usize],
        objects: Option<&[Blob]>,
        fetcher: Option<Fetcher>,
    ) -> Result<Evidence, SourceError> {
        let mut files = self.files.clone();
        files.extend(objects.unwrap_or_default().iter().cloned());
        let format = self.format.clone();
        let plan = question.plan();
        let sub = match (question, objects) {
            (Question::Flows { .. }, _) => Plan {
                checks: Vec::new(),
                window,
            },
            (Question::Checks(plan), None) => Plan {
                window,
                ..Plan::clone(plan)
            },
            (Question::Checks(_), Some(_)) => plan.subset(ids, window),
        };
        let ask = match question {
            Question::Flows { ask, .. } => Some(ask.clone()),
            Question::Checks(_) => None,
        };
        tokio::task::spawn_blocking(move || {
            let fetcher = fetcher.as_ref();
            match &ask {
                Some(ask) => read_files(&Reading::flows(&files, fetcher, &format, &sub, ask)),
                None => read_files(&Reading::checks(&files, fetcher, &format, &sub)),
            }
        })
        .await
        .map_err(|e| SourceError::Failed(format!("reading the flow-log files stopped: {e}")))?
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.files.is_empty() || self.s3.is_none() {
            parts.push(plural(self.files.len() as u64));
        }
        if let Some(remote) = &self.s3 {
            let urls: Vec<String> = remote.lister.locations.iter().map(|l| l.url()).collect();
            parts.push(format!("S3 {}", urls.join(", ")));
        }
        parts.join(" and ")
    }
}

/// One diagnosis for a run in which not one record can be judged, instead of the same gap in
/// every test: what the files held, and what to do.
fn nothing_to_judge(ev: &Evidence, window: &Window) -> Option<String> {
    let s = &ev.stats;
    if s.records > s.outside_window {
        return None;
    }
    let g = &ev.gaps;
    let time = crate::evidence::time;
    if let (Some((first, last)), true) = (s.span, s.records > 0) {
        let bound = |t: Option<u64>| t.map_or("open".to_string(), time);
        return Some(format!(
            "no record to judge: all {} records lie outside the window {} .. {}; the records span {} .. {}
  help: give --start/--end (or --since) inside the records' span, or the flow-log files of the window",
            s.records,
            bound(window.start),
            bound(window.end),
            time(first),
            time(last),
        ));
    }
    if let Some(b) = g.bad_line_samples.first() {
        let mut why = format!(
            "no record to judge: not one of the {} lines read is a record flowgate can read (the first: {}: {})",
            g.bad_lines,
            ev.origin(&b.origin),
            b.reason
        );
        if b.reason.contains("fields where the format has") {
            why.push_str(
                "
  help: the records have no header line: add it (as S3 writes it: `version account-id interface-id ...`), or give their format: --log-format '${version} ${account-id} ${interface-id} ...'",
            );
        }
        return Some(why);
    }
    if let Some(f) = g.bad_files.first() {
        return Some(format!(
            "no record to judge: no flow-log file could be read ({} unreadable; the first: {}: {})",
            g.bad_files.len(),
            ev.origins.get(f.file as usize).map_or("?", String::as_str),
            f.reason
        ));
    }
    if let Some(m) = g.missing.first() {
        return Some(format!("no record to judge: {m}"));
    }
    if s.tgw_records > 0 {
        return Some(format!(
            "no record to judge: the flow-log files hold only Transit Gateway records ({}), which explain a path but cannot show a connection
  help: add the VPC flow logs of the checks' interfaces, subnets or VPCs (they may not be delivered yet)",
            s.tgw_records
        ));
    }
    Some("no record to judge: the flow-log files hold no records (they are empty)".into())
}

fn plural(n: u64) -> String {
    format!("{n} flow-log file{}", if n == 1 { "" } else { "s" })
}

/// How long to wait between listings with `--wait`.
const RETRY_EVERY: Duration = Duration::from_secs(30);

/// Objects fetched from S3 at once at most (each worker reads one at a time).
pub const REMOTE_READERS: usize = 8;

/// Plain files larger than this are read in parts, in parallel.
pub const PART_BYTES: u64 = 8 << 20;

/// The units of work for `files`: each gzip or small file whole, large plain files in parts
/// (except those in `whole`).
fn units(files: &[Blob], part_bytes: u64, whole: &[u32]) -> Vec<Unit> {
    let mut units = Vec::new();
    for (i, blob) in files.iter().enumerate() {
        let i = i as u32;
        let local = blob.local();
        let size = local.map_or(0, |p| std::fs::metadata(p).map_or(0, |m| m.len()));
        if size > part_bytes && !whole.contains(&i) && local.is_some_and(|p| scan::is_plain(p)) {
            for chunk in 0..size.div_ceil(part_bytes) {
                let range = (chunk * part_bytes, ((chunk + 1) * part_bytes).min(size));
                units.push(Unit {
                    file: i,
                    chunk: chunk as u32,
                    range: Some(range),
                });
            }
        } else {
            units.push(Unit {
                file: i,
                chunk: 0,
                range: None,
            });
        }
    }
    units
}

/// Reads every file once, matching each record against every check of the plan.
pub fn scan(files: &[PathBuf], format: &Format, plan: &Plan) -> Result<Evidence, SourceError> {
    scan_with(
        files,
        format,
        plan,
        PART_BYTES,
        plan.interesting(),
        ledger::TABLE,
    )
}

/// What one reading of files is asked.
struct Reading<'a> {
    files: &'a [Blob],
    fetcher: Option<&'a Fetcher>,
    format: &'a Format,
    plan: &'a Plan,
    part_bytes: u64,
    interesting: Option<Ranges>,
    table: usize,
    /// Flows to fold as well (which action, folded how): a question about flows.
    folding: Option<(crate::evidence::Action, Fold)>,
    /// Every record asks every check, without the index (what the index must agree with).
    every_check: bool,
}

impl<'a> Reading<'a> {
    /// Reading `files` for the checks of `plan`, the fast way.
    fn checks(
        files: &'a [Blob],
        fetcher: Option<&'a Fetcher>,
        format: &'a Format,
        plan: &'a Plan,
    ) -> Reading<'a> {
        Reading {
            files,
            fetcher,
            format,
            plan,
            part_bytes: PART_BYTES,
            interesting: plan.interesting(),
            table: ledger::TABLE,
            folding: None,
            every_check: false,
        }
    }

    /// Reading `files` for the flows `ask` asks about (`plan` has no checks, only the window).
    fn flows(
        files: &'a [Blob],
        fetcher: Option<&'a Fetcher>,
        format: &'a Format,
        plan: &'a Plan,
        ask: &FlowQuestion,
    ) -> Reading<'a> {
        Reading {
            // Whole files only: a late header would have parts read twice, and flows folded twice.
            part_bytes: u64::MAX,
            interesting: Some(ask.touching.clone()),
            folding: Some((ask.action, ask.fold)),
            ..Reading::checks(files, fetcher, format, plan)
        }
    }
}

/// Reads local files with the given part size, prefilter and connection table (tests and the
/// fuzz targets compare the fast path with the plain one this way).
pub(crate) fn scan_with(
    files: &[PathBuf],
    format: &Format,
    plan: &Plan,
    part_bytes: u64,
    interesting: Option<Ranges>,
    table: usize,
) -> Result<Evidence, SourceError> {
    let blobs: Vec<Blob> = files.iter().cloned().map(Blob::Local).collect();
    read_files(&Reading {
        part_bytes,
        interesting,
        table,
        ..Reading::checks(&blobs, None, format, plan)
    })
}

/// Reads local files the plain way: whole, without the prefilter, every record asking every
/// check (the tests and the `index` fuzz target compare the index's evidence with this).
pub(crate) fn scan_every_check(
    files: &[PathBuf],
    format: &Format,
    plan: &Plan,
) -> Result<Evidence, SourceError> {
    let blobs: Vec<Blob> = files.iter().cloned().map(Blob::Local).collect();
    read_files(&Reading {
        part_bytes: u64::MAX,
        interesting: None,
        every_check: true,
        ..Reading::checks(&blobs, None, format, plan)
    })
}

/// Gathers the checks' evidence, and folds the flows asked about.
fn read_files(r: &Reading<'_>) -> Result<Evidence, SourceError> {
    let (files, plan) = (r.files, r.plan);
    let index = if r.every_check {
        Index::plain(&plan.checks)
    } else {
        Index::of(&plan.checks)
    };
    let scanner = Scanner {
        plan,
        index: &index,
        files,
        fetcher: r.fetcher,
        default: r.format,
        interesting: r.interesting.clone(),
        folding: r.folding.map(|(a, _)| a),
    };
    let fold = r.folding.map_or(Fold::Tuple, |(_, f)| f);
    let mut whole = Vec::new();
    loop {
        let units = units(files, r.part_bytes, &whole);
        let ledger = Ledger::with_table(r.table);
        let (partials, reads) = scan_units(&scanner, &ledger, &units, fold);
        // A header after line 1 of a file read in parts changes the format for the parts after
        // it, which did not see it. Rare (concatenated files): read those files whole instead.
        let late: Vec<u32> = units
            .iter()
            .zip(&reads)
            .filter(|(u, r)| u.range.is_some() && r.late_header)
            .map(|(u, _)| u.file)
            .collect();
        if !late.is_empty() {
            whole.extend(late);
            continue;
        }
        // Units come in file and part order: number each part's lines after the parts before it.
        let mut chunk_lines: Vec<Vec<u64>> = vec![Vec::new(); files.len()];
        let mut lines_so_far = vec![0u64; files.len()];
        for (u, r) in units.iter().zip(&reads).filter(|(u, _)| u.range.is_some()) {
            let file = u.file as usize;
            chunk_lines[file].push(lines_so_far[file]);
            lines_so_far[file] += r.lines;
        }
        let mut gaps = Gaps::default();
        let mut stats = Stats::default();
        let mut books = Vec::new();
        let mut folded = Folded::new(fold);
        let mut fatal = None;
        for p in partials {
            fatal = fatal.or(p.fatal);
            gaps.merge(p.gaps);
            stats.merge(&p.stats);
            books.push(p.book);
            folded.merge(p.folded);
        }
        if let Some(e) = fatal {
            return Err(SourceError::Aws(e));
        }
        gaps.no_records = stats.records == stats.outside_window;
        let checks = ledger
            .close(plan.checks.len(), books)
            .map_err(SourceError::Failed)?;
        return Ok(Evidence {
            checks: checks.into_iter().map(Ok).collect(),
            flows: folded,
            gaps,
            stats,
            origins: files.iter().map(Blob::name).collect(),
            columns: columns_of(files.len(), &units, &reads),
            chunk_lines,
            ..Evidence::default()
        });
    }
}

/// Each file's field names, where every part of it was read in one format.
fn columns_of(files: usize, units: &[Unit], reads: &[scan::Reading]) -> Vec<Option<String>> {
    let mut out: Vec<Option<Option<String>>> = vec![None; files];
    for (u, r) in units.iter().zip(reads) {
        let slot = &mut out[u.file as usize];
        *slot = match (slot.take(), r.late_header) {
            (_, true) => Some(None),
            (None, false) => Some(Some(r.columns.clone())),
            (Some(Some(c)), false) if c == r.columns => Some(Some(c)),
            (Some(_), false) => Some(None),
        };
    }
    out.into_iter().map(Option::flatten).collect()
}

/// Reads the units on every core; returns what they gathered and how each read ended.
fn scan_units<'l>(
    scanner: &Scanner<'_>,
    ledger: &'l Ledger,
    units: &[Unit],
    fold: Fold,
) -> (Vec<Partial<'l>>, Vec<scan::Reading>) {
    let next = AtomicUsize::new(0);
    let reads: Vec<Mutex<Option<scan::Reading>>> = units.iter().map(|_| Mutex::new(None)).collect();
    // Objects from S3 keep a worker waiting on the network: more of them, still bounded.
    let remote = scanner.files.iter().any(|b| b.local().is_none());
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .max(if remote { REMOTE_READERS } else { 1 })
        .min(units.len())
        .max(1);
    let partials: Vec<Partial<'l>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Partial::new(ledger, fold);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break };
                        let read = scanner.scan(unit, &mut mine);
                        *reads[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(read);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a flow-log reader panicked"))
            .collect()
    });
    let reads = reads
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every unit is read")
        })
        .collect();
    (partials, reads)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use crate::source::lines::MAX_LINE;

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
        let source = FileSource::open(
            &[dir.to_path_buf()],
            Format::default_v2(),
            &Exclude::default(),
        )
        .unwrap();
        scan(&source.files(), &source.format, &plan(window)).unwrap()
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
        assert_eq!(ev.origins.len(), 2, "{:?}", ev.origins);
        assert!(ev.origins[0].ends_with("a.log") && ev.origins[1].ends_with("x.log.gz"));
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
                ..Window::default()
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
                ..Window::default()
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
    fn a_gz_file_that_holds_plain_text_is_read_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let line = rec("10.0.1.10", "10.0.2.20", 40000, 8080, 100, "ACCEPT") + "\n";
        write(dir.path(), "unpacked.log.gz", line.as_bytes());
        let ev = scan_dir(dir.path(), Window::default());
        assert!(ev.gaps.bad_files.is_empty(), "{:?}", ev.gaps.bad_files);
        assert_eq!(request_accepts(&ev), 1);
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
                    ..Window::default()
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
                ..Window::default()
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
        let source = FileSource::open(
            &[dir.path().to_path_buf(), f],
            Format::default_v2(),
            &Exclude::default(),
        )
        .unwrap();
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
        let v2 = Format::default_v2;
        assert!(
            usage(FileSource::open(
                &[dir.path().join("nope")],
                v2(),
                &Exclude::default()
            ))
            .contains("nope")
        );
        assert!(
            usage(FileSource::open(
                &[dir.path().to_path_buf()],
                v2(),
                &Exclude::default()
            ))
            .contains("holds no files")
        );
        let request = |format: &str| crate::source::Request {
            log_format: Some(format.into()),
            ..Default::default()
        };
        let format = |text: &str| match request(text).format() {
            Err(SourceError::Usage(m)) => m,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert!(format("srcaddr dstadr").contains("unknown field `dstadr`"));
        // `"${version} ${account-id} ${interface-id} ... ${log-status}"` after the shell.
        assert!(format("  id id      status").contains("put the format in single quotes"));
        match headerless_format(request("srcaddr dstaddr").format().unwrap()) {
            Err(SourceError::Usage(m)) => assert!(m.contains("lacks srcport"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}

/// The fast path (prefilter, files read in parts) against the plain one: same evidence, always.
#[cfg(test)]
mod fast_path {
    use std::fmt::Write as _;
    use std::io::Write as _;

    use super::*;
    use std::path::Path;

    use crate::plan::Window;
    use crate::source::format;

    /// The wide spec the `flow_log` fuzz target uses too.
    const SPEC: &str = crate::fuzzing::WIDE_SPEC;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    const ADDRS: &[&str] = &[
        "10.0.1.3",
        "10.0.1.15",
        "10.0.1.16",
        "10.0.2.20",
        "10.0.2.21",
        "10.0.2.22",
        "10.0.3.5",
        "10.0.3.200",
        "172.16.0.9",
        "203.0.113.7",
        "2001:db8:1::5",
        "2001:db8:2::20",
        "2001:db8:3::1",
        "2600::1",
    ];
    const PORTS: &[&str] = &[
        "443", "8080", "9005", "9011", "5432", "53", "0", "40000", "51234",
    ];

    /// A file mixing the default format, a custom order with packet addresses, NODATA, SKIPDATA
    /// and broken lines; `headers` adds header lines, also in the middle.
    fn file(rng: &mut Rng, lines: usize, headers: bool) -> String {
        let custom = "srcport interface-id pkt-dstaddr dstaddr srcaddr pkt-srcaddr dstport protocol start end action tcp-flags log-status";
        let mut out = String::new();
        let mut in_custom = false;
        if headers {
            out.push_str(format::DEFAULT);
            out.push('\n');
        }
        for i in 0..lines {
            if headers && i % 97 == 50 {
                in_custom = !in_custom;
                out.push_str(if in_custom { custom } else { format::DEFAULT });
                out.push('\n');
            }
            let (src, dst) = (rng.pick(ADDRS), rng.pick(ADDRS));
            let (sp, dp) = (rng.pick(PORTS), rng.pick(PORTS));
            let proto = rng.pick(&["6", "6", "17", "1", "58"]);
            let action = rng.pick(&["ACCEPT", "ACCEPT", "ACCEPT", "REJECT"]);
            let eni = rng.pick(&["eni-a", "eni-b", "eni-c", "eni-d", "eni-e", "-"]);
            let start = 1000 + rng.next() % 400;
            let status = rng.pick(&["OK"; 20]);
            match rng.next() % 40 {
                0 => writeln!(out, "2 1 {eni} - - - - - - - {start} {} - NODATA", start + 60),
                1 => writeln!(out, "2 1 {eni} - - - - - - - {start} {} - SKIPDATA", start + 60),
                2 => writeln!(out, "2 1 {eni} {src} not-an-address {sp} {dp} 6 1 1 {start} {} ACCEPT OK", start + 60),
                3 => writeln!(out, "2 1 {eni} {src} {dst}"),
                _ if in_custom => {
                    let pkt_src = rng.pick(&["-", src, "10.0.2.21"]);
                    let pkt_dst = rng.pick(&["-", dst]);
                    let flags = rng.pick(&["2", "3", "1", "18", "19", "4", "0"]);
                    writeln!(out, "{sp} {eni} {pkt_dst} {dst} {src} {pkt_src} {dp} {proto} {start} {} {action} {flags} {status}", start + 60)
                }
                _ => writeln!(out, "2 1 {eni} {src} {dst} {sp} {dp} {proto} 1 60 {start} {} {action} {status}", start + 60),
            }
            .unwrap();
        }
        out
    }

    fn compare(files: &[PathBuf], window: Window) {
        let spec = crate::spec::parse(Path::new("t.yaml"), SPEC).unwrap();
        let plan = crate::plan::build(&[spec], window).unwrap();
        assert!(
            plan.interesting().is_some(),
            "the prefilter must be in play"
        );
        let format = Format::default_v2();
        let plain = scan_with(files, &format, &plan, u64::MAX, None, ledger::TABLE).unwrap();
        // Small parts and a tiny connection table: many parts, many runs on disk.
        let fast = scan_with(files, &format, &plan, 4096, plan.interesting(), 64).unwrap();
        let (plain, fast) = (
            crate::fuzzing::canonical(&plain),
            crate::fuzzing::canonical(&fast),
        );
        assert!(
            plain.len() > 20,
            "the data must exercise the checks: {plain:#?}"
        );
        for (a, b) in plain.iter().zip(&fast) {
            assert_eq!(a, b);
        }
        assert_eq!(plain.len(), fast.len());
    }

    fn write_files(dir: &Path, seed: u64, headers: bool) -> Vec<PathBuf> {
        let mut rng = Rng(seed);
        (0..3)
            .map(|i| {
                let path = dir.join(format!("f{i}.log{}", if i == 2 { ".gz" } else { "" }));
                let body = file(&mut rng, 3000, headers);
                let bytes = if i == 2 {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(body.as_bytes()).unwrap();
                    e.finish().unwrap()
                } else {
                    body.into_bytes()
                };
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn the_prefilter_and_parts_never_change_the_evidence() {
        for seed in 1..=6 {
            let dir = tempfile::tempdir().unwrap();
            let files = write_files(dir.path(), seed, seed % 2 == 0);
            compare(&files, Window::default());
            compare(
                &files,
                Window {
                    start: Some(1200),
                    end: Some(1300),
                    ..Window::default()
                },
            );
        }
    }

    #[test]
    fn parts_start_at_line_boundaries_and_number_lines_as_the_whole_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut body = String::new();
        for i in 0..500 {
            writeln!(
                body,
                "2 1 eni-a 10.0.1.3 10.0.2.20 {} 8080 6 1 60 1000 1060 ACCEPT OK",
                30000 + i
            )
            .unwrap();
            if i == 250 {
                body.push_str("broken\n");
            }
        }
        let path = dir.path().join("f.log");
        std::fs::write(&path, &body).unwrap();
        let spec = crate::spec::parse(Path::new("t.yaml"), SPEC).unwrap();
        let plan = crate::plan::build(&[spec], Window::default()).unwrap();
        for part_bytes in [64, 100, 1000, 4096] {
            let ev = scan_with(
                std::slice::from_ref(&path),
                &Format::default_v2(),
                &plan,
                part_bytes,
                plan.interesting(),
                64,
            )
            .unwrap();
            assert_eq!(ev.stats.records, 500, "parts of {part_bytes} bytes");
            assert_eq!(ev.gaps.bad_lines, 1);
            assert!(
                ev.origin(&ev.gaps.bad_line_samples[0].origin)
                    .ends_with("f.log:252")
            );
        }
    }
}
