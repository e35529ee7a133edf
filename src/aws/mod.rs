//! The AWS connection: configuration from the standard chain, clients, and errors in words.

pub mod error;
#[cfg(test)]
pub mod mocks;

pub use error::AwsError;

use std::collections::BTreeMap;
use std::sync::Arc;
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
    /// `--role-arn`: the role to assume in other accounts, `{account}` for the account id.
    pub role_arn: Option<String>,
    /// `--external-id`, for the role's trust policy.
    pub external_id: Option<String>,
}

impl AwsOptions {
    /// Whether the user asked for AWS at all.
    pub fn given(&self) -> bool {
        self.region.is_some()
            || self.profile.is_some()
            || self.endpoint_url.is_some()
            || self.role_arn.is_some()
    }
}

/// The clients flowgate uses, in one account: the caller's, or one reached through the role.
#[derive(Debug, Clone)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub s3: aws_sdk_s3::Client,
    pub athena: aws_sdk_athena::Client,
    /// The caller's account and the others, shared by every copy.
    pub accounts: Arc<Accounts>,
}

/// The accounts of a run: the caller's (asked of STS once, when a host names an account) and
/// those reached through `--role-arn`, each role assumed once per run. The temporary
/// credentials stay inside the clients: nothing prints them (the SDK's `Credentials` redacts
/// its secret in `Debug`).
pub struct Accounts {
    config: SdkConfig,
    role: Option<String>,
    external_id: Option<String>,
    caller: tokio::sync::OnceCell<Result<String, String>>,
    assumed: tokio::sync::Mutex<BTreeMap<String, Result<Aws, String>>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// The role ARN for `account`.
    pub fn role_for(&self, account: &str) -> Option<String> {
        self.role.as_ref().map(|t| t.replace("{account}", account))
    }

    /// Whether a role template was given.
    pub fn has_role(&self) -> bool {
        self.role.is_some()
    }
}

impl Aws {
    /// The region calls go to.
    pub fn region(&self) -> Option<String> {
        self.accounts.config.region().map(|r| r.to_string())
    }

    /// The caller's account id (sts:GetCallerIdentity, once per run).
    pub async fn caller_account(&self) -> Result<String, String> {
        self.accounts
            .caller
            .get_or_init(|| async {
                let sts = aws_sdk_sts::Client::new(&self.accounts.config);
                let out = sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| describe("sts:GetCallerIdentity", &e).with_help())?;
                out.account()
                    .map(str::to_string)
                    .ok_or_else(|| "sts:GetCallerIdentity returned no account".to_string())
            })
            .await
            .clone()
    }

    /// The clients for `account`: these for the caller's own (or `None`), else the clients of
    /// the role `--role-arn` names there, assumed on first use. An error names the role and the
    /// account.
    pub async fn in_account(&self, account: Option<&str>) -> Result<Aws, String> {
        let Some(account) = account else {
            return Ok(self.clone());
        };
        if self.caller_account().await? == account {
            return Ok(self.clone());
        }
        let Some(role) = self.accounts.role_for(account) else {
            return Err(format!(
                "account {account} is not the caller's, and no --role-arn says which role to assume there\n  help: add --role-arn 'arn:aws:iam::{{account}}:role/NAME'"
            ));
        };
        let mut assumed = self.accounts.assumed.lock().await;
        if let Some(done) = assumed.get(account) {
            return done.clone();
        }
        let result = self
            .assume(&role)
            .await
            .map_err(|e| format!("cannot assume role {role} in account {account}: {e}"));
        assumed.insert(account.to_string(), result.clone());
        result
    }

    async fn assume(&self, role: &str) -> Result<Aws, String> {
        let sts = aws_sdk_sts::Client::new(&self.accounts.config);
        let out = sts
            .assume_role()
            .role_arn(role)
            .role_session_name("flowgate")
            .set_external_id(self.accounts.external_id.clone())
            .send()
            .await
            .map_err(|e| describe("sts:AssumeRole", &e).with_help())?;
        let c = out
            .credentials()
            .ok_or("sts:AssumeRole returned no credentials")?;
        let credentials = aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "flowgate --role-arn",
        );
        let config = self
            .accounts
            .config
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .build();
        let mut aws = Aws::from_config(&config);
        aws.accounts = Arc::clone(&self.accounts);
        Ok(aws)
    }
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
    let mut aws = Aws::from_config(&config);
    aws.accounts = Arc::new(Accounts {
        role: o.role_arn.clone(),
        external_id: o.external_id.clone(),
        ..Accounts::of(&config)
    });
    Ok(aws)
}

impl Accounts {
    fn of(config: &SdkConfig) -> Accounts {
        Accounts {
            config: config.clone(),
            role: None,
            external_id: None,
            caller: tokio::sync::OnceCell::new(),
            assumed: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }
}

impl Aws {
    pub fn from_config(c: &SdkConfig) -> Aws {
        Aws {
            accounts: Arc::new(Accounts::of(c)),
            ec2: aws_sdk_ec2::Client::new(c),
            logs: aws_sdk_cloudwatchlogs::Client::new(c),
            athena: aws_sdk_athena::Client::new(c),
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
