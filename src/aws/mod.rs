//! The AWS connection: configuration from the standard chain, clients, and errors in words.

pub mod error;

pub use error::AwsError;

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
    pub s3: aws_sdk_s3::Client,
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

/// Connects: the configuration from the standard chain, checked for what every call needs. A
/// missing region or missing credentials are the user's to fix (exit 2), said once here rather
/// than by every call that would fail.
pub async fn connect(o: &AwsOptions) -> Result<Aws, AwsError> {
    use aws_credential_types::provider::ProvideCredentials;
    use aws_credential_types::provider::error::CredentialsError;
    let config = config(o).await;
    let fail = |kind, detail: String| AwsError {
        action: "connect".into(),
        kind,
        detail,
    };
    if config.region().is_none() {
        return Err(fail(error::Kind::NoRegion, "no region is set".into()));
    }
    match config.credentials_provider() {
        None => return Err(fail(error::Kind::NoCredentials, "no credentials".into())),
        Some(provider) => match provider.provide_credentials().await {
            Ok(_) => {}
            Err(e @ CredentialsError::CredentialsNotLoaded(_)) => {
                return Err(fail(
                    error::Kind::NoCredentials,
                    format!("no credentials: {e}"),
                ));
            }
            Err(e) => {
                return Err(fail(
                    error::Kind::NoCredentials,
                    format!("the credentials could not be loaded: {e}"),
                ));
            }
        },
    }
    Ok(Aws::from_config(&config))
}

impl Aws {
    pub fn from_config(c: &SdkConfig) -> Aws {
        Aws {
            ec2: aws_sdk_ec2::Client::new(c),
            logs: aws_sdk_cloudwatchlogs::Client::new(c),
            // An endpoint of one's own (an emulator) serves buckets by path, not by host name.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(c)
                    .force_path_style(c.endpoint_url().is_some())
                    .build(),
            ),
        }
    }
}

/// An SDK error of the call `action` as one line with its help: the service's code and
/// message where there is one (e.g. `AccessDeniedException: User is not authorized ...`), else
/// the cause chain (no credentials, connection refused, timeout). Never includes credentials:
/// the SDK does not put them in errors.
pub fn describe<E, R>(
    action: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    AwsError::of(action, e)
}
