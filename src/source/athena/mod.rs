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

use self::run::{Answer as RunAnswer, Asker};
use self::sql::Writer;
use self::table::{Part as KeyPart, Table};
use super::aggregate::{self, Ask, Decoded, Family, Job, Part, Row};
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
    let region = aws.region();
    if let (Some(r), Some(key)) = (
        &region,
        table
            .keys
            .iter()
            .find(|k| k.part == KeyPart::Region && !k.values.is_empty()),
    ) && !key.values.iter().any(|v| v == r)
    {
        return Err(SourceError::Usage(format!(
            "--athena-table {}: the run's region {r} is not one the table's partition projection lists (`projection.{}.values`: {}): Athena would return none of its records\n  help: run in one of those regions (--region), or add {r} to the table",
            named.table,
            key.name,
            key.values.join(", ")
        )));
    }
    Ok(Where::Athena {
        table,
        region,
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
    /// The run's region: the region key's value.
    pub region: Option<String>,
    pub workgroup: String,
    families: Vec<Family>,
}

impl<R: Asker> Athena<R> {
    pub fn new(
        runner: Arc<R>,
        table: Table,
        region: Option<String>,
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
            region,
            workgroup,
            families,
        }
    }

    fn writer(&self) -> Writer<'_> {
        Writer::new(&self.table, self.region.as_deref())
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
        let mut tally = Tally::default();
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
                Ask::Hops | Ask::HopsEdge => {
                    Err("a Transit Gateway row from a table of VPC flow logs".into())
                }
                Ask::SkipData | Ask::SkipDataEdge => {
                    let (decoded, n) = self.coverage_row(row, fields, &mut seen, &mut tally);
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
        // Rows of another flow log's format in the same folders (text columns are positional)
        // do not line up; only when they are most of what the range holds can they be this
        // check's hosts' records, and then nothing read is to be trusted.
        if tally.misaligned > 0.0 && tally.misaligned * 2.0 >= scanned {
            rows.push(Row {
                decoded: Err(format!(
                    "{} of {scanned} records have a log_status that is none of AWS's or a srcaddr that is no address: the table's columns do not line up with its records: for text files the columns must follow the flow log's format, in order (`flowgate athena-ddl --log-format '...'`)",
                    tally.misaligned
                )),
                text: None,
            });
        }
        // A day of the window without one record: not registered, or not delivered.
        let days: BTreeSet<String> = seen
            .iter()
            .map(|p| match self.table.hourly() {
                true => p
                    .rsplit_once('/')
                    .map_or(p.as_str(), |(d, _)| d)
                    .to_string(),
                false => p.clone(),
            })
            .collect();
        let missing = match ask {
            Ask::SkipData => writer
                .expected_days(job.range)
                .into_iter()
                .filter(|d| !days.contains(d))
                .map(|d| {
                    format!(
                        "no record in partition {}={d} of Athena table {}.{}: the partition is not registered (a table without partition projection needs MSCK REPAIR TABLE, ALTER TABLE ADD PARTITION or a crawler run) or its flow logs are not delivered yet",
                        writer.day_names(),
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
    /// records it counts. Records whose status is none of AWS's, or whose source address is no
    /// address, are tallied as misaligned; header lines (a text table that does not skip them)
    /// are no records.
    fn coverage_row(
        &self,
        row: &insights::run::Row,
        fields: &insights::query::Fields,
        seen: &mut BTreeSet<String>,
        tally: &mut Tally,
    ) -> (Result<Decoded, String>, f64) {
        let get = |name: &str| row.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let number = |name: &str| get(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let n = number("records");
        let status = get("logStatus");
        if status == Some("log-status") {
            return (Ok(Decoded::Nothing), 0.0);
        }
        if n > 0.0 {
            seen.insert(get("partition").unwrap_or_default().to_string());
        }
        tally.misaligned += number("unreadable");
        let decoded = match status {
            Some("SKIPDATA") => decode::skipdata(row, fields),
            // NULL: a flow log whose format has no log-status (Parquet names its columns).
            Some("OK" | "NODATA") | None => Ok(Decoded::Nothing),
            Some(_) => {
                tally.misaligned += n;
                Ok(Decoded::Nothing)
            }
        };
        (decoded, n)
    }
}

/// What the coverage rows of one answer add up to.
#[derive(Debug, Default)]
struct Tally {
    misaligned: f64,
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
        let got = aggregate::run_all(&batches, |j, query: &Query| {
            let (runner, sql, table) = (Arc::clone(&self.runner), query.text.clone(), table.clone());
            let range = jobs[j].range;
            async move {
                runner.ask(sql).await.map_err(|e| {
                    format!(
                        "{e} (Athena table {table}, {} .. {}; `flowgate query --athena-table {table}` prints the SQL)",
                        time(range.0),
                        time(range.1)
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
