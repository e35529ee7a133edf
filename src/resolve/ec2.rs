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
    /// What AWS wrote in its description (`ELB app/shop-web/...`, `AWS Lambda VPC ENI-...`).
    pub description: Option<String>,
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
        description: n.description().map(str::to_string),
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

/// The descriptions Elastic Load Balancing gives the interfaces of a load balancer named `name`:
/// `ELB app/NAME/ID` (Application), `ELB net/NAME/ID` (Network), `ELB gwy/NAME/ID` (Gateway),
/// `ELB NAME` (Classic). EC2's filter takes `*` as a wildcard.
pub fn load_balancer_descriptions(name: &str) -> [String; 4] {
    [
        format!("ELB app/{name}/*"),
        format!("ELB net/{name}/*"),
        format!("ELB gwy/{name}/*"),
        format!("ELB {name}"),
    ]
}

/// Whether an interface's description is one Lambda gives a function `name`'s interfaces:
/// `AWS Lambda VPC ENI-NAME-UUID`. EC2's wildcard alone would take function `shop-api`'s
/// interfaces for function `shop`'s, so the rest must be the UUID.
pub fn is_lambda_description(description: &str, name: &str) -> bool {
    let Some(rest) = description
        .strip_prefix("AWS Lambda VPC ENI-")
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    rest.len() == 36
        && rest.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The interface ids of a VPC endpoint; `None` when there is no such endpoint.
async fn vpc_endpoint_enis(client: &Client, id: &str) -> Result<Option<Vec<String>>, String> {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    match client
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .vpc_endpoints()
            .first()
            .map(|e| e.network_interface_ids().to_vec())),
        Err(e)
            if e.code()
                .is_some_and(|c| c.starts_with("InvalidVpcEndpointId")) =>
        {
            Ok(None)
        }
        Err(e) => Err(describe("ec2:DescribeVpcEndpoints", &e).with_help()),
    }
}

/// The interface ids of a NAT gateway (one per address it has); `None` when there is no such
/// gateway.
async fn nat_gateway_enis(client: &Client, id: &str) -> Result<Option<Vec<String>>, String> {
    let out = client
        .describe_nat_gateways()
        .filter(filter("nat-gateway-id", [id]))
        .send()
        .await
        .map_err(|e| describe("ec2:DescribeNatGateways", &e).with_help())?;
    Ok(out.nat_gateways().first().map(|g| {
        g.nat_gateway_addresses()
            .iter()
            .filter_map(|a| a.network_interface_id().map(str::to_string))
            .collect()
    }))
}

async fn enis_by_id(client: &Client, ids: Vec<String>) -> Result<Vec<Eni>, String> {
    let mut out = Vec::new();
    for chunk in ids.chunks(VALUES_PER_FILTER) {
        out.extend(
            describe_enis(client, vec![filter("network-interface-id", chunk.to_vec())]).await?,
        );
    }
    Ok(out)
}

/// What a selector found: the interfaces, or that what it names is not there (`what`: "subnet",
/// "VPC endpoint", ...).
pub enum Found {
    Enis(Vec<Eni>),
    NoSuch(&'static str),
}

/// The interfaces a selector names, or which thing it names does not exist (a subnet, a VPC
/// endpoint, a NAT gateway): for the selectors that name a resource with interfaces of its own.
pub async fn find(client: &Client, sel: &AwsSelector) -> Result<Found, String> {
    let ids = match sel {
        AwsSelector::VpcEndpoint(id) => vpc_endpoint_enis(client, id).await?.ok_or("VPC endpoint"),
        AwsSelector::NatGateway(id) => nat_gateway_enis(client, id).await?.ok_or("NAT gateway"),
        _ => return Ok(Found::Enis(enis_of(client, sel).await?)),
    };
    match ids {
        Err(what) => Ok(Found::NoSuch(what)),
        Ok(ids) if ids.is_empty() => Ok(Found::Enis(Vec::new())),
        Ok(ids) => Ok(Found::Enis(enis_by_id(client, ids).await?)),
    }
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
        AwsSelector::LoadBalancer(name) => {
            describe_enis(
                client,
                vec![filter("description", load_balancer_descriptions(name))],
            )
            .await?
        }
        AwsSelector::Lambda(name) => {
            let mut enis = describe_enis(
                client,
                vec![filter(
                    "description",
                    [format!("AWS Lambda VPC ENI-{name}-*")],
                )],
            )
            .await?;
            enis.retain(|e| {
                e.description
                    .as_deref()
                    .is_some_and(|d| is_lambda_description(d, name))
            });
            enis
        }
        AwsSelector::VpcEndpoint(_) | AwsSelector::NatGateway(_) => {
            match Box::pin(find(client, sel)).await? {
                Found::Enis(enis) => enis,
                Found::NoSuch(_) => Vec::new(),
            }
        }
        AwsSelector::Interface(f) => {
            let filters: Vec<Filter> = [
                ("description", &f.description),
                ("requester-id", &f.requester),
                ("interface-type", &f.kind),
                ("group-id", &f.security_group),
            ]
            .into_iter()
            .filter_map(|(name, v)| v.as_ref().map(|v| filter(name, [v.clone()])))
            .collect();
            describe_enis(client, filters).await?
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

#[cfg(test)]
mod tests;
