//! One module per command, each a short story over the shared stages below: load the specs,
//! connect to AWS when something needs it, resolve the hosts into a plan, locate and open the
//! evidence, ask it a question, report.

pub mod athena_ddl;
pub mod check;
pub mod observe;
pub mod print;
pub mod query;
pub mod triage;
pub mod validate;

use std::path::Path;
use std::sync::Arc;

use crate::aws::{self, Aws};
use crate::cli::{EvidenceArgs, RowsArg};
use crate::error::Error;
use crate::plan::{self, Plan, Window};
use crate::resolve;
use crate::source::{self, Request, Rows, Source};
use crate::spec::{self, HostSelector, Spec, SpecErrors};

/// The async runtime the evidence is gathered on.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Evidence(format!("cannot start the async runtime: {e}")))
}

/// Writes generated text to stdout; a reader that stops early (`| head`) is not an error.
pub fn emit(bytes: &[u8]) -> Result<std::process::ExitCode, Error> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Usage(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(std::process::ExitCode::SUCCESS),
    }
}

/// The time window the command line asks for.
pub fn window(args: &EvidenceArgs) -> Result<Window, Error> {
    let w = Window {
        start: args.start,
        end: args.end,
        since: args.since.map(|d| d.as_secs()),
    };
    if let (Some(s), Some(e)) = (w.start, w.end)
        && s > e
    {
        return Err(Error::Usage("--start is after --end".into()));
    }
    Ok(w)
}

/// The evidence the command line names (`wait` is `check`'s own option).
pub fn request(args: &EvidenceArgs, wait: Option<std::time::Duration>) -> Request {
    Request {
        flow_logs: args.flow_logs.clone(),
        log_groups: args.log_groups.clone(),
        log_format: args.log_format.clone(),
        exclude: args.exclude.clone(),
        rows: match args.insights_rows.unwrap_or(RowsArg::Aggregated) {
            RowsArg::Aggregated => Rows::Aggregated,
            RowsArg::Raw => Rows::Raw,
        },
        wait,
        max_queries: args.max_queries.unwrap_or(4),
        cloudwatch_options: [
            args.insights_rows.map(|_| "--insights-rows"),
            args.max_queries.map(|_| "--max-queries"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        athena: args
            .athena_table
            .as_ref()
            .map(|table| source::AthenaRequest {
                table: table.clone(),
                workgroup: args
                    .athena_workgroup
                    .clone()
                    .unwrap_or_else(|| "primary".to_string()),
                output: args.athena_output.clone(),
            }),
        athena_options: [
            args.athena_workgroup.as_ref().map(|_| "--athena-workgroup"),
            args.athena_output.as_ref().map(|_| "--athena-output"),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }
}

/// Whether any spec names a host the way AWS names it (resolved through EC2).
fn has_aws_selectors(specs: &[Spec]) -> bool {
    specs.iter().any(|s| {
        s.hosts
            .values()
            .any(|h| matches!(h.selector, HostSelector::Aws(_)))
    })
}

/// What AWS is wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Reading the evidence: anything but files is in AWS.
    Read,
    /// Printing what would be read (`flowgate query`): only finding the flow logs, and AWS
    /// selectors, need AWS; named log groups are printed in the default format without it.
    Print,
}

/// Whether a run connects to AWS, decided in one place: the evidence is in AWS, or the user gave
/// `--region`, `--profile` or `--endpoint-url` (AWS selectors, explanations). Files alone need
/// none, and AWS selectors then fail as spec errors that say so.
pub async fn connect(
    args: &EvidenceArgs,
    request: &Request,
    specs: &[Spec],
    purpose: Purpose,
) -> Result<Option<Aws>, Error> {
    let opts = args.aws.options();
    let for_evidence = match purpose {
        Purpose::Read => request.needs_aws()?,
        Purpose::Print => {
            // An Athena table is read before any SQL is written: its partition keys prune.
            matches!(
                request.kind()?,
                source::Kind::Discovered | source::Kind::Athena
            ) || (request.kind()? == source::Kind::LogGroups && has_aws_selectors(specs))
        }
    };
    if purpose == Purpose::Read && request.kind()? == source::Kind::Discovered {
        // Said before any AWS call: a user who meant to read files sees at once what happens.
        eprintln!(
            "evidence: no --flow-logs or --log-group given: reading the flow logs of the specs' hosts from AWS (found through EC2, in CloudWatch Logs or S3); --flow-logs PATH reads files instead"
        );
    }
    let names_an_account = specs
        .iter()
        .any(|s| s.hosts.values().any(|h| h.account.is_some()));
    if args.aws.role_arn.is_some() && !names_an_account {
        // Given and unused: said, so that nobody believes another account was read.
        eprintln!(
            "warning: --role-arn is not used: no host names an account (`account: \"222222222222\"` beside a host's selector); every call runs in the caller's account"
        );
    }
    Ok(if for_evidence || opts.given() {
        Some(aws::connect(&opts).await?)
    } else {
        None
    })
}

/// The hosts of every spec, resolved (through EC2 when `aws` is there).
pub async fn resolve_all(specs: &[Spec], aws: Option<&Aws>) -> Result<Vec<resolve::Hosts>, Error> {
    let mut hosts = Vec::new();
    let mut problems = Vec::new();
    for s in specs {
        match resolve::resolve(s, aws).await {
            Ok(h) => hosts.push(h),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Spec(SpecErrors(problems)));
    }
    Ok(hosts)
}

/// The specs' hosts resolved into checks over `window`.
pub async fn plan(specs: &[Spec], aws: Option<&Aws>, window: Window) -> Result<Plan, Error> {
    let hosts = resolve_all(specs, aws).await?;
    Ok(plan::assemble(specs, &hosts, window))
}

/// Hosts for what needs names only (`--list`, reports of a run that stopped): nothing is
/// resolved.
pub fn unresolved(specs: &[Spec]) -> Vec<resolve::Hosts> {
    specs
        .iter()
        .map(|s| {
            s.hosts
                .keys()
                .map(|name| (name.clone(), Err("not resolved".to_string())))
                .collect()
        })
        .collect()
}

/// The question a run asks for its strict hosts, if it has any: the same one triage and observe
/// ask, accepted flows touching the hosts, by 5-tuple (both ports tell the server's end from the
/// client's).
pub fn strict_question(plan: &Arc<Plan>, strict: &[plan::Strict]) -> Option<source::Question> {
    if strict.is_empty() {
        return None;
    }
    let touching = strict.iter().fold(resolve::Ranges::of(&[], &[]), |u, s| {
        u.union(s.side.addrs.ranges())
    });
    Some(source::Question::Flows {
        plan: Arc::clone(plan),
        ask: source::FlowQuestion {
            action: crate::evidence::Action::Accept,
            touching,
            fold: crate::evidence::flows::Fold::Tuple,
        },
    })
}

/// Locates and opens the evidence the request names, for this plan.
pub async fn open(request: &Request, plan: &Plan, aws: Option<&Aws>) -> Result<Source, Error> {
    let at = source::locate(request, plan, aws).await?;
    Ok(source::open(at, request, aws).await?)
}

/// Loads the specs a command names.
pub fn load(paths: &[std::path::PathBuf]) -> Result<Vec<Spec>, Error> {
    // `check spec.yaml shop::users`: a test filter given where specs go (cargo test habits).
    if let Some(p) = paths.iter().find(|p| {
        !p.exists()
            && p.to_str()
                .is_some_and(|s| s.contains("::") || !s.contains(['.', '/']))
    }) {
        return Err(Error::Usage(format!(
            "{}: no such spec file; if it is a test name, test filters go after `--`\n  help: flowgate check SPEC... -- {}",
            p.display(),
            p.display()
        )));
    }
    Ok(spec::load_all(paths)?)
}

/// Appends to a file (GitHub's step summary collects what each step appends).
pub fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)
}

/// Gathers the answer to `question` with Ctrl-C stopping what runs: the checks it served end
/// as unavailable; a second Ctrl-C exits at once.
pub async fn gather(
    source: &Source,
    question: &source::Question,
) -> Result<crate::evidence::Evidence, Error> {
    let gathering = source.gather(question);
    tokio::pin!(gathering);
    tokio::select! {
        ev = &mut gathering => return Ok(ev?),
        signal = tokio::signal::ctrl_c() => {
            if signal.is_err() {
                return Ok(gathering.await?);
            }
            if !source.stops() {
                // Reading files stops nothing worth waiting for: quit as the shell expects.
                std::process::exit(crate::error::Exit::Interrupted as i32);
            }
            eprintln!("flowgate: stopping the running queries (Ctrl-C again to quit at once)");
        }
    }
    let second = async {
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(crate::error::Exit::Interrupted as i32);
        }
    };
    tokio::select! {
        ev = async {
            source.cancel().await;
            gathering.await
        } => Ok(ev?),
        () = second => unreachable!("exits"),
    }
}
