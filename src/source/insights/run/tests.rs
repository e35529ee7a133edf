//! The query life cycle against mocked Logs Insights responses.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::operation::start_query::{StartQueryError, StartQueryOutput};
use aws_sdk_cloudwatchlogs::operation::stop_query::StopQueryOutput;
use aws_sdk_cloudwatchlogs::types::{QueryStatistics, QueryStatus, ResultField};
use aws_smithy_mocks::{Rule, RuleMode, mock};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::metadata::ErrorMetadata;

use super::*;

/// A Logs client answering from `rules`, with retries that do not wait.
pub fn mocked(mode: RuleMode, rules: &[&Rule]) -> Client {
    let conf = aws_sdk_cloudwatchlogs::config::Builder::from(&crate::aws::mocks::sdk())
        .http_client(crate::aws::mocks::http_client())
        .interceptor(crate::aws::mocks::interceptor(mode, rules))
        .build();
    Client::from_conf(conf)
}

pub fn runner(client: Client) -> Runner {
    let mut r = Runner::new(client, 2);
    r.first_poll = Duration::from_millis(1);
    r.max_poll = Duration::from_millis(2);
    r
}

fn started() -> Rule {
    mock!(Client::start_query).then_output(|| StartQueryOutput::builder().query_id("q-1").build())
}

fn status(s: QueryStatus) -> GetQueryResultsOutput {
    GetQueryResultsOutput::builder().status(s).build()
}

pub fn complete(rows: usize) -> GetQueryResultsOutput {
    let row = vec![ResultField::builder().field("records").value("1").build()];
    GetQueryResultsOutput::builder()
        .status(QueryStatus::Complete)
        .set_results(Some(vec![row; rows]))
        .statistics(
            QueryStatistics::builder()
                .records_scanned(1000.0)
                .records_matched(rows as f64)
                .bytes_scanned(64000.0)
                .build(),
        )
        .build()
}

pub fn throttled() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
    )
}

const GROUPS: &[&str] = &["/vpc/flow"];

fn groups() -> Vec<String> {
    GROUPS.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_query_is_polled_until_complete_and_reports_its_cost() {
    let start = started();
    let results = mock!(Client::get_query_results)
        .sequence()
        .output(|| status(QueryStatus::Scheduled))
        .output(|| status(QueryStatus::Running))
        .output(|| complete(3))
        .build();
    let r = runner(mocked(RuleMode::Sequential, &[&start, &results]));
    let a = r.run(&groups(), 100, 200, "q").await.unwrap();
    assert_eq!(a.rows.len(), 3);
    assert_eq!(
        a.cost,
        Cost {
            queries: 1,
            records_scanned: 1000.0,
            records_matched: 3.0,
            bytes_scanned: 64000.0,
            unreported: 0,
            ..Cost::default()
        }
    );
    assert_eq!(results.num_calls(), 3);
}

#[tokio::test]
async fn queries_that_end_failed_timeout_or_cancelled_are_errors() {
    for (s, word) in [
        (QueryStatus::Failed, "Failed"),
        (QueryStatus::Timeout, "Timeout"),
        (QueryStatus::Cancelled, "Cancelled"),
    ] {
        let start = started();
        let results = mock!(Client::get_query_results).then_output(move || status(s.clone()));
        let r = runner(mocked(RuleMode::Sequential, &[&start, &results]));
        let e = r.run(&groups(), 100, 200, "q").await.unwrap_err();
        assert_eq!(e, format!("query q-1 ended {word}"));
    }
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let start = mock!(Client::start_query)
        .sequence()
        .http_response(throttled)
        .output(|| StartQueryOutput::builder().query_id("q-1").build())
        .build();
    let results = mock!(Client::get_query_results)
        .sequence()
        .http_response(throttled)
        .output(|| complete(1))
        .build();
    let r = runner(mocked(RuleMode::Sequential, &[&start, &results]));
    assert_eq!(r.run(&groups(), 100, 200, "q").await.unwrap().rows.len(), 1);
    assert_eq!((start.num_calls(), results.num_calls()), (2, 2));
}

#[tokio::test]
async fn throttling_beyond_the_retries_is_an_error_naming_it() {
    let start = mock!(Client::start_query).then_http_response(throttled);
    let r = runner(mocked(RuleMode::Sequential, &[&start]));
    let e = r.run(&groups(), 100, 200, "q").await.unwrap_err();
    assert_eq!(e, "logs:StartQuery: ThrottlingException: Rate exceeded");
    assert_eq!(start.num_calls(), 6, "the SDK's retries");
}

#[tokio::test]
async fn too_many_concurrent_queries_is_retried_by_the_sdk() {
    let limit = || {
        StartQueryError::LimitExceededException(
            aws_sdk_cloudwatchlogs::types::error::LimitExceededException::builder()
                .message("too many queries")
                .meta(
                    ErrorMetadata::builder()
                        .code("LimitExceededException")
                        .message("too many queries")
                        .build(),
                )
                .build(),
        )
    };
    let start = mock!(Client::start_query)
        .sequence()
        .error(limit)
        .error(limit)
        .output(|| StartQueryOutput::builder().query_id("q-1").build())
        .build();
    let results = mock!(Client::get_query_results).then_output(|| complete(2));
    let r = runner(mocked(RuleMode::Sequential, &[&start, &results]));
    assert_eq!(r.run(&groups(), 100, 200, "q").await.unwrap().rows.len(), 2);
}

#[tokio::test]
async fn missing_permissions_are_errors_with_the_service_message() {
    let start = mock!(Client::start_query).then_http_response(|| {
        Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: logs:StartQuery"}"#),
        )
    });
    let r = runner(mocked(RuleMode::Sequential, &[&start]));
    let e = r.run(&groups(), 100, 200, "q").await.unwrap_err();
    assert_eq!(
        e,
        "logs:StartQuery: AccessDeniedException: User is not authorized to perform: logs:StartQuery"
    );
}

#[tokio::test]
async fn a_result_at_the_row_limit_is_split_and_asked_again() {
    let start = mock!(Client::start_query)
        .match_requests(|r| r.start_time() == Some(100) && r.end_time() == Some(300))
        .then_output(|| StartQueryOutput::builder().query_id("whole").build());
    let first = mock!(Client::start_query)
        .match_requests(|r| r.start_time() == Some(100) && r.end_time() == Some(200))
        .then_output(|| StartQueryOutput::builder().query_id("first").build());
    let second = mock!(Client::start_query)
        .match_requests(|r| r.start_time() == Some(201) && r.end_time() == Some(300))
        .then_output(|| StartQueryOutput::builder().query_id("second").build());
    let whole = mock!(Client::get_query_results)
        .match_requests(|r| r.query_id() == Some("whole"))
        .then_output(|| complete(MAX_ROWS));
    let halves = mock!(Client::get_query_results)
        .match_requests(|r| r.query_id() != Some("whole"))
        .then_output(|| complete(6000));
    let r = runner(mocked(
        RuleMode::MatchAny,
        &[&start, &first, &second, &whole, &halves],
    ));
    let a = r.run(&groups(), 100, 300, "q").await.unwrap();
    assert_eq!(a.rows.len(), 12000, "both halves, and not the cut answer");
    assert_eq!(a.cost.queries, 3);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_answer_with_a_next_token_is_never_taken_as_complete() {
    // A short page that says more rows follow: the range is asked again in halves.
    let start = mock!(Client::start_query)
        .match_requests(|r| r.start_time() == Some(100) && r.end_time() == Some(300))
        .then_output(|| StartQueryOutput::builder().query_id("whole").build());
    let halves = mock!(Client::start_query)
        .match_requests(|r| r.start_time() != Some(100) || r.end_time() != Some(300))
        .then_output(|| StartQueryOutput::builder().query_id("half").build());
    let whole = mock!(Client::get_query_results)
        .match_requests(|r| r.query_id() == Some("whole"))
        .then_output(|| {
            let mut page = complete(10);
            page.next_token = Some("more".into());
            page
        });
    let answered = mock!(Client::get_query_results)
        .match_requests(|r| r.query_id() == Some("half"))
        .then_output(|| complete(30));
    let r = runner(mocked(
        RuleMode::MatchAny,
        &[&start, &halves, &whole, &answered],
    ));
    let a = r.run(&groups(), 100, 300, "q").await.unwrap();
    assert_eq!(a.rows.len(), 60, "the halves' rows, not the cut page's");
    assert_eq!(halves.num_calls(), 2);
}

#[tokio::test]
async fn a_minute_at_the_row_limit_is_an_error_not_a_partial_answer() {
    let start = started();
    let results = mock!(Client::get_query_results).then_output(|| complete(MAX_ROWS));
    let r = runner(mocked(RuleMode::MatchAny, &[&start, &results]));
    let e = r.run(&groups(), 100, 130, "q").await.unwrap_err();
    assert!(
        e.starts_with("more than 10000 result rows within one minute"),
        "{e}"
    );
}

#[tokio::test]
async fn cancelling_stops_the_running_queries() {
    let start = started();
    let results = mock!(Client::get_query_results).then_output(|| status(QueryStatus::Running));
    let stop = mock!(Client::stop_query)
        .match_requests(|r| r.query_id() == Some("q-1"))
        .then_output(|| StopQueryOutput::builder().success(true).build());
    let r = std::sync::Arc::new(runner(mocked(
        RuleMode::MatchAny,
        &[&start, &results, &stop],
    )));
    let task = tokio::spawn({
        let r = std::sync::Arc::clone(&r);
        async move { r.run(&groups(), 100, 200, "q").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    r.cancel().await;
    let e = task.await.unwrap().unwrap_err();
    assert!(e.contains("cancelled (Ctrl-C)"), "{e}");
    assert!(stop.num_calls() >= 1, "StopQuery was called");
    // Nothing new starts once cancelled.
    assert!(
        r.run(&groups(), 100, 200, "q")
            .await
            .unwrap_err()
            .contains("before the query started")
    );
}

#[tokio::test]
async fn groups_named_by_arn_go_in_log_group_identifiers() {
    // A monitoring account's query spans linked accounts' groups only through
    // logGroupIdentifiers; StartQuery refuses both lists at once.
    let arns = [
        "arn:aws:logs:eu-west-1:111111111111:log-group:/vpc/flow".to_string(),
        "/vpc/local".to_string(),
    ];
    let by_id = mock!(Client::start_query)
        .match_requests(move |r| {
            r.log_group_names().is_empty()
                && r.log_group_identifiers()
                    == [
                        "arn:aws:logs:eu-west-1:111111111111:log-group:/vpc/flow",
                        "/vpc/local",
                    ]
        })
        .then_output(|| StartQueryOutput::builder().query_id("q-1").build());
    let by_name = mock!(Client::start_query)
        .match_requests(|r| {
            r.log_group_identifiers().is_empty() && r.log_group_names() == ["/vpc/local"]
        })
        .then_output(|| StartQueryOutput::builder().query_id("q-2").build());
    let done = mock!(Client::get_query_results).then_output(|| complete(1));
    let r = runner(mocked(RuleMode::MatchAny, &[&by_id, &by_name, &done]));
    r.run(&arns, 0, 100, "q").await.unwrap();
    r.run(&arns[1..], 0, 100, "q").await.unwrap();
    assert_eq!(by_id.num_calls(), 1);
    assert_eq!(by_name.num_calls(), 1);
}
