//! The AWS connection: configuration from the standard chain, clients, and errors in words.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Where and as whom to reach AWS; all optional, the standard chain fills in the rest
/// (environment, profile, SSO, web identity, container and instance roles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// For a local emulator: every call goes there instead of AWS.
    pub endpoint_url: Option<String>,
}

impl AwsOptions {
    /// Whether the user asked for AWS at all.
    pub fn given(&self) -> bool {
        self.region.is_some() || self.profile.is_some() || self.endpoint_url.is_some()
    }
}

/// The clients flowgate uses.
#[derive(Debug, Clone)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// Retries for throttling (including Logs Insights' "too many concurrent queries") and transient
/// failures, with backoff; past them the call's error is reported.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(6)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20))
}

pub async fn config(o: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        );
    if let Some(p) = &o.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &o.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &o.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

pub async fn connect(o: &AwsOptions) -> Aws {
    Aws::from_config(&config(o).await)
}

impl Aws {
    pub fn from_config(c: &SdkConfig) -> Aws {
        Aws {
            ec2: aws_sdk_ec2::Client::new(c),
            logs: aws_sdk_cloudwatchlogs::Client::new(c),
        }
    }
}

/// An SDK error as one line: the service's code and message where there is one (e.g.
/// `AccessDeniedException: User is not authorized ...`), else the cause chain (no credentials,
/// connection refused, timeout). Never includes credentials: the SDK does not put them in errors.
pub fn describe<E, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some(code) => match e.message() {
            Some(m) if !m.is_empty() => format!("{code}: {m}"),
            _ => code.to_string(),
        },
        None => {
            // The cause chain, each message once (the SDK's own rendering ends in a Debug dump).
            let mut parts: Vec<String> = vec![e.to_string()];
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let m = c.to_string();
                if !parts.iter().any(|p| p.contains(&m)) {
                    parts.push(m);
                }
                cause = c.source();
            }
            let mut text = parts.join(": ");
            if text.to_ascii_lowercase().contains("missing")
                && text.to_ascii_lowercase().contains("region")
            {
                text.push_str("\n  help: give the region with --region, AWS_REGION or the profile");
            } else if text.contains("dispatch failure") || text.contains("timeout") {
                text.push_str(
                    "\n  help: AWS could not be reached: check the region (--region or AWS_REGION), \
                     --endpoint-url if you use one, and the network or proxy",
                );
            }
            if text.contains("no credentials") {
                text.push_str(
                    "\n  help: give AWS credentials the standard way: --profile or AWS_PROFILE (after \
                     `aws sso login` for SSO), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a role \
                     (web identity in CI, an instance or container role)",
                );
            }
            text
        }
    }
}
