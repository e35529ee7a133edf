//! The Athena query life cycle against mocked responses: polling, paging, the states a query
//! can end in, throttling and Ctrl-C, each with what the user is told; and how the coverage
//! query's rows count records and SKIPDATA.

use std::time::Duration;

use aws_sdk_athena::Client;
use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
use aws_sdk_athena::operation::stop_query_execution::StopQueryExecutionOutput;
use aws_sdk_athena::types::{
    ColumnInfo, Datum, QueryExecution, QueryExecutionState, QueryExecutionStatistics,
    QueryExecutionStatus, ResultSet, ResultSetMetadata, Row as AthenaRow,
};
use aws_smithy_mocks::{Rule, RuleMode, mock};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::run::Runner;

fn mocked(mode: RuleMode, rules: &[&Rule]) -> Client {
    let conf = aws_sdk_athena::config::Builder::from(&crate::aws::mocks::sdk())
        .http_client(crate::aws::mocks::http_client())
        .interceptor(crate::aws::mocks::interceptor(mode, rules))
        .build();
    Client::from_conf(conf)
}

fn runner(client: Client) -> Runner {
    let mut r = Runner::new(client, "primary".into(), None, 2);
    r.first_poll = Duration::from_millis(1);
    r.max_poll = Duration::from_millis(2);
    r
}

fn started() -> Rule {
    mock!(Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-1")
            .build()
    })
}

fn state(s: QueryExecutionState, reason: Option<&str>) -> GetQueryExecutionOutput {
    let status = QueryExecutionStatus::builder()
        .state(s)
        .set_state_change_reason(reason.map(str::to_string))
        .build();
    GetQueryExecutionOutput::builder()
        .query_execution(
            QueryExecution::builder()
                .query_execution_id("q-1")
                .status(status)
                .statistics(
                    QueryExecutionStatistics::builder()
                        .data_scanned_in_bytes(3_000_000)
                        .engine_execution_time_in_millis(1500)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn row(values: &[&str]) -> AthenaRow {
    AthenaRow::builder()
        .set_data(Some(
            values
                .iter()
                .map(|v| match *v {
                    "NULL" => Datum::builder().build(),
                    v => Datum::builder().var_char_value(v).build(),
                })
                .collect(),
        ))
        .build()
}

/// A page of results; the first page starts with the header row, as Athena's does.
fn page(rows: &[&[&str]], first: bool, next: Option<&str>) -> GetQueryResultsOutput {
    let names = ["interfaceid", "records", "last"];
    let mut all = Vec::new();
    if first {
        all.push(row(&names));
    }
    all.extend(rows.iter().map(|r| row(r)));
    GetQueryResultsOutput::builder()
        .result_set(
            ResultSet::builder()
                .set_rows(Some(all))
                .result_set_metadata(
                    ResultSetMetadata::builder()
                        .set_column_info(Some(
                            names
                                .iter()
                                .map(|n| {
                                    ColumnInfo::builder()
                                        .name(*n)
                                        .r#type("varchar")
                                        .build()
                                        .unwrap()
                                })
                                .collect(),
                        ))
                        .build(),
                )
                .build(),
        )
        .set_next_token(next.map(str::to_string))
        .build()
}

#[tokio::test]
async fn a_query_is_polled_paged_to_the_end_and_costed() {
    let start = started();
    let polls = mock!(Client::get_query_execution)
        .sequence()
        .output(|| state(QueryExecutionState::Queued, None))
        .output(|| state(QueryExecutionState::Running, None))
        .output(|| state(QueryExecutionState::Succeeded, None))
        .build();
    let pages = mock!(Client::get_query_results)
        .sequence()
        .output(|| page(&[&["eni-1", "3", "100"]], true, Some("t2")))
        .output(|| page(&[&["eni-2", "4", "NULL"]], false, None))
        .build();
    let r = runner(mocked(RuleMode::MatchAny, &[&start, &polls, &pages]));
    let a = r.run("SELECT 1").await.unwrap();
    assert_eq!(pages.num_calls(), 2, "followed NextToken");
    // The header row is not a row; names come back in Logs Insights' spelling; NULL is absent.
    assert_eq!(
        a.rows,
        vec![
            vec![
                ("interfaceId".to_string(), "eni-1".to_string()),
                ("records".to_string(), "3".to_string()),
                ("last".to_string(), "100".to_string())
            ],
            vec![
                ("interfaceId".to_string(), "eni-2".to_string()),
                ("records".to_string(), "4".to_string())
            ],
        ]
    );
    assert_eq!(a.cost.queries, 1);
    assert_eq!(a.cost.bytes_scanned, 3_000_000.0);
    // Billed for at least 10 MB.
    assert_eq!(a.cost.billed_bytes, 10.0 * 1024.0 * 1024.0);
    assert_eq!(a.cost.engine_millis, 1500);
}

#[tokio::test]
async fn a_failed_query_says_athenas_reason() {
    let start = started();
    let polls = mock!(Client::get_query_execution).then_output(|| {
        state(
            QueryExecutionState::Failed,
            Some("Access denied when writing output to url: s3://results/ (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)"),
        )
    });
    let r = runner(mocked(RuleMode::MatchAny, &[&start, &polls]));
    let e = r.run("SELECT 1").await.unwrap_err();
    assert!(
        e.contains("ended FAILED") && e.contains("Error Code: AccessDenied"),
        "{e}"
    );
}

#[tokio::test]
async fn a_cancelled_query_is_not_an_answer() {
    let start = started();
    let polls = mock!(Client::get_query_execution).then_output(|| {
        state(
            QueryExecutionState::Cancelled,
            Some("Query cancelled by user"),
        )
    });
    let r = runner(mocked(RuleMode::MatchAny, &[&start, &polls]));
    let e = r.run("SELECT 1").await.unwrap_err();
    assert!(e.contains("ended CANCELLED"), "{e}");
}

fn throttled() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(r#"{"__type":"TooManyRequestsException","Message":"Rate exceeded"}"#),
    )
}

#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let once = mock!(Client::start_query_execution)
        .sequence()
        .http_response(throttled)
        .output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        })
        .build();
    let polls = mock!(Client::get_query_execution)
        .then_output(|| state(QueryExecutionState::Succeeded, None));
    let pages = mock!(Client::get_query_results).then_output(|| page(&[], true, None));
    let r = runner(mocked(RuleMode::MatchAny, &[&once, &polls, &pages]));
    assert!(
        r.run("SELECT 1").await.is_ok(),
        "a throttled start is retried"
    );

    let always = mock!(Client::start_query_execution)
        .sequence()
        .http_response(throttled)
        .times(10)
        .build();
    let r = runner(mocked(RuleMode::MatchAny, &[&always]));
    let e = r.run("SELECT 1").await.unwrap_err();
    assert!(
        e.contains("athena:StartQueryExecution") && e.contains("TooManyRequestsException"),
        "{e}"
    );
}

#[tokio::test]
async fn ctrl_c_stops_the_running_query() {
    let start = started();
    let polls = mock!(Client::get_query_execution)
        .then_output(|| state(QueryExecutionState::Running, None));
    let stop = mock!(Client::stop_query_execution)
        .then_output(|| StopQueryExecutionOutput::builder().build());
    let r = std::sync::Arc::new(runner(mocked(RuleMode::MatchAny, &[&start, &polls, &stop])));
    let running = {
        let r = std::sync::Arc::clone(&r);
        tokio::spawn(async move { r.run("SELECT 1").await })
    };
    while polls.num_calls() < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    r.cancel().await;
    let e = running.await.unwrap().unwrap_err();
    assert!(e.contains("cancelled (Ctrl-C)"), "{e}");
    assert!(stop.num_calls() >= 1, "StopQueryExecution was called");
    let e = r.run("SELECT 1").await.unwrap_err();
    assert!(e.contains("before the query started"), "{e}");
}

// ---- what the coverage query's rows say ------------------------------------------------------

use std::sync::Arc;

use super::run::{Answer, Offline};
use super::table::{Metadata, Table};
use super::{Athena, unlisted};
use crate::source::aggregate::{Ask, Decoded, Job, Target};

fn table() -> Table {
    let cols = "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status";
    Table::new(
        "flowlogs",
        "t",
        &Metadata {
            columns: cols
                .split(' ')
                .map(|c| (c.to_string(), "string".to_string()))
                .collect(),
            partitions: vec![
                ("accid".into(), "string".into()),
                ("day".into(), "string".into()),
            ],
            parameters: [
                ("projection.enabled", "true"),
                ("projection.accid.type", "enum"),
                ("projection.accid.values", "111111111111"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        },
    )
    .unwrap()
}

fn coverage_row(values: &[(&str, &str)]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// 2026-11-20T09:00:00Z to 2026-11-21T01:00:00Z: two days of partitions.
const TWO_DAYS: (u64, u64) = (1_795_165_200, 1_795_222_800);

fn read(rows: Vec<Vec<(String, String)>>) -> crate::source::aggregate::Part {
    let engine = Athena::new(
        Arc::new(Offline),
        table(),
        Some("eu-west-1".into()),
        "primary".into(),
    );
    let job = Job {
        family: 0,
        ask: Ask::SkipData,
        target: Target::Networks {
            nets: None,
            action: None,
        },
        range: TWO_DAYS,
    };
    let batches = engine.writer().for_job(&job);
    engine.part(
        &job,
        &batches,
        0,
        Answer {
            rows,
            cost: Default::default(),
        },
    )
}

#[test]
fn coverage_counts_every_record_and_names_skipdata_and_empty_partitions() {
    let part = read(vec![
        coverage_row(&[
            ("logStatus", "OK"),
            ("partition", "2026/11/20"),
            ("records", "120"),
            ("unreadable", "0"),
        ]),
        coverage_row(&[
            ("interfaceId", "eni-0abc"),
            ("logStatus", "SKIPDATA"),
            ("partition", "2026/11/20"),
            ("records", "2"),
            ("last", "1795165800"),
            ("unreadable", "0"),
        ]),
    ]);
    assert_eq!(part.scanned, 122.0);
    assert!(matches!(part.rows[0].decoded, Ok(Decoded::Nothing)));
    assert!(matches!(
        part.rows[1].decoded,
        Ok(Decoded::SkipData { records: 2, .. })
    ));
    // The window's second day has no record: not registered, or not delivered.
    assert_eq!(part.missing.len(), 1, "{:?}", part.missing);
    assert!(
        part.missing[0].contains("partition day=2026/11/21"),
        "{}",
        part.missing[0]
    );
}

#[test]
fn coverage_rows_of_a_misaligned_table_are_a_broken_row_when_they_are_most_of_it() {
    // Mostly records whose columns do not line up: the table cannot be read as it says.
    let part = read(vec![
        coverage_row(&[
            ("partition", "2026/11/20"),
            ("records", "7"),
            ("unreadable", "0"),
        ]),
        coverage_row(&[
            ("logStatus", "OK"),
            ("partition", "2026/11/21"),
            ("records", "5"),
            ("unreadable", "5"),
        ]),
        coverage_row(&[
            ("logStatus", "eni-0abc"),
            ("partition", "2026/11/21"),
            ("records", "4"),
            ("unreadable", "0"),
        ]),
        coverage_row(&[
            ("logStatus", "log-status"),
            ("partition", "2026/11/21"),
            ("records", "9"),
            ("unreadable", "0"),
        ]),
    ]);
    let errors: Vec<&String> = part
        .rows
        .iter()
        .filter_map(|r| r.decoded.as_ref().err())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("9 of 16 records") && errors[0].contains("--log-format"),
        "{}",
        errors[0]
    );
    assert_eq!(part.scanned, 16.0, "header lines are no records");
    // A few such records among many (another flow log's format in the same folders): counted,
    // and no reason to distrust the rest.
    let part = read(vec![
        coverage_row(&[
            ("logStatus", "OK"),
            ("partition", "2026/11/20"),
            ("records", "900"),
            ("unreadable", "0"),
        ]),
        coverage_row(&[
            ("logStatus", "eni-0abc"),
            ("partition", "2026/11/21"),
            ("records", "4"),
            ("unreadable", "0"),
        ]),
        coverage_row(&[
            ("logStatus", "OK"),
            ("partition", "2026/11/21"),
            ("records", "100"),
            ("unreadable", "3"),
        ]),
    ]);
    assert!(part.rows.iter().all(|r| r.decoded.is_ok()));
    assert!(part.missing.is_empty(), "{:?}", part.missing);
}

#[test]
fn hosts_in_an_account_the_projection_does_not_list_are_refused() {
    let t = table();
    assert_eq!(unlisted(&t, ["111111111111"].into_iter()), None);
    let why = unlisted(&t, ["111111111111", "222222222222"].into_iter()).unwrap();
    assert!(
        why.contains("account 222222222222") && why.contains("projection.accid.values"),
        "{why}"
    );
}
