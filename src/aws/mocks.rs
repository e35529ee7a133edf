//! Clients answering from aws-smithy-mocks rules, with fake credentials and a region: what the
//! unit tests of every stage that calls EC2 use (nothing leaves the process).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};

/// An EC2 client whose calls are answered by the first rule that matches.
pub fn ec2(rules: &[&Rule]) -> aws_sdk_ec2::Client {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIAFLOWGATETESTFAKE",
            "flowgate-test-fake-secret",
            None,
            None,
            "test",
        )))
        .build();
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        interceptor = interceptor.with_rule(r);
    }
    let conf = aws_sdk_ec2::config::Builder::from(&sdk)
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}
