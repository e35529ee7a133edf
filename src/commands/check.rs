//! `flowgate check`: one test per expectation, judged against the evidence, with JUnit and
//! a Markdown summary for the pipeline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use std::time::Instant;

use crate::cli::{CheckArgs, EvidenceKind, NoTrafficArg};
use crate::error::Error;
use crate::evidence::Evidence;
use crate::explain;
use crate::explain::config::{Config, Interface};
use crate::explain::second::{self, Seen};
use crate::explain::strict::Need;
use crate::explain::witness::{self, Query, Witness};
use crate::plan::{self, Plan, Strict, Window};
use crate::report::strict::{Rules, Traffic};
use crate::report::{self, Case, CaseResult};
use crate::source::Question;
use crate::spec::Spec;
use crate::verdict::{self, NoTraffic, Outcome};

pub async fn run(args: CheckArgs) -> Result<ExitCode, Error> {
    let reports = Reports::of(&args);
    let window = super::window(&args.evidence)?;
    let specs = match super::load(&args.specs) {
        Ok(specs) => specs,
        Err(e) => {
            // Not one case can be named; a report from an earlier run must not stand for this one.
            reports.remove_stale();
            return Err(e);
        }
    };
    let harness = args.harness.to_libtest();
    let unresolved = super::unresolved(&specs);
    let named = plan::assemble(&specs, &unresolved, window);
    let named = report::cases(&named, &plan::strict(&specs, &unresolved, &named));
    if !named.iter().any(|c| args.harness.selects(&c.trial_name())) {
        // Before any evidence is read: a filter that matches nothing would judge nothing.
        reports.remove_stale();
        return Err(Error::Usage(format!(
            "no test matches the filter and --skip options ({} tests in the specs)
  help: see the names with --list; filters go after `--`",
            named.len()
        )));
    }
    if harness.list {
        // Printed here rather than by libtest-mimic, whose printer panics on a closed pipe
        // (`--list | head`); the lines are libtest's.
        let listed = selected(report::listing(&named), &args.harness);
        let text: String = listed
            .iter()
            .filter(|t| !harness.ignored || t.has_ignored_flag())
            .map(|t| {
                let kind = match t.kind() {
                    "" => String::new(),
                    k => format!("[{k}] "),
                };
                let what = if t.is_bench() { "bench" } else { "test" };
                format!("{kind}{}: {what}\n", t.name())
            })
            .collect();
        return super::emit(text.as_bytes());
    }
    let gathered = match preflight_conflict(&args) {
        Some(e) => Err(e),
        None => gather(&args, &specs, window).await,
    };
    let g = match gathered {
        Ok(g) => g,
        Err(e) => {
            // The pipeline still gets a report to show: every case an error saying why.
            reports.stopped(&specs, window, &e);
            return Err(e);
        }
    };
    let no_traffic = match args.no_traffic {
        NoTrafficArg::Fail => NoTraffic::Fail,
        NoTrafficArg::Skip => NoTraffic::Skip,
    };
    let config = match (&g.aws, args.no_explain) {
        (Some(aws), false) => {
            let wanted = explain::wanted(&g.plan, &g.strict, g.evidence.as_deref(), no_traffic);
            Some(explain::config::fetch_accounts(aws, &wanted).await)
        }
        _ => None,
    };
    let mut summary = match &g.evidence {
        Some(evidence) => report::summary(&g.described, &g.plan, evidence),
        None => preflight_summary(config.as_ref()),
    };
    if let Some(Ok(flows)) = &g.strict_flows {
        // A second question to the source: what it read and cost is part of the run's.
        summary.push_str(&format!(
            "evidence: for the strict hosts, the accepted flows touching them, asked separately: {}\n",
            report::what_was_read(flows)
        ));
    }
    eprint!("{summary}");
    let computed = Arc::new(judge_all(&g, config.as_ref(), no_traffic));
    let cases = report::cases(&g.plan, &g.strict);
    let recorder = report::Recorder::new(cases.len());
    let conclusion = if args.harness.format == Some(crate::cli::FormatArg::Json) {
        report::json::run(&cases, &computed, |n| args.harness.selects(n), &recorder)
    } else {
        let trials = selected(report::trials(&cases, &computed, &recorder), &args.harness);
        // libtest-mimic runs trials on its own threads and blocks: off the async runtime.
        tokio::task::block_in_place(|| libtest_mimic::run(&harness, trials))
    };
    let results = recorder.results();
    let errors = results
        .iter()
        .flatten()
        .filter(|r| matches!(r.outcome, Outcome::Error(_)))
        .count();
    if errors > 0 {
        // libtest counts them as failed; they are not verdicts.
        eprintln!(
            "note: {errors} of these are errors, not failures: their evidence is missing (INCOMPLETE) or could not be gathered (UNAVAILABLE); each case says which"
        );
    }
    reports.write(&cases, &results, &summary)?;
    if results.iter().all(Option::is_none) {
        // A filter or --skip that matches nothing would otherwise be a green gate that judged nothing.
        return Err(Error::Usage(
            "no expectation was judged: the filter and --skip options left none to run\n  help: see the names with --list".into(),
        ));
    }
    Ok(report::exit_code(&results, &conclusion))
}

/// The trials to hand libtest: all of them, which it filters itself, unless there are several
/// filters, which it cannot take.
fn selected(
    trials: Vec<libtest_mimic::Trial>,
    harness: &crate::cli::HarnessArgs,
) -> Vec<libtest_mimic::Trial> {
    if harness.filter.len() < 2 {
        return trials;
    }
    trials
        .into_iter()
        .filter(|t| harness.selects(t.name()))
        .collect()
}

/// What a preflight cannot be combined with.
fn preflight_conflict(args: &CheckArgs) -> Option<Error> {
    if args.judge_by != EvidenceKind::Config {
        return None;
    }
    let given = [
        (!args.evidence.flow_logs.is_empty(), "--flow-logs"),
        (!args.evidence.log_groups.is_empty(), "--log-group"),
        (args.wait.is_some(), "--wait"),
        (args.no_explain, "--no-explain"),
    ];
    given.iter().find(|(yes, _)| *yes).map(|(_, flag)| {
        Error::Usage(format!(
            "--evidence config judges by the configuration alone, so {flag} does not apply\n  help: drop {flag}, or drop --evidence config to read the traffic"
        ))
    })
}

/// Everything a check run gathered before judging.
struct Gathered {
    plan: Arc<Plan>,
    strict: Vec<Strict>,
    /// The traffic; `None` in a preflight.
    evidence: Option<Arc<Evidence>>,
    /// The flows to the strict hosts, when there are any (and traffic is read).
    strict_flows: Option<Result<Evidence, String>>,
    described: String,
    aws: Option<crate::aws::Aws>,
}

/// Resolves the hosts and collects the evidence for every check: all the I/O of a check run but
/// the configuration's.
async fn gather(args: &CheckArgs, specs: &[Spec], window: Window) -> Result<Gathered, Error> {
    let request = super::request(&args.evidence, args.wait.map(Into::into));
    let preflight = args.judge_by == EvidenceKind::Config;
    // A preflight names no evidence, so it always connects: it needs EC2 and nothing else.
    let aws = super::connect(&args.evidence, &request, specs, super::Purpose::Read).await?;
    let hosts = super::resolve_all(specs, aws.as_ref()).await?;
    let plan = Arc::new(plan::assemble(specs, &hosts, window));
    let mut strict = plan::strict(specs, &hosts, &plan);
    if !preflight && request.kind()? == crate::source::Kind::Discovered {
        unjudged_across_accounts(&mut strict, specs);
    }
    if preflight {
        return Ok(Gathered {
            plan,
            strict,
            evidence: None,
            strict_flows: None,
            described: "the configuration".into(),
            aws,
        });
    }
    let source = super::open(&request, &plan, aws.as_ref()).await?;
    let evidence = super::gather(&source, &Question::Checks(Arc::clone(&plan))).await?;
    let strict_flows = match super::strict_question(&plan, &strict) {
        None => None,
        Some(question) => Some(super::gather(&source, &question).await.map_err(|e| {
            e.render()
                .trim_start_matches("error: ")
                .trim_end()
                .to_string()
        })),
    };
    Ok(Gathered {
        plan,
        strict,
        evidence: Some(Arc::new(evidence)),
        strict_flows,
        described: source.describe(),
        aws,
    })
}

/// A strict host in another account, read from discovered flow logs: each check is read on one
/// side, so nothing makes sure that every flow log of the host's own account is read, and
/// "nothing else reaches it" could pass on part of its traffic. Unavailable, and said why.
fn unjudged_across_accounts(strict: &mut [plan::Strict], specs: &[Spec]) {
    for s in strict.iter_mut().filter(|s| s.unavailable.is_none()) {
        let account = specs
            .iter()
            .filter(|spec| spec.app == s.app)
            .find_map(|spec| spec.hosts.get(&s.host).and_then(|h| h.account.clone()));
        if let Some(account) = account {
            s.unavailable = Some(format!(
                "{} is in account {account}: a strict host's undeclared traffic is not yet gathered from discovered flow logs in another account (they may not all be read); give its flow logs with --flow-logs or --log-group",
                s.host
            ));
        }
    }
}

/// The run summary of a preflight: what was read instead of traffic.
fn preflight_summary(config: Option<&Result<Config, String>>) -> String {
    match config {
        Some(Ok(c)) => {
            let n = |k: usize, one: &str, many: &str| {
                format!("{k} {}", if k == 1 { one } else { many })
            };
            format!(
                "evidence: the configuration alone (--evidence config; no flow logs read): {}, {} in {}, read from EC2 now\n",
                n(
                    c.interfaces.len(),
                    "network interface",
                    "network interfaces"
                ),
                n(c.routing.tables.len(), "route table", "route tables"),
                n(c.routing.vpc_cidrs.len(), "VPC", "VPCs")
            )
        }
        Some(Err(e)) => format!(
            "evidence: the configuration alone (--evidence config), but EC2 could not be read: {e}\n"
        ),
        None => "evidence: none: a preflight needs EC2\n".into(),
    }
}

/// Every case judged, in the order of `report::cases`.
fn judge_all(
    g: &Gathered,
    config: Option<&Result<Config, String>>,
    no_traffic: NoTraffic,
) -> Vec<CaseResult> {
    let plan = &g.plan;
    let witnesses: Vec<Option<Witness>> = plan
        .checks
        .iter()
        .map(|c| match config {
            Some(Ok(config)) if c.unavailable.is_none() => {
                Some(witness::judge(config, &Query::of(c)))
            }
            _ => None,
        })
        .collect();
    let seen = |i: usize| match (config, &witnesses[i]) {
        (None, _) => Seen::Off,
        (Some(Err(e)), _) => Seen::Unread(e),
        (Some(Ok(_)), Some(w)) => Seen::Read(w),
        (Some(Ok(_)), None) => Seen::Off,
    };
    let mut out: Vec<CaseResult> = match &g.evidence {
        Some(evidence) => {
            let explained = match config {
                Some(c) => explain::explain(c, plan, evidence, no_traffic),
                None => vec![None; plan.checks.len()],
            };
            (0..plan.checks.len())
                .map(|i| {
                    report::judge_check(
                        &plan.checks[i],
                        evidence,
                        i,
                        no_traffic,
                        explained[i].as_deref(),
                        seen(i),
                    )
                })
                .collect()
        }
        None => (0..plan.checks.len())
            .map(|i| {
                let started = Instant::now();
                let check = &plan.checks[i];
                let judged = match (config, &witnesses[i]) {
                    (Some(Ok(_)), Some(w)) => Ok(w),
                    (Some(Err(e)), _) => Err(e.as_str()),
                    _ => Err("EC2 was not read"),
                };
                let said = second::preflight(check, &report::text::expected_line(check), judged);
                CaseResult {
                    outcome: said.outcome,
                    message: said.message,
                    details: said.details,
                    evidence: "the configuration".into(),
                    duration: started.elapsed(),
                    pairs: Vec::new(),
                    explanation: None,
                }
            })
            .collect(),
    };
    for s in &g.strict {
        let started = Instant::now();
        let expected = report::strict::expected(s, &plan.checks);
        let (traffic, counted) = match &g.strict_flows {
            None => (Traffic::NotRead, "the configuration".to_string()),
            Some(Err(e)) => (Traffic::Unavailable(e), "none gathered".to_string()),
            Some(Ok(ev)) => {
                let rows = verdict::strict::undeclared(&s.side.addrs, &expected, &ev.flows);
                let n: u64 = rows.iter().map(|r| r.connections).sum();
                (
                    Traffic::Read {
                        rows,
                        gaps: &ev.gaps,
                        evidence: ev,
                    },
                    format!("{n} undeclared connection{}", if n == 1 { "" } else { "s" }),
                )
            }
        };
        let rules = match config {
            None => Rules::Off,
            Some(Err(e)) => Rules::Unread(e),
            Some(Ok(config)) => {
                let host: Vec<&Interface> = config
                    .interfaces
                    .iter()
                    .filter(|i| i.nets.iter().any(|n| s.side.addrs.contains(n.addr())))
                    .collect();
                if host.is_empty() {
                    Rules::NoInterface
                } else {
                    let needs: Vec<Need<'_>> = expected
                        .iter()
                        .map(|c| Need {
                            peers: &c.from.addrs,
                            protocol: c.protocol,
                            ports: &c.ports,
                        })
                        .collect();
                    Rules::Read(explain::strict::findings(&host, &needs, &config.members))
                }
            }
        };
        let said = report::strict::case(s, &plan.checks, &traffic, &rules);
        out.push(CaseResult {
            outcome: said.outcome,
            message: said.message,
            details: said.details,
            evidence: counted,
            duration: started.elapsed(),
            pairs: Vec::new(),
            explanation: None,
        });
    }
    out
}

/// The report files a run writes: `--junit`, `--sarif`, `--summary`, and GitHub's step summary.
struct Reports {
    junit: Option<PathBuf>,
    sarif: Option<PathBuf>,
    summary: Option<PathBuf>,
    github: Option<PathBuf>,
}

impl Reports {
    fn of(args: &CheckArgs) -> Reports {
        Reports {
            junit: args.junit.clone(),
            sarif: args.sarif.clone(),
            summary: args.summary.clone(),
            github: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        }
    }

    /// Writes every report of a run that judged; a report that cannot be written fails the run.
    fn write(
        &self,
        cases: &[Case],
        results: &[Option<CaseResult>],
        summary: &str,
    ) -> Result<(), Error> {
        for (path, result) in self.written(cases, results, summary) {
            result.map_err(|source| Error::Output { path, source })?;
        }
        Ok(())
    }

    fn written(
        &self,
        cases: &[Case],
        results: &[Option<CaseResult>],
        summary: &str,
    ) -> Vec<(PathBuf, std::io::Result<()>)> {
        let mut out = Vec::new();
        if let Some(path) = &self.junit {
            let junit = report::junit::report(cases, results, summary);
            out.push((path.clone(), report::junit::write(path, &junit)));
        }
        if let Some(path) = &self.sarif {
            let cwd = std::env::current_dir().ok();
            let sarif = report::sarif::log(cases, results, cwd.as_deref());
            out.push((path.clone(), report::sarif::write(path, &sarif)));
        }
        let markdown = report::markdown::summary(cases, results, summary);
        if let Some(path) = &self.summary {
            out.push((
                path.clone(),
                report::write_atomically(path, markdown.as_bytes()),
            ));
        }
        if let Some(path) = &self.github {
            // GitHub collects what each step appends to this file.
            out.push((path.clone(), super::append(path, markdown.as_bytes())));
        }
        out
    }

    /// The reports of a run that stopped before judging (a usage conflict, a selector that
    /// matches nothing, AWS out of reach): every case an error carrying the reason, so the
    /// pipeline page says what happened instead of showing a stale or missing report. Failing
    /// to write them is only a warning: the run's own error is what the user must see.
    fn stopped(&self, specs: &[Spec], window: Window, e: &Error) {
        let unresolved = super::unresolved(specs);
        let plan = plan::assemble(specs, &unresolved, window);
        let cases = report::cases(&plan, &plan::strict(specs, &unresolved, &plan));
        let why = e.render();
        let first = why
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        let results: Vec<Option<CaseResult>> = cases
            .iter()
            .map(|_| {
                Some(CaseResult {
                    outcome: Outcome::Error(verdict::Missing::Unavailable(first.to_string())),
                    message: format!("UNAVAILABLE: the run stopped before judging: {first}"),
                    details: format!("the run stopped before judging this expectation:\n{why}\n"),
                    evidence: "none".into(),
                    duration: std::time::Duration::ZERO,
                    pairs: Vec::new(),
                    explanation: None,
                })
            })
            .collect();
        let summary = format!("evidence: none; the run stopped: {first}\n");
        for (path, result) in self.written(&cases, &results, &summary) {
            if let Err(err) = result {
                eprintln!("flowgate: warning: cannot write {}: {err}", path.display());
            }
        }
    }

    /// Removes the report files of an earlier run, when this one cannot name a case.
    fn remove_stale(&self) {
        for path in [&self.junit, &self.sarif, &self.summary]
            .into_iter()
            .flatten()
        {
            match std::fs::remove_file(path) {
                Ok(()) => eprintln!(
                    "flowgate: removed {}: it was an earlier run's, and this run judged nothing",
                    path.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => eprintln!(
                    "flowgate: warning: cannot remove the earlier run's {}: {e}",
                    path.display()
                ),
            }
        }
    }
}
