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
use self::sql::Writer;
use self::table::{Part as KeyPart, Table};
use super::aggregate::{self, Ask, Decoded, Family, Job, Part, Row};
use super::format::Field;
use super::insights;
use super::insights::decode;
use super::insights::query::{Query, reports};
use super::record::Layout;
use super::{AthenaRequest, Question, SourceError, Where};
use crate::aws::Aws;
use crate::evidence::provenance::AthenaRead;
use crate::evidence::{Evidence, Provenance, QueryCost, time};
use crate::plan::Plan;

/// Reads the table the request names, and checks that it can hold the hosts' records: an
/// account a host names that the table's projection does not enumerate is invisible to it.
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
    let named_accounts = plan
        .checks
        .iter()
        .flat_map(|c| [&c.from, &c.to])
        .flat_map(|side| side.places.iter().filter_map(|p| p.account.as_deref()));
    if let Some(why) = unlisted(&table, named_accounts) {
        return Err(SourceError::Usage(format!(
            "--athena-table {}: {why}",
            named.table
        )));
    }
    Ok(Where::Athena {
        table,
        request: named.clone(),
    })
}

/// Why the table cannot hold the records of hosts in `accounts`: its partition projection
/// lists the accounts it reads, and Athena returns nothing, without an error, for any other.
pub fn unlisted<'a>(table: &Table, accounts: impl Iterator<Item = &'a str>) -> Option<String> {
    let key = table
        .keys
        .iter()
        .find(|k| k.part == KeyPart::Account && !k.values.is_empty())?;
    let missing: BTreeSet<&str> = accounts
        .filter(|a| !key.values.iter().any(|v| v == a))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "hosts are in account {}, which the table's partition projection does not list (`projection.{}.values`): Athena would return none of its records\n  help: recreate the table with every account (`flowgate athena-ddl --accounts ...`), or add it with ALTER TABLE ... SET TBLPROPERTIES",
        missing.into_iter().collect::<Vec<_>>().join(", "),
        key.name
    ))
}

/// Athena as a query engine over one table.
pub struct Athena<R: Asker = run::Runner> {
    pub runner: Arc<R>,
    pub table: Table,
    pub workgroup: String,
    families: Vec<Family>,
}

impl<R: Asker> Athena<R> {
    pub fn new(runner: Arc<R>, table: Table, workgroup: String) -> Athena<R> {
        let families = vec![Family {
            name: format!("{}.{}", table.database, table.name),
            format: table.format.clone(),
            created: None,
        }];
        Athena {
            runner,
            table,
            workgroup,
            families,
        }
    }

    fn writer(&self) -> Writer<'_> {
        Writer::new(&self.table)
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
        let mut seen = BTreeSet::new();
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
                Ask::SkipData | Ask::SkipDataEdge => {
                    let (decoded, n) = self.coverage_row(row, fields, &mut seen);
                    scanned += n;
                    decoded.map(|d| (d, None))
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
        // A partition of the window without one record: not registered, or not delivered.
        let missing = match ask {
            Ask::SkipData => writer
                .expected_partitions(job.range)
                .into_iter()
                .filter(|p| !seen.contains(p))
                .map(|p| {
                    format!(
                        "no record in partition {}={p} of Athena table {}.{}: the partition is not registered (a table without partition projection needs MSCK REPAIR TABLE, ALTER TABLE ADD PARTITION or a crawler run) or its flow logs are not delivered yet",
                        writer.partition_names(),
                        self.table.database,
                        self.table.name
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        Part {
            name: format!("Athena {}.{}", self.table.database, self.table.name),
            range: job.range,
            scanned,
            rows,
            columns: Some(self.table.format.to_string()),
            missing,
        }
    }

    /// One row of the coverage query: SKIPDATA on an interface, or only a count; and the
    /// records it counts. A status that is none of AWS's, or records whose source address is
    /// no address, mean the table's columns do not hold what their names say.
    fn coverage_row(
        &self,
        row: &insights::run::Row,
        fields: &insights::query::Fields,
        seen: &mut BTreeSet<String>,
    ) -> (Result<Decoded, String>, f64) {
        let get = |name: &str| row.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let number = |name: &str| get(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let n = number("records");
        if n > 0.0 {
            seen.insert(get("partition").unwrap_or_default().to_string());
        }
        let misaligned = "the table's columns do not line up with its records: for text files the columns must follow the flow log's format, in order (`flowgate athena-ddl --log-format '...'`)";
        let unreadable = number("unreadable");
        if unreadable > 0.0 {
            return (
                Err(format!(
                    "{unreadable} records whose srcaddr is not an address: {misaligned}"
                )),
                n,
            );
        }
        let has_status = self.table.format.has(Field::LogStatus);
        let decoded = match get("logStatus") {
            Some("SKIPDATA") => decode::skipdata(row, fields),
            Some("OK" | "NODATA") => Ok(Decoded::Nothing),
            None if !has_status => Ok(Decoded::Nothing),
            other => Err(format!(
                "{n} records with log_status {}: {misaligned}",
                other.map_or("NULL".to_string(), |s| format!("`{s}`"))
            )),
        };
        (decoded, n)
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

    /// Athena's statistics give bytes, not records: a query of its own counts them.
    fn counts_records(&self) -> bool {
        false
    }

    fn when_empty(&self) -> &'static str {
        "the table's partitions hold nothing for the window: `flowgate query --athena-table ...` prints the partition predicates used (accounts and regions as the table's projection lists them, the days and hours as its format writes them); or end the window earlier, or --wait for delivery"
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
