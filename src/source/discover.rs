//! Which flow logs hold the hosts' records, where they deliver, in what format, and which
//! expectations they cover.
//!
//! A flow log counts only if it can show both a block and its absence: traffic type ALL (or an
//! ACCEPT and a REJECT flow log on the same resource), with no delivery error. A REJECT-only
//! flow log would let every deny expectation pass; an ACCEPT-only one would hide every block.
//! Flow logs deliver to CloudWatch Logs or to S3: a check is read from CloudWatch where flow logs
//! there cover it (they arrive sooner, and Logs Insights totals them server-side), else from S3.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{FlowLog as Ec2FlowLog, LogDestinationType, TransitGatewayAttachment};

use crate::aws::describe;
use crate::plan::{Plan, Side};
use crate::resolve::Place;
use crate::source::SourceError;
use crate::source::format::Format;
use crate::source::insights::LogSource;
use crate::source::s3::layout::{Location, Narrow};

/// A flow log's `LogFormat` (`${version} ${srcaddr} ...`). Fields AWS may add later are kept
/// as columns to skip, as in an S3 header: the format comes from AWS, so the count is right.
/// Without one, the default of the resource's kind: a transit gateway's (`tgw-…`) or a VPC's.
pub fn format_of(log_format: Option<&str>, resource: &str) -> Format {
    match log_format {
        None | Some("") if resource.starts_with("tgw-") => {
            Format::from_header(crate::source::format::TGW_DEFAULT)
        }
        None | Some("") => Format::default_v2(),
        Some(f) => {
            let names: Vec<&str> = f
                .split_ascii_whitespace()
                .map(|t| {
                    t.strip_prefix("${")
                        .and_then(|t| t.strip_suffix('}'))
                        .unwrap_or(t)
                })
                .collect();
            Format::from_header(&names.join(" "))
        }
    }
}

/// A flow log, as far as flowgate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLog {
    pub id: String,
    pub resource: String,
    /// Where it delivers, in words: the log group, or `s3://bucket/prefix/`.
    pub group: String,
    /// For a flow log delivering to S3: the bucket and prefix it writes under `AWSLogs/` (the
    /// layout, Hive-compatible or not, hourly or not, and text or Parquet, are read from the
    /// bucket itself).
    pub s3: Option<Location>,
    pub format: Format,
    /// ALL, ACCEPT or REJECT.
    pub traffic: String,
    /// Why it cannot be relied on: delivery failed.
    pub broken: Option<String>,
    pub created: Option<u64>,
    /// The account it was found in, when a host named one (`None`: the caller's).
    pub account: Option<String>,
}

/// The bucket and prefix of an S3 flow log's destination, `arn:aws:s3:::bucket/optional/prefix`.
fn s3_destination(arn: &str) -> Option<Location> {
    let path = arn.strip_prefix("arn:")?.split_once(":::")?.1;
    Location::parse(&format!("s3://{path}"))?.ok()
}

impl FlowLog {
    fn of(fl: &Ec2FlowLog) -> Option<FlowLog> {
        let (group, s3) = match fl.log_destination_type() {
            None | Some(LogDestinationType::CloudWatchLogs) => {
                (fl.log_group_name()?.to_string(), None)
            }
            Some(LogDestinationType::S3) => {
                let location = s3_destination(fl.log_destination()?)?;
                (location.url(), Some(location))
            }
            Some(_) => return None, // Kinesis Data Firehose: not readable here
        };
        let failed = fl.deliver_logs_status().is_some_and(|s| s != "SUCCESS");
        let broken = match (fl.deliver_logs_error_message(), failed) {
            (Some(m), _) if !m.is_empty() => Some(format!("delivery error: {m}")),
            (_, true) => Some(format!(
                "delivery status {}",
                fl.deliver_logs_status().unwrap_or("?")
            )),
            _ => None,
        };
        Some(FlowLog {
            id: fl.flow_log_id().unwrap_or("?").to_string(),
            resource: fl.resource_id().unwrap_or("?").to_string(),
            group,
            s3,
            format: format_of(fl.log_format(), fl.resource_id().unwrap_or_default()),
            traffic: fl.traffic_type().map_or("ALL", |t| t.as_str()).to_string(),
            broken,
            created: fl.creation_time().map(|t| t.secs().max(0) as u64),
            account: None,
        })
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} traffic of {} to {})",
            self.id, self.traffic, self.resource, self.group
        )
    }
}

async fn flow_logs(
    client: &Client,
    filter: &str,
    values: &[String],
) -> Result<Vec<FlowLog>, String> {
    let mut found = Vec::new();
    for chunk in values.chunks(200) {
        let logs: Vec<Ec2FlowLog> = client
            .describe_flow_logs()
            .filter(crate::resolve::ec2::filter(filter, chunk.iter().cloned()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| describe("ec2:DescribeFlowLogs", &e).with_help())?;
        found.extend(logs.iter().filter_map(FlowLog::of));
    }
    Ok(found)
}

/// The flow logs that together record all traffic of each resource: per resource, those of
/// traffic type ALL, else an ACCEPT and a REJECT one together; broken ones never count.
fn complete(logs: &[FlowLog]) -> BTreeMap<&str, Vec<&FlowLog>> {
    let mut by_resource: BTreeMap<&str, Vec<&FlowLog>> = BTreeMap::new();
    for fl in logs.iter().filter(|f| f.broken.is_none()) {
        by_resource
            .entry(fl.resource.as_str())
            .or_default()
            .push(fl);
    }
    by_resource
        .into_iter()
        .filter_map(|(r, fls)| {
            let all: Vec<&FlowLog> = fls.iter().copied().filter(|f| f.traffic == "ALL").collect();
            if !all.is_empty() {
                return Some((r, all));
            }
            let has = |t: &str| fls.iter().any(|f| f.traffic == t);
            (has("ACCEPT") && has("REJECT")).then_some((r, fls))
        })
        .collect()
}

/// Groups the used flow logs' log groups by format; a group that receives two formats is an
/// error (its records could not be told apart).
fn by_format(used: &[&FlowLog]) -> Result<Vec<LogSource>, String> {
    let mut formats: BTreeMap<&str, (&Format, &FlowLog)> = BTreeMap::new();
    for fl in used {
        match formats.get(fl.group.as_str()) {
            Some((f, other)) if **f != fl.format => {
                return Err(format!(
                    "log group {} receives records in two formats (flow logs {} and {}): flowgate cannot tell them apart; \
                     give one flow log per log group",
                    fl.group, other.id, fl.id
                ));
            }
            Some(_) => {}
            None => {
                formats.insert(&fl.group, (&fl.format, fl));
            }
        }
    }
    let mut out: Vec<LogSource> = Vec::new();
    for (group, (format, _)) in formats {
        let created = used
            .iter()
            .filter(|f| f.group == group)
            .filter_map(|f| f.created)
            .max();
        match out.iter_mut().find(|s| s.format == *format) {
            Some(s) => {
                s.groups.push(group.to_string());
                s.created = s.created.max(created);
            }
            None => out.push(LogSource {
                groups: vec![group.to_string()],
                format: format.clone(),
                created,
                assumed: false,
            }),
        }
    }
    Ok(out)
}

/// The formats of log groups the user named: from the flow logs that deliver to them, else
/// `given` (`--log-format`). Without AWS access (`client` is `None`, for `flowgate query`), the
/// default format is assumed, and said to be.
pub async fn named(
    aws: Option<&crate::aws::Aws>,
    groups: &[String],
    given: Option<&Format>,
) -> Result<Vec<LogSource>, SourceError> {
    let source = |groups: Vec<String>, format: Format, assumed| LogSource {
        groups,
        format,
        created: None,
        assumed,
    };
    if let Some(format) = given {
        return Ok(vec![source(groups.to_vec(), format.clone(), false)]);
    }
    let Some(aws) = aws else {
        return Ok(vec![source(groups.to_vec(), Format::default_v2(), true)]);
    };
    // The flow logs that deliver to each group, asked in the account that owns it: the
    // caller's for a name, the ARN's own for an ARN (a monitoring account names a linked
    // account's group so). A flow log answers with the group's name: the group is then named
    // as the user gave it.
    let mut by_account: BTreeMap<Option<String>, Vec<(&String, String)>> = BTreeMap::new();
    for g in groups {
        match crate::source::insights::GroupArn::parse(g) {
            Some(arn) => by_account
                .entry(Some(arn.account))
                .or_default()
                .push((g, arn.name)),
            None => by_account.entry(None).or_default().push((g, g.clone())),
        }
    }
    let mut logs = Vec::new();
    for (account, named) in &by_account {
        let there = aws.in_account(account.as_deref()).await.map_err(|e| {
            SourceError::Usage(format!(
                "--log-group {}: the flow log that delivers to it, whose format flowgate reads, is in account {}: {e}\n  help: or give the flow log's format with --log-format",
                named[0].0,
                account.as_deref().unwrap_or("?")
            ))
        })?;
        let names: Vec<String> = named.iter().map(|(_, n)| n.clone()).collect();
        for fl in flow_logs(&there.ec2, "log-group-name", &names)
            .await
            .map_err(SourceError::Failed)?
        {
            for (as_given, name) in named {
                if *name == fl.group {
                    logs.push(FlowLog {
                        group: (*as_given).clone(),
                        account: account.clone(),
                        ..fl.clone()
                    });
                }
            }
        }
    }
    for g in groups {
        let to_g: Vec<&FlowLog> = logs.iter().filter(|f| f.group == *g).collect();
        if to_g.is_empty() {
            return Err(SourceError::Usage(format!(
                "--log-group {g}: no flow log in this account and region delivers to it, so the format of its records \
                 is unknown\n  help: give the flow log's format with --log-format (`${{version}} ${{account-id}} \
                 ${{interface-id}} ...`; the default format is `${{version}} ${{account-id}} ${{interface-id}} \
                 ${{srcaddr}} ${{dstaddr}} ${{srcport}} ${{dstport}} ${{protocol}} ${{packets}} ${{bytes}} ${{start}} \
                 ${{end}} ${{action}} ${{log-status}}`)"
            )));
        }
        let owned: Vec<FlowLog> = to_g.iter().map(|f| (*f).clone()).collect();
        if complete(&owned).is_empty() {
            let what: Vec<String> = to_g.iter().map(|f| f.describe()).collect();
            return Err(SourceError::Failed(format!(
                "--log-group {g}: no flow log delivering to it records all traffic without delivery errors ({}); \
                 with only accepts a block is invisible, with only rejects every deny expectation would pass",
                what.join("; ")
            )));
        }
    }
    let used: Vec<&FlowLog> = logs.iter().filter(|f| groups.contains(&f.group)).collect();
    by_format(&used).map_err(SourceError::Failed)
}

/// The flow logs the plan's checks need, found through their hosts' interfaces, subnets and
/// VPCs, per account that owns them; and the checks no flow log covers, with why.
pub struct Discovered {
    pub parts: Vec<AccountPart>,
    pub uncovered: BTreeMap<usize, String>,
    /// What was found and is read beside the hosts' flow logs, or found and not read, and why.
    pub notes: Vec<String>,
}

/// What one account's flow logs serve: its log groups by format and the checks read from them,
/// and its S3 locations (each narrowed to the region and flow logs found) and the checks read
/// there (no CloudWatch flow log covers them, S3 ones do).
#[derive(Debug, Default)]
pub struct AccountPart {
    /// `None`: the caller's.
    pub account: Option<String>,
    pub sources: Vec<LogSource>,
    pub logs_checks: BTreeSet<usize>,
    pub s3: Vec<Location>,
    pub s3_checks: BTreeSet<usize>,
}

/// A side of a check and where it lives: its own places, or for addresses, the interfaces that
/// carry them.
fn side_places(side: &Side, by_addr: &BTreeMap<IpAddr, Vec<Place>>) -> Vec<Place> {
    if !side.places.is_empty() {
        return side.places.clone();
    }
    let mut out: Vec<Place> = side
        .addrs
        .ranges()
        .networks()
        .into_iter()
        .filter(|n| n.prefix_len() == n.max_prefix_len())
        .flat_map(|n| by_addr.get(&n.addr()).cloned().unwrap_or_default())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The flow logs of `complete` that cover a check whose sides (from, to) live at `sides`, and the
/// account they are read in: every place of one side must have one (one side suffices: the
/// traffic crosses it); `None` when neither does. Sides in one account are both read. Across
/// accounts one side is, and it must be the side that sees a failure: the client's for a reach
/// check (a reply refused on its way in is only logged there, so the server's side alone could
/// show an established connection), the server's for a deny check (where a request that got
/// through is accepted). The other side only when that one is not covered.
fn covering<'a>(
    complete: &BTreeMap<&str, Vec<&'a FlowLog>>,
    sides: &[Vec<Place>; 2],
    deny: bool,
) -> Option<(Option<String>, Vec<&'a FlowLog>)> {
    let of = |p: &Place| p.ids().find_map(|id| complete.get(id.as_str()));
    let mut covered: Vec<(usize, Option<String>, Vec<&'a FlowLog>)> = Vec::new();
    for (side, places) in sides.iter().enumerate() {
        if !places.is_empty() && places.iter().all(|p| of(p).is_some()) {
            let used: Vec<&FlowLog> = places.iter().filter_map(of).flatten().copied().collect();
            // Read in the account whose flow logs they are (a shared VPC's owner logs its
            // participants' interfaces), and only where one account's flow logs cover the side:
            // an ACCEPT-only flow log in one account and a REJECT-only one in another are not
            // one record of the traffic.
            let accounts: BTreeSet<&Option<String>> = used.iter().map(|f| &f.account).collect();
            if let [account] = accounts.into_iter().collect::<Vec<_>>()[..] {
                covered.push((side, account.clone(), used));
            }
        }
    }
    let telling = usize::from(deny);
    covered.sort_by_key(|(side, _, _)| *side != telling);
    let mut sides = covered.into_iter();
    let (_, account, mut used) = sides.next()?;
    for (_, other, more) in sides {
        if other == account {
            used.extend(more);
        }
    }
    used.sort_by(|a, b| a.id.cmp(&b.id));
    used.dedup_by(|a, b| a.id == b.id);
    Some((account, used))
}

/// Finds the flow logs of the plan's hosts, each in the account that owns the host. A check is
/// covered when every place of one of its sides is: a flow log recording all traffic sits on
/// the interface, its subnet or its VPC. CloudWatch's flow logs are preferred; S3's serve the
/// checks CloudWatch's do not cover.
pub async fn discover(aws: &crate::aws::Aws, plan: &Plan) -> Result<Discovered, String> {
    let client = &aws.ec2;
    let singles: BTreeSet<IpAddr> = plan
        .checks
        .iter()
        .flat_map(|c| [&c.from, &c.to])
        .filter(|s| s.places.is_empty())
        .flat_map(|s| s.addrs.ranges().networks())
        .filter(|n| n.prefix_len() == n.max_prefix_len())
        .map(|n| n.addr())
        .collect();
    let singles: Vec<IpAddr> = singles.into_iter().collect();
    let mut by_addr: BTreeMap<IpAddr, Vec<Place>> = BTreeMap::new();
    for eni in crate::resolve::ec2::enis_with_addresses(client, &singles).await? {
        for n in &eni.nets {
            by_addr.entry(n.addr()).or_default().push(Place::of(&eni));
        }
    }
    let sides: Vec<[Vec<Place>; 2]> = plan
        .checks
        .iter()
        .map(|c| [side_places(&c.from, &by_addr), side_places(&c.to, &by_addr)])
        .collect();
    let mut ids: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
    for p in sides.iter().flatten().flatten() {
        ids.entry(p.account.clone())
            .or_default()
            .extend(p.ids().cloned());
    }
    if ids.values().all(BTreeSet::is_empty) {
        return Err(
            "cannot tell which flow logs to read: no host of the specs is on a network interface flowgate can find \
             in EC2; name the log groups with --log-group, or the S3 location with --flow-logs s3://..."
                .into(),
        );
    }
    let mut logs = Vec::new();
    for (account, ids) in &ids {
        let there = aws.in_account(account.as_deref()).await?;
        let ids: Vec<String> = ids.iter().cloned().collect();
        for mut fl in flow_logs(&there.ec2, "resource-id", &ids).await? {
            fl.account = account.clone();
            logs.push(fl);
        }
    }
    let (to_s3, to_logs): (Vec<FlowLog>, Vec<FlowLog>) =
        logs.iter().cloned().partition(|f| f.s3.is_some());
    let (in_logs, in_s3) = (complete(&to_logs), complete(&to_s3));
    let mut used: BTreeMap<Option<String>, (Vec<&FlowLog>, BTreeSet<usize>)> = BTreeMap::new();
    let mut used_s3: BTreeMap<Option<String>, (Vec<&FlowLog>, BTreeSet<usize>)> = BTreeMap::new();
    let mut uncovered = BTreeMap::new();
    for (i, (check, sides)) in plan.checks.iter().zip(&sides).enumerate() {
        if check.unavailable.is_some() {
            continue;
        }
        if let Some((account, found)) = covering(&in_logs, sides, check.is_deny()) {
            let (logs, checks) = used.entry(account).or_default();
            logs.extend(found);
            checks.insert(i);
        } else if let Some((account, found)) = covering(&in_s3, sides, check.is_deny()) {
            let (logs, checks) = used_s3.entry(account).or_default();
            logs.extend(found);
            checks.insert(i);
        } else {
            uncovered.insert(i, uncovered_reason(check, [&sides[0], &sides[1]], &logs));
        }
    }
    // One location per bucket and prefix, narrowed to the flow logs found, in this region.
    let region = client
        .config()
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default();
    let mut parts: BTreeMap<Option<String>, AccountPart> = BTreeMap::new();
    for (account, (mut logs, checks)) in used {
        logs.sort_by(|a, b| a.id.cmp(&b.id));
        logs.dedup_by(|a, b| a.id == b.id);
        let part = parts.entry(account.clone()).or_default();
        part.account = account;
        part.sources = by_format(&logs)?;
        part.logs_checks = checks;
    }
    for (account, (logs, checks)) in used_s3 {
        let mut s3: BTreeMap<String, Location> = BTreeMap::new();
        for fl in logs {
            let Some(location) = &fl.s3 else { continue };
            let entry = s3.entry(location.url()).or_insert_with(|| Location {
                narrow: Some(Narrow {
                    region: region.clone(),
                    flow_logs: BTreeSet::new(),
                    account: account.clone(),
                    gateways: BTreeSet::new(),
                }),
                ..location.clone()
            });
            if let Some(n) = &mut entry.narrow {
                n.flow_logs.insert(fl.id.clone());
            }
        }
        let part = parts.entry(account.clone()).or_default();
        part.account = account;
        part.s3 = s3.into_values().collect();
        part.s3_checks = checks;
    }
    let mut notes = Vec::new();
    for part in parts.values_mut() {
        let vpcs: BTreeSet<String> = part
            .logs_checks
            .iter()
            .chain(&part.s3_checks)
            .flat_map(|&i| sides[i].iter().flatten())
            .filter(|p| p.account == part.account)
            .filter_map(|p| p.vpc.clone())
            .collect();
        let found = match aws.in_account(part.account.as_deref()).await {
            Ok(there) => gateway_flow_logs(&there.ec2, &vpcs).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(found) => add_gateways(part, found, &region, &mut notes)?,
            Err(e) => notes.push(format!(
                "warning: the transit gateways of the hosts' VPCs cannot be listed, so their flow logs are not read (drops there cannot be named): {e}"
            )),
        }
    }
    Ok(Discovered {
        parts: parts.into_values().collect(),
        uncovered,
        notes,
    })
}

/// The flow logs of the transit gateways the VPCs attach to, on a gateway or on one of those
/// attachments, in the account that owns the VPCs.
async fn gateway_flow_logs(
    client: &Client,
    vpcs: &BTreeSet<String>,
) -> Result<Vec<FlowLog>, String> {
    let vpcs: Vec<String> = vpcs.iter().cloned().collect();
    let mut resources = BTreeSet::new();
    for chunk in vpcs.chunks(200) {
        let attachments: Vec<TransitGatewayAttachment> = client
            .describe_transit_gateway_attachments()
            .filters(crate::resolve::ec2::filter(
                "resource-id",
                chunk.iter().cloned(),
            ))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| describe("ec2:DescribeTransitGatewayAttachments", &e).with_help())?;
        for a in &attachments {
            resources.extend(a.transit_gateway_id().map(str::to_string));
            resources.extend(a.transit_gateway_attachment_id().map(str::to_string));
        }
    }
    if resources.is_empty() {
        return Ok(Vec::new());
    }
    let resources: Vec<String> = resources.into_iter().collect();
    flow_logs(client, "resource-id", &resources).await
}

/// Adds a part's transit gateways' flow logs to what it reads, where it reads from the same kind
/// of destination: log groups to its CloudWatch checks, S3 locations to its S3 checks. What is
/// not read is said. A log group that receives VPC flow logs as well is an error, as for any
/// group that receives two formats: the VPC records could not be told from the gateway's.
fn add_gateways(
    part: &mut AccountPart,
    found: Vec<FlowLog>,
    region: &str,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let mut to_logs = Vec::new();
    for fl in found {
        let not_read = |why: &str| {
            format!(
                "warning: transit gateway flow log {} is not read: {why}",
                fl.describe()
            )
        };
        let missing = fl.format.missing(true);
        let why_not = if let Some(why) = &fl.broken {
            Some(why.clone())
        } else if !fl.format.is_tgw() {
            Some(format!(
                "its format ({}) has no Transit Gateway field, so its records cannot be read as a gateway's",
                fl.format
            ))
        } else if !missing.is_empty() {
            Some(format!(
                "its format lacks {}, which its records need to be placed and matched",
                missing.join(", ")
            ))
        } else {
            None
        };
        if let Some(why) = why_not {
            notes.push(not_read(&why));
            continue;
        }
        match &fl.s3 {
            None if part.sources.iter().any(|s| s.groups.contains(&fl.group)) => {
                return Err(format!(
                    "log group {} receives VPC flow logs and transit gateway flow log {}, in another format: flowgate cannot tell their records apart; give the transit gateway's flow log a log group of its own",
                    fl.group, fl.id
                ));
            }
            None if part.logs_checks.is_empty() => notes.push(not_read(
                "the checks whose hosts it serves are read from S3; give its log group with --log-group, or its records with --flow-logs",
            )),
            None => to_logs.push(fl),
            Some(_) if part.s3_checks.is_empty() => notes.push(not_read(
                "the checks whose hosts it serves are read from CloudWatch Logs; give its S3 location with --flow-logs",
            )),
            Some(location) => {
                let entry = match part.s3.iter_mut().find(|l| l.url() == location.url()) {
                    Some(l) => l,
                    None => {
                        part.s3.push(Location {
                            narrow: Some(Narrow {
                                region: region.to_string(),
                                flow_logs: BTreeSet::new(),
                                account: part.account.clone(),
                                gateways: BTreeSet::new(),
                            }),
                            ..location.clone()
                        });
                        part.s3.last_mut().expect("just pushed")
                    }
                };
                if let Some(n) = &mut entry.narrow {
                    n.gateways.insert(fl.id.clone());
                }
                notes.push(read_beside(&fl));
            }
        }
    }
    if to_logs.is_empty() {
        return Ok(());
    }
    let used: Vec<&FlowLog> = to_logs.iter().collect();
    part.sources.extend(by_format(&used)?);
    notes.extend(to_logs.iter().map(read_beside));
    Ok(())
}

fn read_beside(fl: &FlowLog) -> String {
    format!(
        "evidence: transit gateway flow log {} is read beside the VPC flow logs",
        fl.describe()
    )
}

/// Why no flow log covers a check: which places lack one, and the flow logs found that do not
/// count.
fn uncovered_reason(
    check: &crate::plan::Check,
    sides: [&Vec<Place>; 2],
    logs: &[FlowLog],
) -> String {
    if sides.iter().all(|p| p.is_empty()) {
        return format!(
            "no flow log found for it: neither {} nor {} is on a network interface flowgate can find in EC2 \
             (hosts given as networks); name the log groups with --log-group",
            check.from.label, check.to.label
        );
    }
    let mut out = format!(
        "no flow log records all traffic of {} or {}",
        describe_side(&check.from.label, sides[0]),
        describe_side(&check.to.label, sides[1])
    );
    let near: Vec<String> = logs
        .iter()
        .filter(|f| {
            sides
                .iter()
                .flat_map(|p| p.iter())
                .any(|p| p.ids().any(|id| *id == f.resource))
        })
        .map(|f| match &f.broken {
            Some(why) => format!("{}: {why}", f.describe()),
            None => f.describe(),
        })
        .collect();
    if !near.is_empty() {
        out.push_str(&format!("; found only {}", near.join(", ")));
    }
    out.push_str("; create a flow log with traffic type ALL delivering to CloudWatch Logs or S3, or name the evidence with --log-group or --flow-logs");
    out
}

fn describe_side(label: &str, places: &[Place]) -> String {
    if places.is_empty() {
        return format!("{label} (not on a known interface)");
    }
    let p: Vec<String> = places.iter().map(ToString::to_string).collect();
    format!("{label} ({})", p.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fl(id: &str, resource: &str, group: &str, traffic: &str) -> FlowLog {
        FlowLog {
            id: id.into(),
            resource: resource.into(),
            group: group.into(),
            s3: None,
            format: Format::default_v2(),
            traffic: traffic.into(),
            broken: None,
            created: Some(100),
            account: None,
        }
    }

    #[test]
    fn across_accounts_a_check_reads_the_side_that_sees_its_failure() {
        let mut web_log = fl("fl-web", "vpc-web", "/vpc/web", "ALL");
        web_log.account = Some("222222222222".into());
        let db_log = fl("fl-db", "vpc-db", "/vpc/db", "ALL");
        let logs = [web_log, db_log];
        let complete = complete(&logs);
        let place = |vpc: &str, account: Option<&str>| Place {
            eni: None,
            subnet: None,
            vpc: Some(vpc.into()),
            account: account.map(Into::into),
        };
        // web (another account) -> db (the caller's): both sides covered.
        let sides = [
            vec![place("vpc-web", Some("222222222222"))],
            vec![place("vpc-db", None)],
        ];
        // A reach check: the client's side, where a refused reply shows (the server's side
        // alone would show it ESTABLISHED), although the caller's side is covered too.
        let (account, used) = covering(&complete, &sides, false).unwrap();
        assert_eq!(account.as_deref(), Some("222222222222"));
        assert_eq!(
            used.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["fl-web"]
        );
        // A deny check: the server's side, where a request that got through is accepted.
        let (account, used) = covering(&complete, &sides, true).unwrap();
        assert_eq!(account, None);
        assert_eq!(
            used.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["fl-db"]
        );
        // The account is the flow log's: a participant's interface in a VPC shared by the
        // caller is logged by the caller's flow log, and read there.
        let shared = [
            vec![place("vpc-db", Some("222222222222"))],
            sides[1].clone(),
        ];
        let (account, used) = covering(&complete, &shared, false).unwrap();
        assert_eq!(account, None);
        assert_eq!(
            used.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["fl-db"]
        );
        // Flow logs of two accounts on one side are not one record of it: not covered.
        let mut mixed = logs.to_vec();
        for f in &mut mixed {
            f.resource = "vpc-both".into();
            f.traffic = if f.account.is_some() {
                "ACCEPT"
            } else {
                "REJECT"
            }
            .into();
        }
        let mixed_complete = super::complete(&mixed);
        let both = [vec![place("vpc-both", None)], vec![]];
        assert!(covering(&mixed_complete, &both, false).is_none());
        // Only one side covered: that one, whichever it is.
        let only_db = [
            vec![place("vpc-elsewhere", Some("222222222222"))],
            sides[1].clone(),
        ];
        let (account, _) = covering(&complete, &only_db, false).unwrap();
        assert_eq!(account, None);
    }

    #[test]
    fn gateway_flow_logs_join_the_destinations_their_checks_are_read_from() {
        let tgw_format = format_of(None, "tgw-1");
        let tgw = |id: &str, group: &str, s3: Option<&str>| FlowLog {
            s3: s3.map(|url| Location::parse(url).unwrap().unwrap()),
            format: tgw_format.clone(),
            ..fl(id, "tgw-1", group, "ALL")
        };
        let mut part = AccountPart {
            sources: by_format(&[&fl("fl-vpc", "vpc-a", "/vpc/a", "ALL")]).unwrap(),
            logs_checks: [0].into(),
            s3: vec![Location::parse("s3://central/").unwrap().unwrap()],
            s3_checks: [1].into(),
            ..AccountPart::default()
        };
        part.s3[0].narrow = Some(Narrow {
            region: "eu-west-1".into(),
            flow_logs: ["fl-vpc-s3".to_string()].into(),
            account: None,
            gateways: BTreeSet::new(),
        });
        let mut notes = Vec::new();
        let found = vec![
            tgw("fl-t1", "/tgw/core", None),
            FlowLog {
                format: Format::parse("${tgw-id} ${srcaddr} ${dstaddr}").unwrap(),
                ..tgw("fl-t2", "/tgw/thin", None)
            },
            FlowLog {
                format: Format::default_v2(),
                ..tgw("fl-t6", "/tgw/vpc-format", None)
            },
            tgw("fl-t3", "s3://central/", Some("s3://central/")),
            tgw("fl-t4", "s3://other/", Some("s3://other/")),
            FlowLog {
                broken: Some("delivery error: access denied".into()),
                ..tgw("fl-t5", "/tgw/broken", None)
            },
        ];
        let shared = part.sources.clone();
        add_gateways(&mut part, found, "eu-west-1", &mut notes).unwrap();
        // Its own log group: a family of its own, beside the VPC's.
        assert_eq!(part.sources.len(), 2);
        assert!(part.sources[1].format.is_tgw() && part.sources[1].groups == ["/tgw/core"]);
        // Under a location already read: narrowed to it as well; under another: a new one.
        let narrowed = |url: &str| {
            let l = part.s3.iter().find(|l| l.url() == url).unwrap();
            l.narrow.as_ref().unwrap().gateways.clone()
        };
        assert!(narrowed("s3://central/").contains("fl-t3"));
        assert_eq!(narrowed("s3://other/"), ["fl-t4".to_string()].into());
        // Not read, and said: a format that cannot place or match a record, one that is no
        // gateway's, a broken flow log.
        let said = notes.join("\n");
        assert!(
            said.contains("fl-t2") && said.contains("lacks srcport, dstport, protocol, start, end"),
            "{said}"
        );
        assert!(
            said.contains("fl-t6") && said.contains("no Transit Gateway field"),
            "{said}"
        );
        assert!(
            said.contains("fl-t5") && said.contains("access denied"),
            "{said}"
        );
        // A log group that receives VPC flow logs too: their records could not be told apart.
        let mut with_vpc = AccountPart {
            sources: shared,
            logs_checks: [0].into(),
            ..AccountPart::default()
        };
        let e = add_gateways(
            &mut with_vpc,
            vec![tgw("fl-t7", "/vpc/a", None)],
            "eu-west-1",
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            e.contains(
                "log group /vpc/a receives VPC flow logs and transit gateway flow log fl-t7"
            ),
            "{e}"
        );
        assert!(
            !part
                .sources
                .iter()
                .any(|s| s.groups.contains(&"/tgw/broken".to_string()))
        );
    }

    #[test]
    fn s3_destinations_give_their_bucket_and_prefix() {
        let l = s3_destination("arn:aws:s3:::central-logs/org/vpc").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("central-logs", "org/vpc/")
        );
        let root = s3_destination("arn:aws-us-gov:s3:::central-logs").unwrap();
        assert_eq!(
            (root.bucket.as_str(), root.prefix.as_str()),
            ("central-logs", "")
        );
        assert!(s3_destination("arn:aws:logs:eu-west-1:123456789012:log-group:x").is_none());
    }

    #[test]
    fn log_formats_read_like_headers() {
        assert_eq!(format_of(None, "vpc-1"), Format::default_v2());
        assert!(format_of(None, "tgw-attach-1").is_tgw());
        let f = format_of(
            Some("${version} ${srcaddr} ${dstaddr} ${some-new-field}"),
            "vpc-1",
        );
        assert_eq!(f.to_string(), "version srcaddr dstaddr some-new-field");
    }

    #[test]
    fn only_flow_logs_that_record_all_traffic_cover_a_resource() {
        let logs = [
            fl("fl-1", "vpc-a", "/a", "REJECT"),
            fl("fl-2", "vpc-b", "/b", "ACCEPT"),
            fl("fl-3", "vpc-b", "/b2", "REJECT"),
            fl("fl-4", "vpc-c", "/c", "ALL"),
            FlowLog {
                broken: Some("delivery error: rate limited".into()),
                ..fl("fl-5", "vpc-d", "/d", "ALL")
            },
        ];
        let c = complete(&logs);
        assert!(
            !c.contains_key("vpc-a"),
            "REJECT only: every deny would pass"
        );
        assert_eq!(
            c["vpc-b"].len(),
            2,
            "ACCEPT and REJECT together record everything"
        );
        assert_eq!(c["vpc-c"][0].id, "fl-4");
        assert!(
            !c.contains_key("vpc-d"),
            "a flow log that fails to deliver covers nothing"
        );
    }

    #[test]
    fn groups_sharing_a_format_share_queries_and_a_group_with_two_formats_is_an_error() {
        let custom = Format::parse("srcaddr dstaddr srcport dstport protocol action").unwrap();
        let (a, b, c) = (
            fl("fl-1", "vpc-a", "/a", "ALL"),
            fl("fl-2", "vpc-b", "/b", "ALL"),
            FlowLog {
                format: custom.clone(),
                ..fl("fl-3", "vpc-c", "/c", "ALL")
            },
        );
        let sources = by_format(&[&b, &c, &a]).unwrap();
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].groups, ["/a", "/b"]);
        assert_eq!(sources[1].groups, ["/c"]);
        let clash = FlowLog {
            format: custom,
            ..fl("fl-9", "vpc-z", "/a", "ALL")
        };
        let e = by_format(&[&a, &clash]).unwrap_err();
        assert!(
            e.contains("log group /a receives records in two formats (flow logs fl-1 and fl-9)"),
            "{e}"
        );
    }
}
