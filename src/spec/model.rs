//! The validated spec: every value here has been checked, so later stages never re-check.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::locate::Pos;

/// One application's spec file.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The path as the user gave it (messages repeat it verbatim).
    pub path: PathBuf,
    pub app: String,
    pub description: Option<String>,
    /// Default look-back for runs against AWS.
    pub window: Option<Duration>,
    pub hosts: BTreeMap<String, Host>,
    pub expectations: Vec<Expectation>,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub at: Pos,
    pub selector: HostSelector,
    /// `account:`: the AWS account that owns the host's interfaces, when it is not the caller's
    /// (12 digits). Only with an AWS selector.
    pub account: Option<String>,
    /// `strict: true`: nothing may reach it beyond the spec's reach expectations to it.
    pub strict: bool,
}

impl Spec {
    /// The name of the test a strict host adds.
    pub fn strict_test_name(host: &str) -> String {
        format!("nothing else reaches {host}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSelector {
    /// Literal addresses and networks, minus the `except` networks.
    Networks {
        include: Vec<IpNet>,
        exclude: Vec<IpNet>,
    },
    /// Resolved through EC2; only an AWS source can do that.
    Aws(AwsSelector),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsSelector {
    Tag(BTreeMap<String, String>),
    Instance(String),
    Eni(String),
    SecurityGroup(String),
    Subnet(String),
    /// An Application, Network or Gateway Load Balancer (or a Classic one) by name: the
    /// interfaces Elastic Load Balancing made for it.
    LoadBalancer(String),
    /// A Lambda function in a VPC, by name: the interfaces Lambda made for it.
    Lambda(String),
    /// An interface VPC endpoint (or a Gateway Load Balancer endpoint): its interfaces.
    VpcEndpoint(String),
    /// A NAT gateway: its interface.
    NatGateway(String),
    /// Interfaces by what owns them: for the services that have no selector of their own (RDS,
    /// ElastiCache, EFS, ...). At least one field is given; all given must match.
    Interface(InterfaceFilter),
}

/// The `interface:` selector's fields, as EC2's DescribeNetworkInterfaces filters them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceFilter {
    /// The interface's description; `*` matches any run of characters (EC2's own wildcard).
    pub description: Option<String>,
    /// Who created the interface for you (`requester-id`: an AWS service's principal or account).
    pub requester: Option<String>,
    /// The interface type (`interface-type`: `interface`, `lambda`, `nat_gateway`, ...).
    pub kind: Option<String>,
    /// A security group of the interface.
    pub security_group: Option<String>,
}

impl InterfaceFilter {
    /// `description=RDSNetworkInterface, security_group=sg-1`: the fields given, for messages.
    pub fn describe(&self) -> String {
        [
            ("description", &self.description),
            ("requester", &self.requester),
            ("type", &self.kind),
            ("security_group", &self.security_group),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl AwsSelector {
    /// The spec key this selector was written with.
    pub fn key(&self) -> &'static str {
        match self {
            AwsSelector::Tag(_) => "tag",
            AwsSelector::Instance(_) => "instance",
            AwsSelector::Eni(_) => "eni",
            AwsSelector::SecurityGroup(_) => "security_group",
            AwsSelector::Subnet(_) => "subnet",
            AwsSelector::LoadBalancer(_) => "load_balancer",
            AwsSelector::Lambda(_) => "lambda",
            AwsSelector::VpcEndpoint(_) => "vpc_endpoint",
            AwsSelector::NatGateway(_) => "nat_gateway",
            AwsSelector::Interface(_) => "interface",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expectation {
    /// Unique within its spec.
    pub name: String,
    /// Where the expectation starts in the spec file.
    pub at: Pos,
    pub from: Endpoint,
    pub to: Endpoint,
    pub protocol: Protocol,
    pub ports: Ports,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Any,
    Host(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Any => f.write_str("any"),
            Endpoint::Host(name) => f.write_str(name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Must be reachable; `return_required: false` is the spec's `return: optional`.
    Reach { return_required: bool },
    /// Must not be reachable.
    Deny,
}

/// An IANA protocol number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocol(pub u8);

impl Protocol {
    pub const ICMP: Protocol = Protocol(1);
    pub const TCP: Protocol = Protocol(6);
    pub const UDP: Protocol = Protocol(17);
    pub const ICMPV6: Protocol = Protocol(58);

    /// Parses `tcp`, `udp`, `icmp`, `icmpv6` (any case) or a number 0-255.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::TCP),
            "udp" => Some(Protocol::UDP),
            "icmp" => Some(Protocol::ICMP),
            "icmpv6" => Some(Protocol::ICMPV6),
            other => other.parse().ok().map(Protocol),
        }
    }

    /// Whether flows of this protocol carry ports that an expectation can name.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::TCP | Protocol::UDP)
    }

    pub fn is_icmp(self) -> bool {
        matches!(self, Protocol::ICMP | Protocol::ICMPV6)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Protocol::TCP => f.write_str("tcp"),
            Protocol::UDP => f.write_str("udp"),
            Protocol::ICMP => f.write_str("icmp"),
            Protocol::ICMPV6 => f.write_str("icmpv6"),
            Protocol(n) => write!(f, "protocol {n}"),
        }
    }
}

/// The server ports an expectation covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// Portless protocols (icmp) and protocol numbers given without a port: any port matches.
    Any,
    Set(PortSet),
}

impl Ports {
    pub fn contains(&self, port: u16) -> bool {
        match self {
            Ports::Any => true,
            Ports::Set(set) => set.contains(port),
        }
    }
}

/// A non-empty, sorted set of disjoint port ranges, none containing port 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSet(Vec<RangeInclusive<u16>>);

impl PortSet {
    /// Builds a set from valid ranges (1 <= start <= end); `None` when empty.
    pub fn new(mut ranges: Vec<RangeInclusive<u16>>) -> Option<PortSet> {
        debug_assert!(
            ranges
                .iter()
                .all(|r| *r.start() >= 1 && r.start() <= r.end())
        );
        if ranges.is_empty() {
            return None;
        }
        ranges.sort_by_key(|r| *r.start());
        let mut merged: Vec<RangeInclusive<u16>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if *r.start() <= last.end().saturating_add(1) => {
                    *last = *last.start()..=(*last.end()).max(*r.end());
                }
                _ => merged.push(r),
            }
        }
        Some(PortSet(merged))
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|r| r.contains(&port))
    }

    pub fn ranges(&self) -> &[RangeInclusive<u16>] {
        &self.0
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

/// `tcp/443`, `udp/53`, `icmp`, `tcp/80,443`: the service an expectation names.
pub struct Service<'a>(pub Protocol, pub &'a Ports);

impl fmt::Display for Service<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Ports::Any => write!(f, "{}", self.0),
            Ports::Set(set) => write!(f, "{}/{}", self.0, set),
        }
    }
}

impl Expectation {
    pub fn service(&self) -> Service<'_> {
        Service(self.protocol, &self.ports)
    }

    /// The name used when the spec gives none: `web -> app tcp/8080`.
    pub fn default_name(
        from: &Endpoint,
        to: &Endpoint,
        protocol: Protocol,
        ports: &Ports,
    ) -> String {
        format!("{from} -> {to} {}", Service(protocol, ports))
    }

    pub fn is_deny(&self) -> bool {
        matches!(self.kind, Kind::Deny)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_sets_merge_overlaps_and_neighbours() {
        let set = PortSet::new(vec![443..=443, 80..=80, 81..=90, 85..=100]).unwrap();
        assert_eq!(set.ranges(), &[80..=100, 443..=443]);
        assert_eq!(set.to_string(), "80-100,443");
        assert!(set.contains(90) && set.contains(443) && !set.contains(101));
    }

    #[test]
    fn protocols_parse_by_name_or_number() {
        assert_eq!(Protocol::parse("TCP"), Some(Protocol::TCP));
        assert_eq!(Protocol::parse("icmpv6"), Some(Protocol::ICMPV6));
        assert_eq!(Protocol::parse("47"), Some(Protocol(47)));
        assert_eq!(Protocol::parse("256"), None);
        assert_eq!(Protocol::parse("sctp"), None);
    }

    #[test]
    fn default_names_read_like_the_rule() {
        let ports = Ports::Set(PortSet::new(vec![8080..=8080]).unwrap());
        let name = Expectation::default_name(
            &Endpoint::Host("web".into()),
            &Endpoint::Any,
            Protocol::TCP,
            &ports,
        );
        assert_eq!(name, "web -> any tcp/8080");
        assert_eq!(
            Expectation::default_name(
                &Endpoint::Any,
                &Endpoint::Host("db".into()),
                Protocol::ICMP,
                &Ports::Any
            ),
            "any -> db icmp"
        );
    }
}
