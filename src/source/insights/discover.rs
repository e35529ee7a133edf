//! Which log groups hold the flow logs, and in what format.

use std::collections::BTreeMap;
use std::net::IpAddr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, LogDestinationType};

use crate::aws::describe;
use crate::plan::Plan;
use crate::source::format::Format;

/// Log groups that share a record format: one family of queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub groups: Vec<String>,
    pub format: Format,
}

/// A flow log's `LogFormat` (`${version} ${srcaddr} ...`). Fields AWS may add later are kept
/// as columns to skip, as in an S3 header: the format comes from AWS, so the count is right.
pub fn format_of(log_format: Option<&str>) -> Format {
    match log_format {
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

fn by_format(found: Vec<(String, Format)>) -> Vec<LogSource> {
    let mut out: Vec<LogSource> = Vec::new();
    for (group, format) in found {
        match out.iter_mut().find(|s| s.format == format) {
            Some(s) if !s.groups.contains(&group) => s.groups.push(group),
            Some(_) => {}
            None => out.push(LogSource {
                groups: vec![group],
                format,
            }),
        }
    }
    for s in &mut out {
        s.groups.sort();
    }
    out
}

async fn flow_logs(
    client: &Client,
    filter: &str,
    values: &[String],
) -> Result<Vec<(String, Format)>, String> {
    let mut found = Vec::new();
    for chunk in values.chunks(200) {
        let logs: Vec<_> = client
            .describe_flow_logs()
            .filter(
                Filter::builder()
                    .name(filter)
                    .set_values(Some(chunk.to_vec()))
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| format!("ec2:DescribeFlowLogs: {}", describe(&e)))?;
        for fl in logs {
            let to_logs = matches!(
                fl.log_destination_type(),
                None | Some(LogDestinationType::CloudWatchLogs)
            );
            if let (true, Some(group)) = (to_logs, fl.log_group_name()) {
                found.push((group.to_string(), format_of(fl.log_format())));
            }
        }
    }
    Ok(found)
}

/// The formats of log groups the user named: from the flow logs that deliver to them, else
/// `given` (`--log-format`), else the default format.
pub async fn named(
    client: Option<&Client>,
    groups: &[String],
    given: Option<&Format>,
) -> Result<Vec<LogSource>, String> {
    let mut found: BTreeMap<String, Format> = BTreeMap::new();
    if given.is_none()
        && let Some(client) = client
    {
        for (g, f) in flow_logs(client, "log-group-name", groups).await? {
            found.entry(g).or_insert(f);
        }
    }
    let fallback = given.cloned().unwrap_or_else(Format::default_v2);
    Ok(by_format(
        groups
            .iter()
            .map(|g| {
                (
                    g.clone(),
                    found.get(g).cloned().unwrap_or_else(|| fallback.clone()),
                )
            })
            .collect(),
    ))
}

/// The log groups of the flow logs that cover the hosts of the plan: their VPCs, subnets and
/// interfaces (for hosts given by address, the interfaces that carry those addresses).
pub async fn discover(client: &Client, plan: &Plan) -> Result<Vec<LogSource>, String> {
    let mut places: Vec<String> = plan
        .checks
        .iter()
        .flat_map(|c| c.places.iter().cloned())
        .collect();
    let singles: Vec<IpAddr> = plan
        .checks
        .iter()
        .flat_map(|c| [&c.from.addrs, &c.to.addrs])
        .flat_map(|a| a.ranges().networks())
        .filter(|n| n.prefix_len() == n.max_prefix_len())
        .map(|n| n.addr())
        .collect();
    for eni in crate::resolve::ec2::enis_with_addresses(client, &singles).await? {
        places.push(eni.id);
        places.extend(eni.subnet);
        places.extend(eni.vpc);
    }
    places.sort();
    places.dedup();
    if places.is_empty() {
        return Err(
            "cannot tell which flow logs to read: no host of the specs is on a network interface \
                    flowgate can find in EC2; name the log groups with --log-group"
                .into(),
        );
    }
    let found = flow_logs(client, "resource-id", &places).await?;
    if found.is_empty() {
        return Err(format!(
            "no flow log delivering to CloudWatch Logs covers {}; name the log groups with --log-group",
            places.join(", ")
        ));
    }
    Ok(by_format(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_formats_read_like_headers() {
        assert_eq!(format_of(None), Format::default_v2());
        let f = format_of(Some("${version} ${srcaddr} ${dstaddr} ${some-new-field}"));
        assert_eq!(f.to_string(), "version srcaddr dstaddr some-new-field");
    }

    #[test]
    fn groups_sharing_a_format_share_queries() {
        let custom = Format::parse("srcaddr dstaddr srcport dstport protocol action").unwrap();
        let sources = by_format(vec![
            ("/b".into(), Format::default_v2()),
            ("/c".into(), custom.clone()),
            ("/a".into(), Format::default_v2()),
            ("/a".into(), Format::default_v2()),
        ]);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].groups, ["/a", "/b"]);
        assert_eq!(sources[1].groups, ["/c"]);
    }
}
