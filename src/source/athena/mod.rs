//! Evidence from Athena: flow logs in S3 scanned where they lie, by the query engine behind the
//! shared protocol (see `source::aggregate`). The table is read first (`table`: its columns
//! and partition keys, refused when it cannot be pruned); each job becomes Trino SQL (`sql`)
//! whose result columns carry Logs Insights' names, runs through the `run::Runner` (bounded,
//! polled, paged, stopped on Ctrl-C), and its rows are decoded by the Logs Insights decoder:
//! one reading of rows for both engines.

pub mod ddl;
pub mod run;
pub mod sql;
pub mod table;

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::task::JoinSet;

use self::run::{Answer as RunAnswer, Asker};
use self::sql::{Partitions, Writer};
use self::table::{Part as KeyPart, Table};
use super::aggregate::{self, Ask, Decoded, Family, Job, Part, Row};
use super::insights::decode;
use super::insights::query::{Query, reports};
use super::record::Layout;
use super::{AthenaRequest, Question, SourceError, Where};
use crate::aws::Aws;
use crate::evidence::provenance::AthenaRead;
use crate::evidence::{Evidence, Provenance, QueryCost, time};
use crate::plan::Plan;

/// Reads the table the request names and the values of its account and region keys: the
/// accounts the hosts are in (the caller's, and those hosts name) and the run's region.
pub async fn locate(aws: &Aws, named: &AthenaRequest, plan: &Plan) -> Result<Where, SourceError> {
    let (database, name) = table::parse_name(&named.table).map_err(SourceError::Usage)?;
    let meta = run::metadata(&aws.athena, &database, &name)
        .await
        .map_err(|(missing, e)| match missing {
            true => SourceError::Usage(format!(
                "--athena-table {}: {e}\n  help: name a table of the AwsDataCatalog as DATABASE.TABLE; `flowgate athena-ddl` prints one to create",
                named.table
            )),
            false => SourceError::Failed(e),
        })?;
    let table = Table::new(&database, &name, &meta).map_err(SourceError::Usage)?;
    let mut accounts = BTreeSet::new();
    if table.keys.iter().any(|k| k.part == KeyPart::Account) {
        accounts.insert(aws.caller_account().await.map_err(SourceError::Failed)?);
        for c in &plan.checks {
            for side in [&c.from, &c.to] {
                accounts.extend(side.places.iter().filter_map(|p| p.account.clone()));
            }
        }
    }
    let regions = aws.region().into_iter().collect();
    Ok(Where::Athena {
        table,
        partitions: Partitions {
            accounts: accounts.into_iter().collect(),
            regions,
        },
        request: named.clone(),
    })
}

/// Athena as a query engine over one table.
pub struct Athena<R: Asker = run::Runner> {
    pub runner: Arc<R>,
    pub table: Table,
    pub partitions: Partitions,
    pub workgroup: String,
    families: Vec<Family>,
}

impl<R: Asker> Athena<R> {
    pub fn new(
        runner: Arc<R>,
        table: Table,
        partitions: Partitions,
        workgroup: String,
    ) -> Athena<R> {
        let families = vec![Family {
            name: format!("{}.{}", table.database, table.name),
            format: table.format.clone(),
            created: None,
        }];
        Athena {
            runner,
            table,
            partitions,
            workgroup,
            families,
        }
    }

    fn writer(&self) -> Writer<'_> {
        Writer::new(&self.table, &self.partitions)
    }

    /// What the rows of one statement say, cut to those it reports (a record two statements of
    /// a job return counts once).
    fn part(&self, job: &Job, batches: &[Query], batch: usize, answer: RunAnswer) -> Part {
        let writer = self.writer();
        let fields = writer.fields();
        let layout = Layout::new(&self.table.format);
        let ask = job.ask;
        let coverage = matches!(ask, Ask::SkipData | Ask::SkipDataEdge);
        // Rows prove records; the coverage query counts every record of the range.
        let mut scanned = if coverage {
            0.0
        } else {
            answer.rows.len() as f64
        };
        let mut rows = Vec::with_capacity(answer.rows.len());
        for row in &answer.rows {
            let decoded = match ask {
                Ask::Pairs | Ask::PairsEdge => decode::pair(row, fields).map(|d| (d, None)),
                Ask::Connections | Ask::ConnectionsEdge => {
                    decode::aggregated(row, fields).map(|d| (d, None))
                }
                Ask::Flows(_) | Ask::FlowsEdge(_) => decode::folded(row, fields).map(|d| (d, None)),
                Ask::Records | Ask::RecordsEdge => {
                    decode::raw(row, &layout).map(|(d, t)| (d, Some(t)))
                }
                // Every record's status per interface: SKIPDATA counts as such, and all of
                // them say whether the range holds any record at all.
                Ask::SkipData | Ask::SkipDataEdge => {
                    let status = row
                        .iter()
                        .find(|(n, _)| n == "logStatus")
                        .map(|(_, v)| v.as_str());
                    let n = row
                        .iter()
                        .find(|(n, _)| n == "records")
                        .and_then(|(_, v)| v.parse::<f64>().ok())
                        .unwrap_or(0.0);
                    scanned += n;
                    match status {
                        Some("SKIPDATA") => decode::skipdata(row, fields).map(|d| (d, None)),
                        _ => Ok((Decoded::Nothing, None)),
                    }
                }
            };
            match decoded {
                Ok((d, text)) => {
                    if reports(batches, batch, d.addresses()) {
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
        Part {
            name: format!("Athena {}.{}", self.table.database, self.table.name),
            range: job.range,
            scanned,
            rows,
            columns: Some(self.table.format.to_string()),
        }
    }
}

impl<R: Asker> aggregate::Engine for Athena<R> {
    fn families(&self) -> &[Family] {
        &self.families
    }

    /// The table is over flow logs in S3: records are delivered when S3's are.
    fn margin(&self) -> u64 {
        super::s3::DELIVERY_MARGIN
    }

    fn texts(&self, job: &Job) -> Vec<String> {
        self.writer()
            .for_job(job)
            .into_iter()
            .map(|q| q.text)
            .collect()
    }

    fn is_cancelled(&self) -> bool {
        self.runner.is_cancelled()
    }

    fn destination(&self) -> &'static str {
        "S3 (and so Athena)"
    }

    fn provenance(&self, ranges: Vec<(u64, u64)>, cost: QueryCost) -> Provenance {
        Provenance::Athena(AthenaRead {
            table: self.families[0].name.clone(),
            workgroup: self.workgroup.clone(),
            ranges,
            cost,
        })
    }

    /// Runs every statement of every job, as many at once as the runner's slots allow. A
    /// failed statement's reason names the table and the time range.
    async fn answer(&self, jobs: &[Job]) -> Vec<Result<aggregate::Answer, String>> {
        let writer = self.writer();
        let batches: Vec<Vec<Query>> = jobs.iter().map(|j| writer.for_job(j)).collect();
        let table = self.families[0].name.clone();
        let mut set = JoinSet::new();
        for (j, (job, queries)) in jobs.iter().zip(&batches).enumerate() {
            for (b, query) in queries.iter().enumerate() {
                let (runner, sql, table) =
                    (Arc::clone(&self.runner), query.text.clone(), table.clone());
                let range = job.range;
                set.spawn(async move {
                    let answer = runner.ask(sql).await.map_err(|e| {
                        format!(
                            "{e} (Athena table {table}, {} .. {}; `flowgate query --athena-table {table}` prints the SQL)",
                            time(range.0),
                            time(range.1)
                        )
                    });
                    (j, b, answer)
                });
            }
        }
        let mut got: Vec<Vec<Option<Result<RunAnswer, String>>>> =
            batches.iter().map(|b| vec![None; b.len()]).collect();
        let progress = crate::progress::Queries::start(batches.iter().map(Vec::len).sum());
        while let Some(done) = set.join_next().await {
            // A task that panicked leaves its slot empty: an error below.
            if let Ok((j, b, answer)) = done {
                got[j][b] = Some(answer);
            }
            progress.done();
        }
        jobs.iter()
            .zip(got)
            .zip(&batches)
            .map(|((job, answers), queries)| {
                let mut out = aggregate::Answer::default();
                for (b, answer) in answers.into_iter().enumerate() {
                    let answer = answer.unwrap_or_else(|| Err("a query task failed".into()))?;
                    out.cost.add(&answer.cost);
                    out.parts.push(self.part(job, queries, b, answer));
                }
                Ok(out)
            })
            .collect()
    }
}

/// The Athena source: the engine and what the run asks of it.
pub struct AthenaSource<R: Asker = run::Runner> {
    pub engine: Athena<R>,
    pub settings: aggregate::Settings,
}

impl<R: Asker> AthenaSource<R> {
    pub async fn gather(&self, question: &Question) -> Result<Evidence, SourceError> {
        aggregate::gather(&self.engine, &self.settings, question).await
    }

    pub fn describe(&self) -> String {
        format!(
            "Athena table {} (workgroup {})",
            self.engine.families[0].name, self.engine.workgroup
        )
    }

    /// The SQL a run starts with, to paste into the Athena console.
    pub fn preview(&self, question: &Question) -> String {
        aggregate::preview(&self.engine, &self.settings, question, "Athena table")
    }
}

#[cfg(test)]
mod tests;
