//! AWS failures, classified by what the service or the SDK says (error codes and error types,
//! not the wording of messages), each with the one help line that applies.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What went wrong, in the terms a user acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The caller may not do this (IAM, a bucket or key policy).
    AccessDenied,
    /// KMS refused to decrypt (SSE-KMS objects need kms:Decrypt).
    Kms,
    /// Throttled beyond the SDK's retries.
    Throttled,
    /// The resource is not there (a log group, a bucket, an object).
    NotFound,
    /// No credentials in the standard chain.
    NoCredentials,
    /// No region: nothing says where AWS is.
    NoRegion,
    /// AWS could not be reached, or did not answer in time.
    Unreachable,
    /// Anything else the service said.
    Service,
}

/// One failed AWS call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action}: {detail}")]
pub struct AwsError {
    /// The IAM action of the call (`ec2:DescribeFlowLogs`, `s3:GetObject`).
    pub action: String,
    pub kind: Kind,
    /// The service's code and message, or the SDK's cause chain.
    pub detail: String,
}

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AllAccessDisabled",
];

const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "EntityNotFoundException",
    "MetadataException",
];

impl Kind {
    fn of_code(code: &str) -> Kind {
        if code.starts_with("KMS.") || code.starts_with("KMS") {
            Kind::Kms
        } else if ACCESS_DENIED.contains(&code) {
            Kind::AccessDenied
        } else if THROTTLED.contains(&code) {
            Kind::Throttled
        } else if NOT_FOUND.contains(&code) {
            Kind::NotFound
        } else {
            Kind::Service
        }
    }
}

impl AwsError {
    /// Classifies an SDK error of the call `action`.
    pub fn of<E, R>(action: &str, e: &SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let (kind, detail) = match e.code() {
            Some(code) => {
                let detail = match e.message() {
                    Some(m) if !m.is_empty() => format!("{code}: {m}"),
                    _ => code.to_string(),
                };
                (Kind::of_code(code), detail)
            }
            None => {
                let detail = cause_chain(e);
                let kind = match e {
                    SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Kind::Unreachable,
                    SdkError::ConstructionFailure(_) if credentials_missing(e) => {
                        Kind::NoCredentials
                    }
                    // The SDK builds no request without a region to find the endpoint from.
                    SdkError::ConstructionFailure(_) if region_missing(e) => Kind::NoRegion,
                    _ => Kind::Service,
                };
                (kind, detail)
            }
        };
        AwsError {
            action: action.to_string(),
            kind,
            detail,
        }
    }

    /// The message with its help line, as a run that stops on it says it.
    pub fn with_help(&self) -> String {
        match self.help() {
            Some(h) => format!("{self}\n  help: {h}"),
            None => self.to_string(),
        }
    }

    /// The one help line that applies.
    pub fn help(&self) -> Option<String> {
        Some(match self.kind {
            // S3 says AccessDenied for an SSE-KMS object whose key the caller may not use, too.
            Kind::AccessDenied if self.action == "s3:GetObject" => "the credentials in use may not call s3:GetObject on the flow logs (and for objects encrypted with a KMS key, SSE-KMS, kms:Decrypt on that key): grant them to the role or user (the README's S3 section lists the policy)".into(),
            Kind::AccessDenied => format!(
                "the credentials in use may not call {}: grant it to the role or user (the README's Permissions section lists every action flowgate calls)",
                self.action
            ),
            Kind::Kms => "the objects are encrypted with a KMS key (SSE-KMS): the role also needs kms:Decrypt on that key".into(),
            Kind::Throttled => format!(
                "AWS throttled {} beyond the retries: run again later, or lower --max-queries",
                self.action
            ),
            Kind::NoCredentials => "give AWS credentials the standard way: --profile or AWS_PROFILE (after `aws sso login` for SSO), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a role (web identity in CI, an instance or container role); --flow-logs reads files without AWS".into(),
            Kind::NoRegion => "give the region with --region, AWS_REGION or the profile; --flow-logs reads files without AWS".into(),
            Kind::Unreachable => "AWS could not be reached: check the region (--region or AWS_REGION), --endpoint-url if you use one, and the network or proxy; to read flow-log files instead, give --flow-logs PATH".into(),
            Kind::NotFound | Kind::Service => return None,
        })
    }

    /// Whether the user fixes it on the command line or in the environment (exit 2), rather
    /// than the evidence being out of reach (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(self.kind, Kind::NoCredentials | Kind::NoRegion)
    }
}

/// The cause chain, each message once (the SDK's own rendering ends in a Debug dump).
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cause = c.source();
    }
    parts.join(": ")
}

fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |c| c.source())
}

fn credentials_missing(e: &(dyn std::error::Error + 'static)) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    causes(e).any(|c| {
        matches!(
            c.downcast_ref::<CredentialsError>(),
            Some(CredentialsError::CredentialsNotLoaded(_))
        )
    })
}

fn region_missing(e: &(dyn std::error::Error + 'static)) -> bool {
    // The endpoint resolver's error is a plain message: the one place text decides.
    causes(e).any(|c| {
        let m = c.to_string().to_ascii_lowercase();
        m.contains("region")
            && (m.contains("missing") || m.contains("must be set") || m.contains("no region"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_the_kind() {
        assert_eq!(Kind::of_code("AccessDeniedException"), Kind::AccessDenied);
        assert_eq!(Kind::of_code("UnauthorizedOperation"), Kind::AccessDenied);
        assert_eq!(Kind::of_code("KMS.AccessDeniedException"), Kind::Kms);
        assert_eq!(Kind::of_code("ThrottlingException"), Kind::Throttled);
        assert_eq!(Kind::of_code("LimitExceededException"), Kind::Throttled);
        assert_eq!(Kind::of_code("NoSuchBucket"), Kind::NotFound);
        assert_eq!(Kind::of_code("ResourceNotFoundException"), Kind::NotFound);
        assert_eq!(Kind::of_code("InvalidParameterException"), Kind::Service);
    }

    #[test]
    fn the_help_names_the_action_and_usage_errors_are_told_apart() {
        let e = AwsError {
            action: "s3:GetObject".into(),
            kind: Kind::AccessDenied,
            detail: "AccessDenied: Access Denied".into(),
        };
        let text = e.with_help();
        assert!(
            text.starts_with("s3:GetObject: AccessDenied: Access Denied\n  help: "),
            "{text}"
        );
        assert!(text.contains("may not call s3:GetObject"), "{text}");
        assert!(
            text.contains("kms:Decrypt"),
            "SSE-KMS objects need the key: {text}"
        );
        assert!(!e.is_usage());
        let region = AwsError {
            kind: Kind::NoRegion,
            ..e
        };
        assert!(region.is_usage());
    }
}
