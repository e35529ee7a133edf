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
use self::run::{Answer, Runner};
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

pub struct InsightsSource {
    pub runner: Arc<Runner>,
    pub sources: Vec<LogSource>,
    pub rows: Rows,
    /// `--wait`: keep asking until every reach check has records, or this long.
    pub wait: Option<Duration>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The time range of each check: the command line's, else the spec's look-back, else an hour,
/// ending now.
pub fn windows(plan: &Plan, now: u64) -> Vec<(u64, u64)> {
    plan.checks
        .iter()
        .map(|c| {
            let end = plan.window.end.unwrap_or(now);
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

/// The context range before a window.
fn context((start, _): (u64, u64)) -> (u64, u64) {
    (
        start.saturating_sub(Window::CONTEXT),
        start.saturating_sub(1),
    )
}

/// A job for each query `make` gives for each source, over `range`.
fn jobs(
    sources: &[LogSource],
    range: (u64, u64),
    make: impl Fn(&LogSource) -> Vec<Query>,
) -> Vec<Job> {
    let mut out = Vec::new();
    for (s, src) in sources.iter().enumerate() {
        for (batch, query) in make(src).into_iter().enumerate() {
            out.push(Job {
                source: s,
                batch,
                query,
                start: range.0,
                end: range.1,
            });
        }
    }
    out
}

/// The first queries of a window: pair totals, or records.
fn first_jobs(
    sources: &[LogSource],
    rows: Rows,
    nets: Option<&Ranges>,
    window: (u64, u64),
) -> Vec<Job> {
    match rows {
        Rows::Aggregated => jobs(sources, window, |s| {
            query::by_networks(&s.format, nets, Ask::Pairs)
        }),
        Rows::Raw => {
            let mut all = jobs(sources, window, |s| {
                query::by_networks(&s.format, nets, Ask::Records)
            });
            all.extend(jobs(sources, context(window), |s| {
                query::by_networks(&s.format, nets, Ask::RecordsContext)
            }));
            all
        }
    }
}

/// The queries a run starts with, for `flowgate query`: (log groups, start, end, text).
pub fn planned(
    plan: &Plan,
    sources: &[LogSource],
    rows: Rows,
    now: u64,
) -> Vec<(Vec<String>, u64, u64, String)> {
    let mut out = Vec::new();
    for (window, ids) in by_window(plan, now) {
        for job in first_jobs(sources, rows, interesting(plan, &ids).as_ref(), window) {
            out.push((
                sources[job.source].groups.clone(),
                job.start,
                job.end,
                job.query.text,
            ));
        }
    }
    out
}

/// The part of a window's evidence its answers give, as they are read.
struct Reading<'p> {
    plan: &'p Plan,
    ids: &'p [usize],
    gaps: Gaps,
    cost: Cost,
    files: Vec<String>,
    /// Records the window's first queries scanned or returned: none means no logs for it.
    scanned: f64,
    error: Option<String>,
}

impl InsightsSource {
    fn describe_groups(&self) -> String {
        let groups: Vec<&str> = self
            .sources
            .iter()
            .flat_map(|s| s.groups.iter().map(String::as_str))
            .collect();
        groups.join(", ")
    }

    /// Runs every job, a bounded number at a time (the runner's slots).
    async fn run(&self, jobs: &[Job]) -> Result<Vec<Result<Answer, String>>, String> {
        let mut set = JoinSet::new();
        for (j, job) in jobs.iter().enumerate() {
            let (runner, groups, text) = (
                Arc::clone(&self.runner),
                self.sources[job.source].groups.clone(),
                job.query.text.clone(),
            );
            let (start, end) = (job.start as i64, job.end as i64);
            set.spawn(async move { (j, runner.run(&groups, start, end, &text).await) });
        }
        let mut answers: Vec<Option<Result<Answer, String>>> = vec![None; jobs.len()];
        while let Some(done) = set.join_next().await {
            let (j, answer) = done.map_err(|e| format!("a query task failed: {e}"))?;
            answers[j] = Some(answer);
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every job answered"))
            .collect())
    }

    /// One pass: every query of every window, judged into evidence.
    async fn attempt(&self, plan: &Plan) -> Evidence {
        let mut checks: Vec<Result<CheckEvidence, Unavailable>> = plan
            .checks
            .iter()
            .map(|c| Err(Unavailable(c.unavailable.clone().unwrap_or_default())))
            .collect();
        let mut gaps = Gaps::default();
        let mut cost = Cost::default();
        let mut files = Vec::new();
        let mut judged = Vec::new();
        for (window, ids) in by_window(plan, now()) {
            judged.push(format!("{} .. {}", time(window.0), time(window.1)));
            let mut reading = Reading {
                plan,
                ids: &ids,
                gaps: Gaps::default(),
                cost: Cost::default(),
                files: std::mem::take(&mut files),
                scanned: 0.0,
                error: None,
            };
            let result = self.window(&mut reading, window).await;
            let found = std::mem::take(&mut reading.gaps);
            gaps.no_records |= found.no_records;
            gaps.merge(found);
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
        Evidence {
            checks,
            gaps,
            stats: Stats::default(),
            files,
            chunk_lines: Vec::new(),
            cost: Some(cost),
            judged: Some(if judged.is_empty() {
                "nothing".into()
            } else {
                judged.join("; ")
            }),
        }
    }

    /// The evidence of one window's checks, in the order of `reading.ids`.
    async fn window(
        &self,
        reading: &mut Reading<'_>,
        window: (u64, u64),
    ) -> Result<Vec<CheckEvidence>, String> {
        let nets = interesting(reading.plan, reading.ids);
        let first = first_jobs(&self.sources, self.rows, nets.as_ref(), window);
        let answers = self.run(&first).await?;
        let ledger = Ledger::default();
        let mut book = ledger.book();
        let mut settled = pairs::Settled::default();
        match self.rows {
            Rows::Raw => self.read(reading, &first, answers, &mut book, &mut Vec::new()),
            Rows::Aggregated => {
                let mut rows = Vec::new();
                self.read(reading, &first, answers, &mut book, &mut rows);
                if reading.error.is_none() {
                    settled = pairs::settle(reading.plan, reading.ids, &rows);
                }
                if reading.error.is_none() && !settled.drill.is_empty() {
                    let drill = &settled.drill;
                    let mut second = jobs(&self.sources, window, |s| {
                        query::by_pairs(&s.format, drill, Ask::Connections)
                    });
                    second.extend(jobs(&self.sources, context(window), |s| {
                        query::by_pairs(&s.format, drill, Ask::Context)
                    }));
                    let answers = self.run(&second).await?;
                    self.read(reading, &second, answers, &mut book, &mut Vec::new());
                }
            }
        }
        if let Some(e) = reading.error.take() {
            return Err(e);
        }
        if reading.scanned == 0.0 {
            reading.gaps.no_records = true;
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

    /// Reads the answers of `jobs` into the ledger (connections, records), `pair_rows` (pair
    /// totals) and the gaps; the first failed query's reason goes to `reading.error`.
    fn read(
        &self,
        reading: &mut Reading<'_>,
        jobs: &[Job],
        answers: Vec<Result<Answer, String>>,
        book: &mut Book<'_>,
        pair_rows: &mut Vec<pairs::PairRow>,
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
            if matches!(ask, Ask::Pairs | Ask::Records) {
                // Rows prove records even where the statistics are missing (an emulator).
                reading.scanned += answer.cost.records_scanned + answer.rows.len() as f64;
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
            for (n, row) in answer.rows.iter().enumerate() {
                let origin = Origin {
                    file,
                    chunk: 0,
                    line: n as u64 + 1,
                };
                let decoded = match ask {
                    Ask::Pairs => decode::pair(row, &fields).map(|d| (d, None)),
                    Ask::Connections | Ask::Context => {
                        decode::aggregated(row, &fields).map(|d| (d, None))
                    }
                    Ask::Records | Ask::RecordsContext => {
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
                    Decoded::SkipData { iface, records } if !ask.is_context() => {
                        *reading.gaps.skipdata.entry(iface).or_default() += records;
                    }
                    Decoded::Pair(p) => pair_rows.push(p),
                    Decoded::Flow {
                        flow,
                        records,
                        latest_start,
                        sample,
                    } => {
                        for &i in reading.ids {
                            for role in reading.plan.checks[i].roles_of(&flow) {
                                match (ask.is_context(), &text) {
                                    (true, _) => book.observe_context(i, role, &flow),
                                    (false, Some(text)) => {
                                        book.observe(i, role, &flow, origin, || text.clone())
                                    }
                                    (false, None) => {
                                        book.observe_many(i, role, &flow, records, latest_start);
                                        if let Some(s) = &sample {
                                            book.sample(i, role, &flow, origin, s.clone());
                                        }
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

impl Source for InsightsSource {
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
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match left {
                Some(left)
                    if !lacking.is_empty() && !left.is_zero() && !self.runner.is_cancelled() =>
                {
                    let pause = left.min(RETRY_EVERY);
                    eprintln!(
                        "flowgate: waiting for flow logs: {} of {} expectations have no records yet ({}); next try in {}s, {}s left",
                        lacking.len(),
                        plan.checks.len(),
                        lacking
                            .iter()
                            .take(3)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", "),
                        pause.as_secs(),
                        left.as_secs()
                    );
                    tokio::time::sleep(pause).await;
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
mod tests;
