//! The hops of a flow through security groups and network ACLs, and what they say in words.
//! Pure: the configuration comes in as data.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::rules::{self, Acl, AclDecision, Members, Packet, Peer, SecurityGroup, SgDecision, Way};

/// What is known of one end's network interface.
#[derive(Debug, Clone, Default)]
pub struct End {
    pub eni: Option<String>,
    pub subnet: Option<String>,
    pub groups: Vec<SecurityGroup>,
    pub acl: Option<Acl>,
}

/// What the evidence says about a pair, to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// REJECTED: the request was refused.
    Refused,
    /// RETURN_REJECTED: the reply was refused.
    ReplyRefused,
    /// NO_RETURN: accepted, no reply.
    NoReply,
    /// ALLOWED: a deny check's request got through.
    GotThrough,
}

/// One place a packet passes, with its decision.
enum Hop<'a> {
    Sg {
        eni: &'a str,
        way: Way,
        decision: SgDecision,
        groups: &'a [SecurityGroup],
    },
    Acl {
        acl: &'a Acl,
        subnet: &'a str,
        egress: bool,
        decision: AclDecision,
    },
}

impl Hop<'_> {
    fn allows(&self) -> bool {
        match self {
            Hop::Sg { decision, .. } => matches!(decision, SgDecision::Allowed { .. }),
            Hop::Acl { decision, .. } => decision.allow,
        }
    }
}

/// NACLs only see traffic that crosses a subnet's boundary.
fn crosses(client: &End, server: &End) -> bool {
    client.subnet.is_none() || client.subnet != server.subnet
}

fn request_hops<'a>(
    client: &'a End,
    server: &'a End,
    p: &Packet,
    members: &Members,
) -> Vec<Hop<'a>> {
    let mut hops = Vec::new();
    if let Some(eni) = &client.eni {
        hops.push(Hop::Sg {
            eni,
            way: Way::Egress,
            decision: rules::security_groups(&client.groups, Way::Egress, p, members),
            groups: &client.groups,
        });
    }
    if crosses(client, server) {
        if let (Some(acl), Some(subnet)) = (&client.acl, &client.subnet) {
            hops.push(Hop::Acl {
                acl,
                subnet,
                egress: true,
                decision: rules::network_acl(acl, true, p),
            });
        }
        if let (Some(acl), Some(subnet)) = (&server.acl, &server.subnet) {
            hops.push(Hop::Acl {
                acl,
                subnet,
                egress: false,
                decision: rules::network_acl(acl, false, p),
            });
        }
    }
    if let Some(eni) = &server.eni {
        hops.push(Hop::Sg {
            eni,
            way: Way::Ingress,
            decision: rules::security_groups(&server.groups, Way::Ingress, p, members),
            groups: &server.groups,
        });
    }
    hops
}

/// Security groups are stateful: only the network ACLs judge a reply.
fn reply_hops<'a>(client: &'a End, server: &'a End, reply: &Packet) -> Vec<Hop<'a>> {
    let mut hops = Vec::new();
    if crosses(client, server) {
        if let (Some(acl), Some(subnet)) = (&server.acl, &server.subnet) {
            hops.push(Hop::Acl {
                acl,
                subnet,
                egress: true,
                decision: rules::network_acl(acl, true, reply),
            });
        }
        if let (Some(acl), Some(subnet)) = (&client.acl, &client.subnet) {
            hops.push(Hop::Acl {
                acl,
                subnet,
                egress: false,
                decision: rules::network_acl(acl, false, reply),
            });
        }
    }
    hops
}

fn ports_text(p: &Packet) -> String {
    match p.protocol {
        6 | 17 => format!("{} {}", rules::protocol_name(p.protocol), p.dst_port),
        1 | 58 => format!("{} (ping)", rules::protocol_name(p.protocol)),
        n => rules::protocol_name(n),
    }
}

fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

fn direction(egress: bool) -> &'static str {
    if egress { "outbound" } else { "inbound" }
}

/// A refusing hop, in words, with the rule that would allow the packet.
fn refusal(hop: &Hop<'_>, p: &Packet, reply: bool, peer_groups: &[String]) -> String {
    let what = if reply {
        format!("the reply {p}")
    } else {
        p.to_string()
    };
    match hop {
        Hop::Sg {
            eni, way, groups, ..
        } => {
            let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
            let (rule_way, from_to, peer) = match way {
                Way::Ingress => ("ingress", "from", p.src),
                Way::Egress => ("egress", "to", p.dst),
            };
            let mut peers = vec![peer.to_string()];
            peers.extend(peer_groups.iter().cloned());
            let suggest = match peer_groups.first() {
                Some(g) => format!("{g} (or {})", host(peer)),
                None => host(peer),
            };
            if ids.is_empty() {
                format!("{eni} has no security group, so nothing allows {what}")
            } else {
                format!(
                    "SG {} of {eni} has no {rule_way} rule for {} {from_to} {}\n    to allow it: add to {} an {rule_way} rule {} {from_to} {suggest}",
                    ids.join(", "),
                    ports_text(p),
                    peers.join(" or "),
                    ids[0],
                    ports_text(p),
                )
            }
        }
        Hop::Acl {
            acl,
            subnet,
            egress,
            decision,
        } => {
            let dir = direction(*egress);
            let peer = if *egress { p.dst } else { p.src };
            let from_to = if *egress { "to" } else { "from" };
            let ports = match (reply, p.protocol) {
                (true, 6 | 17) => format!(
                    "{} 1024-65535 (the client's ephemeral ports)",
                    rules::protocol_name(p.protocol)
                ),
                (true, 1) => "icmp echo replies (type 0)".to_string(),
                (true, 58) => "icmpv6 echo replies (type 129)".to_string(),
                _ => ports_text(p),
            };
            match &decision.entry {
                Some(e) if e.number <= 1 => format!(
                    "NACL {} ({subnet}) {dir}: rule {} denies {what}\n    to allow it: replace rule {} with an {dir} allow rule for {ports} {from_to} {}",
                    acl.id,
                    e.number,
                    e.number,
                    host(peer)
                ),
                Some(e) => format!(
                    "NACL {} ({subnet}) {dir}: rule {} denies {what}\n    to allow it: an {dir} allow rule numbered below {} for {ports} {from_to} {}",
                    acl.id,
                    e.number,
                    e.number,
                    host(peer)
                ),
                None => format!(
                    "NACL {} ({subnet}) {dir}: rule * (default deny) matches {what}; no lower-numbered allow\n    to allow it: an {dir} allow rule for {ports} {from_to} {}",
                    acl.id,
                    host(peer)
                ),
            }
        }
    }
}

/// An allowing hop, in words.
fn allowance(hop: &Hop<'_>) -> String {
    match hop {
        Hop::Sg {
            eni,
            way,
            decision: SgDecision::Allowed { group, rule },
            ..
        } => {
            let (w, from_to) = match way {
                Way::Ingress => ("ingress", "from"),
                Way::Egress => ("egress", "to"),
            };
            let proto = match rule.protocol {
                rules::RuleProtocol::All => "all traffic".to_string(),
                rules::RuleProtocol::Number(n) => match rule.ports {
                    Some(r) if matches!(n, 6 | 17) && r.from == r.to => {
                        format!("{} {}", rules::protocol_name(n), r.from)
                    }
                    Some(r) if matches!(n, 6 | 17) => {
                        format!("{} {}-{}", rules::protocol_name(n), r.from, r.to)
                    }
                    _ => rules::protocol_name(n),
                },
            };
            let peer = match &rule.peer {
                Peer::Net(n) => n.to_string(),
                other => other.to_string(),
            };
            format!("SG {group} of {eni} {w} rule {proto} {from_to} {peer}")
        }
        Hop::Sg { eni, .. } => format!("the security groups of {eni}"),
        Hop::Acl {
            acl,
            subnet,
            egress,
            decision,
        } => match &decision.entry {
            Some(e) => format!(
                "NACL {} ({subnet}) {} rule {}",
                acl.id,
                direction(*egress),
                e.number
            ),
            None => format!("NACL {} ({subnet}) {}", acl.id, direction(*egress)),
        },
    }
}

/// Explains one broken pair. `client_port` is a client port the evidence saw (for the reply).
pub fn explain(
    broken: Broken,
    client: &End,
    server: &End,
    request: Packet,
    client_port: u16,
    members: &Members,
) -> String {
    let mut out = String::new();
    let groups_of = |ip: IpAddr| -> Vec<String> {
        members
            .groups
            .iter()
            .filter(|(_, nets)| nets.iter().any(|n| n.contains(&ip)))
            .map(|(g, _)| g.clone())
            .collect()
    };
    let unknown: Vec<String> = [(request.src, client), (request.dst, server)]
        .iter()
        .filter(|(_, e)| e.eni.is_none())
        .map(|(ip, _)| ip.to_string())
        .collect();
    let requests = request_hops(client, server, &request, members);
    let reply = request.reply(client_port);
    let replies = reply_hops(client, server, &reply);
    let allowed_by =
        |hops: &[Hop<'_>]| -> String { hops.iter().map(allowance).collect::<Vec<_>>().join("; ") };
    match broken {
        Broken::Refused | Broken::ReplyRefused => {
            let (hops, is_reply, packet) = if broken == Broken::Refused {
                (&requests, false, &request)
            } else {
                (&replies, true, &reply)
            };
            let refusing: Vec<&Hop<'_>> = hops.iter().filter(|h| !h.allows()).collect();
            for h in &refusing {
                let peer_groups = match h {
                    Hop::Sg {
                        way: Way::Ingress, ..
                    } => groups_of(packet.src),
                    Hop::Sg {
                        way: Way::Egress, ..
                    } => groups_of(packet.dst),
                    Hop::Acl { .. } => Vec::new(),
                };
                let _ = writeln!(out, "  {}", refusal(h, packet, is_reply, &peer_groups));
            }
            if refusing.is_empty() {
                let what = if is_reply { "the reply" } else { "the request" };
                let by = if hops.is_empty() {
                    "no security group or network ACL of this account applies to it".to_string()
                } else {
                    format!("allowed by {}", allowed_by(hops))
                };
                let _ = writeln!(
                    out,
                    "  the configuration as it is now allows {what} {packet} ({by}), but the records show it refused: the rules changed since, or something beyond them refused it"
                );
            }
        }
        Broken::NoReply => {
            let by = if !requests.is_empty() && requests.iter().all(Hop::allows) {
                format!(
                    " (and so does the configuration: {})",
                    allowed_by(&requests)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  the network let the request {request} through{by}, so the service on {} is not answering, or a firewall outside the VPC (on premises) dropped the reply",
                request.dst
            );
            let refusing = requests
                .iter()
                .filter(|h| !h.allows())
                .map(|h| refusal(h, &request, false, &[]))
                .chain(
                    replies
                        .iter()
                        .filter(|h| !h.allows())
                        .map(|h| refusal(h, &reply, true, &[])),
                );
            for r in refusing {
                let _ = writeln!(
                    out,
                    "  note: the configuration as it is now refuses it: {}",
                    r.lines().next().unwrap_or_default()
                );
            }
        }
        Broken::GotThrough => {
            if requests.is_empty() {
                let _ = writeln!(
                    out,
                    "  no security group or network ACL of this account is on its path"
                );
            } else if requests.iter().all(Hop::allows) {
                let _ = writeln!(out, "  let through by {}", allowed_by(&requests));
                let advice = if crosses(client, server) {
                    "remove or narrow the security group rule (security groups cannot deny), or add a network ACL deny rule numbered below the allowing one"
                } else {
                    "remove or narrow the security group rule (security groups cannot deny; no network ACL applies within one subnet)"
                };
                let _ = writeln!(out, "    to block it: {advice}");
            } else {
                for h in requests.iter().filter(|h| !h.allows()) {
                    let _ = writeln!(
                        out,
                        "  the configuration as it is now refuses it: {}; the rules changed since the records",
                        refusal(h, &request, false, &[])
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .trim()
                    );
                }
            }
        }
    }
    if !unknown.is_empty() {
        let _ = writeln!(
            out,
            "  no interface in this account and region has {}: outside the VPC, so only the rules of the other end apply",
            unknown.join(" or ")
        );
    }
    out
}

#[cfg(test)]
mod tests;
