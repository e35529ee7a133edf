//! Reporting: libtest-mimic trials that judge the gathered evidence, the results they record for
//! JUnit, and the run summary.

pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub mod strict;
pub mod text;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Completion, Failed, Trial};

use crate::error::Exit;
use crate::evidence::{Evidence, Provenance};
use crate::explain::second::Seen;
use crate::plan::{Check, Plan, Strict};
use crate::verdict::{self, NoTraffic, Outcome};

/// The result of one case, as libtest-mimic's `Conclusion` does not keep them.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub outcome: Outcome,
    /// One line: the JUnit `message` attribute.
    pub message: String,
    /// Everything that explains the outcome: the JUnit element body.
    pub details: String,
    /// What the verdict rests on, in a few words: pairs, connections, records.
    pub evidence: String,
    pub duration: Duration,
    /// The address pairs judged, for machine-readable output (`--format json`).
    pub pairs: Vec<PairResult>,
    /// Why it failed, from the configuration (rules and routes), where explained.
    pub explanation: Option<String>,
}

/// One judged address pair, as `--format json` gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PairResult {
    pub client: String,
    pub server: String,
    /// The pair's headline verdict (its worst connection), when a connection could be judged.
    pub verdict: Option<&'static str>,
    /// Whether this pair fails the check.
    pub broken: bool,
    /// Connections by verdict.
    pub connections: BTreeMap<&'static str, u64>,
    /// What transit gateways on the path carried and dropped of it (Transit Gateway flow
    /// logs), by gateway and attachment.
    pub transit_gateways: Vec<GatewayResult>,
}

/// One transit gateway attachment a pair's traffic crossed, as `--format json` gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GatewayResult {
    /// `None` where the format has no tgw-id (or tgw-attachment-id).
    pub gateway: Option<String>,
    pub attachment: Option<String>,
    /// Records carried, each way.
    pub requests: u64,
    pub replies: u64,
    pub lost: Vec<LostResult>,
}

/// Packets a transit gateway dropped of a pair, for one reason, one way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LostResult {
    /// In words: `no route`, `blackhole route`, `MTU exceeded`, `TTL expired`.
    pub reason: &'static str,
    /// The field AWS counts them in (`packets-lost-no-route`, ...).
    pub field: &'static str,
    /// `requests` or `replies`.
    pub direction: &'static str,
    pub packets: u64,
}

impl GatewayResult {
    fn of(t: &crate::evidence::TgwSeen) -> Vec<GatewayResult> {
        use crate::evidence::Role;
        let known = |id: &crate::evidence::IfaceId| (!id.is_unknown()).then(|| id.to_string());
        let way = |r: Role| match r {
            Role::Request => "requests",
            Role::Reply => "replies",
        };
        let mut out: BTreeMap<_, GatewayResult> = BTreeMap::new();
        for ((tgw, attachment, role), n) in &t.carried {
            let g = out
                .entry((*tgw, *attachment))
                .or_insert_with(|| GatewayResult {
                    gateway: known(tgw),
                    attachment: known(attachment),
                    requests: 0,
                    replies: 0,
                    lost: Vec::new(),
                });
            match role {
                Role::Request => g.requests += n,
                Role::Reply => g.replies += n,
            }
        }
        for ((tgw, attachment, role, reason), n) in &t.lost {
            if let Some(g) = out.get_mut(&(*tgw, *attachment)) {
                g.lost.push(LostResult {
                    reason: reason.words(),
                    field: reason.field(),
                    direction: way(*role),
                    packets: *n,
                });
            }
        }
        out.into_values().collect()
    }
}

/// Collects results from trials that run on libtest-mimic's worker threads.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Option<CaseResult>>>>);

impl Recorder {
    pub fn new(cases: usize) -> Recorder {
        Recorder(Arc::new(Mutex::new(vec![None; cases])))
    }

    pub(crate) fn record(&self, index: usize, result: CaseResult) {
        let mut results = self.0.lock().unwrap_or_else(|e| e.into_inner());
        results[index] = Some(result);
    }

    /// Results by check index; `None` for cases filtered out of the run.
    pub fn results(&self) -> Vec<Option<CaseResult>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The name of one case of the run: an expectation's check, or a strict host's test.
#[derive(Debug, Clone)]
pub struct Case {
    pub app: String,
    pub name: String,
    pub spec_path: std::path::PathBuf,
    /// Where the spec says it: the expectation, or the strict host.
    pub at: crate::spec::Pos,
    /// What the case is about, for the summary's diagram.
    pub about: About,
}

/// The hosts and service of a case, as the spec names them.
#[derive(Debug, Clone)]
pub enum About {
    Expectation {
        from: String,
        to: String,
        /// `tcp/443`, `udp/53`, `icmp`.
        service: String,
        deny: bool,
    },
    /// A strict host's test.
    Strict { host: String },
}

impl Case {
    pub fn trial_name(&self) -> String {
        format!("{}::{}", self.app, self.name)
    }
}

/// Every case of a run: the plan's checks in order, then the strict hosts' tests.
pub fn cases(plan: &Plan, strict: &[Strict]) -> Vec<Case> {
    plan.checks
        .iter()
        .map(|c| Case {
            app: c.app.clone(),
            name: c.name.clone(),
            spec_path: c.spec_path.clone(),
            at: c.at,
            about: About::Expectation {
                from: c.from.label.clone(),
                to: c.to.label.clone(),
                service: crate::spec::Service(c.protocol, &c.ports).to_string(),
                deny: c.is_deny(),
            },
        })
        .chain(strict.iter().map(|s| Case {
            app: s.app.clone(),
            name: s.name.clone(),
            spec_path: s.spec_path.clone(),
            at: s.at,
            about: About::Strict {
                host: s.host.clone(),
            },
        }))
        .collect()
}

/// Trials with names only, for `--list`: listing needs no evidence.
pub fn listing(cases: &[Case]) -> Vec<Trial> {
    cases
        .iter()
        .map(|c| Trial::test(c.trial_name(), || Ok(())))
        .collect()
}

/// One check judged by the evidence, with the explanation of a failure and the configuration's
/// word (see `explain::second`).
pub fn judge_check(
    check: &Check,
    evidence: &Evidence,
    i: usize,
    no_traffic: NoTraffic,
    explained: Option<&str>,
    seen: Seen<'_>,
) -> CaseResult {
    let started = Instant::now();
    let gaps = evidence.gaps.bearing_on(check.interfaces.as_ref());
    let j = verdict::judge(check, &evidence.checks[i], &gaps, no_traffic);
    let message = text::message(check, &j);
    let mut details = text::details(check, &j, evidence);
    if let Some(why) = explained {
        details.push_str(why);
    }
    let counted = text::evidence_counts(&j);
    let pairs = j
        .pairs
        .iter()
        .map(|p| PairResult {
            client: p.client.to_string(),
            server: p.server.to_string(),
            verdict: p.headline.map(verdict::ConnVerdict::label),
            broken: p.broken,
            connections: p.connections.iter().map(|(v, n)| (v.label(), *n)).collect(),
            transit_gateways: GatewayResult::of(&p.evidence.tgw),
        })
        .collect();
    let said = crate::explain::second::with_evidence(check, &j, message, details, seen);
    CaseResult {
        outcome: said.outcome,
        message: said.message,
        details: said.details,
        evidence: counted,
        duration: started.elapsed(),
        pairs,
        explanation: explained.map(str::to_string),
    }
}

/// One trial per case, each reporting the result judged for it; a case filtered out of the run
/// records nothing.
pub fn trials(cases: &[Case], results: &Arc<Vec<CaseResult>>, recorder: &Recorder) -> Vec<Trial> {
    cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let (results, recorder) = (Arc::clone(results), recorder.clone());
            Trial::ignorable_test(case.trial_name(), move || {
                let result = results[i].clone();
                recorder.record(i, result.clone());
                match result.outcome {
                    Outcome::Pass => Ok(Completion::Completed),
                    Outcome::Skip => Ok(Completion::ignored_with(result.message)),
                    Outcome::Fail(_) | Outcome::Error(_) => {
                        Err(Failed::from(result.details.trim_end()))
                    }
                }
            })
        })
        .collect()
}

/// 0 all passed, 101 a check failed, 3 evidence missing for a check that did not fail.
pub fn exit_code(
    results: &[Option<CaseResult>],
    conclusion: &libtest_mimic::Conclusion,
) -> ExitCode {
    let ran: Vec<&CaseResult> = results.iter().flatten().collect();
    let failed = ran
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
        .count();
    let errors = ran
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error(_)))
        .count();
    // A trial that failed without recording (a panic) is a failure too.
    let unrecorded = (conclusion.num_failed as usize).saturating_sub(failed + errors);
    let exit = if failed + unrecorded > 0 {
        Exit::Failed
    } else if errors > 0 {
        Exit::Evidence
    } else {
        Exit::Pass
    };
    exit.into()
}

/// What the evidence amounted to, printed before the tests and kept in the JUnit file: one
/// line per source of what it read (and for query engines, what they cost), then notes and gaps.
pub fn summary(source: &str, plan: &Plan, ev: &Evidence) -> String {
    let s = &ev.stats;
    let window = plan.window.on_disk(crate::now());
    let window = match (window.start, window.end) {
        (None, None) => "every record in the files".to_string(),
        (Some(a), Some(b)) => format!("records overlapping {} .. {}", text::time(a), text::time(b)),
        (Some(a), None) => format!("records from {} on", text::time(a)),
        (None, Some(b)) => format!("records up to {}", text::time(b)),
    };
    // Counted apart from the VPC records (see `Stats::tgw_records`).
    let tgw = match s.tgw_records {
        0 => String::new(),
        n => format!("; and {n} Transit Gateway records"),
    };
    let mut out = String::new();
    for p in &ev.provenance {
        match p {
            Provenance::Files { .. } => out.push_str(&format!(
                "evidence: {source}, {} read, {} records ({} outside the window, {} NODATA{tgw}); judged: {window}\n",
                bytes(s.bytes),
                s.records,
                s.outside_window,
                s.nodata,
            )),
            Provenance::S3(read) => {
                let (skipped, skipped_bytes) = read.skipped();
                out.push_str(&format!(
                    "evidence: {source}: {} prefixes listed, {} objects fetched ({}), {skipped} skipped outside the window ({}){}; {} read, {} records ({} outside the window, {} NODATA{tgw}); judged: {}\n",
                    read.prefixes,
                    read.fetched,
                    bytes(read.fetched_bytes),
                    bytes(skipped_bytes),
                    read.others_words(),
                    bytes(s.bytes),
                    s.records,
                    s.outside_window,
                    s.nodata,
                    ranges(&read.ranges),
                ))
            }
            Provenance::Insights(read) => {
                let c = &read.cost;
                // Several readings (log groups in two accounts, say): each says its own groups.
                let source = match ev.provenance.len() {
                    1 => source.to_string(),
                    _ => format!("CloudWatch Logs Insights on {}", read.groups.join(", ")),
                };
                out.push_str(&format!(
                    "evidence: {source}; judged: {}\ncost: {} Logs Insights {}, {} records and {} scanned, {} records matched{}\n",
                    ranges(&read.ranges),
                    c.queries,
                    if c.queries == 1 { "query" } else { "queries" },
                    c.records_scanned as u64,
                    bytes(c.bytes_scanned as u64),
                    c.records_matched as u64,
                    match c.unreported {
                        0 => String::new(),
                        n if n == c.queries => " (the endpoint reported no statistics)".to_string(),
                        n => format!(" ({n} of them reported no statistics)"),
                    }
                ))
            }
            Provenance::Athena(read) => {
                let c = &read.cost;
                out.push_str(&format!(
                    "evidence: {source}; judged: {}\ncost: {} Athena {}, {} scanned, ${:.4} at ${}/TB scanned (each query billed for at least 10 MB), {:.1} s of engine time{}\n",
                    ranges(&read.ranges),
                    c.queries,
                    if c.queries == 1 { "query" } else { "queries" },
                    bytes(c.bytes_scanned as u64),
                    read.dollars(),
                    crate::evidence::provenance::ATHENA_DOLLARS_PER_TB,
                    c.engine_millis as f64 / 1000.0,
                    match c.unreported {
                        0 => String::new(),
                        n => format!(" ({n} of them reported no statistics)"),
                    }
                ))
            }
        }
    }
    for note in &ev.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if !ev.gaps.is_empty() {
        out.push_str(&format!(
            "evidence missing ({}); checks that would pass end as INCOMPLETE errors:\n",
            text::gap_summary(&ev.gaps)
        ));
        out.push_str(&text::gap_lines(&ev.gaps, ev, "  "));
    }
    out
}

/// Time ranges in words, `nothing` for none.
fn ranges(r: &[(u64, u64)]) -> String {
    if r.is_empty() {
        return "nothing".into();
    }
    r.iter()
        .map(|(a, b)| format!("{} .. {}", text::time(*a), text::time(*b)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a run read, in a few words, for the headlines of triage and observe.
pub fn what_was_read(ev: &Evidence) -> String {
    let parts: Vec<String> = ev
        .provenance
        .iter()
        .map(|p| match p {
            Provenance::Files { files } => {
                format!(
                    "{files} flow-log file{}",
                    if *files == 1 { "" } else { "s" }
                )
            }
            Provenance::S3(read) => format!(
                "{} ({} objects), {}",
                read.locations.join(", "),
                read.fetched,
                ranges(&read.ranges)
            ),
            Provenance::Athena(read) => format!(
                "Athena table {}, {}, {}",
                read.table,
                ranges(&read.ranges),
                text::plural(read.cost.queries, "query", "queries")
            ),
            Provenance::Insights(read) => format!(
                "CloudWatch Logs {}, {}, {}",
                read.groups.join(", "),
                ranges(&read.ranges),
                text::plural(read.cost.queries, "query", "queries")
            ),
        })
        .collect();
    parts.join("; ")
}

/// Writes a report file next to its destination and renames it into place, so that a pipeline
/// never reads a half-written file.
pub fn write_atomically(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy());
    // A fresh CI checkout has no `target/` or `reports/` yet: make the folder, as the user asked
    // for a file there.
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A size in words: bytes, KiB, MiB or GiB.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 10 << 30 => format!("{} GiB", n >> 30),
        n if n >= 10 << 20 => format!("{} MiB", n >> 20),
        n if n >= 10 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}
