//! Clients answering from aws-smithy-mocks rules, with fake credentials and a region: what the
//! unit tests of every stage that calls AWS use (nothing leaves the process).

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};

pub use aws_smithy_mocks::create_mock_http_client as http_client;

/// The configuration every mocked client starts from: fake credentials, a region, and the
/// run's retries with back-offs that do not wait.
pub fn sdk() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIAFLOWGATETESTFAKE",
            "flowgate-test-fake-secret",
            None,
            None,
            "test",
        )))
        .retry_config(
            crate::aws::retry_config()
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(2)),
        )
        .build()
}

/// What answers a mocked client's calls: `rules`, in `mode`.
pub fn interceptor(mode: RuleMode, rules: &[&Rule]) -> MockResponseInterceptor {
    rules
        .iter()
        .fold(MockResponseInterceptor::new().rule_mode(mode), |i, r| {
            i.with_rule(r)
        })
}

/// An EC2 client whose calls are answered by the first rule that matches.
pub fn ec2(rules: &[&Rule]) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::config::Builder::from(&sdk())
        .http_client(http_client())
        .interceptor(interceptor(RuleMode::MatchAny, rules))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}
