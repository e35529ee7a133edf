//! The EC2 configuration on the paths to evaluate: fetched once per run, for all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    IpPermission, NetworkAcl, RouteOrigin, RouteState, RouteTableAssociationStateCode, RuleAction,
    VpcCidrBlockStateCode,
};
use ipnet::IpNet;

use super::path::End;
use super::routes::{Destination, Route, RouteTable, Target};
use super::rules::{Acl, AclEntry, Members, Peer, PortRange, RuleProtocol, SecurityGroup, SgRule};
use crate::aws::describe;
use crate::resolve::ec2::{self, filter};
use crate::resolve::{AddrSet, Place};
use crate::spec::AwsSelector;

/// What EC2 says about the addresses and interfaces asked for.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The interface of each address asked for that has one in this account and region.
    pub ends: BTreeMap<IpAddr, End>,
    /// The members of the security groups rules reference, and the entries of the prefix lists
    /// that rules and routes name.
    pub members: Members,
    /// Every interface read, with its addresses and VPC.
    pub interfaces: Vec<Interface>,
    pub routing: Routing,
}

/// One network interface with everything that filters or routes its traffic.
#[derive(Debug, Clone, Default)]
pub struct Interface {
    pub end: End,
    /// Its addresses and delegated prefixes.
    pub nets: Vec<IpNet>,
    pub vpc: Option<String>,
}

/// The route tables and CIDRs of the VPCs the interfaces are in.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    pub tables: Vec<RouteTable>,
    pub vpc_cidrs: BTreeMap<String, Vec<IpNet>>,
    /// Why routes could not be read (reading them is new: an IAM policy written for the security
    /// groups alone may not allow it). Security groups and network ACLs are still evaluated.
    pub unread: Option<String>,
}

/// What to read: addresses (single hosts), interfaces by id, and wider networks whose
/// interfaces, in the VPCs found, are wanted too.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub ips: BTreeSet<IpAddr>,
    pub enis: BTreeSet<String>,
    pub nets: BTreeSet<IpNet>,
    /// What is wanted in other accounts (hosts that name one), read there.
    pub accounts: BTreeMap<String, Wanted>,
}

impl Wanted {
    /// Adds one side of a check: its interfaces (from its places) and its addresses, in the
    /// account its places are in.
    pub fn add_side(&mut self, addrs: &AddrSet, places: &[Place]) {
        if let Some(account) = places.iter().find_map(|p| p.account.clone()) {
            let there = self.accounts.entry(account).or_default();
            there.add_side(addrs, &[]);
            there
                .enis
                .extend(places.iter().filter_map(|p| p.eni.clone()));
            return;
        }
        self.enis
            .extend(places.iter().filter_map(|p| p.eni.clone()));
        for n in addrs.ranges().networks() {
            if n.prefix_len() == n.max_prefix_len() {
                self.ips.insert(n.addr());
            } else {
                self.nets.insert(n);
            }
        }
    }
}

impl Config {
    pub fn end(&self, ip: IpAddr) -> End {
        self.ends.get(&ip).cloned().unwrap_or_default()
    }

    /// Takes in another account's configuration: interface ids, group ids and VPC ids are
    /// unique across accounts, so the two never clash. Addresses may: accounts of a landing
    /// zone often use the same ranges, and an address held by two interfaces cannot say which one
    /// a check means, so its configuration is not read rather than read from the wrong one.
    pub fn merge(&mut self, other: Config, account: &str) -> Result<(), String> {
        for (ip, end) in other.ends {
            match self.ends.get(&ip) {
                Some(mine) if mine.eni.is_some() && end.eni.is_some() && mine.eni != end.eni => {
                    return Err(format!(
                        "address {ip} is held by {} and, in account {account}, by {}: the accounts' address ranges overlap, so the configuration cannot tell which interface a check means; name such hosts by selector in their own account rather than by a CIDR that spans both",
                        mine.eni.as_deref().unwrap_or("?"),
                        end.eni.as_deref().unwrap_or("?"),
                    ));
                }
                // Known here only as an address without an interface: the other account's is it.
                Some(mine) if mine.eni.is_none() => {
                    self.ends.insert(ip, end);
                }
                Some(_) => {}
                None => {
                    self.ends.insert(ip, end);
                }
            }
        }
        self.members.groups.extend(other.members.groups);
        self.members.prefix_lists.extend(other.members.prefix_lists);
        self.interfaces.extend(other.interfaces);
        self.routing.tables.extend(other.routing.tables);
        self.routing.vpc_cidrs.extend(other.routing.vpc_cidrs);
        if self.routing.unread.is_none() {
            self.routing.unread = other.routing.unread;
        }
        Ok(())
    }
}

/// Fetches what `wanted` names in the caller's account and, through the role, in each other
/// account it names: the configuration of every account the checks' hosts live in.
pub async fn fetch_accounts(aws: &crate::aws::Aws, wanted: &Wanted) -> Result<Config, String> {
    let mut config = fetch_wanted(&aws.ec2, wanted).await?;
    for (account, w) in &wanted.accounts {
        let there = aws.in_account(Some(account)).await?;
        let other = fetch_wanted(&there.ec2, w)
            .await
            .map_err(|e| format!("in account {account}: {e}"))?;
        config.merge(other, account)?;
    }
    Ok(config)
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

/// The route of an EC2 answer; `None` for a route without a destination.
fn route_of(r: &aws_sdk_ec2::types::Route) -> Option<Route> {
    let destination = if let Some(c) = r.destination_cidr_block() {
        Destination::Net(c.parse().ok()?)
    } else if let Some(c) = r.destination_ipv6_cidr_block() {
        Destination::Net(c.parse().ok()?)
    } else {
        Destination::PrefixList(r.destination_prefix_list_id()?.to_string())
    };
    let owned = |s: &str| s.to_string();
    // An instance route names the instance and its interface: the instance is the target.
    let target = r
        .instance_id()
        .map(|i| Target::Instance(owned(i)))
        .or_else(|| r.nat_gateway_id().map(|i| Target::NatGateway(owned(i))))
        .or_else(|| {
            r.transit_gateway_id()
                .map(|i| Target::TransitGateway(owned(i)))
        })
        .or_else(|| {
            r.vpc_peering_connection_id()
                .map(|i| Target::Peering(owned(i)))
        })
        .or_else(|| {
            r.egress_only_internet_gateway_id()
                .map(|i| Target::EgressOnlyInternetGateway(owned(i)))
        })
        .or_else(|| {
            r.network_interface_id()
                .map(|i| Target::NetworkInterface(owned(i)))
        })
        .or_else(|| r.local_gateway_id().map(|i| Target::LocalGateway(owned(i))))
        .or_else(|| {
            r.carrier_gateway_id()
                .map(|i| Target::CarrierGateway(owned(i)))
        })
        .or_else(|| r.core_network_arn().map(|i| Target::CoreNetwork(owned(i))))
        .or_else(|| {
            r.gateway_id().map(|g| match g {
                "local" => Target::Local,
                _ if g.starts_with("igw-") => Target::InternetGateway(owned(g)),
                _ if g.starts_with("vgw-") => Target::VirtualPrivateGateway(owned(g)),
                // Gateway endpoints are routes to the service's prefix list; a `vpce-` target
                // for a CIDR is a Gateway Load Balancer endpoint.
                _ if g.starts_with("vpce-") => match destination {
                    Destination::PrefixList(_) => Target::GatewayEndpoint(owned(g)),
                    Destination::Net(_) => Target::LoadBalancerEndpoint(owned(g)),
                },
                _ => Target::Other(owned(g)),
            })
        })
        .unwrap_or_else(|| Target::Other(r.ip_address().unwrap_or("?").to_string()));
    Some(Route {
        destination,
        target,
        blackhole: r.state() == Some(&RouteState::Blackhole),
        propagated: matches!(
            r.origin(),
            Some(RouteOrigin::EnableVgwRoutePropagation | RouteOrigin::Advertisement)
        ),
    })
}

fn table_of(t: &aws_sdk_ec2::types::RouteTable) -> RouteTable {
    let live: Vec<&aws_sdk_ec2::types::RouteTableAssociation> = t
        .associations()
        .iter()
        .filter(|a| {
            a.association_state()
                .and_then(|s| s.state())
                .is_none_or(|s| *s == RouteTableAssociationStateCode::Associated)
        })
        .collect();
    RouteTable {
        id: t.route_table_id().unwrap_or("rtb-?").to_string(),
        vpc: t.vpc_id().map(str::to_string),
        main: live.iter().any(|a| a.main() == Some(true)),
        subnets: live
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect(),
        routes: t.routes().iter().filter_map(route_of).collect(),
    }
}

fn cidrs_of(v: &aws_sdk_ec2::types::Vpc) -> Vec<IpNet> {
    let associated = |s: Option<&aws_sdk_ec2::types::VpcCidrBlockState>| {
        s.and_then(|s| s.state())
            .is_none_or(|s| *s == VpcCidrBlockStateCode::Associated)
    };
    let mut out: Vec<IpNet> = v
        .cidr_block_association_set()
        .iter()
        .filter(|a| associated(a.cidr_block_state()))
        .filter_map(|a| a.cidr_block()?.parse().ok())
        .collect();
    if let Some(primary) = v.cidr_block().and_then(|c| c.parse().ok())
        && !out.contains(&primary)
    {
        out.push(primary);
    }
    out.extend(
        v.ipv6_cidr_block_association_set()
            .iter()
            .filter(|a| associated(a.ipv6_cidr_block_state()))
            .filter_map(|a| a.ipv6_cidr_block()?.parse::<IpNet>().ok()),
    );
    out
}

async fn prefix_list_entries(client: &Client, id: &str) -> Result<Vec<IpNet>, String> {
    let entries: Vec<aws_sdk_ec2::types::PrefixListEntry> = client
        .get_managed_prefix_list_entries()
        .prefix_list_id(id)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| format!("{} ({id})", describe("ec2:GetManagedPrefixListEntries", &e)))?;
    Ok(entries
        .iter()
        .filter_map(|e| e.cidr()?.parse().ok())
        .collect())
}

/// The CIDRs of `vpcs`, and their route tables (with the entries of the prefix lists routes
/// name that `members` does not hold yet).
async fn fetch_routing(
    client: &Client,
    vpcs: &BTreeSet<String>,
    members: &mut Members,
) -> Result<Routing, String> {
    let ids: Vec<String> = vpcs.iter().cloned().collect();
    let mut routing = Routing::default();
    for chunk in ids.chunks(200) {
        let found: Vec<aws_sdk_ec2::types::Vpc> = client
            .describe_vpcs()
            .filters(filter("vpc-id", chunk.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| describe("ec2:DescribeVpcs", &e).to_string())?;
        for v in &found {
            if let Some(id) = v.vpc_id() {
                routing.vpc_cidrs.insert(id.to_string(), cidrs_of(v));
            }
        }
        let tables: Vec<aws_sdk_ec2::types::RouteTable> = client
            .describe_route_tables()
            .filters(filter("vpc-id", chunk.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| describe("ec2:DescribeRouteTables", &e).to_string())?;
        routing.tables.extend(tables.iter().map(table_of));
    }
    let lists: BTreeSet<String> = routing
        .tables
        .iter()
        .flat_map(|t| &t.routes)
        .filter_map(|r| match &r.destination {
            Destination::PrefixList(p) if !members.prefix_lists.contains_key(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    for l in &lists {
        let nets = prefix_list_entries(client, l).await?;
        members.prefix_lists.insert(l.clone(), nets);
    }
    Ok(routing)
}

/// The interfaces in `vpcs` (whose CIDRs are known) with an address in one of `nets`: found
/// subnet by subnet, only in the subnets that overlap `nets`.
async fn enis_within(
    client: &Client,
    vpc_cidrs: &BTreeMap<String, Vec<IpNet>>,
    nets: &BTreeSet<IpNet>,
) -> Result<Vec<ec2::Eni>, String> {
    let overlaps = |a: &IpNet, b: &IpNet| a.contains(&b.network()) || b.contains(&a.network());
    let vpcs: Vec<String> = vpc_cidrs
        .iter()
        .filter(|(_, cidrs)| cidrs.iter().any(|c| nets.iter().any(|n| overlaps(c, n))))
        .map(|(v, _)| v.clone())
        .collect();
    let mut out = Vec::new();
    for chunk in vpcs.chunks(200) {
        let subnets: Vec<aws_sdk_ec2::types::Subnet> = client
            .describe_subnets()
            .filters(filter("vpc-id", chunk.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| describe("ec2:DescribeSubnets", &e).with_help())?;
        for s in &subnets {
            let mut cidrs: Vec<IpNet> = s
                .cidr_block()
                .and_then(|c| c.parse().ok())
                .into_iter()
                .collect();
            cidrs.extend(
                s.ipv6_cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.ipv6_cidr_block()?.parse::<IpNet>().ok()),
            );
            let Some(id) = s.subnet_id() else { continue };
            if cidrs.iter().any(|c| nets.iter().any(|n| overlaps(c, n))) {
                let enis = ec2::enis_of(client, &AwsSelector::Subnet(id.to_string())).await?;
                out.extend(
                    enis.into_iter()
                        .filter(|e| e.nets.iter().any(|a| nets.iter().any(|n| overlaps(a, n)))),
                );
            }
        }
    }
    Ok(out)
}

/// Fetches the interfaces of `ips`, their security groups (and the members of the groups and
/// prefix lists those reference), the network ACLs of their subnets, and their VPCs' CIDRs and
/// route tables.
pub async fn fetch(client: &Client, ips: &BTreeSet<IpAddr>) -> Result<Config, String> {
    fetch_wanted(
        client,
        &Wanted {
            ips: ips.clone(),
            ..Wanted::default()
        },
    )
    .await
}

/// Fetches what `fetch` does, for the interfaces `wanted` names, has the addresses of, or (in the
/// VPCs those are in) has addresses in its networks. Reading the routes fails soft: the error is
/// kept in `routing.unread`.
pub async fn fetch_wanted(client: &Client, wanted: &Wanted) -> Result<Config, String> {
    let ips = &wanted.ips;
    let addrs: Vec<IpAddr> = ips.iter().copied().collect();
    let mut enis = ec2::enis_with_addresses(client, &addrs).await?;
    for id in &wanted.enis {
        enis.extend(ec2::enis_of(client, &AwsSelector::Eni(id.clone())).await?);
    }
    let vpcs: BTreeSet<String> = enis.iter().filter_map(|e| e.vpc.clone()).collect();
    let mut members = Members::default();
    let mut routing = match fetch_routing(client, &vpcs, &mut members).await {
        Ok(r) => r,
        Err(e) => Routing {
            unread: Some(e),
            ..Routing::default()
        },
    };
    if !wanted.nets.is_empty() && !routing.vpc_cidrs.is_empty() {
        enis.extend(enis_within(client, &routing.vpc_cidrs, &wanted.nets).await?);
    }
    let mut seen = BTreeSet::new();
    enis.retain(|e| seen.insert(e.id.clone()));
    // Interfaces found in the networks are in VPCs already read: no new route tables needed.
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
        if members.prefix_lists.contains_key(l) {
            continue;
        }
        let nets = prefix_list_entries(client, l).await?;
        members.prefix_lists.insert(l.clone(), nets);
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

    let end_of = |e: &ec2::Eni| End {
        eni: Some(e.id.clone()),
        subnet: e.subnet.clone(),
        groups: e
            .groups
            .iter()
            .filter_map(|g| groups.get(g).cloned())
            .collect(),
        acl: e.subnet.as_ref().and_then(|s| acls.get(s).cloned()),
    };
    let mut ends = BTreeMap::new();
    for ip in ips {
        if let Some(e) = enis.iter().find(|e| e.nets.iter().any(|n| n.contains(ip))) {
            ends.insert(*ip, end_of(e));
        }
    }
    routing.tables.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Config {
        ends,
        members,
        interfaces: enis
            .iter()
            .map(|e| Interface {
                end: end_of(e),
                nets: e.nets.clone(),
                vpc: e.vpc.clone(),
            })
            .collect(),
        routing,
    })
}

#[cfg(test)]
mod tests;
