//! flowgate: a connectivity gate for AWS.
//!
//! The pipeline runs in one direction, one module per stage:
//! [`spec`] (YAML → validated model) → [`resolve`] (hosts → address sets, through EC2 for AWS
//! selectors) → [`plan`] (what evidence to ask for) → [`source`] (flow-log files, CloudWatch
//! Logs Insights) → [`verdict`] (pure judgement) →
//! [`report`] (libtest-mimic trials, JUnit, summaries).

pub mod aws;
pub mod cli;
pub mod error;
pub mod evidence;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub mod observe;
pub mod plan;
pub mod progress;
pub mod report;
pub mod resolve;
pub mod source;
pub mod spec;
pub mod triage;
pub mod verdict;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::Error;

use aws::Aws;
use cli::{CheckArgs, Cli, Command, EvidenceArgs, NoTrafficArg, QueryArgs, RowsArg, ValidateArgs};
use plan::{Plan, Window};
use source::Source;
use source::files::FileSource;
use source::insights::{self, InsightsSource, discover::LogSource, query::Rows, run::Runner};
use spec::SpecErrors;

/// Runs one command line; the caller prints the error, if any, and exits with its code.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Validate(args) => validate(args),
        Command::Check(args) => runtime()?.block_on(check(args)),
        Command::Query(args) => runtime()?.block_on(query(args)),
        Command::Triage(args) => runtime()?.block_on(triage_run(args)),
        Command::Observe(args) => runtime()?.block_on(observe_run(args)),
        Command::Schema => emit(spec::schema::json().as_bytes()),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "flowgate", &mut out);
            emit(&out)
        }
        Command::Man { command } => {
            let top = <Cli as clap::CommandFactory>::command();
            let page = match &command {
                None => top,
                Some(name) => {
                    let names: Vec<String> = top
                        .get_subcommands()
                        .map(|c| c.get_name().to_string())
                        .filter(|n| n != "help")
                        .collect();
                    let sub = top.find_subcommand(name).cloned().ok_or_else(|| {
                        Error::Usage(format!(
                            "no command `{name}`\n  help: one of {}",
                            names.join(", ")
                        ))
                    })?;
                    // clap names pages by a `'static` str: leaked once, for this one page.
                    let page_name: &'static str = format!("flowgate-{name}").leak();
                    sub.name(page_name).version(env!("CARGO_PKG_VERSION"))
                }
            };
            let mut out = Vec::new();
            clap_mangen::Man::new(page)
                .render(&mut out)
                .map_err(|e| Error::Usage(format!("cannot render the manual page: {e}")))?;
            emit(&out)
        }
    }
}

/// Writes generated text to stdout; a reader that stops early (`| head`) is not an error.
fn emit(bytes: &[u8]) -> Result<ExitCode, Error> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Usage(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Evidence(format!("cannot start the async runtime: {e}")))
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

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn window(args: &EvidenceArgs) -> Result<Window, Error> {
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

/// Loads the specs and resolves their hosts (through EC2 when `aws` is there): the plan.
async fn plan(specs: &[spec::Spec], aws: Option<&Aws>, window: Window) -> Result<Plan, Error> {
    let hosts = resolve_all(specs, aws).await?;
    Ok(plan::assemble(specs, &hosts, window))
}

/// The hosts of every spec, resolved.
async fn resolve_all(
    specs: &[spec::Spec],
    aws: Option<&Aws>,
) -> Result<Vec<resolve::Hosts>, Error> {
    let mut hosts = Vec::new();
    let mut problems = Vec::new();
    for s in specs {
        match resolve::resolve(s, aws.map(|a| &a.ec2)).await {
            Ok(h) => hosts.push(h),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Spec(SpecErrors(problems)));
    }
    Ok(hosts)
}

fn log_format(args: &EvidenceArgs) -> Result<Option<source::format::Format>, Error> {
    args.log_format
        .as_deref()
        .map(source::format::Format::parse)
        .transpose()
        .map_err(|e| Error::Usage(format!("--log-format: {e}")))
}

/// Where the flow logs are in CloudWatch: the named log groups, or those discovery finds; and
/// the checks no flow log found covers, with why.
async fn log_sources(
    args: &EvidenceArgs,
    aws: Option<&Aws>,
    plan: &Plan,
) -> Result<(Vec<LogSource>, BTreeMap<usize, String>), Error> {
    let given = log_format(args)?;
    if !args.log_groups.is_empty() {
        let sources =
            insights::discover::named(aws.map(|a| &a.ec2), &args.log_groups, given.as_ref())
                .await?;
        return Ok((sources, BTreeMap::new()));
    }
    let aws = aws.expect("AWS is connected when no log group is named");
    let found = insights::discover::discover(&aws.ec2, plan)
        .await
        .map_err(Error::Evidence)?;
    Ok((found.sources, found.uncovered))
}

fn rows(args: &EvidenceArgs) -> Rows {
    match args.insights_rows {
        RowsArg::Aggregated => Rows::Aggregated,
        RowsArg::Raw => Rows::Raw,
    }
}

async fn query(args: QueryArgs) -> Result<ExitCode, Error> {
    let window = window(&args.evidence)?;
    let specs = spec::load_all(&args.specs)?;
    let opts = args.evidence.aws.options();
    // Printing queries needs AWS only to resolve selectors or find log groups.
    let needs_aws = opts.given()
        || args.evidence.log_groups.is_empty()
        || specs.iter().any(|s| {
            s.hosts
                .values()
                .any(|h| matches!(h.selector, spec::HostSelector::Aws(_)))
        });
    let aws = if needs_aws {
        Some(aws::connect(&opts).await)
    } else {
        None
    };
    let plan = plan(&specs, aws.as_ref(), window).await?;
    let (sources, uncovered) = log_sources(&args.evidence, aws.as_ref(), &plan).await?;
    let rows = rows(&args.evidence);
    for s in sources.iter().filter(|s| s.assumed) {
        println!(
            "# {}: record format assumed to be the default (version 2): without AWS access flowgate cannot read the flow log's; give --log-format for a custom one\n",
            s.groups.join(", ")
        );
    }
    for (i, why) in &uncovered {
        println!("# {}: not judged: {why}\n", plan.checks[*i].trial_name());
    }
    let planned = insights::planned(&plan, &sources, rows, now());
    for q in &planned {
        println!(
            "# log groups: {}\n# time range: {} .. {} ({} .. {})\n{}\n",
            q.groups.join(", "),
            report::text::time(q.start),
            report::text::time(q.end),
            q.start,
            q.end,
            q.text
        );
    }
    if planned.iter().any(|q| q.pairs) {
        println!(
            "# Then, only for the address pairs whose totals do not settle the verdict (rejects in a\n\
             # reach check, accepts in a deny check, a server that stopped taking connections), the\n\
             # same records per connection, over the same time ranges."
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(args: CheckArgs) -> Result<ExitCode, Error> {
    let window = window(&args.evidence)?;
    let specs = spec::load_all(&args.specs)?;
    let harness = args.harness.to_libtest();
    let opts = args.evidence.aws.options();
    let files = !args.flow_logs.is_empty();
    if files && !args.evidence.log_groups.is_empty() {
        return Err(Error::Usage(
            "--flow-logs reads files; --log-group reads CloudWatch: give one".into(),
        ));
    }
    // CloudWatch needs AWS; files need it only to resolve AWS selectors, when asked for.
    let aws = if harness.list || (files && !opts.given()) {
        None
    } else {
        Some(aws::connect(&opts).await)
    };
    if harness.list {
        let plan = plan::assemble(&specs, &list_hosts(&specs), window);
        let _ = libtest_mimic::run(&harness, report::listing(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    let (plan, evidence, described) = match gather(&args, &specs, aws.as_ref(), window).await {
        Ok(gathered) => gathered,
        Err(e) => {
            // The pipeline still gets a report to show: every case an error saying why.
            write_stopped_reports(&args, &specs, window, &e);
            return Err(e);
        }
    };
    let summary = report::summary(&described, &plan, &evidence);
    eprint!("{summary}");
    let no_traffic = match args.no_traffic {
        NoTrafficArg::Fail => verdict::NoTraffic::Fail,
        NoTrafficArg::Skip => verdict::NoTraffic::Skip,
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
        .filter(|r| matches!(r.outcome, verdict::Outcome::Error(_)))
        .count();
    if errors > 0 {
        // libtest counts them as failed; they are not verdicts.
        eprintln!(
            "note: {errors} of these are errors, not failures: their evidence is missing (INCOMPLETE) or could not be gathered (UNAVAILABLE); each case says which"
        );
    }
    if let Some(path) = &args.junit {
        let junit = report::junit::report(&plan, &results, &summary);
        report::junit::write(path, &junit).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
    }
    let markdown = report::markdown::summary(&plan, &results, &summary);
    if let Some(path) = &args.summary {
        report::write_atomically(path, markdown.as_bytes()).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        // GitHub collects what each step appends to this file.
        let path = std::path::PathBuf::from(path);
        append(&path, markdown.as_bytes()).map_err(|source| Error::Output { path, source })?;
    }
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
    specs: &[spec::Spec],
    aws: Option<&Aws>,
    window: Window,
) -> Result<(Arc<Plan>, Arc<evidence::Evidence>, String), Error> {
    let plan = Arc::new(plan(specs, aws, window).await?);
    let (evidence, described) = if !args.flow_logs.is_empty() {
        let source = FileSource::open(&args.flow_logs, args.evidence.log_format.as_deref())?;
        (source.collect(Arc::clone(&plan)).await?, source.describe())
    } else {
        let aws = aws.expect("connected for CloudWatch");
        let (sources, uncovered) = log_sources(&args.evidence, Some(aws), &plan).await?;
        let runner = Arc::new(Runner::new(aws.logs.clone(), args.max_queries));
        let source = InsightsSource {
            runner: Arc::clone(&runner),
            sources,
            uncovered,
            rows: rows(&args.evidence),
            wait: args.wait.map(Into::into),
        };
        // Ctrl-C stops the running queries; the checks they served end as errors.
        let stopper = tokio::spawn({
            let runner = Arc::clone(&runner);
            async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!(
                        "flowgate: stopping the running queries (Ctrl-C again to quit at once)"
                    );
                    runner.cancel().await;
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                }
            }
        });
        let evidence = source.collect(Arc::clone(&plan)).await;
        stopper.abort();
        (evidence?, source.describe())
    };
    Ok((plan, Arc::new(evidence), described))
}

/// The reports of a run that stopped before judging (a selector that matches nothing, AWS out
/// of reach): every case an error carrying the reason, so the pipeline page says what happened
/// instead of showing a stale or missing report. Failing to write them is only a warning: the
/// run's own error is what the user must see.
fn write_stopped_reports(args: &CheckArgs, specs: &[spec::Spec], window: Window, e: &Error) {
    let github = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty());
    if args.junit.is_none() && args.summary.is_none() && github.is_none() {
        return;
    }
    let plan = plan::assemble(specs, &list_hosts(specs), window);
    let why = e.render();
    let first = why
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    let results: Vec<Option<report::CaseResult>> = plan
        .checks
        .iter()
        .map(|_| {
            Some(report::CaseResult {
                outcome: verdict::Outcome::Error(verdict::Missing::Unavailable(first.to_string())),
                message: format!("UNAVAILABLE: the run stopped before judging: {first}"),
                details: format!("the run stopped before judging this expectation:\n{why}\n"),
                evidence: "none".into(),
                duration: std::time::Duration::ZERO,
            })
        })
        .collect();
    let summary = format!("evidence: none; the run stopped: {first}\n");
    let mut written = Vec::new();
    if let Some(path) = &args.junit {
        written.push((
            path.clone(),
            report::junit::write(path, &report::junit::report(&plan, &results, &summary)),
        ));
    }
    let markdown = report::markdown::summary(&plan, &results, &summary);
    if let Some(path) = &args.summary {
        written.push((
            path.clone(),
            report::write_atomically(path, markdown.as_bytes()),
        ));
    }
    if let Some(path) = github {
        let path = std::path::PathBuf::from(path);
        written.push((path.clone(), append(&path, markdown.as_bytes())));
    }
    for (path, result) in written {
        if let Err(err) = result {
            eprintln!("flowgate: warning: cannot write {}: {err}", path.display());
        }
    }
}

/// `flowgate triage`: the refused flows touching the specs' hosts, from files or one aggregated
/// Logs Insights query per batch of networks.
async fn triage_run(args: cli::TriageArgs) -> Result<ExitCode, Error> {
    let window = window(&args.evidence)?;
    let specs = spec::load_all(&args.specs)?;
    let opts = args.evidence.aws.options();
    let files = !args.flow_logs.is_empty();
    let aws = aws_unless_files_only(files, &opts).await;
    let hosts = resolve_all(&specs, aws.as_ref()).await?;
    let plan = plan::assemble(&specs, &hosts, window);
    let sets: Vec<resolve::AddrSet> = hosts
        .iter()
        .flat_map(|h| {
            h.values()
                .filter_map(|r| r.as_ref().ok())
                .map(|h| h.addrs.clone())
        })
        .collect();
    let union = sets
        .iter()
        .fold(resolve::Ranges::of(&[], &[]), |u, s| u.union(s.ranges()));
    let scope = triage::Scope {
        hosts: sets,
        plan: &plan,
    };
    let mut found_rows = BTreeMap::new();
    let described = if files {
        let source = FileSource::open(&args.flow_logs, args.evidence.log_format.as_deref())?;
        let found = std::sync::Mutex::new(BTreeMap::new());
        let ev = source::files::visit(source.files(), source.format(), window, union, &|f| {
            triage::observe_flow(
                &scope,
                &mut found.lock().unwrap_or_else(|e| e.into_inner()),
                f,
            )
        })?;
        found_rows = found.into_inner().unwrap_or_else(|e| e.into_inner());
        eprint!("{}", report::text::gap_lines(&ev.gaps, &ev, "  "));
        if !ev.gaps.is_empty() {
            eprintln!("(evidence is missing: the table may be short of refused flows)");
        }
        "flow-log files".to_string()
    } else {
        let aws = aws.as_ref().expect("connected for CloudWatch");
        let (sources, uncovered) = log_sources(&args.evidence, Some(aws), &plan).await?;
        for (i, why) in &uncovered {
            eprintln!(
                "not covered, its refused flows may be missing: {}: {why}",
                plan.checks[*i].trial_name()
            );
        }
        let runner = Runner::new(aws.logs.clone(), args.max_queries);
        let (start, end) = insights::windows(&plan, now())
            .into_iter()
            .fold((u64::MAX, 0), |(s, e), (ws, we)| (s.min(ws), e.max(we)));
        let mut queries = 0;
        let mut skipped = 0u64;
        for src in &sources {
            let mode = rows(&args.evidence);
            let layout = source::record::Layout::new(&src.format);
            let batches = insights::query::touching(
                &src.format,
                &union.networks(),
                evidence::Action::Reject,
                mode,
            );
            for (b, (text, _)) in batches.iter().enumerate() {
                let answer = runner
                    .run(&src.groups, start as i64, end as i64, text)
                    .await
                    .map_err(|e| {
                        Error::Evidence(format!("triage query on {}: {e}", src.groups.join(", ")))
                    })?;
                queries += 1;
                let fail = |e: String| {
                    Error::Evidence(format!("triage query on {}: {e}", src.groups.join(", ")))
                };
                for row in &answer.rows {
                    if mode == Rows::Raw {
                        if let Some(flow) = raw_flow(row, &layout, &batches, b, &mut skipped)
                            .map_err(|e| fail(format!("a record {e}")))?
                        {
                            triage::observe_flow(&scope, &mut found_rows, &flow);
                        }
                        continue;
                    }
                    let (k, seen) = match triage::decode_row(&scope, row)
                        .map_err(|e| fail(format!("a row {e}")))?
                    {
                        triage::Row::Refused(k, seen) => (k, seen),
                        triage::Row::Skipped(n) => {
                            // Every batch's query returns them: count the first one's.
                            if b == 0 {
                                skipped += n;
                            }
                            continue;
                        }
                        triage::Row::Elsewhere => continue,
                    };
                    if insights::query::first_batch(&batches, k.src, k.dst) != Some(b) {
                        continue; // another query of this run counts it
                    }
                    found_rows
                        .entry(k)
                        .or_insert_with(triage::Seen::default)
                        .add(seen.records, seen.first, seen.last);
                }
            }
        }
        if skipped > 0 {
            eprintln!(
                "AWS skipped {skipped} records (SKIPDATA) in the window: refused flows may be missing from the table"
            );
        }
        format!("{}, {queries} queries", described(&sources, start, end))
    };
    print!("{}", triage::render(&scope, &found_rows, &described));
    Ok(ExitCode::SUCCESS)
}

/// `flowgate observe`: the baseline spec of what worked, on stdout.
async fn observe_run(args: cli::ObserveArgs) -> Result<ExitCode, Error> {
    let window = window(&args.evidence)?;
    let opts = args.evidence.aws.options();
    let files = !args.flow_logs.is_empty();
    let specs = match &args.hosts {
        Some(path) => spec::load_all(std::slice::from_ref(path))?,
        None => Vec::new(),
    };
    if specs.len() > 1 {
        return Err(Error::Usage(format!(
            "--hosts {}: {} specs; a baseline is written for the hosts of one\n  help: name one spec file",
            args.hosts
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            specs.len()
        )));
    }
    let aws = aws_unless_files_only(files, &opts).await;
    let hosts = resolve_all(&specs, aws.as_ref()).await?;
    let plan = plan::assemble(&specs, &hosts, window);
    let mut named: Vec<observe::Named> = Vec::new();
    for (s, resolved) in specs.iter().zip(&hosts) {
        for (name, host) in &s.hosts {
            if let Some(Ok(h)) = resolved.get(name) {
                named.push(observe::Named {
                    name: name.clone(),
                    addrs: h.addrs.clone(),
                    yaml: observe::host_yaml(&host.selector),
                });
            }
        }
    }
    let among = if specs.is_empty() {
        resolve::AddrSet::networks(args.cidr.clone(), Vec::new())
    } else {
        let nets: Vec<ipnet::IpNet> = named
            .iter()
            .flat_map(|h| h.addrs.ranges().networks())
            .collect();
        resolve::AddrSet::networks(nets, Vec::new())
    };
    let mut observed = observe::Observed::default();
    let described = if files {
        let source = FileSource::open(&args.flow_logs, args.evidence.log_format.as_deref())?;
        let found = std::sync::Mutex::new(observe::Observed::default());
        let ev = source::files::visit(
            source.files(),
            source.format(),
            window,
            among.ranges().clone(),
            &|f| {
                found
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add(&among, f)
            },
        )?;
        observed = found.into_inner().unwrap_or_else(|e| e.into_inner());
        eprint!("{}", report::text::gap_lines(&ev.gaps, &ev, "  "));
        format!("{} flow-log files", ev.files.len())
    } else {
        let aws = aws.as_ref().expect("connected for CloudWatch");
        if specs.is_empty() && args.evidence.log_groups.is_empty() {
            return Err(Error::Usage(
                "observe --cidr against CloudWatch needs --log-group: there is no spec to find the flow logs from".into(),
            ));
        }
        let (sources, _) = log_sources(&args.evidence, Some(aws), &plan).await?;
        let runner = Runner::new(aws.logs.clone(), args.max_queries);
        let mut skipped = 0u64;
        let end = window
            .end
            .unwrap_or(now().saturating_sub(insights::DELIVERY_MARGIN));
        let lookback = specs
            .first()
            .and_then(|s| s.window)
            .map_or(3600, |w| w.as_secs());
        let start = window.start.unwrap_or(end.saturating_sub(lookback));
        for src in &sources {
            let layout = source::record::Layout::new(&src.format);
            let batches = insights::query::touching(
                &src.format,
                &among.ranges().networks(),
                evidence::Action::Accept,
                Rows::Raw,
            );
            for (b, (text, _)) in batches.iter().enumerate() {
                let answer = runner
                    .run(&src.groups, start as i64, end as i64, text)
                    .await
                    .map_err(|e| {
                        Error::Evidence(format!("observe query on {}: {e}", src.groups.join(", ")))
                    })?;
                for row in &answer.rows {
                    let flow = raw_flow(row, &layout, &batches, b, &mut skipped).map_err(|e| {
                        Error::Evidence(format!(
                            "observe query on {}: a record {e}",
                            src.groups.join(", ")
                        ))
                    })?;
                    if let Some(flow) = flow {
                        observed.add(&among, &flow);
                    }
                }
            }
        }
        if skipped > 0 {
            eprintln!(
                "AWS skipped {skipped} records (SKIPDATA) in the window: the baseline may miss connections"
            );
        }
        described(&sources, start, end)
    };
    if specs.is_empty() {
        named = observe::address_hosts(&observed);
    }
    let app = args.app.clone().unwrap_or_else(|| match specs.first() {
        Some(s) => format!("{}-baseline", s.app),
        None => "baseline".into(),
    });
    let Some(text) = observed.spec(&app, &named, &described) else {
        return Err(Error::Evidence(format!(
            "no ESTABLISHED connection among the hosts in the evidence ({described}): there is no baseline to write"
        )));
    };
    // What is written must load as a spec: a bad --app, or names the spec format refuses.
    if let Err(problems) = spec::parse(std::path::Path::new("<baseline>"), &text) {
        return Err(Error::Usage(format!(
            "the baseline would not be a valid spec: {}",
            problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    emit(text.as_bytes())
}

/// AWS, unless the evidence is files and nothing asks for AWS (selectors then fail as spec
/// errors that say so).
async fn aws_unless_files_only(files: bool, opts: &aws::AwsOptions) -> Option<Aws> {
    if files && !opts.given() {
        None
    } else {
        Some(aws::connect(opts).await)
    }
}

/// The record of a raw Logs Insights row, if it is a flow batch `b` of `batches` reports (a
/// record two queries return counts once); SKIPDATA records are added to `skipped` once.
fn raw_flow(
    row: &insights::run::Row,
    layout: &source::record::Layout,
    batches: &[(String, Vec<ipnet::IpNet>)],
    b: usize,
    skipped: &mut u64,
) -> Result<Option<evidence::Flow>, String> {
    let (decoded, _) = insights::decode::raw(row, layout)?;
    Ok(match decoded {
        insights::decode::Decoded::Flow { flow, .. }
            if insights::query::first_batch(batches, flow.src, flow.dst) == Some(b) =>
        {
            Some(flow)
        }
        insights::decode::Decoded::SkipData { records, .. } => {
            if b == 0 {
                *skipped += records;
            }
            None
        }
        _ => None,
    })
}

/// The log groups and time range a CloudWatch command read, in words.
fn described(sources: &[LogSource], start: u64, end: u64) -> String {
    let groups: Vec<String> = sources.iter().flat_map(|s| s.groups.clone()).collect();
    format!(
        "CloudWatch Logs {}, {} .. {}",
        groups.join(", "),
        report::text::time(start),
        report::text::time(end)
    )
}

fn append(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)
}

/// Hosts for `--list`, which needs names only: nothing is resolved.
fn list_hosts(specs: &[spec::Spec]) -> Vec<resolve::Hosts> {
    specs
        .iter()
        .map(|s| {
            s.hosts
                .keys()
                .map(|name| (name.clone(), Err("not resolved for --list".to_string())))
                .collect()
        })
        .collect()
}
