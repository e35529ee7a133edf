//! S3 failures against mocked S3: what a user sees when access is denied or AWS throttles.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::list_objects_v2::{ListObjectsV2Error, ListObjectsV2Output};
use aws_sdk_s3::types::Object as S3Object;
use aws_smithy_mocks::{Rule, RuleMode, mock};
use aws_smithy_types::error::metadata::ErrorMetadata;

use super::layout::Location;
use super::*;
use crate::aws::error::Kind;
use crate::source::blob::Fetcher;
use crate::source::files::{FileSource, Remote};
use crate::source::{Question, SourceError};

fn mocked(rules: &[&Rule]) -> Client {
    let conf = aws_sdk_s3::config::Builder::from(&crate::aws::mocks::sdk())
        .http_client(crate::aws::mocks::http_client())
        .interceptor(crate::aws::mocks::interceptor(RuleMode::MatchAny, rules))
        .build();
    Client::from_conf(conf)
}

const KEY: &str = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20/123456789012_vpcflowlogs_eu-west-1_fl-1_20261120T0905Z_aa.log.gz";

/// One object in the window, wherever the listing looks.
fn listed() -> Rule {
    mock!(Client::list_objects_v2).then_output(|| {
        ListObjectsV2Output::builder()
            .contents(S3Object::builder().key(KEY).size(100).build())
            .build()
    })
}

fn source(client: Client) -> FileSource {
    let location = Location::parse("s3://logs-bucket/AWSLogs/123456789012/vpcflowlogs/eu-west-1")
        .unwrap()
        .unwrap();
    FileSource::open(
        &[],
        crate::source::format::Format::default_v2(),
        &Default::default(),
    )
    .unwrap()
    .with_s3(Remote {
        lister: Lister {
            client: client.clone(),
            locations: vec![location],
        },
        fetcher: Fetcher {
            client,
            handle: tokio::runtime::Handle::current(),
        },
        wait: None,
    })
}

fn question() -> Question {
    let spec = crate::spec::parse(
        std::path::Path::new("t.yaml"),
        "app: t\nhosts: {web: {ip: 10.0.1.10}, app: {ip: 10.0.2.20}}\nexpect: [{from: web, to: app, port: 8080}]\n",
    )
    .unwrap();
    let window = crate::plan::Window {
        start: Some(1_795_165_200),
        end: Some(1_795_167_000),
        since: None,
    };
    Question::Checks(std::sync::Arc::new(
        crate::plan::build(&[spec], window).unwrap(),
    ))
}

fn aws_error(r: Result<crate::evidence::Evidence, SourceError>) -> crate::aws::AwsError {
    match r {
        Err(SourceError::Aws(e)) => e,
        Err(other) => panic!("not an AWS error: {other}"),
        Ok(_) => panic!("evidence gathered where AWS refused"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_on_an_object_ends_the_run_with_what_to_grant() {
    let denied = mock!(Client::get_object).then_error(|| {
        GetObjectError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("Access Denied")
                .build(),
        )
    });
    let e = aws_error(
        source(mocked(&[&listed(), &denied]))
            .gather(&question())
            .await,
    );
    assert_eq!(
        (e.action.as_str(), e.kind),
        ("s3:GetObject", Kind::AccessDenied)
    );
    assert!(e.with_help().contains("kms:Decrypt"), "{}", e.with_help());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_refused_or_throttled_beyond_the_retries_ends_the_run() {
    let denied = mock!(Client::list_objects_v2).then_error(|| {
        ListObjectsV2Error::generic(ErrorMetadata::builder().code("AccessDenied").build())
    });
    let e = aws_error(source(mocked(&[&denied])).gather(&question()).await);
    assert_eq!(
        (e.action.as_str(), e.kind),
        ("s3:ListBucket", Kind::AccessDenied)
    );
    let throttled = mock!(Client::get_object)
        .sequence()
        .error(|| GetObjectError::generic(ErrorMetadata::builder().code("SlowDown").build()))
        .times(10)
        .build();
    let e = aws_error(
        source(mocked(&[&listed(), &throttled]))
            .gather(&question())
            .await,
    );
    assert_eq!(e.kind, Kind::Throttled);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_gone_between_listing_and_fetching_is_a_gap_naming_it() {
    let gone = mock!(Client::get_object)
        .then_error(|| GetObjectError::generic(ErrorMetadata::builder().code("NoSuchKey").build()));
    // The window's only object: with it gone there is nothing to judge, which the run says once.
    let e = source(mocked(&[&listed(), &gone]))
        .gather(&question())
        .await
        .expect_err("nothing to judge is an error");
    let SourceError::Failed(why) = e else {
        panic!("{e:?}")
    };
    assert!(
        why.contains(&format!("s3://logs-bucket/{KEY}")) && why.contains("NoSuchKey"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discovered_flow_log_with_no_object_in_the_window_is_named_as_missing() {
    // Discovery found two flow logs delivering here; only fl-1 has an object for the window.
    let listing = listed_narrowed(&["fl-1", "fl-2"], &[]).await;
    assert_eq!(listing.objects.len(), 1);
    assert_eq!(
        listing.silent,
        ["fl-2 in s3://logs-bucket/AWSLogs/123456789012/vpcflowlogs/eu-west-1/"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transit_gateways_flow_log_is_read_but_never_shows_delivery_nor_a_gap() {
    // The only object is the gateway's (fl-1); the VPC flow log (fl-2) has none.
    let listing = listed_narrowed(&["fl-2"], &["fl-1", "fl-3"]).await;
    assert_eq!(listing.objects.len(), 1, "the gateway's object is read");
    assert_eq!(listing.newest, None, "and shows nothing delivered");
    assert_eq!(
        listing.silent,
        ["fl-2 in s3://logs-bucket/AWSLogs/123456789012/vpcflowlogs/eu-west-1/"],
        "the gateway without an object (fl-3) is no gap"
    );
}

/// The listing of the window from a location discovery narrowed to these flow logs and these
/// transit gateways' flow logs, where the bucket holds one object (fl-1's).
async fn listed_narrowed(flow_logs: &[&str], gateways: &[&str]) -> super::Listing {
    let ids = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect();
    let mut location =
        Location::parse("s3://logs-bucket/AWSLogs/123456789012/vpcflowlogs/eu-west-1")
            .unwrap()
            .unwrap();
    location.narrow = Some(super::layout::Narrow {
        region: "eu-west-1".into(),
        flow_logs: ids(flow_logs),
        account: None,
        gateways: ids(gateways),
    });
    let lister = Lister {
        client: mocked(&[&listed()]),
        locations: vec![location],
    };
    lister
        .objects((1_795_165_200, 1_795_167_000))
        .await
        .unwrap()
}
