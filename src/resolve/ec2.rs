//! EC2 lookups: which network interfaces an AWS selector names, with their addresses.

use std::collections::BTreeMap;
use std::net::IpAddr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, NetworkInterface};
use ipnet::IpNet;

use crate::aws::describe;
use crate::spec::AwsSelector;

/// A network interface as flowgate needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eni {
    pub id: String,
    /// Private IPv4 addresses (primary and secondary), IPv6 addresses, and delegated IPv4 and
    /// IPv6 prefixes (pods and containers behind the interface use those).
    pub nets: Vec<IpNet>,
    pub vpc: Option<String>,
    pub subnet: Option<String>,
    /// Its security groups.
    pub groups: Vec<String>,
}

pub fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn eni(n: &NetworkInterface) -> Option<Eni> {
    let id = n.network_interface_id()?.to_string();
    let host = |a: IpAddr| IpNet::from(a);
    let mut nets: Vec<IpNet> = n
        .private_ip_addresses()
        .iter()
        .filter_map(|p| p.private_ip_address()?.parse().ok())
        .map(host)
        .collect();
    nets.extend(
        n.ipv6_addresses()
            .iter()
            .filter_map(|a| a.ipv6_address()?.parse::<IpAddr>().ok())
            .map(host),
    );
    // Some answers list only the primary address at the top level.
    if let Some(primary) = n
        .private_ip_address()
        .and_then(|a| a.parse().ok())
        .map(host)
        && !nets.contains(&primary)
    {
        nets.push(primary);
    }
    nets.extend(
        n.ipv4_prefixes()
            .iter()
            .filter_map(|p| p.ipv4_prefix()?.parse::<IpNet>().ok()),
    );
    nets.extend(
        n.ipv6_prefixes()
            .iter()
            .filter_map(|p| p.ipv6_prefix()?.parse::<IpNet>().ok()),
    );
    Some(Eni {
        id,
        nets,
        vpc: n.vpc_id().map(str::to_string),
        subnet: n.subnet_id().map(str::to_string),
        groups: n
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
    })
}

/// EC2 takes up to 200 values per filter.
const VALUES_PER_FILTER: usize = 200;

async fn describe_enis(client: &Client, filters: Vec<Filter>) -> Result<Vec<Eni>, String> {
    let items: Vec<NetworkInterface> = client
        .describe_network_interfaces()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| describe("ec2:DescribeNetworkInterfaces", &e).with_help())?;
    Ok(items.iter().filter_map(eni).collect())
}

async fn instances_with(client: &Client, filters: Vec<Filter>) -> Result<Vec<String>, String> {
    let mut pages = client
        .describe_instances()
        .set_filters(Some(filters))
        .into_paginator()
        .send();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe("ec2:DescribeInstances", &e).with_help())?;
        for r in page.reservations() {
            ids.extend(
                r.instances()
                    .iter()
                    .filter_map(|i| i.instance_id().map(str::to_string)),
            );
        }
    }
    Ok(ids)
}

/// The interfaces a selector names. `tag` matches interfaces that carry the tags themselves or
/// whose instance does (an instance's tags are not copied to its interfaces).
pub async fn enis_of(client: &Client, sel: &AwsSelector) -> Result<Vec<Eni>, String> {
    let mut found = match sel {
        AwsSelector::Tag(tags) => {
            let filters: Vec<Filter> = tags
                .iter()
                .map(|(k, v)| filter(&format!("tag:{k}"), [v.clone()]))
                .collect();
            let mut enis = describe_enis(client, filters.clone()).await?;
            let instances = instances_with(client, filters).await?;
            for chunk in instances.chunks(VALUES_PER_FILTER) {
                enis.extend(
                    describe_enis(
                        client,
                        vec![filter("attachment.instance-id", chunk.to_vec())],
                    )
                    .await?,
                );
            }
            enis
        }
        AwsSelector::Instance(id) => {
            describe_enis(client, vec![filter("attachment.instance-id", [id.clone()])]).await?
        }
        AwsSelector::Eni(id) => {
            describe_enis(client, vec![filter("network-interface-id", [id.clone()])]).await?
        }
        AwsSelector::SecurityGroup(id) => {
            describe_enis(client, vec![filter("group-id", [id.clone()])]).await?
        }
        AwsSelector::Subnet(id) => {
            describe_enis(client, vec![filter("subnet-id", [id.clone()])]).await?
        }
    };
    // The same interface can come from both tag lookups.
    let mut by_id: BTreeMap<String, Eni> = BTreeMap::new();
    for e in found.drain(..) {
        by_id.entry(e.id.clone()).or_insert(e);
    }
    Ok(by_id.into_values().collect())
}

/// The interfaces that carry any of `addrs` (private IPv4 addresses, IPv6 addresses): to find
/// which VPCs hosts given by address live in.
pub async fn enis_with_addresses(client: &Client, addrs: &[IpAddr]) -> Result<Vec<Eni>, String> {
    let v4: Vec<String> = addrs
        .iter()
        .filter(|a| a.is_ipv4())
        .map(ToString::to_string)
        .collect();
    let v6: Vec<String> = addrs
        .iter()
        .filter(|a| a.is_ipv6())
        .map(ToString::to_string)
        .collect();
    let mut out = Vec::new();
    for chunk in v4.chunks(VALUES_PER_FILTER) {
        out.extend(
            describe_enis(
                client,
                vec![filter("addresses.private-ip-address", chunk.to_vec())],
            )
            .await?,
        );
    }
    for chunk in v6.chunks(VALUES_PER_FILTER) {
        out.extend(
            describe_enis(
                client,
                vec![filter("ipv6-addresses.ipv6-address", chunk.to_vec())],
            )
            .await?,
        );
    }
    Ok(out)
}

/// A subnet's IPv4 and IPv6 networks: a `subnet` host covers every address in it, including
/// interfaces that come and go within the window.
pub async fn subnet_networks(
    client: &Client,
    id: &str,
) -> Result<Option<(Vec<IpNet>, Option<String>)>, String> {
    let out = client
        .describe_subnets()
        .filters(filter("subnet-id", [id]))
        .send()
        .await
        .map_err(|e| describe("ec2:DescribeSubnets", &e).with_help())?;
    let Some(s) = out.subnets().first() else {
        return Ok(None);
    };
    let mut nets: Vec<IpNet> = s
        .cidr_block()
        .and_then(|c| c.parse().ok())
        .into_iter()
        .collect();
    nets.extend(
        s.ipv6_cidr_block_association_set()
            .iter()
            .filter_map(|a| a.ipv6_cidr_block()?.parse::<IpNet>().ok()),
    );
    Ok(Some((nets, s.vpc_id().map(str::to_string))))
}
