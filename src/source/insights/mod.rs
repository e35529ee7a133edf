//! Evidence from CloudWatch Logs Insights.
//!
//! Checks that share a time window are answered together, for each family of log groups (one
//! record format). Aggregated (the default): pair totals first, settled where they decide the
//! verdict (see `pairs`), then connection rows for the remaining pairs, over the window and over
//! the ten minutes before it (acceptances there excuse late packets, as in the file source). Raw
//! (`--insights-rows raw`): the records themselves. Connection rows and records feed the same
//! ledger the file source uses, so verdicts follow the same rules.

pub mod decode;
pub mod discover;
pub mod pairs;
pub mod query;
pub mod run;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;

use self::decode::Decoded;
use self::discover::LogSource;
use self::query::{Ask, Fields, Query, Rows};
use self::run::{Answer, Asker, Runner};
use super::format::Field;
use super::ledger::{Book, Ledger};
use super::record::Layout;
use super::{Source, SourceError};
use crate::evidence::{CheckEvidence, Cost, Evidence, Gaps, Origin, Stats, Unavailable};
use crate::plan::{Plan, Window};
use crate::report::text::time;
use crate::resolve::Ranges;

/// When neither the command line nor the spec says how far back to look.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(3600);

/// How long to wait between tries with `--wait`.
const RETRY_EVERY: Duration = Duration::from_secs(30);

pub struct InsightsSource<R: Asker = Runner> {
    pub runner: Arc<R>,
    pub sources: Vec<LogSource>,
    /// Checks (by plan index) that no flow log found covers, and why: errors, not evidence.
    pub uncovered: BTreeMap<usize, String>,
    pub rows: Rows,
    /// `--wait`: keep asking until every reach check has records, or this long.
    pub wait: Option<Duration>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long after the end of a window flowgate takes its records as delivered: flow logs reach
/// CloudWatch Logs about 5 minutes after their interval, best effort, and intervals last up to
/// 10 minutes. Without `--end`, a window ends this long before now.
pub const DELIVERY_MARGIN: u64 = 600;

/// The time range of each check: the command line's, else the spec's look-back, else an hour,
/// ending `DELIVERY_MARGIN` before now.
pub fn windows(plan: &Plan, now: u64) -> Vec<(u64, u64)> {
    plan.checks
        .iter()
        .map(|c| {
            let end = plan
                .window
                .end
                .unwrap_or(now.saturating_sub(DELIVERY_MARGIN));
            let start = plan.window.start.unwrap_or_else(|| {
                end.saturating_sub(c.lookback.unwrap_or(DEFAULT_LOOKBACK).as_secs())
            });
            (start, end)
        })
        .collect()
}

/// The checks that share each time range, in plan order.
pub fn by_window(plan: &Plan, now: u64) -> BTreeMap<(u64, u64), Vec<usize>> {
    let mut groups: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
    for (i, w) in windows(plan, now).into_iter().enumerate() {
        if plan.checks[i].unavailable.is_none() {
            groups.entry(w).or_default().push(i);
        }
    }
    groups
}

/// The networks the checks `ids` can match (see `Plan::interesting`).
fn interesting(plan: &Plan, ids: &[usize]) -> Option<Ranges> {
    let sub = Plan {
        checks: ids.iter().map(|&i| plan.checks[i].clone()).collect(),
        window: plan.window,
    };
    sub.interesting()
}

/// One query to run: which source, which batch of its kind, and over what range.
struct Job {
    source: usize,
    batch: usize,
    query: Query,
    start: u64,
    end: u64,
}

/// The minutes before a window where the records that overlap it begin (an aggregation interval
/// lasts at most `Window::CONTEXT`), and those of its context, which end in the `CONTEXT` before
/// it.
fn edge((start, _): (u64, u64)) -> (u64, u64) {
    (
        start.saturating_sub(2 * Window::CONTEXT),
        start.saturating_sub(1),
    )
}

/// Where a row from before the window goes, by its end: into the window when it overlaps it,
/// into the context when it ends in the `CONTEXT` before it, else nowhere (`None`).
fn place(start: u64, end: Option<u64>) -> Option<bool> {
    let window = Window {
        start: Some(start),
        end: None,
    };
    match end {
        Some(e) if e >= start => Some(true),
        Some(e) if window.in_context(e) => Some(false),
        _ => None,
    }
}

/// A job for each query `make` gives for each source `pick` keeps, over the window and, for the
/// same questions, over the minutes before it.
fn jobs(
    sources: &[LogSource],
    window: (u64, u64),
    pick: impl Fn(&LogSource) -> Option<Ask>,
    make: impl Fn(&LogSource, Ask) -> Vec<Query>,
) -> Vec<Job> {
    let mut out = Vec::new();
    for (s, src) in sources.iter().enumerate() {
        let Some(ask) = pick(src) else { continue };
        for (ask, range) in [(ask, window), (ask.edge(), edge(window))] {
            for (batch, query) in make(src, ask).into_iter().enumerate() {
                out.push(Job {
                    source: s,
                    batch,
                    query,
                    start: range.0,
                    end: range.1,
                });
            }
        }
    }
    out
}

/// What to ask a source first. Pair totals settle a reach check's healthy pairs only where
/// tcp-flags can show that new connections were answered (see `evidence::Answering`); without
/// them, a reach check that needs replies would be asked about again pair by pair, so its
/// connections are asked for at once.
fn first_ask(source: &LogSource, rows: Rows, plan: &Plan, ids: &[usize]) -> Ask {
    let needs_replies = || {
        ids.iter().any(|&i| {
            matches!(
                plan.checks[i].kind,
                crate::spec::Kind::Reach {
                    return_required: true
                }
            )
        })
    };
    match rows {
        Rows::Raw => Ask::Records,
        Rows::Aggregated if source.format.has(Field::TcpFlags) || !needs_replies() => Ask::Pairs,
        Rows::Aggregated => Ask::Connections,
    }
}

fn first_jobs(
    sources: &[LogSource],
    rows: Rows,
    plan: &Plan,
    ids: &[usize],
    window: (u64, u64),
) -> Vec<Job> {
    let nets = interesting(plan, ids);
    jobs(
        sources,
        window,
        |s| Some(first_ask(s, rows, plan, ids)),
        |s, ask| query::by_networks(&s.format, nets.as_ref(), ask),
    )
}

/// A query a run starts with, for `flowgate query`.
pub struct Planned {
    pub groups: Vec<String>,
    pub start: u64,
    pub end: u64,
    pub text: String,
    /// Pair totals: connections follow for the pairs they do not settle.
    pub pairs: bool,
}

/// The queries a run starts with, for `flowgate query`.
pub fn planned(plan: &Plan, sources: &[LogSource], rows: Rows, now: u64) -> Vec<Planned> {
    let mut out = Vec::new();
    for (window, ids) in by_window(plan, now) {
        for job in first_jobs(sources, rows, plan, &ids, window) {
            out.push(Planned {
                groups: sources[job.source].groups.clone(),
                start: job.start,
                end: job.end,
                pairs: matches!(job.query.ask, Ask::Pairs | Ask::PairsEdge),
                text: job.query.text,
            });
        }
    }
    out
}

/// The part of a window's evidence its answers give, as they are read.
struct Reading<'p> {
    plan: &'p Plan,
    ids: &'p [usize],
    /// The window's start: rows of the minutes before it that end at or after it are in it.
    start: u64,
    gaps: Gaps,
    cost: Cost,
    files: Vec<String>,
    /// Per source: records the window's queries scanned or returned (none: no logs there).
    scanned: Vec<f64>,
    /// Pair totals, for settling.
    pair_rows: Vec<pairs::PairRow>,
    /// Pairs (low address first) whose connections came from a source that was asked for
    /// connections first: other sources must give their connections too.
    connected: std::collections::BTreeSet<(std::net::IpAddr, std::net::IpAddr)>,
    error: Option<String>,
}

impl<R: Asker> InsightsSource<R> {
    fn describe_groups(&self) -> String {
        let groups: Vec<&str> = self
            .sources
            .iter()
            .flat_map(|s| s.groups.iter().map(String::as_str))
            .collect();
        groups.join(", ")
    }

    /// Runs every job, a bounded number at a time (the runner's slots). A failed query's reason
    /// names its log groups and time range.
    async fn run(&self, jobs: &[Job]) -> Result<Vec<Result<Answer, String>>, String> {
        let mut set = JoinSet::new();
        for (j, job) in jobs.iter().enumerate() {
            let (runner, groups, query) = (
                Arc::clone(&self.runner),
                self.sources[job.source].groups.clone(),
                job.query.clone(),
            );
            let (start, end) = (job.start as i64, job.end as i64);
            set.spawn(async move {
                let answer = runner.ask(groups.clone(), start, end, query).await;
                let answer = answer.map_err(|e| {
                    format!(
                        "{e} (log groups {}, {} .. {}; `flowgate query` prints the queries)",
                        groups.join(", "),
                        time(start as u64),
                        time(end as u64)
                    )
                });
                (j, answer)
            });
        }
        let mut answers: Vec<Option<Result<Answer, String>>> = vec![None; jobs.len()];
        let progress = crate::progress::Queries::start(jobs.len());
        while let Some(done) = set.join_next().await {
            let (j, answer) = done.map_err(|e| format!("a query task failed: {e}"))?;
            answers[j] = Some(answer);
            progress.done();
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every job answered"))
            .collect())
    }

    /// One pass: every query of every window, judged into evidence.
    async fn attempt(&self, plan: &Plan) -> Evidence {
        let now = now();
        let mut checks: Vec<Result<CheckEvidence, Unavailable>> = plan
            .checks
            .iter()
            .map(|c| Err(Unavailable(c.unavailable.clone().unwrap_or_default())))
            .collect();
        let mut gaps = Gaps::default();
        let mut cost = Cost::default();
        let mut files = Vec::new();
        let mut judged = Vec::new();
        for (window, mut ids) in by_window(plan, now) {
            ids.retain(|i| match self.uncovered.get(i) {
                Some(why) => {
                    checks[*i] = Err(Unavailable(why.clone()));
                    false
                }
                None => true,
            });
            if ids.is_empty() {
                continue;
            }
            judged.push(format!("{} .. {}", time(window.0), time(window.1)));
            let mut reading = Reading {
                plan,
                ids: &ids,
                start: window.0,
                gaps: Gaps::default(),
                cost: Cost::default(),
                files: std::mem::take(&mut files),
                scanned: vec![0.0; self.sources.len()],
                pair_rows: Vec::new(),
                connected: Default::default(),
                error: None,
            };
            let result = self.window(&mut reading, window).await;
            self.note_missing(&mut reading, window, now);
            gaps.merge(std::mem::take(&mut reading.gaps));
            cost.add(&reading.cost);
            files = reading.files;
            match result {
                Ok(evidence) => {
                    for (i, ev) in ids.iter().zip(evidence) {
                        checks[*i] = Ok(ev);
                    }
                }
                Err(why) => {
                    for i in &ids {
                        checks[*i] = Err(Unavailable(why.clone()));
                    }
                }
            }
        }
        let notes = self
            .sources
            .iter()
            .filter(|s| !s.format.has(Field::LogStatus))
            .map(|s| {
                format!(
                    "the records of {} have no log-status: records AWS skipped (SKIPDATA) cannot be seen; add ${{log-status}} to the flow log's format",
                    s.groups.join(", ")
                )
            })
            .collect();
        Evidence {
            checks,
            gaps,
            stats: Stats::default(),
            files,
            chunk_lines: Vec::new(),
            cost: Some(cost),
            notes,
            judged: Some(if judged.is_empty() {
                "nothing".into()
            } else {
                judged.join("; ")
            }),
        }
    }

    /// What is known to be missing from a window's evidence besides what its rows said.
    fn note_missing(&self, reading: &mut Reading<'_>, window: (u64, u64), now: u64) {
        let g = &mut reading.gaps;
        if reading.scanned.iter().all(|s| *s == 0.0) {
            g.no_records = true;
        } else {
            for (s, scanned) in self.sources.iter().zip(&reading.scanned) {
                if *scanned == 0.0 {
                    g.missing.push(format!(
                        "no record in {}: not one in the window, so its flow logs are not delivered yet or do not cover these hosts",
                        s.groups.join(", ")
                    ));
                }
            }
        }
        let delivered = now.saturating_sub(DELIVERY_MARGIN);
        if window.1 > delivered {
            g.missing.push(format!(
                "the window's last {} not delivered yet: it ends at {}, and flow logs reach CloudWatch up to 10 minutes late (end the window earlier, or --wait)",
                humantime::format_duration(Duration::from_secs(window.1 - delivered)),
                time(window.1)
            ));
        }
        for s in &self.sources {
            if let Some(created) = s.created.filter(|c| *c > window.0) {
                g.missing.push(format!(
                    "flow log created inside the window: {} records only from {} on (start the window later)",
                    s.groups.join(", "),
                    time(created)
                ));
            }
            if !s.format.has(Field::End) {
                g.missing.push(format!(
                    "records without end times in {}: the records that began before the window cannot be placed (add ${{start}} and ${{end}} to the flow log's format)",
                    s.groups.join(", ")
                ));
            }
        }
    }

    /// The evidence of one window's checks, in the order of `reading.ids`.
    async fn window(
        &self,
        reading: &mut Reading<'_>,
        window: (u64, u64),
    ) -> Result<Vec<CheckEvidence>, String> {
        let first = first_jobs(&self.sources, self.rows, reading.plan, reading.ids, window);
        let answers = self.run(&first).await?;
        let ledger = Ledger::default();
        let mut book = ledger.book();
        self.read(reading, &first, answers, &mut book);
        let mut settled = pairs::Settled::default();
        if reading.error.is_none() && !reading.pair_rows.is_empty() {
            settled = pairs::settle(reading.plan, reading.ids, &reading.pair_rows);
            // A pair with connection rows from one source needs them from every source.
            let connected = std::mem::take(&mut reading.connected);
            settled.drill.extend(connected.iter().copied().filter(|p| {
                settled
                    .pairs
                    .values()
                    .any(|ps| ps.keys().any(|(c, s)| query::unordered(*c, *s) == *p))
            }));
            for ps in settled.pairs.values_mut() {
                ps.retain(|(c, s), _| !settled.drill.contains(&query::unordered(*c, *s)));
            }
            if !settled.drill.is_empty() {
                let drill = &settled.drill;
                let paired = |s: &LogSource| {
                    (first_ask(s, self.rows, reading.plan, reading.ids) == Ask::Pairs)
                        .then_some(Ask::Connections)
                };
                let second = jobs(&self.sources, window, paired, |s, ask| {
                    query::by_pairs(&s.format, drill, ask)
                });
                let answers = self.run(&second).await?;
                self.read(reading, &second, answers, &mut book);
            }
        }
        if let Some(e) = reading.error.take() {
            return Err(e);
        }
        let mut all = ledger.close(reading.plan, vec![book])?;
        Ok(reading
            .ids
            .iter()
            .map(|&i| {
                let mut ev = std::mem::take(&mut all[i]);
                if let Some(settled) = settled.pairs.remove(&i) {
                    ev.pairs.extend(settled);
                }
                ev
            })
            .collect())
    }

    /// Reads the answers of `jobs` into the ledger (connections, records), the pair totals and
    /// the gaps; the first failed query's reason goes to `reading.error`.
    fn read(
        &self,
        reading: &mut Reading<'_>,
        jobs: &[Job],
        answers: Vec<Result<Answer, String>>,
        book: &mut Book<'_>,
    ) {
        for (job, answer) in jobs.iter().zip(answers) {
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    reading.error.get_or_insert(e);
                    continue;
                }
            };
            let ask = job.query.ask;
            reading.cost.add(&answer.cost);
            if !ask.is_edge() {
                // Rows prove records even where the statistics are missing (an emulator).
                reading.scanned[job.source] +=
                    answer.cost.records_scanned + answer.rows.len() as f64;
            }
            if !ask.is_records() && !decode::is_aggregated(&answer.rows) {
                reading.error.get_or_insert_with(|| {
                    "the endpoint answered with records, not the aggregated rows the query asked for \
                     (an emulator that does not run `stats`?); --insights-rows raw asks for records"
                        .to_string()
                });
                continue;
            }
            let source = &self.sources[job.source];
            let fields = Fields::of(&source.format);
            let layout = Layout::new(&source.format);
            let batches: Vec<Query> = jobs
                .iter()
                .filter(|j| j.source == job.source && j.query.ask == ask)
                .map(|j| j.query.clone())
                .collect();
            let file = reading.files.len() as u32;
            reading.files.push(format!(
                "CloudWatch Logs {} ({}..{}, query {})",
                source.groups.join(","),
                time(job.start),
                time(job.end),
                file + 1
            ));
            // A row from before the window belongs to it when it ends inside it.
            let start = reading.start;
            let placed = |end: Option<u64>| {
                if ask.is_edge() {
                    place(start, end)
                } else {
                    Some(true)
                }
            };
            for (n, row) in answer.rows.iter().enumerate() {
                let origin = Origin {
                    file,
                    chunk: 0,
                    line: n as u64 + 1,
                };
                let decoded = match ask {
                    Ask::Pairs | Ask::PairsEdge => decode::pair(row, &fields).map(|d| (d, None)),
                    Ask::Connections | Ask::ConnectionsEdge => {
                        decode::aggregated(row, &fields).map(|d| (d, None))
                    }
                    Ask::Records | Ask::RecordsEdge => {
                        decode::raw(row, &layout).map(|(d, t)| (d, Some(t)))
                    }
                };
                let (decoded, text) = match decoded {
                    Ok(d) => d,
                    Err(reason) => {
                        reading
                            .gaps
                            .bad_line(origin, format!("result row: {reason}"));
                        continue;
                    }
                };
                if !query::reports(&batches, job.batch, decode::addresses(&decoded)) {
                    continue;
                }
                match decoded {
                    Decoded::SkipData {
                        iface,
                        records,
                        end,
                    } => {
                        // A SKIPDATA record of unknown end may overlap the window.
                        if !ask.is_edge() || end.is_none_or(|e| e >= start) {
                            *reading.gaps.skipdata.entry(iface).or_default() += records;
                        }
                    }
                    Decoded::Pair(p) => {
                        if placed(p.last) == Some(true) {
                            reading.pair_rows.push(p);
                        }
                    }
                    Decoded::Flow {
                        flow,
                        records,
                        latest_start,
                        sample,
                    } => {
                        let Some(window) = placed(flow.end) else {
                            continue;
                        };
                        for &i in reading.ids {
                            for role in reading.plan.checks[i].roles_of(&flow) {
                                if job.query.ask == Ask::Connections
                                    || job.query.ask == Ask::ConnectionsEdge
                                {
                                    reading
                                        .connected
                                        .insert(query::unordered(flow.src, flow.dst));
                                }
                                match (window, &text) {
                                    (false, _) => book.observe_context(i, role, &flow),
                                    (true, Some(text)) => {
                                        book.observe(i, role, &flow, origin, || text.clone())
                                    }
                                    (true, None) => {
                                        book.observe_many(i, role, &flow, records, latest_start);
                                        if let Some(s) = &sample {
                                            book.sample(i, role, &flow, origin, s.clone());
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Decoded::Nothing => {}
                }
            }
        }
    }
}

impl<R: Asker> Source for InsightsSource<R> {
    async fn collect(&self, plan: Arc<Plan>) -> Result<Evidence, SourceError> {
        let deadline = self.wait.map(|w| Instant::now() + w);
        let mut cost = Cost::default();
        loop {
            let mut ev = self.attempt(&plan).await;
            if let Some(c) = &ev.cost {
                cost.add(c);
            }
            ev.cost = Some(cost);
            let lacking: Vec<&str> = plan
                .checks
                .iter()
                .zip(&ev.checks)
                .filter(|(c, e)| !c.is_deny() && matches!(e, Ok(ce) if ce.pairs.is_empty()))
                .map(|(c, _)| c.name.as_str())
                .collect();
            let undelivered = plan
                .window
                .end
                .is_some_and(|e| e > now().saturating_sub(DELIVERY_MARGIN));
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match left {
                Some(left)
                    if (!lacking.is_empty() || undelivered)
                        && !left.is_zero()
                        && !self.runner.is_cancelled() =>
                {
                    let pause = left.min(RETRY_EVERY);
                    let why = if lacking.is_empty() {
                        "the window's last minutes are not delivered yet".to_string()
                    } else {
                        format!(
                            "{} of {} expectations have no records yet ({})",
                            lacking.len(),
                            plan.checks.len(),
                            lacking
                                .iter()
                                .take(3)
                                .copied()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    crate::progress::wait(&why, pause, left).await;
                }
                _ => return Ok(ev),
            }
        }
    }

    fn describe(&self) -> String {
        format!("CloudWatch Logs Insights on {}", self.describe_groups())
    }
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod tests;
