//! Evidence from CloudWatch Logs Insights.
//!
//! Checks that share a time window are answered together: for each family of log groups (one
//! record format), one evidence query per batch of networks over the window, and one context query
//! over the ten minutes before it (acceptances there excuse late packets, as in the file source).
//! The rows feed the same ledger the file source uses, so verdicts follow the same rules.

pub mod decode;
pub mod discover;
pub mod query;
pub mod run;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;

use self::decode::Decoded;
use self::discover::LogSource;
use self::query::{Fields, Purpose, Query, Rows};
use self::run::{Answer, Runner};
use super::ledger::Ledger;
use super::record::Layout;
use super::{Source, SourceError};
use crate::evidence::{Cost, Evidence, Gaps, Origin, Stats, Unavailable};
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
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time range of each check: the command line's, else the spec's look-back, else an hour,
/// ending now.
pub fn windows(plan: &Plan, now: u64) -> Vec<(u64, u64)> {
    plan.checks
        .iter()
        .map(|c| {
            let end = plan.window.end.unwrap_or(now);
            let start = plan
                .window
                .start
                .unwrap_or_else(|| end.saturating_sub(c.lookback.unwrap_or(DEFAULT_LOOKBACK).as_secs()));
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

/// One query to run: which source, which batch, what for, and over what range.
struct Job {
    source: usize,
    batch: usize,
    purpose: Purpose,
    query: Query,
    start: u64,
    end: u64,
}

/// Every query a window's checks need.
fn jobs(sources: &[LogSource], rows: Rows, nets: Option<&Ranges>, (start, end): (u64, u64)) -> Vec<Job> {
    let mut out = Vec::new();
    for (s, src) in sources.iter().enumerate() {
        for purpose in [Purpose::Evidence, Purpose::Context] {
            let (a, b) = match purpose {
                Purpose::Evidence => (start, end),
                Purpose::Context => (start.saturating_sub(Window::CONTEXT), start.saturating_sub(1)),
            };
            for (batch, query) in query::queries(&src.format, nets, rows, purpose).into_iter().enumerate() {
                out.push(Job {
                    source: s,
                    batch,
                    purpose,
                    query,
                    start: a,
                    end: b,
                });
            }
        }
    }
    out
}

/// The queries a run makes, for `flowgate query`: (log groups, start, end, text).
pub fn planned(plan: &Plan, sources: &[LogSource], rows: Rows, now: u64) -> Vec<(Vec<String>, u64, u64, String)> {
    let mut out = Vec::new();
    for (window, ids) in by_window(plan, now) {
        for job in jobs(sources, rows, interesting(plan, &ids).as_ref(), window) {
            out.push((sources[job.source].groups.clone(), job.start, job.end, job.query.text));
        }
    }
    out
}

/// Whether a row's record is one batch `batch` should report: the first batch whose networks
/// hold one of its addresses (batches overlap when the two ends of a record fall in different
/// batches). Rows without addresses (SKIPDATA) come from every batch; the first one reports them.
fn belongs(batches: &[Query], batch: usize, row: &run::Row, fields: &Fields) -> bool {
    let addrs: Vec<std::net::IpAddr> = [Some(fields.src), Some(fields.dst), fields.pkt_src, fields.pkt_dst]
        .into_iter()
        .flatten()
        .filter_map(|f| row.iter().find(|(name, _)| name == f))
        .filter_map(|(_, v)| crate::source::record::parse_ip(v))
        .collect();
    let first = batches.iter().position(|q| match &q.nets {
        None => true,
        Some(n) => addrs.iter().any(|a| n.contains(*a)),
    });
    match first {
        Some(f) => f == batch,
        None => batch == 0,
    }
}

impl InsightsSource {
    fn describe_groups(&self) -> String {
        let groups: Vec<&str> = self.sources.iter().flat_map(|s| s.groups.iter().map(String::as_str)).collect();
        groups.join(", ")
    }

    /// One pass: every query of every window, judged into evidence.
    async fn attempt(&self, plan: &Plan) -> Evidence {
        let now = now();
        let mut checks: Vec<Result<_, Unavailable>> = plan
            .checks
            .iter()
            .map(|c| Err(Unavailable(c.unavailable.clone().unwrap_or_default())))
            .collect();
        let mut gaps = Gaps::default();
        let mut cost = Cost::default();
        let mut files = Vec::new();
        let mut judged = Vec::new();
        for (window, ids) in by_window(plan, now) {
            judged.push(format!("{} .. {}", time(window.0), time(window.1)));
            let nets = interesting(plan, &ids);
            let jobs = jobs(&self.sources, self.rows, nets.as_ref(), window);
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
                match done {
                    Ok((j, answer)) => answers[j] = Some(answer),
                    Err(e) => return self.unavailable(plan, format!("a query task failed: {e}")),
                }
            }
            match self.judge_window(plan, &ids, &jobs, answers, &mut gaps, &mut cost, &mut files) {
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
            judged: Some(if judged.is_empty() { "nothing".into() } else { judged.join("; ") }),
        }
    }

    /// Reads the answers of one window's queries into the evidence of its checks.
    #[allow(clippy::too_many_arguments)]
    fn judge_window(
        &self,
        plan: &Plan,
        ids: &[usize],
        jobs: &[Job],
        answers: Vec<Option<Result<Answer, String>>>,
        gaps: &mut Gaps,
        cost: &mut Cost,
        files: &mut Vec<String>,
    ) -> Result<Vec<crate::evidence::CheckEvidence>, String> {
        let ledger = Ledger::default();
        let mut book = ledger.book();
        let mut scanned = 0.0;
        let mut first_error = None;
        for (job, answer) in jobs.iter().zip(answers) {
            let answer = match answer.expect("every job answered") {
                Ok(a) => a,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            cost.add(&answer.cost);
            if job.purpose == Purpose::Evidence {
                scanned += answer.cost.records_scanned;
            }
            let source = &self.sources[job.source];
            let fields = Fields::of(&source.format);
            let layout = Layout::new(&source.format);
            if self.rows == Rows::Aggregated && !decode::is_aggregated(&answer.rows) {
                first_error.get_or_insert_with(|| {
                    "the endpoint answered with records, not the aggregated rows the query asked for \
                     (an emulator that does not run `stats`?); --insights-rows raw asks for records"
                        .to_string()
                });
                continue;
            }
            let batches: Vec<Query> = jobs
                .iter()
                .filter(|j| j.source == job.source && j.purpose == job.purpose)
                .map(|j| j.query.clone())
                .collect();
            let file = files.len() as u32;
            files.push(format!(
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
                if self.rows == Rows::Aggregated && !belongs(&batches, job.batch, row, &fields) {
                    continue;
                }
                let decoded = match self.rows {
                    Rows::Aggregated => decode::aggregated(row, &fields).map(|d| (d, None)),
                    Rows::Raw => decode::raw(row, &layout).map(|(d, text)| (d, Some(text))),
                };
                let (decoded, text) = match decoded {
                    Ok(d) => d,
                    Err(reason) => {
                        gaps.bad_line(origin, format!("result row: {reason}"));
                        continue;
                    }
                };
                if self.rows == Rows::Raw && job.batch > 0 {
                    // Raw rows are records: a record two batches returned is the same record.
                    let first = batches.iter().position(|q| {
                        decode::addresses(&decoded).is_some_and(|(s, d)| {
                            q.nets.as_ref().is_none_or(|n| n.contains(s) || n.contains(d))
                        })
                    });
                    if first.is_some_and(|f| f != job.batch) {
                        continue;
                    }
                }
                match (decoded, job.purpose) {
                    (Decoded::SkipData { iface, records }, Purpose::Evidence) => {
                        if self.rows == Rows::Aggregated || job.batch == 0 {
                            *gaps.skipdata.entry(iface).or_default() += records;
                        }
                    }
                    (Decoded::Flow { flow, records }, purpose) => {
                        for &i in ids {
                            for role in plan.checks[i].roles_of(&flow) {
                                match (purpose, &text) {
                                    (Purpose::Context, _) => book.observe_context(i, role, &flow),
                                    (Purpose::Evidence, Some(text)) => {
                                        book.observe(i, role, &flow, origin, || text.clone())
                                    }
                                    (Purpose::Evidence, None) => book.observe_many(i, role, &flow, records),
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if scanned == 0.0 {
            gaps.no_records = true;
        }
        let all = ledger.close(plan, vec![book])?;
        let mut all: Vec<Option<_>> = all.into_iter().map(Some).collect();
        Ok(ids.iter().map(|&i| all[i].take().unwrap_or_default()).collect())
    }

    fn unavailable(&self, plan: &Plan, why: String) -> Evidence {
        Evidence {
            checks: plan.checks.iter().map(|_| Err(Unavailable(why.clone()))).collect(),
            cost: Some(Cost::default()),
            ..Default::default()
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
                Some(left) if !lacking.is_empty() && !left.is_zero() && !self.runner.is_cancelled() => {
                    let pause = left.min(RETRY_EVERY);
                    eprintln!(
                        "flowgate: waiting for flow logs: {} of {} expectations have no records yet ({}); next try in {}s, {}s left",
                        lacking.len(),
                        plan.checks.len(),
                        lacking.iter().take(3).copied().collect::<Vec<_>>().join(", "),
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

