//! The protocol every query engine serves (Logs Insights, Athena), written once: what to ask,
//! in what order, and how the answers become evidence. Engines only turn a [`Job`] into their
//! query language, run it, and decode the rows into [`Decoded`] values.
//!
//! Checks that share a time range are answered together, for each family of records (one
//! record format). Aggregated (the default): pair totals first, settled where they decide the
//! verdict (see [`settle`]), then connection rows for the remaining pairs only, over the window
//! and over the minutes before it (acceptances there excuse late packets, as in the file
//! source). Raw: the records themselves. Connection rows and records feed the same ledger the
//! file source uses, so verdicts follow the same rules. Questions about flows (triage, observe)
//! are folded the way the file source folds them.
//!
//! Nothing passes on missing evidence: a failed query makes the checks it served unavailable, a
//! family with no record in the window, a window whose end is not delivered yet, a flow log
//! created inside the window and SKIPDATA are gaps.

pub mod ask;
pub mod rows;
pub mod running;
pub mod settle;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use ask::{Ask, Job, Rows, Target};
pub use rows::{Decoded, PairRow, Span, unordered};
pub use running::Running;

use super::format::{Field, Format};
use super::ledger::{Book, Ledger};
use crate::evidence::flows::{Fold, Folded};
use crate::evidence::time;
use crate::evidence::{CheckEvidence, Evidence, Gaps, Origin, Provenance, QueryCost, Unavailable};
use crate::plan::{Plan, Window};
use crate::resolve::Ranges;

/// How long to wait between tries with `--wait`.
const RETRY_EVERY: Duration = Duration::from_secs(30);

/// A family of records an engine holds: one record format (log groups that share it, a table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// In words: the log groups, or the table.
    pub name: String,
    pub format: Format,
    /// When the newest flow log delivering to it was created (Unix seconds): a window that
    /// starts earlier misses records.
    pub created: Option<u64>,
}

/// One row of an answer: what it says, or why it cannot be read, and for a record its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub decoded: Result<Decoded, String>,
    pub text: Option<String>,
}

/// The rows one query returned (engines split a job into several queries to stay within their
/// limits), already cut to those it reports: a record two queries return counts once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Part {
    /// What was asked, in words (`CloudWatch Logs /vpc/flow-logs`).
    pub name: String,
    pub range: (u64, u64),
    /// Records the query scanned or returned: none means no logs there.
    pub scanned: f64,
    pub rows: Vec<Row>,
    /// The field names of the records the rows carry as samples (the family's format).
    pub columns: Option<String>,
    /// What the answer shows is missing besides its rows (a partition of the window that holds
    /// no record).
    pub missing: Vec<String>,
}

/// The answer to one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub parts: Vec<Part>,
    pub cost: QueryCost,
}

/// A query engine over flow-log records.
pub trait Engine: Send + Sync {
    /// The families of records it can be asked about, in a fixed order (`Job::family`).
    fn families(&self) -> &[Family];

    /// How long after a window's end its records are taken as delivered: without `--end`, a
    /// window ends this long before now.
    fn margin(&self) -> u64;

    /// Answers every job, a bounded number of queries at a time. A failed job's reason names
    /// what was asked and over which range.
    fn answer(&self, jobs: &[Job]) -> impl Future<Output = Vec<Result<Answer, String>>> + Send;

    /// The query texts a job becomes, for `flowgate query`.
    fn texts(&self, job: &Job) -> Vec<String>;

    /// Whether the run was cancelled (Ctrl-C): no more tries.
    fn is_cancelled(&self) -> bool {
        false
    }

    /// What the run asked and what it cost, for the summary.
    fn provenance(&self, ranges: Vec<(u64, u64)>, cost: QueryCost) -> Provenance;

    /// Where records are delivered, in words, for the message about an undelivered tail.
    fn destination(&self) -> &'static str;

    /// Whether every answer says how many records the query scanned (Logs Insights'
    /// statistics). An engine that does not (Athena) is asked, for every range, a query of its
    /// own that counts them, with the SKIPDATA records.
    fn counts_records(&self) -> bool {
        true
    }

    /// What to do about a window in which not one record was found.
    fn when_empty(&self) -> &'static str {
        "end the window earlier, or --wait for delivery; check that the flow logs deliver there"
    }
}

/// Runs every statement of every job at once (the engine's runner bounds how many run at a
/// time), with the progress line: each answer in its job's and statement's place, an error for a
/// task that panicked. `run` gets the job's index and the statement.
pub async fn run_all<Q, T, F, Fut>(batches: &[Vec<Q>], run: F) -> Vec<Vec<Result<T, String>>>
where
    F: Fn(usize, &Q) -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (j, statements) in batches.iter().enumerate() {
        for (b, statement) in statements.iter().enumerate() {
            let answer = run(j, statement);
            set.spawn(async move { (j, b, answer.await) });
        }
    }
    let mut got: Vec<Vec<Option<Result<T, String>>>> = batches
        .iter()
        .map(|b| b.iter().map(|_| None).collect())
        .collect();
    let progress = crate::progress::Queries::start(batches.iter().map(Vec::len).sum());
    while let Some(done) = set.join_next().await {
        // A task that panicked leaves its slot empty: an error below.
        if let Ok((j, b, answer)) = done {
            got[j][b] = Some(answer);
        }
        progress.done();
    }
    got.into_iter()
        .map(|answers| {
            answers
                .into_iter()
                .map(|a| a.unwrap_or_else(|| Err("a query task failed".into())))
                .collect()
        })
        .collect()
}

/// What a run asks of an engine, besides the plan.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub rows: Rows,
    /// `--wait`: keep asking until every reach check has records, or this long.
    pub wait: Option<Duration>,
    /// Checks (by plan index) that no flow log found covers, and why: errors, not evidence.
    pub uncovered: BTreeMap<usize, String>,
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
        ..Window::default()
    };
    match end {
        Some(e) if e >= start => Some(true),
        Some(e) if window.in_context(e) => Some(false),
        _ => None,
    }
}

/// A job for each family `pick` keeps, over the window and, for the same question, over the
/// minutes before it.
fn jobs(
    families: &[Family],
    window: (u64, u64),
    target: &Target,
    pick: impl Fn(&Family) -> Option<Ask>,
) -> Vec<Job> {
    let mut out = Vec::new();
    for (f, family) in families.iter().enumerate() {
        let Some(ask) = pick(family) else { continue };
        for (ask, range) in [(ask, window), (ask.edge(), edge(window))] {
            out.push(Job {
                family: f,
                ask,
                target: target.clone(),
                range,
            });
        }
    }
    out
}

/// What to ask a family first. Pair totals settle a reach check's healthy pairs only where
/// tcp-flags can show that new connections were answered (see `evidence::Answering`); without
/// them, a reach check that needs replies would be asked about again pair by pair, so its
/// connections are asked for at once.
fn first_ask(family: &Family, rows: Rows, plan: &Plan, ids: &[usize]) -> Ask {
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
        // A transit gateway's records explain a path; the VPC flow logs judge the connections.
        Rows::Aggregated if family.format.is_tgw() => Ask::Hops,
        Rows::Aggregated if family.format.has(Field::TcpFlags) || !needs_replies() => Ask::Pairs,
        Rows::Aggregated => Ask::Connections,
    }
}

fn first_jobs(
    families: &[Family],
    counts: bool,
    rows: Rows,
    plan: &Plan,
    ids: &[usize],
    window: (u64, u64),
) -> Vec<Job> {
    let nets = plan.subset(ids, plan.window).interesting();
    let target = Target::Networks { nets, action: None };
    let mut out = jobs(families, window, &target, |f| {
        Some(first_ask(f, rows, plan, ids))
    });
    out.extend(skipdata_jobs(families, counts, rows, window, &target));
    out
}

/// The SKIPDATA queries that go with queries of totals (a query of records returns SKIPDATA
/// records itself); for an engine that does not count the records it scans (`counts`), the
/// query that counts them, always.
fn skipdata_jobs(
    families: &[Family],
    counts: bool,
    rows: Rows,
    window: (u64, u64),
    target: &Target,
) -> Vec<Job> {
    jobs(families, window, target, |f| {
        let skipdata = rows == Rows::Aggregated && f.format.has(Field::LogStatus);
        (skipdata || !counts).then_some(Ask::SkipData)
    })
}

/// A query a run starts with, as `flowgate query` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub family: String,
    pub range: (u64, u64),
    pub texts: Vec<String>,
    /// Pair totals: connections follow for the pairs they do not settle.
    pub pairs: bool,
}

impl Planned {
    fn of<E: Engine>(engine: &E, job: &Job) -> Planned {
        Planned {
            family: engine.families()[job.family].name.clone(),
            range: job.range,
            texts: engine.texts(job),
            pairs: matches!(job.ask, Ask::Pairs | Ask::PairsEdge),
        }
    }
}

/// The first queries of the checks of a plan, for `flowgate query`.
pub fn planned<E: Engine>(engine: &E, settings: &Settings, plan: &Plan, now: u64) -> Vec<Planned> {
    let mut out = Vec::new();
    for (window, mut ids) in plan.by_range(now, engine.margin()) {
        ids.retain(|i| !settings.uncovered.contains_key(i));
        if ids.is_empty() {
            continue;
        }
        for job in first_jobs(
            engine.families(),
            engine.counts_records(),
            settings.rows,
            plan,
            &ids,
            window,
        ) {
            out.push(Planned::of(engine, &job));
        }
    }
    out
}

/// The queries of a question about flows, for `flowgate query`.
pub fn planned_flows<E: Engine>(
    engine: &E,
    settings: &Settings,
    plan: &Plan,
    question: &FlowQuestion,
    now: u64,
) -> Vec<Planned> {
    let range = plan.span(now, engine.margin());
    flow_jobs(
        engine.families(),
        engine.counts_records(),
        settings.rows,
        range,
        question,
    )
    .iter()
    .map(|j| Planned::of(engine, j))
    .collect()
}

/// The jobs of a question about flows.
fn flow_jobs(
    families: &[Family],
    counts: bool,
    rows: Rows,
    range: (u64, u64),
    question: &FlowQuestion,
) -> Vec<Job> {
    let target = Target::Networks {
        nets: Some(question.touching.clone()),
        action: Some(question.action),
    };
    let ask = match rows {
        Rows::Raw => Ask::Records,
        Rows::Aggregated => Ask::Flows(question.fold),
    };
    // A transit gateway's records are no flows of the hosts (the file source does not fold them).
    let mut out = jobs(families, range, &target, |f| {
        (!f.format.is_tgw()).then_some(ask)
    });
    out.extend(skipdata_jobs(families, counts, rows, range, &target));
    out
}

/// A question about flows rather than checks: those with `action` and an address in
/// `touching` at either end, folded by `fold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowQuestion {
    pub action: crate::evidence::Action,
    pub touching: Ranges,
    pub fold: Fold,
}

/// The part of a window's evidence its answers give, as they are read.
struct Reading<'p> {
    plan: &'p Plan,
    ids: &'p [usize],
    /// The window's start: rows of the minutes before it that end at or after it are in it.
    start: u64,
    gaps: Gaps,
    cost: QueryCost,
    origins: Vec<String>,
    columns: Vec<Option<String>>,
    /// Per family: records the window's queries scanned or returned (none: no logs there).
    scanned: Vec<f64>,
    /// Pair totals, for settling.
    pair_rows: Vec<PairRow>,
    /// Pairs (low address first) whose connections came from a family that was asked for
    /// connections first: other families must give their connections too.
    connected: BTreeSet<(IpAddr, IpAddr)>,
    /// Flows folded for a question about flows.
    folded: Option<Folded>,
    error: Option<String>,
}

impl<'p> Reading<'p> {
    fn new(plan: &'p Plan, ids: &'p [usize], start: u64, families: usize) -> Reading<'p> {
        Reading {
            plan,
            ids,
            start,
            gaps: Gaps::default(),
            cost: QueryCost::default(),
            origins: Vec::new(),
            columns: Vec::new(),
            scanned: vec![0.0; families],
            pair_rows: Vec::new(),
            connected: BTreeSet::new(),
            folded: None,
            error: None,
        }
    }

    /// Reads the answers of `jobs` into the ledger (connections, records), the pair totals,
    /// the folded flows and the gaps; the first failed job's reason goes to `error`.
    fn read(&mut self, jobs: &[Job], answers: Vec<Result<Answer, String>>, book: &mut Book<'_>) {
        for (job, answer) in jobs.iter().zip(answers) {
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    self.error.get_or_insert(e);
                    continue;
                }
            };
            self.cost.add(&answer.cost);
            for part in answer.parts {
                self.read_part(job, part, book);
            }
        }
    }

    fn read_part(&mut self, job: &Job, part: Part, book: &mut Book<'_>) {
        let ask = job.ask;
        self.gaps.missing.extend(part.missing);
        if !ask.is_edge() {
            self.scanned[job.family] += part.scanned;
        }
        let file = self.origins.len() as u32;
        self.columns.push(part.columns.clone());
        self.origins.push(format!(
            "{} ({}..{}, query {})",
            part.name,
            time(part.range.0),
            time(part.range.1),
            file + 1
        ));
        // A row from before the window belongs to it when it ends inside it.
        let start = self.start;
        let placed = |end: Option<u64>| {
            if ask.is_edge() {
                place(start, end)
            } else {
                Some(true)
            }
        };
        for (n, row) in part.rows.into_iter().enumerate() {
            let origin = Origin {
                file,
                chunk: 0,
                line: n as u64 + 1,
            };
            let decoded = match row.decoded {
                Ok(d) => d,
                Err(reason) => {
                    self.gaps.bad_line(origin, format!("result row: {reason}"));
                    continue;
                }
            };
            match decoded {
                Decoded::SkipData {
                    iface,
                    records,
                    end,
                } => {
                    // A SKIPDATA record of unknown end may overlap the window.
                    if !ask.is_edge() || end.is_none_or(|e| e >= start) {
                        *self.gaps.skipdata.entry(iface).or_default() += records;
                    }
                }
                Decoded::Pair(p) => {
                    if placed(p.last) == Some(true) {
                        self.pair_rows.push(p);
                    }
                }
                Decoded::Hop {
                    flow,
                    hop,
                    records,
                    sample,
                } => {
                    // As the file source reads them: only what overlaps the window, and never
                    // context (a gateway's record shows no answer of the hosts).
                    if placed(flow.end) != Some(true) || self.folded.is_some() {
                        continue;
                    }
                    let sample = row.text.clone().or(sample);
                    for &i in self.ids {
                        for role in self.plan.checks[i].roles_of(&flow) {
                            let shown = sample.clone().map(|s| (origin, s));
                            book.observe_tgw(i, role, &flow, (&hop, records), shown);
                        }
                    }
                }
                Decoded::Folded { flow, seen } => {
                    if placed(flow.end) == Some(true)
                        && let Some(folded) = &mut self.folded
                    {
                        folded.add_seen(&flow, seen);
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
                    if let Some(folded) = &mut self.folded {
                        if window {
                            folded.add(&flow);
                        }
                        continue;
                    }
                    for &i in self.ids {
                        for role in self.plan.checks[i].roles_of(&flow) {
                            if ask.is_connections() {
                                self.connected.insert(unordered(flow.src, flow.dst));
                            }
                            match (window, &row.text) {
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

    /// What is known to be missing from a window's evidence besides what its rows said.
    fn note_missing<E: Engine>(&mut self, engine: &E, window: (u64, u64), now: u64) {
        let g = &mut self.gaps;
        // A transit gateway's records never make a window look delivered, and a gateway that
        // carried nothing of the hosts is no gap (as the file source reads them).
        let vpc: Vec<(&Family, f64)> = engine
            .families()
            .iter()
            .zip(self.scanned.iter().copied())
            .filter(|(f, _)| !f.format.is_tgw())
            .collect();
        if vpc.iter().all(|(_, s)| *s == 0.0) {
            g.no_records = true;
        } else {
            for (f, scanned) in vpc {
                if scanned == 0.0 {
                    g.missing.push(format!(
                        "no record in {}: not one in the window, so its flow logs are not delivered yet or do not cover these hosts",
                        f.name
                    ));
                }
            }
        }
        let delivered = now.saturating_sub(engine.margin());
        if window.1 > delivered {
            g.missing.push(format!(
                "the window's last {} not delivered yet: it ends at {}, and flow logs reach {} up to {} late (end the window earlier, or --wait)",
                humantime::format_duration(Duration::from_secs(window.1 - delivered)),
                time(window.1),
                engine.destination(),
                humantime::format_duration(Duration::from_secs(engine.margin())),
            ));
        }
        for f in engine.families() {
            // A gateway's records only explain; the VPC flow logs' creation bounds the evidence.
            if let Some(created) = f.created.filter(|c| *c > window.0 && !f.format.is_tgw()) {
                g.missing.push(format!(
                    "flow log created inside the window: {} records only from {} on (start the window later)",
                    f.name,
                    time(created)
                ));
            }
            if !f.format.has(Field::End) {
                g.missing.push(format!(
                    "records without end times in {}: the records that began before the window cannot be placed (add ${{start}} and ${{end}} to the flow log's format)",
                    f.name
                ));
            }
        }
    }
}

/// Why a window with not one record in any family is not judged.
fn nothing_in<E: Engine>(engine: &E, (start, end): (u64, u64)) -> String {
    let names: Vec<&str> = engine.families().iter().map(|f| f.name.as_str()).collect();
    format!(
        "no record to judge: {} hold no record from {} to {} (the flow logs are not delivered there yet, or deliver elsewhere)\n  help: {}",
        names.join(", "),
        time(start),
        time(end),
        engine.when_empty()
    )
}

/// The notes every answer of an engine carries: formats that cannot show SKIPDATA.
fn notes<E: Engine>(engine: &E) -> Vec<String> {
    engine
        .families()
        .iter()
        .filter(|f| !f.format.has(Field::LogStatus))
        .map(|f| {
            format!(
                "the records of {} have no log-status: records AWS skipped (SKIPDATA) cannot be seen; add ${{log-status}} to the flow log's format",
                f.name
            )
        })
        .collect()
}

/// One pass over every window of the plan: every query, judged into evidence; and the ranges
/// asked about and what the queries cost.
async fn attempt<E: Engine>(
    engine: &E,
    settings: &Settings,
    plan: &Plan,
    now: u64,
) -> (Evidence, Vec<(u64, u64)>, QueryCost, bool) {
    let mut checks: Vec<Result<CheckEvidence, Unavailable>> = plan
        .checks
        .iter()
        .map(|c| Err(Unavailable(c.unavailable.clone().unwrap_or_default())))
        .collect();
    let mut gaps = Gaps::default();
    let mut cost = QueryCost::default();
    let mut origins = Vec::new();
    let mut columns = Vec::new();
    let mut ranges = Vec::new();
    let mut empty = false;
    for (window, mut ids) in plan.by_range(now, engine.margin()) {
        ids.retain(|i| match settings.uncovered.get(i) {
            Some(why) => {
                checks[*i] = Err(Unavailable(why.clone()));
                false
            }
            None => true,
        });
        if ids.is_empty() {
            continue;
        }
        ranges.push(window);
        let mut reading = Reading::new(plan, &ids, window.0, engine.families().len());
        reading.origins = std::mem::take(&mut origins);
        reading.columns = std::mem::take(&mut columns);
        let mut result = judge_window(engine, settings, &mut reading, window).await;
        reading.note_missing(engine, window, now);
        // A failed query leaves nothing counted: that is its error, not a reason to wait.
        empty |= reading.gaps.no_records && result.is_ok();
        if reading.gaps.no_records && result.is_ok() {
            // As the file source says of files without a record in the window: nothing to
            // judge, and never NO_TRAFFIC on partitions or log groups that are simply empty.
            result = Err(nothing_in(engine, window));
        }
        gaps.merge(std::mem::take(&mut reading.gaps));
        cost.add(&reading.cost);
        origins = reading.origins;
        columns = reading.columns;
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
    let ev = Evidence {
        checks,
        gaps,
        origins,
        columns,
        notes: notes(engine),
        ..Evidence::default()
    };
    (ev, ranges, cost, empty)
}

/// The evidence of one window's checks, in the order of `reading.ids`.
async fn judge_window<E: Engine>(
    engine: &E,
    settings: &Settings,
    reading: &mut Reading<'_>,
    window: (u64, u64),
) -> Result<Vec<CheckEvidence>, String> {
    let families = engine.families();
    let first = first_jobs(
        families,
        engine.counts_records(),
        settings.rows,
        reading.plan,
        reading.ids,
        window,
    );
    let answers = engine.answer(&first).await;
    let ledger = Ledger::default();
    let mut book = ledger.book();
    reading.read(&first, answers, &mut book);
    let mut settled = settle::Settled::default();
    if reading.error.is_none() && !reading.pair_rows.is_empty() {
        settled = settle::settle(reading.plan, reading.ids, &reading.pair_rows);
        // A pair with connection rows from one family needs them from every family.
        let connected = std::mem::take(&mut reading.connected);
        settled.drill.extend(connected.iter().copied().filter(|p| {
            settled
                .pairs
                .values()
                .any(|ps| ps.keys().any(|(c, s)| unordered(*c, *s) == *p))
        }));
        for ps in settled.pairs.values_mut() {
            ps.retain(|(c, s), _| !settled.drill.contains(&unordered(*c, *s)));
        }
        if !settled.drill.is_empty() {
            let target = Target::Pairs(settled.drill.clone());
            let paired = |f: &Family| {
                (first_ask(f, settings.rows, reading.plan, reading.ids) == Ask::Pairs)
                    .then_some(Ask::Connections)
            };
            let second = jobs(families, window, &target, paired);
            let answers = engine.answer(&second).await;
            reading.read(&second, answers, &mut book);
        }
    }
    if let Some(e) = reading.error.take() {
        return Err(e);
    }
    let mut all = ledger.close(reading.plan.checks.len(), vec![book])?;
    Ok(reading
        .ids
        .iter()
        .map(|&i| {
            let mut ev = std::mem::take(&mut all[i]);
            // A settled pair's connections are its totals; what a transit gateway saw of it
            // came through the ledger all the same.
            for (pair, mut p) in settled.pairs.remove(&i).unwrap_or_default() {
                if let Some(seen) = ev.pairs.remove(&pair) {
                    p.tgw = seen.tgw;
                    p.tgw_samples = seen.tgw_samples;
                }
                ev.pairs.insert(pair, p);
            }
            ev
        })
        .collect())
}

/// The evidence for every check of the plan, asking again with `--wait` until every reach
/// check has records and the window's end is delivered, or the time is up.
pub async fn gather_checks<E: Engine>(engine: &E, settings: &Settings, plan: &Plan) -> Evidence {
    let deadline = settings.wait.map(|w| Instant::now() + w);
    let mut cost = QueryCost::default();
    loop {
        let (mut ev, ranges, tried, empty) = attempt(engine, settings, plan, crate::now()).await;
        // Every try was paid for: the summary counts them all.
        cost.add(&tried);
        ev.provenance = vec![engine.provenance(ranges, cost)];
        let lacking: Vec<&str> = plan
            .checks
            .iter()
            .zip(&ev.checks)
            // A pair only a transit gateway saw has no record of the hosts' yet.
            .filter(|(c, e)| {
                !c.is_deny()
                    && matches!(e, Ok(ce) if ce.pairs.values().all(|p| p.records == Default::default()))
            })
            .map(|(c, _)| c.name.as_str())
            .collect();
        let undelivered = plan
            .window
            .end
            .is_some_and(|e| e > crate::now().saturating_sub(engine.margin()));
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match left {
            Some(left)
                if (!lacking.is_empty() || undelivered || empty)
                    && !left.is_zero()
                    && !engine.is_cancelled() =>
            {
                let pause = left.min(RETRY_EVERY);
                let why = if empty {
                    "no record delivered for the window yet".to_string()
                } else if lacking.is_empty() {
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
                // Ctrl-C cancels the engine: the pause ends then, not at its end.
                tokio::select! {
                    () = crate::progress::wait(&why, pause, left) => {}
                    () = until_cancelled(engine) => {}
                }
            }
            _ => return ev,
        }
    }
}

async fn until_cancelled<E: Engine>(engine: &E) {
    while !engine.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The flows `question` asks about over the plan's whole time range, folded; a failed query
/// fails the question (a listing with a hole would look complete).
pub async fn gather_flows<E: Engine>(
    engine: &E,
    settings: &Settings,
    plan: &Plan,
    question: &FlowQuestion,
) -> Result<Evidence, String> {
    let now = crate::now();
    let range = plan.span(now, engine.margin());
    let jobs = flow_jobs(
        engine.families(),
        engine.counts_records(),
        settings.rows,
        range,
        question,
    );
    let answers = engine.answer(&jobs).await;
    let mut reading = Reading::new(plan, &[], range.0, engine.families().len());
    reading.folded = Some(Folded::new(question.fold));
    let ledger = Ledger::default();
    let mut book = ledger.book();
    reading.read(&jobs, answers, &mut book);
    if let Some(e) = reading.error.take() {
        return Err(e);
    }
    reading.note_missing(engine, range, now);
    if reading.gaps.no_records {
        return Err(nothing_in(engine, range));
    }
    Ok(Evidence {
        flows: reading.folded.take().unwrap_or_default(),
        gaps: std::mem::take(&mut reading.gaps),
        origins: std::mem::take(&mut reading.origins),
        columns: std::mem::take(&mut reading.columns),
        provenance: vec![engine.provenance(vec![range], reading.cost)],
        notes: notes(engine),
        ..Evidence::default()
    })
}

/// What a source backed by an engine gives for a question.
pub async fn gather<E: Engine>(
    engine: &E,
    settings: &Settings,
    question: &super::Question,
) -> Result<Evidence, super::SourceError> {
    match question {
        super::Question::Checks(plan) => Ok(gather_checks(engine, settings, plan).await),
        super::Question::Flows { plan, ask } => gather_flows(engine, settings, plan, ask)
            .await
            .map_err(super::SourceError::Failed),
    }
}

/// The queries a run starts with, to paste into the engine's console; `what` names the
/// families (`log groups`, `table`).
pub fn preview<E: Engine>(
    engine: &E,
    settings: &Settings,
    question: &super::Question,
    what: &str,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let plan = question.plan();
    for (i, why) in &settings.uncovered {
        let _ = writeln!(
            out,
            "# {}: not judged: {why}\n",
            plan.checks[*i].trial_name()
        );
    }
    let now = crate::now();
    let planned = match question {
        super::Question::Checks(plan) => planned(engine, settings, plan, now),
        super::Question::Flows { plan, ask } => planned_flows(engine, settings, plan, ask, now),
    };
    for p in &planned {
        let (start, end) = p.range;
        for text in &p.texts {
            let _ = writeln!(
                out,
                "# {what}: {}\n# time range: {} .. {} ({start} .. {end})\n{text}\n",
                p.family,
                time(start),
                time(end),
            );
        }
    }
    if planned.iter().any(|p| p.pairs) {
        let _ = writeln!(
            out,
            "# Then, only for the address pairs whose totals do not settle the verdict (rejects in a\n\
             # reach check, accepts in a deny check, a server that stopped taking connections), the\n\
             # same records per connection, over the same time ranges."
        );
    }
    out
}
