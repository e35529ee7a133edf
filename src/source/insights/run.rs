//! Running Logs Insights queries: start, poll with backoff, stop; a bounded number at a time;
//! results at the row limit are never taken as complete: the window is split and asked again.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use tokio::sync::Semaphore;

use super::query::{MAX_ROWS, Query};
use crate::aws::describe;
pub use crate::evidence::QueryCost as Cost;
use crate::source::aggregate::Running;

/// One result row: (field, value) pairs as Logs Insights returns them.
pub type Row = Vec<(String, String)>;

/// The rows of one query over one time range, and what it cost.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub rows: Vec<Row>,
    pub cost: Cost,
}

/// What answers Logs Insights queries: the `Runner` against AWS, or a test's stand-in that
/// computes the answers from records.
pub trait Asker: Send + Sync + 'static {
    /// Answers `query` over `groups` from `start` to `end` (epoch seconds, inclusive).
    fn ask(
        &self,
        groups: Vec<String>,
        start: i64,
        end: i64,
        query: Query,
    ) -> impl Future<Output = Result<Answer, String>> + Send;

    /// Whether the run was cancelled (Ctrl-C): no more tries.
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl Asker for Runner {
    async fn ask(
        &self,
        groups: Vec<String>,
        start: i64,
        end: i64,
        query: Query,
    ) -> Result<Answer, String> {
        self.run(&groups, start, end, &query.text).await
    }

    fn is_cancelled(&self) -> bool {
        Runner::is_cancelled(self)
    }
}

/// Runs nothing: for printing queries without AWS.
pub struct Offline;

impl Asker for Offline {
    async fn ask(&self, _: Vec<String>, _: i64, _: i64, _: Query) -> Result<Answer, String> {
        Err("no AWS to ask".into())
    }
}

/// Limits and shared state for the queries of a run.
pub struct Runner {
    pub client: Client,
    /// Queries running at once: well under the account's limit (30 by the older documentation),
    /// which dashboards and people share.
    slots: Semaphore,
    /// Polling starts fast and backs off to this.
    pub max_poll: Duration,
    pub first_poll: Duration,
    /// Query ids running now, to stop on Ctrl-C.
    running: Running,
}

/// The shortest time range a query is split into when its result hits the row limit.
const MIN_SPLIT: i64 = 60;

impl Runner {
    pub fn new(client: Client, concurrency: usize) -> Runner {
        Runner {
            client,
            slots: Semaphore::new(concurrency.max(1)),
            max_poll: Duration::from_secs(5),
            first_poll: Duration::from_millis(250),
            running: Running::default(),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.running.is_cancelled()
    }

    /// Stops every running query (Ctrl-C); queries not yet started are not started.
    pub async fn cancel(&self) {
        for id in self.running.cancel() {
            let _ = self.client.stop_query().query_id(&id).send().await;
        }
    }

    /// Runs `query` over `groups` from `start` to `end` (epoch seconds, inclusive). A result at
    /// the row limit may have been cut: the range is halved and each half asked again, down to a
    /// minute, below which it is an error rather than a partial answer.
    pub async fn run(
        &self,
        groups: &[String],
        start: i64,
        end: i64,
        query: &str,
    ) -> Result<Answer, String> {
        let (answer, more) = self.run_once(groups, start, end, query).await?;
        // A next token means rows are left: never a complete answer, whatever the count.
        if answer.rows.len() < MAX_ROWS && !more {
            return Ok(answer);
        }
        if end - start < MIN_SPLIT {
            return Err(format!(
                "more than {MAX_ROWS} result rows within one minute ({start}..{end}); cannot split further"
            ));
        }
        let mid = start + (end - start) / 2;
        let (a, b) = (
            Box::pin(self.run(groups, start, mid, query)).await?,
            Box::pin(self.run(groups, mid + 1, end, query)).await?,
        );
        let mut cost = answer.cost;
        cost.add(&a.cost);
        cost.add(&b.cost);
        let mut rows = a.rows;
        rows.extend(b.rows);
        Ok(Answer { rows, cost })
    }

    async fn run_once(
        &self,
        groups: &[String],
        start: i64,
        end: i64,
        query: &str,
    ) -> Result<(Answer, bool), String> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| "query slots closed".to_string())?;
        if self.is_cancelled() {
            return Err("cancelled (Ctrl-C) before the query started".into());
        }
        // Groups named by ARN (a monitoring account's view of linked accounts) go in
        // logGroupIdentifiers, which takes names too; StartQuery takes one of the two lists.
        let by_arn = groups.iter().any(|g| g.starts_with("arn:"));
        let started = self
            .client
            .start_query()
            .set_log_group_names((!by_arn).then(|| groups.to_vec()))
            .set_log_group_identifiers(by_arn.then(|| groups.to_vec()))
            .start_time(start)
            .end_time(end)
            .query_string(query)
            .limit(MAX_ROWS as i32)
            .send()
            .await
            .map_err(|e| describe("logs:StartQuery", &e).to_string())?;
        let id = started
            .query_id()
            .ok_or("logs:StartQuery returned no query id")?
            .to_string();
        self.running.track(&id, true);
        let result = self.poll(&id).await;
        self.running.track(&id, false);
        result
    }

    /// The query's answer, and whether a next token says rows are left.
    async fn poll(&self, id: &str) -> Result<(Answer, bool), String> {
        let mut wait = self.first_poll;
        loop {
            if self.is_cancelled() {
                let _ = self.client.stop_query().query_id(id).send().await;
                return Err(format!("query {id} stopped: cancelled (Ctrl-C)"));
            }
            let out = self
                .client
                .get_query_results()
                .query_id(id)
                .send()
                .await
                .map_err(|e| format!("{} (query {id})", describe("logs:GetQueryResults", &e)))?;
            match out.status() {
                Some(QueryStatus::Complete) => {
                    let rows = out
                        .results()
                        .iter()
                        .map(|row| {
                            row.iter()
                                .map(|f| {
                                    (
                                        f.field().unwrap_or_default().to_string(),
                                        f.value().unwrap_or_default().to_string(),
                                    )
                                })
                                .collect()
                        })
                        .collect();
                    let s = out.statistics();
                    let cost = Cost {
                        queries: 1,
                        records_scanned: s.map_or(0.0, |s| s.records_scanned()),
                        records_matched: s.map_or(0.0, |s| s.records_matched()),
                        bytes_scanned: s.map_or(0.0, |s| s.bytes_scanned()),
                        unreported: u64::from(s.is_none()),
                        ..Cost::default()
                    };
                    return Ok((Answer { rows, cost }, out.next_token().is_some()));
                }
                Some(QueryStatus::Scheduled | QueryStatus::Running) => {}
                Some(status) => return Err(format!("query {id} ended {}", status.as_str())),
                None => return Err(format!("query {id}: logs:GetQueryResults gave no status")),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.max_poll);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
