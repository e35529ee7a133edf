//! flowgate: a connectivity gate for AWS.
//!
//! The pipeline runs in one direction, one module per stage:
//! [`spec`] (YAML → validated model) → [`resolve`] (hosts → address sets) → [`plan`] (what
//! evidence to ask for) → [`source`] (flow-log files) → [`verdict`] (pure judgement) →
//! [`report`] (libtest-mimic trials, JUnit, summaries).

pub mod cli;
pub mod error;
pub mod evidence;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod source;
pub mod spec;
pub mod verdict;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::Error;

use cli::{CheckArgs, Cli, Command, NoTrafficArg, ValidateArgs};
use plan::Window;
use source::Source;
use source::files::FileSource;
use spec::SpecErrors;

/// Runs one command line; the caller prints the error, if any, and exits with its code.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Check(args) => check(args),
        Command::Validate(args) => validate(args),
    }
}

fn validate(args: ValidateArgs) -> Result<ExitCode, Error> {
    let specs = spec::load_all(&args.specs)?;
    for s in &specs {
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        println!(
            "{}: ok: app {}, {}, {}",
            s.path.display(),
            s.app,
            count(s.hosts.len(), "host"),
            count(s.expectations.len(), "expectation")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn window(args: &CheckArgs) -> Result<Window, Error> {
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let w = match args.since {
        Some(since) => {
            let end = args.end.unwrap_or_else(now);
            Window {
                start: Some(end.saturating_sub(since.as_secs())),
                end: args.end,
            }
        }
        None => Window {
            start: args.start,
            end: args.end,
        },
    };
    if let (Some(s), Some(e)) = (w.start, w.end)
        && s > e
    {
        return Err(Error::Usage("--start is after --end".into()));
    }
    Ok(w)
}

fn check(args: CheckArgs) -> Result<ExitCode, Error> {
    let window = window(&args)?;
    let specs = spec::load_all(&args.specs)?;
    let plan = Arc::new(plan::build(&specs, window).map_err(|p| Error::Spec(SpecErrors(p)))?);
    let harness = args.harness.to_libtest();
    if harness.list {
        let _ = libtest_mimic::run(&harness, report::listing(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    if args.flow_logs.is_empty() {
        return Err(Error::Usage(
            "no evidence: give --flow-logs PATH with the flow-log files to judge \
             (reading CloudWatch Logs directly is not in this version)"
                .into(),
        ));
    }
    let source = FileSource::open(&args.flow_logs, args.log_format.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Evidence(format!("cannot start the async runtime: {e}")))?;
    let evidence = Arc::new(runtime.block_on(source.collect(Arc::clone(&plan)))?);

    let summary = report::summary(&source.describe(), &plan, &evidence);
    eprint!("{summary}");
    let no_traffic = match args.no_traffic {
        NoTrafficArg::Fail => verdict::NoTraffic::Fail,
        NoTrafficArg::Skip => verdict::NoTraffic::Skip,
    };
    let recorder = report::Recorder::new(plan.checks.len());
    let conclusion = libtest_mimic::run(
        &harness,
        report::trials(&plan, &evidence, no_traffic, &recorder),
    );
    let results = recorder.results();
    if let Some(path) = &args.junit {
        let junit = report::junit::report(&plan, &results, &summary);
        report::junit::write(path, &junit).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
    }
    if results.iter().all(Option::is_none) {
        // A filter or --skip that matches nothing would otherwise be a green gate that judged nothing.
        return Err(Error::Usage(
            "no expectation was judged: the filter and --skip options left none to run\n  help: see the names with --list".into(),
        ));
    }
    Ok(report::exit_code(&results, &conclusion))
}
