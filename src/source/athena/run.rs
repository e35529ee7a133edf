//! Running Athena queries: StartQueryExecution, GetQueryExecution polled with back-off,
//! GetQueryResults paged with NextToken to the end, StopQueryExecution on Ctrl-C; a bounded
//! number at a time. A query that ends FAILED or CANCELLED, or a call AWS refuses, is an error
//! with Athena's reason: never a partial answer.

use std::time::Duration;

use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionState, ResultConfiguration};
use tokio::sync::Semaphore;

use super::table::Metadata;
use crate::aws::describe;
use crate::evidence::QueryCost;
use crate::source::aggregate::Running;
use crate::source::insights::run::Row;

/// Athena bills at least this much per query (10 MB), in whole megabytes.
const MIN_BILLED: f64 = 10.0 * 1024.0 * 1024.0;
const MEGABYTE: f64 = 1024.0 * 1024.0;

/// The rows of one query, and what it cost.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub rows: Vec<Row>,
    pub cost: QueryCost,
}

/// What answers Athena queries: the `Runner` against AWS, or nothing (printing).
pub trait Asker: Send + Sync + 'static {
    fn ask(&self, sql: String) -> impl Future<Output = Result<Answer, String>> + Send;

    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Runs nothing: for printing the SQL.
pub struct Offline;

impl Asker for Offline {
    async fn ask(&self, _: String) -> Result<Answer, String> {
        Err("no AWS to ask".into())
    }
}

/// The result column names the decoder reads: Trino gives them back in lower case.
const NAMES: &[&str] = &[
    "interfaceId",
    "@logStream",
    "@message",
    "srcAddr",
    "dstAddr",
    "pktSrcAddr",
    "pktDstAddr",
    "srcPort",
    "dstPort",
    "protocol",
    "action",
    "tcpFlags",
    "logStatus",
    "endTime",
    "records",
    "first",
    "lastStart",
    "last",
    "srcPortLow",
    "srcPortHigh",
    "srcPorts",
    "dstPortLow",
    "dstPortHigh",
    "dstPorts",
    "sample",
];

fn canonical(name: &str) -> String {
    NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_string(), |n| n.to_string())
}

/// The cost of one query, from its statistics.
pub fn cost_of(scanned: Option<i64>, engine_ms: Option<i64>) -> QueryCost {
    let bytes = scanned.unwrap_or(0).max(0) as f64;
    QueryCost {
        queries: 1,
        bytes_scanned: bytes,
        billed_bytes: ((bytes / MEGABYTE).ceil() * MEGABYTE).max(MIN_BILLED),
        engine_millis: engine_ms.unwrap_or(0).max(0) as u64,
        unreported: u64::from(scanned.is_none()),
        ..QueryCost::default()
    }
}

pub struct Runner {
    pub client: Client,
    pub workgroup: String,
    /// `--athena-output`: where results go when the workgroup sets no location.
    pub output: Option<String>,
    slots: Semaphore,
    pub first_poll: Duration,
    pub max_poll: Duration,
    running: Running,
}

impl Asker for Runner {
    async fn ask(&self, sql: String) -> Result<Answer, String> {
        self.run(&sql).await
    }

    fn is_cancelled(&self) -> bool {
        self.running.is_cancelled()
    }
}

impl Runner {
    pub fn new(
        client: Client,
        workgroup: String,
        output: Option<String>,
        concurrency: usize,
    ) -> Runner {
        Runner {
            client,
            workgroup,
            output,
            slots: Semaphore::new(concurrency.max(1)),
            first_poll: Duration::from_millis(200),
            max_poll: Duration::from_secs(5),
            running: Running::default(),
        }
    }

    /// Stops every running query (Ctrl-C); queries not yet started are not started.
    pub async fn cancel(&self) {
        for id in self.running.cancel() {
            let _ = self
                .client
                .stop_query_execution()
                .query_execution_id(&id)
                .send()
                .await;
        }
    }
}

/// The columns, partition keys and parameters of `database.table`; `Err(true, ..)` when Athena
/// knows no such table.
pub async fn metadata(
    client: &Client,
    database: &str,
    table: &str,
) -> Result<Metadata, (bool, String)> {
    {
        let out = client
            .get_table_metadata()
            .catalog_name("AwsDataCatalog")
            .database_name(database)
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                let missing = e
                    .as_service_error()
                    .is_some_and(|s| s.is_metadata_exception());
                (missing, describe("athena:GetTableMetadata", &e).to_string())
            })?;
        let t = out.table_metadata().ok_or((
            false,
            "athena:GetTableMetadata returned no table".to_string(),
        ))?;
        let cols = |c: &[aws_sdk_athena::types::Column]| {
            c.iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        c.r#type().unwrap_or("string").to_string(),
                    )
                })
                .collect()
        };
        Ok(Metadata {
            columns: cols(t.columns()),
            partitions: cols(t.partition_keys()),
            parameters: t
                .parameters()
                .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }
}

impl Runner {
    pub async fn run(&self, sql: &str) -> Result<Answer, String> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| "query slots closed".to_string())?;
        if self.running.is_cancelled() {
            return Err("cancelled (Ctrl-C) before the query started".into());
        }
        let started = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup)
            .set_result_configuration(
                self.output
                    .as_ref()
                    .map(|o| ResultConfiguration::builder().output_location(o).build()),
            )
            .send()
            .await
            .map_err(|e| {
                let said = describe("athena:StartQueryExecution", &e).to_string();
                if said.contains("output location") {
                    format!("{said}\n  help: give --athena-output s3://BUCKET/PREFIX/, or set the workgroup's query result location")
                } else {
                    said
                }
            })?;
        let id = started
            .query_execution_id()
            .ok_or("athena:StartQueryExecution returned no query id")?
            .to_string();
        self.running.track(&id, true);
        let result = self.finish(&id).await;
        self.running.track(&id, false);
        result
    }

    /// Polls until the query ends, then reads every page of its results.
    async fn finish(&self, id: &str) -> Result<Answer, String> {
        let mut wait = self.first_poll;
        let cost = loop {
            if self.running.is_cancelled() {
                let _ = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await;
                return Err(format!("query {id} stopped: cancelled (Ctrl-C)"));
            }
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| {
                    format!("{} (query {id})", describe("athena:GetQueryExecution", &e))
                })?;
            let q = out
                .query_execution()
                .ok_or_else(|| format!("query {id}: athena:GetQueryExecution returned nothing"))?;
            let status = q.status();
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => {
                    let s = q.statistics();
                    break cost_of(
                        s.and_then(|s| s.data_scanned_in_bytes()),
                        s.and_then(|s| s.engine_execution_time_in_millis()),
                    );
                }
                Some(QueryExecutionState::Queued | QueryExecutionState::Running) => {}
                Some(state) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .unwrap_or("Athena gave no reason");
                    return Err(format!("query {id} ended {}: {reason}", state.as_str()));
                }
                None => {
                    return Err(format!(
                        "query {id}: athena:GetQueryExecution gave no state"
                    ));
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.max_poll);
        };
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        let mut names: Vec<String> = Vec::new();
        let mut first_page = true;
        loop {
            let out = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .set_next_token(token.clone())
                .max_results(1000)
                .send()
                .await
                .map_err(|e| format!("{} (query {id})", describe("athena:GetQueryResults", &e)))?;
            let Some(set) = out.result_set() else {
                return Err(format!(
                    "query {id}: athena:GetQueryResults returned no result set"
                ));
            };
            if names.is_empty()
                && let Some(meta) = set.result_set_metadata()
            {
                names = meta
                    .column_info()
                    .iter()
                    .map(|c| canonical(c.name()))
                    .collect();
            }
            // The first row of a SELECT's first page names the columns.
            let skip = usize::from(first_page);
            first_page = false;
            for r in set.rows().iter().skip(skip) {
                let row: Row = names
                    .iter()
                    .zip(r.data())
                    .filter_map(|(n, d)| d.var_char_value().map(|v| (n.clone(), v.to_string())))
                    .collect();
                rows.push(row);
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(Answer { rows, cost })
    }
}
