//! Security group and network ACL evaluation for one packet, as AWS documents it. Pure.
//!
//! - Security groups are stateful and allow-only: a packet is allowed when any rule of any group
//!   of the interface matches it (protocol, port range, and a peer that is a CIDR, a security
//!   group the peer's interface is in, or a prefix list holding the peer). Replies are allowed
//!   whatever the rules say.
//! - Network ACLs are stateless and ordered: the matching entry with the lowest rule number
//!   decides, allow or deny; when none matches, the default rule `*` denies. They apply to
//!   traffic that crosses the subnet's boundary, in each direction, replies included.
//! - Port ranges apply to the packet's destination port; for ICMP, rules name a type (-1: all).
//!   Flow logs do not record ICMP types, so ICMP is evaluated as ping (echo request: type 8, or
//!   128 for ICMPv6).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The protocol a rule names: all (`-1`) or one IANA number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleProtocol {
    All,
    Number(u8),
}

impl RuleProtocol {
    /// From the EC2 API's text: `-1`, `tcp`, `udp`, `icmp`, `icmpv6` or a number.
    pub fn parse(s: &str) -> Option<RuleProtocol> {
        Some(match s.to_ascii_lowercase().as_str() {
            "-1" | "all" => RuleProtocol::All,
            "tcp" => RuleProtocol::Number(6),
            "udp" => RuleProtocol::Number(17),
            "icmp" => RuleProtocol::Number(1),
            "icmpv6" => RuleProtocol::Number(58),
            n => RuleProtocol::Number(n.parse().ok()?),
        })
    }

    fn matches(self, protocol: u8) -> bool {
        match self {
            RuleProtocol::All => true,
            RuleProtocol::Number(n) => n == protocol,
        }
    }
}

/// What a rule's port fields mean for the packet's destination port (or ICMP type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub from: i32,
    pub to: i32,
}

impl PortRange {
    fn matches(range: Option<PortRange>, p: &Packet) -> bool {
        let Some(r) = range else { return true };
        match (p.protocol, p.echo_reply) {
            (6 | 17, _) => (r.from..=r.to).contains(&i32::from(p.dst_port)),
            // Ping: echo request, and its echo reply.
            (1, false) => r.from == -1 || r.from == 8,
            (1, true) => r.from == -1 || r.from == 0,
            (58, false) => r.from == -1 || r.from == 128,
            (58, true) => r.from == -1 || r.from == 129,
            // Other protocols have no ports: a range does not narrow them.
            _ => true,
        }
    }
}

/// Who a security group rule lets in (ingress) or out to (egress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Net(IpNet),
    Group(String),
    PrefixList(String),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Net(n) => write!(f, "{n}"),
            Peer::Group(g) => write!(f, "{g}"),
            Peer::PrefixList(p) => write!(f, "{p}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgRule {
    pub protocol: RuleProtocol,
    pub ports: Option<PortRange>,
    pub peer: Peer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    pub number: i32,
    pub egress: bool,
    pub allow: bool,
    pub protocol: RuleProtocol,
    pub ports: Option<PortRange>,
    pub net: IpNet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub id: String,
    pub entries: Vec<AclEntry>,
}

/// Which addresses security groups and prefix lists stand for: the addresses of the interfaces
/// in each group, and the networks of each prefix list.
#[derive(Debug, Clone, Default)]
pub struct Members {
    /// The addresses (and delegated prefixes) of the interfaces in each group.
    pub groups: BTreeMap<String, Vec<IpNet>>,
    pub prefix_lists: BTreeMap<String, Vec<IpNet>>,
}

impl Members {
    fn holds(&self, peer: &Peer, ip: IpAddr) -> bool {
        match peer {
            Peer::Net(n) => n.contains(&ip),
            Peer::Group(g) => self
                .groups
                .get(g)
                .is_some_and(|nets| nets.iter().any(|n| n.contains(&ip))),
            Peer::PrefixList(p) => self
                .prefix_lists
                .get(p)
                .is_some_and(|nets| nets.iter().any(|n| n.contains(&ip))),
        }
    }
}

/// One packet: protocol, addresses, ports (0 for ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub protocol: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// For ICMP: an echo reply (type 0, or 129 for ICMPv6) rather than an echo request.
    pub echo_reply: bool,
}

impl Packet {
    pub fn reply(self, client_port: u16) -> Packet {
        Packet {
            protocol: self.protocol,
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: client_port,
            echo_reply: true,
        }
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = protocol_name(self.protocol);
        match self.protocol {
            6 | 17 => write!(f, "{name} {} → {}:{}", self.src, self.dst, self.dst_port),
            _ => write!(f, "{name} {} → {}", self.src, self.dst),
        }
    }
}

pub fn protocol_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        n => format!("protocol {n}"),
    }
}

/// Which way a security group sees the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Ingress,
    Egress,
}

/// What the security groups of an interface decide for a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SgDecision {
    /// Allowed by this rule of this group.
    Allowed { group: String, rule: SgRule },
    /// No rule of any of these groups matches.
    Denied { groups: Vec<String> },
}

pub fn security_groups(
    groups: &[SecurityGroup],
    way: Way,
    packet: &Packet,
    members: &Members,
) -> SgDecision {
    let peer = match way {
        Way::Ingress => packet.src,
        Way::Egress => packet.dst,
    };
    for g in groups {
        let rules = match way {
            Way::Ingress => &g.ingress,
            Way::Egress => &g.egress,
        };
        for r in rules {
            if r.protocol.matches(packet.protocol)
                && PortRange::matches(r.ports, packet)
                && members.holds(&r.peer, peer)
            {
                return SgDecision::Allowed {
                    group: g.id.clone(),
                    rule: r.clone(),
                };
            }
        }
    }
    SgDecision::Denied {
        groups: groups.iter().map(|g| g.id.clone()).collect(),
    }
}

/// What a network ACL decides for a packet: the deciding entry, `None` for the default rule `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclDecision {
    pub allow: bool,
    pub entry: Option<AclEntry>,
}

pub fn network_acl(acl: &Acl, egress: bool, packet: &Packet) -> AclDecision {
    let peer = if egress { packet.dst } else { packet.src };
    let mut entries: Vec<&AclEntry> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|e| e.number);
    for e in entries {
        if e.protocol.matches(packet.protocol)
            && PortRange::matches(e.ports, packet)
            && e.net.contains(&peer)
        {
            // AWS lists the default rules as 32767 (IPv4) and 32768 (IPv6): report them as `*`.
            return AclDecision {
                allow: e.allow,
                entry: (e.number < 32767).then(|| e.clone()),
            };
        }
    }
    AclDecision {
        allow: false,
        entry: None,
    }
}

#[cfg(test)]
mod tests;
