//! Evidence sources, and the one way into them for every command.
//!
//! A command describes the evidence it was told about in a [`Request`] (what the command line
//! says). [`locate`] resolves it, with discovery where nothing was named, into a [`Where`]: the
//! evidence to read. [`open`] turns that into a [`Source`], which answers the [`Question`] a
//! command asks (judge these checks; fold these flows). A new kind of evidence is one module and
//! one arm of each `match` here; verdicts never see where the evidence came from.

pub mod aggregate;
pub mod athena;
pub mod blob;
pub mod discover;
pub mod files;
pub mod format;
pub mod insights;
pub mod ledger;
pub mod lines;
pub mod parquet;
pub mod record;
pub mod s3;
pub mod scan;
pub mod walk;

#[cfg(test)]
mod properties;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use aggregate::{FlowQuestion, Rows};

use crate::aws::Aws;
use crate::evidence::Evidence;
use crate::plan::Plan;
use format::Format;
use insights::{Insights, LogSource, run::Runner};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The user named evidence that is not there or cannot be used as given (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The evidence could not be gathered (exit code 3).
    #[error("{0}")]
    Failed(String),
    /// AWS refused or failed a call the evidence needs.
    #[error("{0}")]
    Aws(#[from] crate::aws::AwsError),
}

/// What a command asks a source.
#[derive(Debug, Clone)]
pub enum Question {
    /// The evidence of every check of the plan, in plan order.
    Checks(Arc<Plan>),
    /// The flows `ask` names, folded, over the plan's time range (the plan's checks only say
    /// where to look).
    Flows { plan: Arc<Plan>, ask: FlowQuestion },
}

impl Question {
    pub fn plan(&self) -> &Plan {
        match self {
            Question::Checks(plan) | Question::Flows { plan, .. } => plan,
        }
    }

    /// The same question about the checks `ids` of its plan only (in that order).
    pub fn narrowed(&self, ids: &[usize]) -> Question {
        let plan = self.plan();
        let plan = Arc::new(plan.subset(ids, plan.window));
        match self {
            Question::Checks(_) => Question::Checks(plan),
            Question::Flows { ask, .. } => Question::Flows {
                plan,
                ask: ask.clone(),
            },
        }
    }
}

/// The evidence the command line names, before anything is looked up.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--flow-logs`: files or directories, and `s3://bucket/prefix` locations.
    pub flow_logs: Vec<PathBuf>,
    /// `--log-group`: CloudWatch log groups.
    pub log_groups: Vec<String>,
    /// `--log-format`: the record format of records without a header.
    pub log_format: Option<String>,
    /// `--exclude`: globs of files on disk not to read.
    pub exclude: Vec<String>,
    pub rows: Rows,
    /// `--wait`.
    pub wait: Option<Duration>,
    /// `--max-queries`.
    pub max_queries: usize,
    /// The options given that only Logs Insights and Athena use (`--insights-rows`,
    /// `--max-queries`).
    pub cloudwatch_options: Vec<&'static str>,
    /// `--athena-table`, with its workgroup and result location.
    pub athena: Option<AthenaRequest>,
    /// `--athena-workgroup` or `--athena-output`, when given.
    pub athena_options: Vec<&'static str>,
}

/// The Athena table the command line names.
#[derive(Debug, Clone, Default)]
pub struct AthenaRequest {
    /// `DATABASE.TABLE`.
    pub table: String,
    pub workgroup: String,
    pub output: Option<String>,
}

/// Where evidence comes from, in the only ways a command line can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Files,
    LogGroups,
    /// An Athena table over the flow logs in S3.
    Athena,
    /// Neither: the flow logs of the hosts, found through EC2.
    Discovered,
}

impl Request {
    /// The kind of evidence named; giving two kinds at once is a usage error.
    pub fn kind(&self) -> Result<Kind, SourceError> {
        if self.athena.is_some() {
            if !self.flow_logs.is_empty() || !self.log_groups.is_empty() {
                return Err(SourceError::Usage(
                    "--athena-table reads the flow logs through Athena; --flow-logs and --log-group read them directly: give one".into(),
                ));
            }
            return Ok(Kind::Athena);
        }
        if let Some(option) = self.athena_options.first() {
            return Err(SourceError::Usage(format!(
                "{option} goes with --athena-table, which names the table to query\n  help: add --athena-table DATABASE.TABLE, or drop {option}"
            )));
        }
        match (self.flow_logs.is_empty(), self.log_groups.is_empty()) {
            (false, false) => Err(SourceError::Usage(
                "--flow-logs reads files; --log-group reads CloudWatch: give one".into(),
            )),
            (false, true) => Ok(Kind::Files),
            (true, false) => Ok(Kind::LogGroups),
            (true, true) => Ok(Kind::Discovered),
        }
    }

    /// The record format `--log-format` gives, if any.
    pub fn format(&self) -> Result<Option<Format>, SourceError> {
        let Some(text) = self.log_format.as_deref() else {
            return Ok(None);
        };
        if shell_expanded(text) {
            return Err(SourceError::Usage(format!(
                "--log-format `{text}`: the shell has expanded the `${{...}}` fields (`${{interface-id}}` becomes `id`, `${{srcaddr}}` nothing)\n  help: put the format in single quotes: --log-format '${{version}} ${{interface-id}} ${{srcaddr}} ...'"
            )));
        }
        Format::parse(text).map(Some).map_err(|e| {
            SourceError::Usage(format!(
                "--log-format: {e}\n  help: list the fields as in the flow log's definition, in single quotes, e.g. \
                 '${{version}} ${{interface-id}} ${{srcaddr}} ...'"
            ))
        })
    }

    /// Whether reading this evidence needs AWS at all: anything but files on disk does.
    /// (Resolving AWS selectors, or explaining failures, may need it for files too: the caller
    /// decides.)
    pub fn needs_aws(&self) -> Result<bool, SourceError> {
        Ok(self.kind()? != Kind::Files || !self.locations()?.1.is_empty())
    }

    /// The `--flow-logs` paths on disk, and the S3 locations.
    pub fn locations(&self) -> Result<(Vec<PathBuf>, Vec<s3::layout::Location>), SourceError> {
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for p in &self.flow_logs {
            match p.to_str().and_then(s3::layout::Location::parse) {
                Some(Ok(l)) => remote.push(l),
                Some(Err(e)) => return Err(SourceError::Usage(format!("--flow-logs {e}"))),
                None => local.push(p.clone()),
            }
        }
        Ok((local, remote))
    }
}

/// Whether a `--log-format` went through a shell's double quotes: `${interface-id}` is "`id` if
/// `interface` is unset", so every hyphenated field leaves its last word and the others nothing.
fn shell_expanded(text: &str) -> bool {
    !text.contains('$')
        && text
            .split_ascii_whitespace()
            .any(|w| matches!(w, "id" | "status" | "flags" | "direction"))
}

/// The evidence to read, resolved: what a [`Source`] is opened on.
#[derive(Debug, Clone)]
pub enum Where {
    /// Flow-log files on disk and in S3, and the format of records before any header.
    Files {
        paths: Vec<PathBuf>,
        s3: Vec<s3::layout::Location>,
        format: Format,
        /// The account whose credentials read S3 (`None`: the caller's).
        account: Option<String>,
    },
    /// Log groups in CloudWatch Logs, by record format; and the checks no flow log covers.
    CloudWatch {
        sources: Vec<LogSource>,
        uncovered: BTreeMap<usize, String>,
        /// The account the log groups are in (`None`: the caller's).
        account: Option<String>,
    },
    /// An Athena table, read: its columns and partition keys, and the values of its account and
    /// region keys for this run.
    Athena {
        table: athena::table::Table,
        /// The run's region: the table's region key's value.
        region: Option<String>,
        request: AthenaRequest,
    },
    /// Discovered flow logs in more than one place (CloudWatch for some checks, S3 for
    /// others): each part serves the checks listed with it.
    Split {
        parts: Vec<(Where, Vec<usize>)>,
        uncovered: BTreeMap<usize, String>,
    },
}

/// Resolves a request into the evidence to read: the files named, the log groups named (their
/// formats from their flow logs), or the flow logs that cover the plan's hosts. `aws` is there
/// whenever `Request::needs_aws` said so; without it, named log groups get the default format,
/// and say so (`flowgate query` without AWS).
pub async fn locate(
    request: &Request,
    plan: &Plan,
    aws: Option<&Aws>,
) -> Result<Where, SourceError> {
    let given = request.format()?;
    match request.kind()? {
        Kind::Files => {
            let (paths, s3) = request.locations()?;
            // An option that would do nothing is refused, not silently ignored.
            if let Some(option) = request.cloudwatch_options.first() {
                return Err(SourceError::Usage(format!(
                    "{option} tunes Logs Insights queries, and --flow-logs reads files: drop {option}"
                )));
            }
            if request.wait.is_some() && s3.is_empty() {
                return Err(SourceError::Usage(
                    "--wait waits for flow logs to be delivered (to CloudWatch Logs or S3); files on disk hold what they hold: drop --wait"
                        .into(),
                ));
            }
            Ok(Where::Files {
                paths,
                s3,
                format: files::headerless_format(given)?,
                account: None,
            })
        }
        Kind::LogGroups => Ok(Where::CloudWatch {
            sources: discover::named(aws, &request.log_groups, given.as_ref()).await?,
            uncovered: BTreeMap::new(),
            account: None,
        }),
        Kind::Athena => {
            let named = request.athena.as_ref().expect("Kind::Athena has a table");
            let aws = aws.ok_or_else(|| {
                SourceError::Failed("Athena needs AWS: its table is read first".into())
            })?;
            if given.is_some() {
                return Err(SourceError::Usage(
                    "--log-format: an Athena table's columns say which field each holds: drop --log-format".into(),
                ));
            }
            athena::locate(aws, named, plan).await
        }
        Kind::Discovered => {
            let aws = aws.ok_or_else(|| {
                SourceError::Usage(
                    "no evidence named and no AWS to find it in\n  help: give --flow-logs for files, or --region (or --profile) for AWS".into(),
                )
            })?;
            let found = discover::discover(aws, plan)
                .await
                .map_err(SourceError::Failed)?;
            for note in &found.notes {
                eprintln!("{note}");
            }
            match found.parts.as_slice() {
                [] => {
                    return Ok(Where::CloudWatch {
                        sources: Vec::new(),
                        uncovered: found.uncovered,
                        account: None,
                    });
                }
                [one] if one.account.is_none() && one.s3.is_empty() => {
                    return Ok(Where::CloudWatch {
                        sources: one.sources.clone(),
                        uncovered: found.uncovered,
                        account: None,
                    });
                }
                _ => {}
            }
            let mut parts = Vec::new();
            for part in found.parts {
                if !part.logs_checks.is_empty() {
                    let cloudwatch = Where::CloudWatch {
                        sources: part.sources,
                        uncovered: BTreeMap::new(),
                        account: part.account.clone(),
                    };
                    parts.push((cloudwatch, part.logs_checks.into_iter().collect()));
                }
                if !part.s3_checks.is_empty() {
                    // S3 objects carry a header line (text) or named columns (Parquet): the flow
                    // log's format is read from them.
                    let s3 = Where::Files {
                        paths: Vec::new(),
                        s3: part.s3,
                        format: files::headerless_format(given.clone())?,
                        account: part.account,
                    };
                    parts.push((s3, part.s3_checks.into_iter().collect()));
                }
            }
            Ok(Where::Split {
                parts,
                uncovered: found.uncovered,
            })
        }
    }
}

impl Where {
    /// What answering `question` would read or run, without reading or running anything (S3
    /// is listed, not fetched; without AWS, queries are printed as they would run): for
    /// `flowgate query`.
    pub async fn preview(
        &self,
        request: &Request,
        question: &Question,
        aws: Option<&Aws>,
    ) -> Result<String, SourceError> {
        Ok(match self {
            Where::Files { .. } => match open(self.clone(), request, aws).await? {
                Source::Files(f) => f.preview(question).await?,
                _ => unreachable!("files open as files"),
            },
            Where::CloudWatch {
                sources, uncovered, ..
            } => insights::InsightsSource::new(
                Arc::new(insights::run::Offline),
                sources.clone(),
                uncovered.clone(),
                request.rows,
                None,
            )
            .preview(question),
            Where::Athena {
                table,
                region,
                request: named,
            } => athena::AthenaSource {
                engine: athena::Athena::new(
                    Arc::new(athena::run::Offline),
                    table.clone(),
                    region.clone(),
                    named.workgroup.clone(),
                ),
                settings: aggregate::Settings {
                    rows: request.rows,
                    ..aggregate::Settings::default()
                },
            }
            .preview(question),
            Where::Split { parts, uncovered } => {
                let plan = question.plan();
                let mut out = String::new();
                for (i, why) in uncovered {
                    out.push_str(&format!(
                        "# {}: not judged: {why}\n\n",
                        plan.checks[*i].trial_name()
                    ));
                }
                for (at, ids) in parts {
                    let part = Box::pin(at.preview(request, &question.narrowed(ids), aws)).await?;
                    out.push_str(&part);
                }
                out
            }
        })
    }
}

/// A source of evidence, opened.
pub enum Source {
    Files(files::FileSource),
    Insights(insights::InsightsSource),
    Athena(athena::AthenaSource),
    /// Sources that each serve some checks (by plan index); the rest are `uncovered`.
    Split {
        parts: Vec<(Source, Vec<usize>)>,
        uncovered: BTreeMap<usize, String>,
    },
}

/// Opens the evidence `at` describes; `aws` is there for every kind but files.
pub async fn open(at: Where, request: &Request, aws: Option<&Aws>) -> Result<Source, SourceError> {
    match at {
        Where::Files {
            paths,
            s3,
            format,
            account,
        } => {
            if paths.is_empty() && !request.exclude.is_empty() {
                return Err(SourceError::Usage(
                    "--exclude leaves out files on disk, and no --flow-logs path names any".into(),
                ));
            }
            let exclude = walk::Exclude::new(&request.exclude)?;
            let source = files::FileSource::open(&paths, format, &exclude)?;
            if s3.is_empty() {
                return Ok(Source::Files(source));
            }
            let aws = aws.ok_or_else(|| SourceError::Failed("S3 needs AWS".into()))?;
            let aws = &in_account(aws, account.as_deref()).await?;
            Ok(Source::Files(source.with_s3(files::Remote {
                lister: s3::Lister {
                    client: aws.s3.clone(),
                    locations: s3,
                },
                fetcher: blob::Fetcher {
                    client: aws.s3.clone(),
                    handle: tokio::runtime::Handle::current(),
                },
                wait: request.wait,
            })))
        }
        Where::CloudWatch {
            sources,
            uncovered,
            account,
        } => {
            // As for files: a format that cannot show a flow is refused before any query, so a
            // deny check never passes on records that could not have shown the traffic.
            for s in &sources {
                let missing = s.format.missing(false);
                if !missing.is_empty() {
                    return Err(SourceError::Usage(format!(
                        "{}: the flow log's format lacks {}, which every record needs to be judged\n  help: add them to the flow log's format (a new flow log), or give --log-format if the format read is wrong",
                        s.groups.join(", "),
                        missing.join(", ")
                    )));
                }
            }
            let aws = aws.ok_or_else(|| SourceError::Failed("CloudWatch needs AWS".into()))?;
            let aws = &in_account(aws, account.as_deref()).await?;
            let runner = Arc::new(Runner::new(aws.logs.clone(), request.max_queries));
            Ok(Source::Insights(insights::InsightsSource {
                engine: Insights::new(runner, sources),
                settings: aggregate::Settings {
                    rows: request.rows,
                    wait: request.wait,
                    uncovered,
                },
            }))
        }
        Where::Athena {
            table,
            region,
            request: named,
        } => {
            let aws = aws.ok_or_else(|| SourceError::Failed("Athena needs AWS".into()))?;
            let runner = athena::run::Runner::new(
                aws.athena.clone(),
                named.workgroup.clone(),
                named.output.clone(),
                request.max_queries,
            );
            Ok(Source::Athena(athena::AthenaSource {
                engine: athena::Athena::new(Arc::new(runner), table, region, named.workgroup),
                settings: aggregate::Settings {
                    rows: request.rows,
                    wait: request.wait,
                    uncovered: BTreeMap::new(),
                },
            }))
        }
        Where::Split { parts, uncovered } => {
            let mut opened = Vec::new();
            for (at, ids) in parts {
                opened.push((Box::pin(open(at, request, aws)).await?, ids));
            }
            Ok(Source::Split {
                parts: opened,
                uncovered,
            })
        }
    }
}

/// The clients of the account that owns what a source reads (assumed already, by the hosts'
/// resolution and discovery: a role that failed there failed the checks that need it).
async fn in_account(aws: &Aws, account: Option<&str>) -> Result<Aws, SourceError> {
    aws.in_account(account).await.map_err(SourceError::Failed)
}

impl Source {
    /// Answers a question from this source's evidence.
    pub async fn gather(&self, question: &Question) -> Result<Evidence, SourceError> {
        match self {
            Source::Files(s) => s.gather(question).await,
            Source::Insights(s) => s.gather(question).await,
            Source::Athena(s) => s.gather(question).await,
            Source::Split { parts, uncovered } => {
                let plan = question.plan();
                let mut all = Evidence {
                    checks: plan
                        .checks
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let why = uncovered.get(&i).or(c.unavailable.as_ref());
                            Err(crate::evidence::Unavailable(
                                why.cloned().unwrap_or_default(),
                            ))
                        })
                        .collect(),
                    ..Evidence::default()
                };
                if let Question::Flows { ask, .. } = question {
                    all.flows = crate::evidence::flows::Folded::new(ask.fold);
                }
                let asked: Vec<Question> = parts
                    .iter()
                    .map(|(_, ids)| question.narrowed(ids))
                    .collect();
                let answers = futures_util::future::join_all(
                    parts
                        .iter()
                        .zip(&asked)
                        .map(|((s, _), q)| Box::pin(s.gather(q))),
                )
                .await;
                for ((_, ids), answer) in parts.iter().zip(answers) {
                    all.absorb(answer?, ids);
                }
                Ok(all)
            }
        }
    }

    /// One line for the run summary: what is read.
    pub fn describe(&self) -> String {
        match self {
            Source::Files(s) => s.describe(),
            Source::Insights(s) => s.describe(),
            Source::Athena(s) => s.describe(),
            Source::Split { parts, .. } => parts
                .iter()
                .map(|(s, _)| s.describe())
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }

    /// The checks (by plan index) this source cannot serve, and why.
    pub fn uncovered(&self) -> Option<&BTreeMap<usize, String>> {
        match self {
            Source::Files(_) => None,
            Source::Insights(s) => Some(&s.settings.uncovered),
            Source::Athena(s) => Some(&s.settings.uncovered),
            Source::Split { uncovered, .. } => Some(uncovered),
        }
    }

    /// Whether `cancel` stops something: queries that run elsewhere and cost money.
    pub fn stops(&self) -> bool {
        match self {
            Source::Files(_) => false,
            Source::Insights(_) | Source::Athena(_) => true,
            Source::Split { parts, .. } => parts.iter().any(|(s, _)| s.stops()),
        }
    }

    /// Stops what is running (Ctrl-C); what it served ends as unavailable.
    pub async fn cancel(&self) {
        match self {
            Source::Files(_) => {}
            Source::Insights(s) => s.engine.runner.cancel().await,
            Source::Athena(s) => s.engine.runner.cancel().await,
            Source::Split { parts, .. } => {
                for (s, _) in parts {
                    Box::pin(s.cancel()).await;
                }
            }
        }
    }
}
