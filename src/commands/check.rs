//! `flowgate check`: one test per expectation, judged against the evidence, with JUnit and
//! a Markdown summary for the pipeline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{CheckArgs, NoTrafficArg};
use crate::error::Error;
use crate::evidence::Evidence;
use crate::explain;
use crate::plan::{self, Plan, Window};
use crate::report::{self, CaseResult};
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
    if harness.list {
        let plan = plan::assemble(&specs, &super::unresolved(&specs), window);
        let _ = libtest_mimic::run(&harness, report::listing(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    let gathered = gather(&args, &specs, window).await;
    let (plan, evidence, described, aws) = match gathered {
        Ok(g) => g,
        Err(e) => {
            // The pipeline still gets a report to show: every case an error saying why.
            reports.stopped(&specs, window, &e);
            return Err(e);
        }
    };
    let summary = report::summary(&described, &plan, &evidence);
    eprint!("{summary}");
    let no_traffic = match args.no_traffic {
        NoTrafficArg::Fail => NoTraffic::Fail,
        NoTrafficArg::Skip => NoTraffic::Skip,
    };
    let explained = match (&aws, args.no_explain) {
        (Some(aws), false) => explain::explain(&aws.ec2, &plan, &evidence, no_traffic).await,
        _ => Vec::new(),
    };
    let recorder = report::Recorder::new(plan.checks.len());
    let trials = report::trials(
        &plan,
        &evidence,
        no_traffic,
        &recorder,
        &Arc::new(explained),
    );
    // libtest-mimic runs trials on its own threads and blocks: off the async runtime.
    let conclusion = tokio::task::block_in_place(|| libtest_mimic::run(&harness, trials));
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
    reports.write(&plan, &results, &summary)?;
    if results.iter().all(Option::is_none) {
        // A filter or --skip that matches nothing would otherwise be a green gate that judged nothing.
        return Err(Error::Usage(
            "no expectation was judged: the filter and --skip options left none to run\n  help: see the names with --list".into(),
        ));
    }
    Ok(report::exit_code(&results, &conclusion))
}

/// Resolves the hosts and collects the evidence for every check: all the I/O of a check run.
async fn gather(
    args: &CheckArgs,
    specs: &[Spec],
    window: Window,
) -> Result<(Arc<Plan>, Arc<Evidence>, String, Option<crate::aws::Aws>), Error> {
    let request = super::request(&args.evidence, args.wait.map(Into::into));
    let aws = super::connect(&args.evidence, &request, specs, super::Purpose::Read).await?;
    let plan = Arc::new(super::plan(specs, aws.as_ref(), window).await?);
    let source = super::open(&request, &plan, aws.as_ref()).await?;
    let evidence = super::gather(&source, &Question::Checks(Arc::clone(&plan))).await?;
    Ok((plan, Arc::new(evidence), source.describe(), aws))
}

/// The report files a run writes: `--junit`, `--summary`, and GitHub's step summary.
struct Reports {
    junit: Option<PathBuf>,
    summary: Option<PathBuf>,
    github: Option<PathBuf>,
}

impl Reports {
    fn of(args: &CheckArgs) -> Reports {
        Reports {
            junit: args.junit.clone(),
            summary: args.summary.clone(),
            github: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        }
    }

    /// Writes every report of a run that judged; a report that cannot be written fails the run.
    fn write(
        &self,
        plan: &Plan,
        results: &[Option<CaseResult>],
        summary: &str,
    ) -> Result<(), Error> {
        for (path, result) in self.written(plan, results, summary) {
            result.map_err(|source| Error::Output { path, source })?;
        }
        Ok(())
    }

    fn written(
        &self,
        plan: &Plan,
        results: &[Option<CaseResult>],
        summary: &str,
    ) -> Vec<(PathBuf, std::io::Result<()>)> {
        let mut out = Vec::new();
        if let Some(path) = &self.junit {
            let junit = report::junit::report(plan, results, summary);
            out.push((path.clone(), report::junit::write(path, &junit)));
        }
        let markdown = report::markdown::summary(plan, results, summary);
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
        let plan = plan::assemble(specs, &super::unresolved(specs), window);
        let why = e.render();
        let first = why
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        let results: Vec<Option<CaseResult>> = plan
            .checks
            .iter()
            .map(|_| {
                Some(CaseResult {
                    outcome: Outcome::Error(verdict::Missing::Unavailable(first.to_string())),
                    message: format!("UNAVAILABLE: the run stopped before judging: {first}"),
                    details: format!("the run stopped before judging this expectation:\n{why}\n"),
                    evidence: "none".into(),
                    duration: std::time::Duration::ZERO,
                })
            })
            .collect();
        let summary = format!("evidence: none; the run stopped: {first}\n");
        for (path, result) in self.written(&plan, &results, &summary) {
            if let Err(err) = result {
                eprintln!("flowgate: warning: cannot write {}: {err}", path.display());
            }
        }
    }

    /// Removes the report files of an earlier run, when this one cannot name a case.
    fn remove_stale(&self) {
        for path in [&self.junit, &self.summary].into_iter().flatten() {
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
