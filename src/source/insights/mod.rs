//! Evidence from CloudWatch Logs Insights: the query engine behind the shared protocol (see
//! `source::aggregate`). Each job becomes Logs Insights query text (`query`), runs through the
//! `run::Runner` (bounded, polled, split at the row limit, stopped on Ctrl-C), and its rows are
//! decoded (`decode`) into what the protocol reads.

pub mod decode;
pub mod query;
pub mod run;

use std::sync::Arc;

use self::query::{Fields, Query};
use self::run::{Answer as RunAnswer, Asker};
use super::aggregate::{self, Ask, Family, Job, Part, Row};
use super::record::Layout;
use super::{Question, SourceError};
use crate::evidence::provenance::InsightsRead;
use crate::evidence::time;
use crate::evidence::{Evidence, Provenance, QueryCost};
use crate::plan::Plan;

/// How long after the end of a window flowgate takes its records as delivered: flow logs reach
/// CloudWatch Logs about 5 minutes after their interval, best effort, and intervals last up to
/// 10 minutes. Without `--end`, a window ends this long before now.
pub const DELIVERY_MARGIN: u64 = 600;

/// The most log groups one Logs Insights query may name (StartQuery's `logGroupNames`).
pub const MAX_GROUPS: usize = 50;

/// A log group's ARN, `arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME`: how a monitoring
/// account names a linked account's group (StartQuery's logGroupIdentifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupArn {
    pub account: String,
    pub name: String,
}

impl GroupArn {
    pub fn parse(arn: &str) -> Option<GroupArn> {
        let mut parts = arn.splitn(7, ':');
        let (arn_, _partition, service, _region, account, kind, name) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let ok = arn_ == "arn"
            && service == "logs"
            && kind == "log-group"
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| GroupArn {
            account: account.to_string(),
            name: name.to_string(),
        })
    }
}

/// Log groups that share a record format: one family of queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub groups: Vec<String>,
    pub format: super::format::Format,
    /// When the newest flow log delivering to these groups was created (Unix seconds): a
    /// window that starts earlier misses records.
    pub created: Option<u64>,
    /// The format was not read from a flow log but assumed (no AWS access): `flowgate query`
    /// says so.
    pub assumed: bool,
}

/// Logs Insights as a query engine: the log-group families and what runs their queries (the
/// `Runner` against AWS, or a test's stand-in).
pub struct Insights<R: Asker = run::Runner> {
    pub runner: Arc<R>,
    pub sources: Vec<LogSource>,
    families: Vec<Family>,
}

impl<R: Asker> Insights<R> {
    pub fn new(runner: Arc<R>, sources: Vec<LogSource>) -> Insights<R> {
        // StartQuery takes at most 50 log groups: more are spread over families of at most 50,
        // each asked everything, so every group is still read.
        let sources: Vec<LogSource> = sources
            .into_iter()
            .flat_map(|s| {
                s.groups
                    .chunks(MAX_GROUPS)
                    .map(|groups| LogSource {
                        groups: groups.to_vec(),
                        ..s.clone()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let families = sources
            .iter()
            .map(|s| Family {
                name: s.groups.join(", "),
                format: s.format.clone(),
                created: s.created,
            })
            .collect();
        Insights {
            runner,
            sources,
            families,
        }
    }

    /// What the rows of one query say, cut to those this query reports (a record two queries
    /// of a job return counts once). An endpoint that does not run `stats` (an emulator)
    /// answers an aggregated query with records: that is an error, never counts.
    fn part(
        &self,
        job: &Job,
        batches: &[Query],
        batch: usize,
        answer: RunAnswer,
    ) -> Result<Part, String> {
        let source = &self.sources[job.family];
        let ask = job.ask;
        if !ask.is_records() && !decode::is_aggregated(&answer.rows) {
            return Err(
                "the endpoint answered with records, not the aggregated rows the query asked for \
                 (an emulator that does not run `stats`?); --insights-rows raw asks for records"
                    .to_string(),
            );
        }
        let fields = Fields::of(&source.format);
        let layout = Layout::new(&source.format);
        // Rows prove records even where the statistics are missing (an emulator).
        let scanned = answer.cost.records_scanned + answer.rows.len() as f64;
        let mut rows = Vec::with_capacity(answer.rows.len());
        for row in &answer.rows {
            let decoded = match ask {
                Ask::Pairs | Ask::PairsEdge => decode::pair(row, &fields).map(|d| (d, None)),
                Ask::Connections | Ask::ConnectionsEdge => {
                    decode::aggregated(row, &fields).map(|d| (d, None))
                }
                Ask::Flows(_) | Ask::FlowsEdge(_) => {
                    decode::folded(row, &fields).map(|d| (d, None))
                }
                Ask::Records | Ask::RecordsEdge => {
                    decode::raw(row, &layout).map(|(d, t)| (d, Some(t)))
                }
                Ask::SkipData | Ask::SkipDataEdge => {
                    decode::skipdata(row, &fields).map(|d| (d, None))
                }
                Ask::Hops | Ask::HopsEdge => decode::hop(row, &fields).map(|d| (d, None)),
            };
            match decoded {
                Ok((d, text)) => {
                    if query::reports(batches, batch, d.addresses()) {
                        rows.push(Row {
                            decoded: Ok(d),
                            text,
                        });
                    }
                }
                Err(e) => rows.push(Row {
                    decoded: Err(e),
                    text: None,
                }),
            }
        }
        Ok(Part {
            name: format!("CloudWatch Logs {}", source.groups.join(",")),
            range: job.range,
            scanned,
            rows,
            columns: Some(source.format.to_string()),
            missing: Vec::new(),
        })
    }
}

impl<R: Asker> aggregate::Engine for Insights<R> {
    fn families(&self) -> &[Family] {
        &self.families
    }

    fn margin(&self) -> u64 {
        DELIVERY_MARGIN
    }

    fn texts(&self, job: &Job) -> Vec<String> {
        query::for_job(&self.sources[job.family].format, job)
            .into_iter()
            .map(|q| q.text)
            .collect()
    }

    fn is_cancelled(&self) -> bool {
        self.runner.is_cancelled()
    }

    fn destination(&self) -> &'static str {
        "CloudWatch Logs"
    }

    fn provenance(&self, ranges: Vec<(u64, u64)>, cost: QueryCost) -> Provenance {
        Provenance::Insights(InsightsRead {
            groups: self.sources.iter().flat_map(|s| s.groups.clone()).collect(),
            ranges,
            cost,
        })
    }

    /// Runs every query of every job, a bounded number at a time (the runner's slots). A failed
    /// query's reason names its log groups and time range.
    async fn answer(&self, jobs: &[Job]) -> Vec<Result<aggregate::Answer, String>> {
        let batches: Vec<Vec<Query>> = jobs
            .iter()
            .map(|j| query::for_job(&self.sources[j.family].format, j))
            .collect();
        let got = aggregate::run_all(&batches, |j, query: &Query| {
            let job = &jobs[j];
            let (runner, groups, query) = (
                Arc::clone(&self.runner),
                self.sources[job.family].groups.clone(),
                query.clone(),
            );
            let (start, end) = (job.range.0 as i64, job.range.1 as i64);
            async move {
                let answer = runner.ask(groups.clone(), start, end, query).await;
                answer.map_err(|e| {
                    format!(
                        "{e} (log groups {}, {} .. {}; `flowgate query` prints the queries)",
                        groups.join(", "),
                        time(start as u64),
                        time(end as u64)
                    )
                })
            }
        })
        .await;
        jobs.iter()
            .zip(got)
            .zip(&batches)
            .map(|((job, answers), queries)| {
                let mut out = aggregate::Answer::default();
                for (b, answer) in answers.into_iter().enumerate() {
                    let answer = answer?;
                    out.cost.add(&answer.cost);
                    out.parts.push(self.part(job, queries, b, answer)?);
                }
                Ok(out)
            })
            .collect()
    }
}

/// The Logs Insights source: the engine and what the run asks of it.
pub struct InsightsSource<R: Asker = run::Runner> {
    pub engine: Insights<R>,
    pub settings: aggregate::Settings,
}

impl<R: Asker> InsightsSource<R> {
    pub fn new(
        runner: Arc<R>,
        sources: Vec<LogSource>,
        uncovered: std::collections::BTreeMap<usize, String>,
        rows: aggregate::Rows,
        wait: Option<std::time::Duration>,
    ) -> InsightsSource<R> {
        InsightsSource {
            engine: Insights::new(runner, sources),
            settings: aggregate::Settings {
                rows,
                wait,
                uncovered,
            },
        }
    }

    pub async fn gather(&self, question: &Question) -> Result<Evidence, SourceError> {
        aggregate::gather(&self.engine, &self.settings, question).await
    }

    /// The evidence of every check of `plan` (what `gather` gives for `Question::Checks`).
    pub async fn collect(&self, plan: Arc<Plan>) -> Result<Evidence, SourceError> {
        self.gather(&Question::Checks(plan)).await
    }

    pub fn describe(&self) -> String {
        let groups: Vec<&str> = self
            .engine
            .sources
            .iter()
            .flat_map(|s| s.groups.iter().map(String::as_str))
            .collect();
        format!("CloudWatch Logs Insights on {}", groups.join(", "))
    }

    /// The queries a run starts with, to paste into the console.
    pub fn preview(&self, question: &Question) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for s in self.engine.sources.iter().filter(|s| s.assumed) {
            let _ = writeln!(
                out,
                "# {}: record format assumed to be the default (version 2): without AWS access flowgate cannot read the flow log's; give --log-format for a custom one\n",
                s.groups.join(", ")
            );
        }
        out.push_str(&aggregate::preview(
            &self.engine,
            &self.settings,
            question,
            "log groups",
        ));
        out
    }
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
pub(crate) mod interpreter;
#[cfg(test)]
mod tests;
