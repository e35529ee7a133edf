//! The EC2 configuration on the path of the broken pairs: fetched once per run, for all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, NetworkAcl, RuleAction};
use ipnet::IpNet;

use super::path::End;
use super::rules::{Acl, AclEntry, Members, Peer, PortRange, RuleProtocol, SecurityGroup, SgRule};
use crate::aws::describe;
use crate::resolve::ec2::{self, filter};
use crate::spec::AwsSelector;

/// What EC2 says about the addresses of the broken pairs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The interface of each address that has one in this account and region.
    pub ends: BTreeMap<IpAddr, End>,
    pub members: Members,
}

impl Config {
    pub fn end(&self, ip: IpAddr) -> End {
        self.ends.get(&ip).cloned().unwrap_or_default()
    }
}

fn rules_of(perms: &[IpPermission]) -> Vec<SgRule> {
    let mut out = Vec::new();
    for p in perms {
        let Some(protocol) = p.ip_protocol().and_then(RuleProtocol::parse) else {
            continue;
        };
        let ports = match (protocol, p.from_port(), p.to_port()) {
            (RuleProtocol::All, _, _) => None,
            (_, Some(from), Some(to)) => Some(PortRange { from, to }),
            _ => None,
        };
        let mut peers: Vec<Peer> = Vec::new();
        peers.extend(
            p.ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip()?.parse::<IpNet>().ok())
                .map(Peer::Net),
        );
        peers.extend(
            p.ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6()?.parse::<IpNet>().ok())
                .map(Peer::Net),
        );
        peers.extend(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|g| Some(Peer::Group(g.group_id()?.to_string()))),
        );
        peers.extend(
            p.prefix_list_ids()
                .iter()
                .filter_map(|l| Some(Peer::PrefixList(l.prefix_list_id()?.to_string()))),
        );
        out.extend(peers.into_iter().map(|peer| SgRule {
            protocol,
            ports,
            peer,
        }));
    }
    out
}

fn acl_of(a: &NetworkAcl) -> Acl {
    let entries = a
        .entries()
        .iter()
        .filter_map(|e| {
            let protocol = RuleProtocol::parse(e.protocol()?)?;
            let ports = match (e.port_range(), e.icmp_type_code()) {
                // A range without bounds is read as all ports, never dropped: a dropped deny
                // would make the explanation wrong.
                (Some(r), _) => match (r.from(), r.to()) {
                    (Some(from), Some(to)) => Some(PortRange { from, to }),
                    _ => None,
                },
                (None, Some(t)) => Some(PortRange {
                    from: t.r#type().unwrap_or(-1),
                    to: t.code().unwrap_or(-1),
                }),
                (None, None) => None,
            };
            let net: IpNet = e.cidr_block().or(e.ipv6_cidr_block())?.parse().ok()?;
            Some(AclEntry {
                number: e.rule_number()?,
                egress: e.egress()?,
                allow: e.rule_action() == Some(&RuleAction::Allow),
                protocol,
                ports,
                net,
            })
        })
        .collect();
    Acl {
        id: a.network_acl_id().unwrap_or("acl-?").to_string(),
        entries,
    }
}

/// Fetches the interfaces of `ips`, their security groups (and the members of the groups and
/// prefix lists those reference) and the network ACLs of their subnets.
pub async fn fetch(client: &Client, ips: &BTreeSet<IpAddr>) -> Result<Config, String> {
    let addrs: Vec<IpAddr> = ips.iter().copied().collect();
    let enis = ec2::enis_with_addresses(client, &addrs).await?;
    let group_ids: BTreeSet<String> = enis.iter().flat_map(|e| e.groups.clone()).collect();
    let subnets: BTreeSet<String> = enis.iter().filter_map(|e| e.subnet.clone()).collect();

    let mut groups: BTreeMap<String, SecurityGroup> = BTreeMap::new();
    let ids: Vec<String> = group_ids.iter().cloned().collect();
    for chunk in ids.chunks(200) {
        let found: Vec<aws_sdk_ec2::types::SecurityGroup> = client
            .describe_security_groups()
            .filters(filter("group-id", chunk.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| describe("ec2:DescribeSecurityGroups", &e).with_help())?;
        for g in found {
            let Some(id) = g.group_id() else { continue };
            groups.insert(
                id.to_string(),
                SecurityGroup {
                    id: id.to_string(),
                    ingress: rules_of(g.ip_permissions()),
                    egress: rules_of(g.ip_permissions_egress()),
                },
            );
        }
    }

    let mut members = Members::default();
    let referenced: BTreeSet<String> = groups
        .values()
        .flat_map(|g| g.ingress.iter().chain(&g.egress))
        .filter_map(|r| match &r.peer {
            Peer::Group(g) => Some(g.clone()),
            _ => None,
        })
        .collect();
    for g in &referenced {
        let inside = ec2::enis_of(client, &AwsSelector::SecurityGroup(g.clone())).await?;
        members.groups.insert(
            g.clone(),
            inside.iter().flat_map(|e| e.nets.iter().copied()).collect(),
        );
    }
    let lists: BTreeSet<String> = groups
        .values()
        .flat_map(|g| g.ingress.iter().chain(&g.egress))
        .filter_map(|r| match &r.peer {
            Peer::PrefixList(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    for l in &lists {
        let entries: Vec<aws_sdk_ec2::types::PrefixListEntry> = client
            .get_managed_prefix_list_entries()
            .prefix_list_id(l)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| format!("{} ({l})", describe("ec2:GetManagedPrefixListEntries", &e)))?;
        members.prefix_lists.insert(
            l.clone(),
            entries
                .iter()
                .filter_map(|e| e.cidr()?.parse().ok())
                .collect(),
        );
    }

    let mut acls: BTreeMap<String, Acl> = BTreeMap::new();
    let subnet_ids: Vec<String> = subnets.iter().cloned().collect();
    for chunk in subnet_ids.chunks(200) {
        let found: Vec<NetworkAcl> = client
            .describe_network_acls()
            .filters(filter("association.subnet-id", chunk.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| describe("ec2:DescribeNetworkAcls", &e).with_help())?;
        for a in &found {
            let model = acl_of(a);
            for s in a.associations().iter().filter_map(|x| x.subnet_id()) {
                acls.insert(s.to_string(), model.clone());
            }
        }
    }

    let mut config = Config {
        members,
        ..Config::default()
    };
    for ip in ips {
        let Some(e) = enis.iter().find(|e| e.nets.iter().any(|n| n.contains(ip))) else {
            continue;
        };
        config.ends.insert(
            *ip,
            End {
                eni: Some(e.id.clone()),
                subnet: e.subnet.clone(),
                groups: e
                    .groups
                    .iter()
                    .filter_map(|g| groups.get(g).cloned())
                    .collect(),
                acl: e.subnet.as_ref().and_then(|s| acls.get(s).cloned()),
            },
        );
    }
    Ok(config)
}
