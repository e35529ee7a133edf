//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Example:
  flowgate check --flow-logs examples/after-fixes --junit junit.xml specs/shop.yaml

A spec (YAML; `flowgate schema` prints its JSON Schema, the README documents it):
  app: shop
  hosts:
    web: { ips: [10.0.1.10, 10.0.1.11] }
    db: { tag: { Name: shop-db } }
  expect:
    - { from: web, to: db, port: 5432 }
    - { name: nobody else reaches db, from: any, to: db, port: 5432, deny: true }

Exit codes:
  0    every expectation passed
  101  an expectation failed
  2    usage or spec error
  3    the evidence could not be gathered (or is incomplete) for an expectation that did not fail";

#[derive(Debug, Parser)]
#[command(
    name = "flowgate",
    version,
    about = "A connectivity gate for AWS: app specs checked against VPC Flow Logs, one test per expectation",
    after_help = EXIT_CODES,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Judge every expectation of the specs against flow-log evidence: one test each
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Check spec files without evidence (for pull-request pipelines)
    #[command(after_help = "Example:\n  flowgate validate specs/")]
    Validate(ValidateArgs),
    /// Print the Logs Insights queries or Athena SQL `check` would run, with their log groups or
    /// table and time ranges, to paste into the console
    #[command(
        after_help = "Examples:\n  flowgate query --log-group /vpc/flow-logs --since 2h specs/shop.yaml\n  flowgate query --athena-table flowlogs.vpc_flow_logs --since 1h specs/\n  flowgate query --region eu-west-1 specs/"
    )]
    Query(QueryArgs),
    /// List the REJECTed flows touching the specs' hosts, most first, with the expectation that
    /// covers each: what to run when "the application is not working"
    #[command(
        after_help = "Examples:\n  flowgate triage --flow-logs examples/troubled-cutover specs/shop.yaml\n  flowgate triage --region eu-west-1 --since 1h specs/shop.yaml"
    )]
    Triage(TriageArgs),
    /// Write a baseline spec from the connections that worked (ESTABLISHED) among a spec's hosts
    /// or the addresses of some networks: record before a change, gate on it after
    #[command(
        after_help = "Examples:\n  flowgate observe --hosts-of specs/shop.yaml --flow-logs examples/after-fixes > baseline.yaml\n  flowgate observe --hosts-of specs/shop.yaml --region eu-west-1 --since 24h > baseline.yaml\n  flowgate observe --cidr 10.0.0.0/16 --log-group /vpc/flow-logs --since 24h > baseline.yaml"
    )]
    Observe(ObserveArgs),
    /// Print a CREATE EXTERNAL TABLE statement for the flow logs in S3, with partition projection
    /// for their layout: the table --athena-table reads, with no crawler or MSCK REPAIR needed
    #[command(
        name = "athena-ddl",
        after_help = "Examples:\n  flowgate athena-ddl --location s3://org-flow-logs/ --accounts 111111111111,222222222222 --regions eu-west-1\n  flowgate athena-ddl --location s3://org-flow-logs/ --parquet --hourly --accounts 111111111111 --regions eu-west-1,us-east-1"
    )]
    AthenaDdl(AthenaDdlArgs),
    /// Print the JSON Schema of the spec format, for editors (YAML language server)
    #[command(
        after_help = "Example:\n  flowgate schema > flowgate.schema.json\n  # then, first line of a spec: # yaml-language-server: $schema=flowgate.schema.json"
    )]
    Schema,
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  flowgate completions bash > ~/.local/share/bash-completion/completions/flowgate"
    )]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of flowgate, or of one of its commands
    #[command(
        after_help = "Examples:\n  flowgate man > flowgate.1 && man ./flowgate.1\n  flowgate man check > flowgate-check.1"
    )]
    Man {
        /// The command whose page to print (check, validate, query, triage, observe, ...)
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

const CHECK_EXAMPLES: &str = "\
Examples:
  flowgate check --flow-logs examples/after-fixes specs/shop.yaml
  flowgate check --flow-logs AWSLogs/ --since 2h --junit junit.xml specs/
  flowgate check --region eu-west-1 --wait 15m --junit junit.xml specs/shop.yaml
  flowgate check --log-group /vpc/flow-logs --since 30m specs/
  flowgate check --evidence config --region eu-west-1 specs/shop.yaml   # preflight, no flow logs
  flowgate check --flow-logs logs/ specs/shop.yaml --list
  flowgate check --flow-logs logs/ specs/shop.yaml -- 'shop::users'

Exit codes: 0 pass, 101 a test failed, 2 usage or spec error, 3 evidence missing.";

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Spec files, or directories of .yaml/.yml spec files
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Spec files, or directories of .yaml/.yml spec files
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,

    #[command(flatten)]
    pub evidence: EvidenceArgs,

    /// Keep asking CloudWatch, S3 or Athena until every reach expectation has records, for up to
    /// DURATION (flow logs arrive 5-10 minutes late)
    #[arg(long, value_name = "DURATION", help_heading = "CloudWatch Logs")]
    pub wait: Option<humantime::Duration>,

    /// Do not read the security groups, network ACLs and route tables (read whenever EC2 is
    /// reachable: against CloudWatch, or with --region, --profile or --endpoint-url) to explain
    /// failures and as a second witness of every check
    #[arg(long, help_heading = "AWS")]
    pub no_explain: bool,

    /// What the checks are judged by: `flow-logs` (the traffic, with the configuration as a
    /// second witness when EC2 is reachable), or `config`: a preflight by the security groups,
    /// network ACLs and route tables alone, before any traffic (needs EC2; reads no flow logs)
    #[arg(long = "evidence", value_enum, default_value_t = EvidenceKind::FlowLogs, value_name = "WHAT", help_heading = "Evidence")]
    pub judge_by: EvidenceKind,

    /// What a reach expectation with no traffic at all becomes
    #[arg(long, value_enum, default_value_t = NoTrafficArg::Fail, value_name = "WHAT", help_heading = "Evidence")]
    pub no_traffic: NoTrafficArg,

    /// Write a JUnit XML report to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub junit: Option<PathBuf>,

    /// Write SARIF 2.1.0 to FILE: one result per failing or erroring expectation, at its line in
    /// the spec (for GitHub code scanning)
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub sarif: Option<PathBuf>,

    /// Write a Markdown summary (a Mermaid diagram of each app, a table, failures first, and the
    /// run's cost) to FILE; on GitHub
    /// Actions it is also added to $GITHUB_STEP_SUMMARY
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub summary: Option<PathBuf>,

    #[command(flatten)]
    pub harness: HarnessArgs,
}

/// What evidence to read, and over what time: shared by every command that reads evidence.
#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// Flow-log files or directories (recursive; plain, gzip or Parquet, as S3 delivers them),
    /// or s3://BUCKET[/PREFIX] to read S3 itself. Repeat for more. Without it (and without
    /// --log-group), the flow logs of the specs' hosts are found through EC2, in CloudWatch Logs
    /// or S3
    #[arg(long = "flow-logs", value_name = "PATH", help_heading = "Evidence")]
    pub flow_logs: Vec<PathBuf>,

    /// Files under the --flow-logs directories not to read: a glob matched against the path
    /// below the directory and against the file name (repeatable; e.g. '*.json', 'archive/**')
    #[arg(long, value_name = "GLOB", help_heading = "Evidence")]
    pub exclude: Vec<String>,

    /// Record format of records without a header line, as in the flow log's definition, in
    /// single quotes ('${version} ${srcaddr} ...'); default: the version 2 format, or, against CloudWatch, the
    /// format of the flow log that delivers to the log group
    #[arg(long, value_name = "FIELDS", help_heading = "Evidence")]
    pub log_format: Option<String>,

    /// Judge only records that overlap the time from START (RFC 3339, e.g. 2026-11-20T09:00:00Z)
    #[arg(long, value_name = "START", value_parser = rfc3339, conflicts_with = "since", help_heading = "Evidence")]
    pub start: Option<u64>,

    /// Judge only records that overlap the time up to END (RFC 3339)
    #[arg(long, value_name = "END", value_parser = rfc3339, help_heading = "Evidence")]
    pub end: Option<u64>,

    /// Judge only records of the last DURATION (e.g. 2h, 30m) before now, or before --end.
    /// Against CloudWatch, the default is the spec's `window`, else 1h, and the window ends 10
    /// minutes before now (flow logs arrive late) unless --end says otherwise
    #[arg(long, value_name = "DURATION", help_heading = "Evidence")]
    pub since: Option<humantime::Duration>,

    /// CloudWatch log group with the flow logs (repeatable), by name or by ARN (a monitoring
    /// account's view of a linked account's group); default: the log groups of the flow logs that
    /// cover the specs' hosts (ec2:DescribeFlowLogs)
    #[arg(
        long = "log-group",
        value_name = "NAME|ARN",
        value_parser = log_group_name,
        help_heading = "CloudWatch Logs"
    )]
    pub log_groups: Vec<String>,

    /// What Logs Insights (or Athena) returns: `aggregated` (totals per address pair computed by
    /// `stats` or GROUP BY, then per connection only for pairs the totals do not settle), or `raw`
    /// records (for low volumes, or emulators without `stats`) [default: aggregated]
    #[arg(
        long,
        value_enum,
        value_name = "ROWS",
        help_heading = "CloudWatch Logs"
    )]
    pub insights_rows: Option<RowsArg>,

    /// Logs Insights or Athena queries running at once [default: 4]
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=20), help_heading = "CloudWatch Logs")]
    pub max_queries: Option<usize>,

    /// Athena table over the flow logs in S3 (DATABASE.TABLE, e.g. one `flowgate athena-ddl`
    /// creates): the records are scanned by Athena, pruned by the table's partitions, and
    /// judged as from files
    #[arg(long, value_name = "DB.TABLE", help_heading = "Athena")]
    pub athena_table: Option<String>,

    /// Athena workgroup the queries run in [default: primary]
    #[arg(long, value_name = "NAME", help_heading = "Athena")]
    pub athena_workgroup: Option<String>,

    /// Where Athena writes query results (s3://BUCKET/PREFIX/), for a workgroup that sets no
    /// result location
    #[arg(long, value_name = "S3URL", value_parser = s3_url, help_heading = "Athena")]
    pub athena_output: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

fn s3_url(s: &str) -> Result<String, String> {
    match s.strip_prefix("s3://") {
        Some(rest) if !rest.is_empty() => Ok(s.to_string()),
        _ => Err("give an S3 location: s3://BUCKET/PREFIX/".into()),
    }
}

#[derive(Debug, Args)]
pub struct AthenaDdlArgs {
    /// The S3 location the flow logs are delivered to: the folder that holds AWSLogs/
    #[arg(long, value_name = "S3URL")]
    pub location: String,

    /// The flow logs are Parquet files (the flow log's file format)
    #[arg(long)]
    pub parquet: bool,

    /// The flow logs use Hive-compatible S3 prefixes (aws-account-id=…/…/year=…)
    #[arg(long)]
    pub hive: bool,

    /// The flow logs are partitioned per hour (the flow log's "per hour partitions")
    #[arg(long)]
    pub hourly: bool,

    /// The accounts whose flow logs the location holds, comma-separated
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub accounts: Vec<String>,

    /// The regions whose flow logs the location holds, comma-separated
    #[arg(long, value_name = "REGION,...", value_delimiter = ',')]
    pub regions: Vec<String>,

    /// The table's name
    #[arg(long, value_name = "NAME", default_value = "vpc_flow_logs")]
    pub table: String,

    /// The flow log's record format, for text files whose format is not AWS's documented one:
    /// the columns follow it, in its order ('${version} ${srcaddr} ...')
    #[arg(long, value_name = "FIELDS")]
    pub log_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvidenceKind {
    FlowLogs,
    Config,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RowsArg {
    Aggregated,
    Raw,
}

/// Where AWS is; credentials come from the standard chain (environment, profile, SSO, web
/// identity, container or instance role).
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS region (default: from the environment or profile)
    #[arg(long, value_name = "REGION", help_heading = "AWS")]
    pub region: Option<String>,

    /// Named profile from ~/.aws/config
    #[arg(long, value_name = "NAME", help_heading = "AWS")]
    pub profile: Option<String>,

    /// Send every AWS call to this endpoint instead (a local emulator)
    #[arg(long, value_name = "URL", help_heading = "AWS")]
    pub endpoint_url: Option<String>,

    /// The role to assume (sts:AssumeRole, once per account and run) in each account a host
    /// names (`account:`) other than the caller's: an ARN with `{account}` for the account id,
    /// e.g. 'arn:aws:iam::{account}:role/flowgate-reader'
    #[arg(long, value_name = "ARN", value_parser = role_template, help_heading = "AWS")]
    pub role_arn: Option<String>,

    /// The external id the role's trust policy asks for (with --role-arn)
    #[arg(long, value_name = "ID", requires = "role_arn", help_heading = "AWS")]
    pub external_id: Option<String>,
}

impl AwsArgs {
    pub fn options(&self) -> crate::aws::AwsOptions {
        crate::aws::AwsOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
        }
    }
}

/// A role ARN template: an IAM role ARN whose account is `{account}`.
fn role_template(s: &str) -> Result<String, String> {
    let ok = s.starts_with("arn:")
        && s.split(':').nth(2) == Some("iam")
        && s.contains(":role/")
        && s.contains("{account}");
    if ok {
        Ok(s.to_string())
    } else {
        Err("not a role ARN template: write it as 'arn:aws:iam::{account}:role/NAME' ({account} is replaced by each account id)".into())
    }
}

#[derive(Debug, Args)]
pub struct TriageArgs {
    /// Spec files, or directories of .yaml/.yml spec files: their hosts
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,

    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("among").required(true).args(["hosts", "cidr"])))]
pub struct ObserveArgs {
    /// Observe the hosts of this spec (its expectations are not used)
    #[arg(long = "hosts-of", alias = "hosts", value_name = "SPEC")]
    pub hosts: Option<PathBuf>,

    /// Observe the addresses of these networks instead, one host per address (repeatable)
    #[arg(long, value_name = "NETWORK", value_parser = network)]
    pub cidr: Vec<ipnet::IpNet>,

    /// The `app` of the spec written (default: the spec's app with `-baseline`, or `baseline`)
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

fn network(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or network (10.0.0.0/16)"))
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Spec files, or directories of .yaml/.yml spec files
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,

    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoTrafficArg {
    /// Fail with NO_TRAFFIC
    Fail,
    /// Report the test as ignored
    Skip,
}

/// libtest's own options, passed on to libtest-mimic.
#[derive(Debug, Args)]
#[command(next_help_heading = "Test harness (as in cargo test)")]
pub struct HarnessArgs {
    /// Run only tests whose name contains a FILTER (after `--`; several run the tests any of
    /// them matches, as cargo test does)
    #[arg(last = true, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Match FILTER and --skip exactly rather than by substring
    #[arg(long)]
    pub exact: bool,

    /// Skip tests whose name contains FILTER (repeatable)
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,

    /// List the tests without reading any evidence
    #[arg(long)]
    pub list: bool,

    /// How the tests are printed
    #[arg(
        long,
        value_enum,
        value_name = "pretty|terse|json",
        conflicts_with = "quiet"
    )]
    pub format: Option<FormatArg>,

    /// One character per test (--format terse)
    #[arg(short, long)]
    pub quiet: bool,

    /// Accepted for libtest compatibility: the tests only judge evidence gathered before they
    /// run, so they run on one thread and print in spec order
    #[arg(long, hide = true, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub test_threads: Option<usize>,

    /// Accepted for libtest compatibility: flowgate ignores no test up front, so this runs none
    #[arg(long, hide = true)]
    pub ignored: bool,

    /// Accepted for libtest compatibility: flowgate ignores no test up front
    #[arg(long, hide = true)]
    pub include_ignored: bool,

    /// Colour: auto, always or never
    #[arg(
        long,
        value_enum,
        value_name = "auto|always|never",
        hide_possible_values = true
    )]
    pub color: Option<libtest_mimic::ColorSetting>,
}

/// How the tests are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One line per test (the default)
    Pretty,
    /// One character per test, for runs with many tests
    Terse,
    /// One JSON object per line, as libtest writes them
    Json,
}

impl HarnessArgs {
    /// Whether the test `name` runs: some filter matches it (or there is none), and no --skip.
    pub fn selects(&self, name: &str) -> bool {
        let matches = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.filter.is_empty() || self.filter.iter().any(matches))
            && !self.skip.iter().any(matches)
    }

    pub fn to_libtest(&self) -> libtest_mimic::Arguments {
        libtest_mimic::Arguments {
            // libtest takes one filter; with several, the caller leaves out what none matches.
            filter: match self.filter.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            },
            exact: self.exact,
            skip: self.skip.clone(),
            list: self.list,
            format: self.format.map(|f| match f {
                FormatArg::Pretty => libtest_mimic::FormatSetting::Pretty,
                FormatArg::Terse => libtest_mimic::FormatSetting::Terse,
                FormatArg::Json => libtest_mimic::FormatSetting::Json,
            }),
            quiet: self.quiet,
            // The evidence is gathered before any test runs, and a test only judges it: one
            // thread costs nothing, and prints the tests in spec order, as the README shows them.
            test_threads: Some(1),
            ignored: self.ignored,
            include_ignored: self.include_ignored,
            color: self.color,
            ..Default::default()
        }
    }
}

fn rfc3339(s: &str) -> Result<u64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            format!("{e} (expected e.g. 2026-11-20T09:00:00Z or 2026-11-20T10:00:00+01:00)")
        })?;
    u64::try_from(t.unix_timestamp())
        .map_err(|_| "times before 1970 are not flow-log times".to_string())
}

/// A log group name as CloudWatch Logs allows it (1-512 of `a-zA-Z0-9_-/.#`), or a log group's
/// ARN (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`, for a monitoring account's view of linked
/// accounts; a trailing `:*`, as DescribeLogGroups writes it, is dropped): anything else is a
/// typo, or text that would break the query listing `flowgate query` prints.
fn log_group_name(s: &str) -> Result<String, String> {
    let name_ok = |n: &str| {
        (1..=512).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/' | b'.' | b'#'))
    };
    if s.starts_with("arn:") {
        let arn = s.strip_suffix(":*").unwrap_or(s);
        return match crate::source::insights::GroupArn::parse(arn) {
            Some(g) if name_ok(&g.name) => Ok(arn.to_string()),
            _ => Err("not a log group ARN: arn:aws:logs:REGION:ACCOUNT:log-group:NAME".into()),
        };
    }
    if name_ok(s) {
        Ok(s.to_string())
    } else {
        Err(
            "not a log group name: 1 to 512 letters, digits and _ - / . #, or a log group ARN"
                .into(),
        )
    }
}
