//! The configuration as a second witness: for one check, every path from an address of `from`
//! to an address of `to`, evaluated as AWS would, for the request and for its reply. Pure.
//!
//! The path of a request, in AWS's order: the client's security groups (egress), the client
//! subnet's network ACL (outbound), the client subnet's route table towards the server, the server
//! subnet's network ACL (inbound), the server's security groups (ingress). The reply: the server
//! subnet's network ACL (outbound, to the client's ephemeral port), its route table back towards
//! the client, the client subnet's network ACL (inbound). Security groups are stateful: they never
//! judge a reply. Network ACLs and route tables only see traffic that leaves or enters a subnet, so
//! two interfaces of one subnet meet only each other's security groups. An end outside every VPC
//! read (the internet, on premises) has no security group or ACL of its own; the other end's route
//! table must lead to it (and back to it, for a connection it opened).
//!
//! Sides are address sets. Each is split into units: the interfaces that hold its addresses, and
//! the addresses outside every VPC read (addresses inside a VPC that no interface holds send
//! nothing and are left out). Within a pair of units, addresses and ports are cut into atoms at
//! every CIDR and port bound that any rule, entry or route of the path names, so one packet per
//! atom decides for the whole atom, and that packet is the concrete example the words give.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ipnet::IpNet;

use super::config::{Config, Interface};
use super::routes::{self, Association, Choice, Far, Leg, Verdict};
use super::rules::{
    self, AclDecision, Members, Packet, Peer, RuleProtocol, SecurityGroup, SgDecision, Way,
};
use super::spans::{self, Span, Spans};
use crate::resolve::AddrSet;
use crate::spec::{Ports, Protocol};

/// The ephemeral ports of AWS's network ACL guidance: clients pick their port from a part of it
/// (Linux 32768-60999, Windows Server 2008 and later 49152-65535); NAT gateways and load
/// balancers use all of it.
pub const EPHEMERAL: RangeInclusive<u16> = 1024..=65535;

/// The client ports a reach check counts on: where Linux and Windows clients pick theirs.
pub const CLIENT_PORTS: RangeInclusive<u16> = 32768..=65535;

/// What the check asks of the configuration, which decides which client ports count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Can the expected clients connect: their systems pick the client port from `CLIENT_PORTS`,
    /// so a reply must be allowed back to some port of it.
    Reach,
    /// Can anyone in `from` get through: a sender picks any client port it likes, so a reply
    /// allowed back to any port at all opens the door.
    Deny,
}

/// The client port of the example packets, when the reply allows it.
const EXAMPLE_CLIENT_PORT: u16 = 49152;

/// What is checked: connections from an address of `from` to one of `to`.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub from: &'a AddrSet,
    pub to: &'a AddrSet,
    pub protocol: Protocol,
    pub ports: &'a Ports,
    pub purpose: Purpose,
}

impl<'a> Query<'a> {
    /// What a check asks of the configuration: its sides, service and kind.
    pub fn of(c: &'a crate::plan::Check) -> Query<'a> {
        Query {
            from: &c.from.addrs,
            to: &c.to.addrs,
            protocol: c.protocol,
            ports: &c.ports,
            purpose: if c.is_deny() {
                Purpose::Deny
            } else {
                Purpose::Reach
            },
        }
    }
}

/// One side's piece: an interface, or the side's addresses outside every VPC read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Interface { eni: String, addrs: Spans },
    Outside { addrs: Spans },
}

impl Unit {
    fn addrs(&self) -> &Spans {
        match self {
            Unit::Interface { addrs, .. } | Unit::Outside { addrs } => addrs,
        }
    }
}

impl fmt::Display for Unit {
    /// `eni-1 (10.0.3.30)`, `addresses outside the VPC (0.0.0.0/5, 8.0.0.0/7, 6 more)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Interface { eni, addrs } => write!(f, "{eni} ({})", addrs.describe(3)),
            Unit::Outside { addrs } => {
                write!(f, "addresses outside the VPC ({})", addrs.describe(3))
            }
        }
    }
}

/// One place on the path, with what it decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    SecurityGroups {
        eni: String,
        way: Way,
        decision: SgDecision,
    },
    NetworkAcl {
        acl: String,
        subnet: String,
        egress: bool,
        decision: AclDecision,
    },
    Route {
        table: String,
        subnet: String,
        association: Association,
        dst: IpAddr,
        choice: Choice,
        verdict: Verdict,
    },
}

impl Hop {
    pub fn allows(&self) -> bool {
        match self {
            Hop::SecurityGroups { decision, .. } => matches!(decision, SgDecision::Allowed { .. }),
            Hop::NetworkAcl { decision, .. } => decision.allow,
            Hop::Route { verdict, .. } => verdict.delivers(),
        }
    }

    pub fn is_route(&self) -> bool {
        matches!(self, Hop::Route { .. })
    }
}

/// A hop of the request, or of the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub reply: bool,
    pub hop: Hop,
}

impl Step {
    /// What identifies the refusing place, whatever the packet: refusals at one place group.
    fn place(&self) -> String {
        let what = match &self.hop {
            Hop::SecurityGroups { eni, way, .. } => format!("sg {eni} {way:?}"),
            Hop::NetworkAcl {
                acl,
                egress,
                decision,
                ..
            } => format!(
                "acl {acl} {egress} {:?}",
                decision.entry.as_ref().map(|e| e.number)
            ),
            Hop::Route {
                table,
                choice,
                verdict,
                ..
            } => {
                let route = match choice {
                    Choice::Route { route, .. } => route.to_string(),
                    Choice::Local { cidr } => format!("local {cidr}"),
                    Choice::NoRoute => "none".into(),
                };
                format!("route {table} {route} {verdict:?}")
            }
        };
        format!("{} {what}", self.reply)
    }

    /// The step in words, as allowing or refusing `packet` (the request, or the reply).
    pub fn words(&self, packet: &Packet) -> String {
        let prefix = if self.reply { "the reply: " } else { "" };
        let text = match &self.hop {
            Hop::SecurityGroups { eni, way, decision } => sg_words(eni, *way, decision, packet),
            Hop::NetworkAcl {
                acl,
                subnet,
                egress,
                decision,
            } => acl_words(acl, subnet, *egress, decision, packet, self.reply),
            Hop::Route {
                table,
                subnet,
                association,
                dst,
                choice,
                verdict,
            } => route_words(table, subnet, *association, *dst, choice, verdict),
        };
        format!("{prefix}{text}")
    }
}

/// A path the configuration lets through: one concrete connection, and every step it passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub request: Packet,
    /// The client ports the reply may go back to (within `EPHEMERAL`; all ports for ICMP).
    pub reply_ports: Vec<RangeInclusive<u16>>,
    pub steps: Vec<Step>,
    /// What the evaluation assumed or could not follow.
    pub caveats: Vec<String>,
}

impl Path {
    /// The rule that opens the door: the server's security group rule, else the client's.
    pub fn opening(&self) -> Option<&Step> {
        let sg = |way: Way| {
            self.steps.iter().find(|s| {
                matches!(
                    &s.hop,
                    Hop::SecurityGroups { way: w, decision: SgDecision::Allowed { .. }, .. } if *w == way
                )
            })
        };
        sg(Way::Ingress).or_else(|| sg(Way::Egress))
    }

    /// `tcp 203.0.113.10 → 10.0.3.30:22 is allowed: SG ... ; NACL ...`.
    pub fn words(&self) -> String {
        let reply = self.request.reply(self.reply_client_port());
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| s.words(if s.reply { &reply } else { &self.request }))
            .collect();
        let mut out = if steps.is_empty() {
            format!(
                "{} is allowed: no security group, network ACL or route of the VPCs read is on its path",
                self.request
            )
        } else {
            format!("{} is allowed: {}", self.request, steps.join("; "))
        };
        for c in &self.caveats {
            let _ = write!(out, "\n  note: {c}");
        }
        out
    }

    fn reply_client_port(&self) -> u16 {
        self.reply_ports
            .iter()
            .find(|r| r.contains(&EXAMPLE_CLIENT_PORT))
            .map(|_| EXAMPLE_CLIENT_PORT)
            .or_else(|| self.reply_ports.first().map(|r| *r.start()))
            .unwrap_or(EXAMPLE_CLIENT_PORT)
    }
}

/// Where one group of connections is refused, with an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub at: Step,
    /// The example: the request, or (when `at.reply`) the reply that is refused.
    pub packet: Packet,
    /// Every client and server address and server port refused at this place.
    pub clients: Spans,
    pub servers: Spans,
    pub ports: Vec<RangeInclusive<u16>>,
}

impl Refusal {
    /// `SG sg-1 of eni-1 has no ingress rule for tcp 22 from 203.0.113.10`, and the range it
    /// stands for when wider than the example.
    pub fn words(&self) -> String {
        let mut out = self.at.words(&self.packet);
        let many = |s: &Spans| s.spans().iter().map(|x| x.hi - x.lo).sum::<u128>() > 0;
        let mut also = Vec::new();
        if many(&self.clients) {
            also.push(format!("clients {}", self.clients.describe(3)));
        }
        if many(&self.servers) {
            also.push(format!("servers {}", self.servers.describe(3)));
        }
        if !also.is_empty() {
            let _ = write!(out, " (and so for {})", also.join(" and "));
        }
        out
    }
}

/// What the configuration says of one pair of units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairResult {
    /// Some connection gets through (the first found).
    Allows(Path),
    /// None does: where each group is refused.
    Refuses(Vec<Refusal>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub client: Unit,
    pub server: Unit,
    pub result: PairResult,
}

/// The configuration's witness for one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub pairs: Vec<Pair>,
    /// Addresses of the sides inside a VPC read that no interface holds now: nothing sends
    /// from or answers at them, so they are left out.
    pub nobody: Spans,
    /// What limits the whole evaluation (routes not read).
    pub caveats: Vec<String>,
    /// Why there are no pairs, when there are none.
    pub unevaluated: Option<String>,
}

/// The witness summed up for a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary<'w> {
    /// Every pair of units has a connection that gets through; `via` is the first.
    Allows { via: &'w Path },
    /// Some pairs do (`via`), the others are refused (`refused`).
    Partly {
        via: &'w Path,
        refused: Vec<&'w Pair>,
    },
    /// No connection gets through; where, for each pair.
    Refuses { at: Vec<&'w Refusal> },
    /// Nothing to evaluate: no end of the check is an interface of the VPCs read.
    Unknown(String),
}

impl Witness {
    /// A connection the configuration lets through (for deny checks: OPEN), the first found.
    pub fn opening(&self) -> Option<&Path> {
        self.pairs.iter().find_map(|p| match &p.result {
            PairResult::Allows(path) => Some(path),
            PairResult::Refuses(_) => None,
        })
    }

    /// Every refusal of every fully refused pair.
    pub fn refusals(&self) -> impl Iterator<Item = &Refusal> {
        self.pairs.iter().flat_map(|p| match &p.result {
            PairResult::Refuses(r) => r.as_slice(),
            PairResult::Allows(_) => &[],
        })
    }

    pub fn summary(&self) -> Summary<'_> {
        let Some(via) = self.opening() else {
            if let Some(why) = &self.unevaluated {
                return Summary::Unknown(why.clone());
            }
            return Summary::Refuses {
                at: self.refusals().collect(),
            };
        };
        let refused: Vec<&Pair> = self
            .pairs
            .iter()
            .filter(|p| matches!(p.result, PairResult::Refuses(_)))
            .collect();
        if refused.is_empty() {
            Summary::Allows { via }
        } else {
            Summary::Partly { via, refused }
        }
    }
}

/// The networks a security group rule's peer stands for (none for a group or list not read).
fn peer_nets<'a>(peer: &'a Peer, members: &'a Members) -> Vec<IpNet> {
    match peer {
        Peer::Net(n) => vec![*n],
        Peer::Group(g) => members.groups.get(g).cloned().unwrap_or_default(),
        Peer::PrefixList(p) => members.prefix_lists.get(p).cloned().unwrap_or_default(),
    }
}

/// An interface unit's place in the configuration.
struct Site<'c> {
    iface: &'c Interface,
    vpc_cidrs: &'c [IpNet],
    table: Option<(&'c routes::RouteTable, Association)>,
}

struct Evaluator<'c> {
    config: &'c Config,
    protocol: Protocol,
    purpose: Purpose,
    caveats: Vec<String>,
}

const PRIVATE_CUTS: [&str; 7] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

impl<'c> Evaluator<'c> {
    fn site(&self, eni: &str) -> Option<Site<'c>> {
        let iface = self
            .config
            .interfaces
            .iter()
            .find(|i| i.end.eni.as_deref() == Some(eni))?;
        let routing = &self.config.routing;
        let vpc_cidrs = iface
            .vpc
            .as_ref()
            .and_then(|v| routing.vpc_cidrs.get(v))
            .map_or(&[][..], Vec::as_slice);
        let table = iface
            .end
            .subnet
            .as_deref()
            .and_then(|s| routes::table_for(&routing.tables, s, iface.vpc.as_deref()));
        Some(Site {
            iface,
            vpc_cidrs,
            table,
        })
    }

    /// Every CIDR whose membership can change a decision of `site`'s rules, entries or routes.
    fn cuts(&self, site: &Site<'_>) -> Vec<IpNet> {
        let members = &self.config.members;
        let mut out: Vec<IpNet> = PRIVATE_CUTS.iter().filter_map(|n| n.parse().ok()).collect();
        for g in &site.iface.end.groups {
            for r in g.ingress.iter().chain(&g.egress) {
                out.extend(peer_nets(&r.peer, members));
            }
        }
        if let Some(acl) = &site.iface.end.acl {
            out.extend(acl.entries.iter().map(|e| e.net));
        }
        if let Some((t, _)) = site.table {
            for r in &t.routes {
                match &r.destination {
                    routes::Destination::Net(n) => out.push(*n),
                    routes::Destination::PrefixList(p) => {
                        out.extend(members.prefix_lists.get(p).into_iter().flatten())
                    }
                }
            }
        }
        out.extend(site.vpc_cidrs.iter().copied());
        out
    }

    /// Every port bound a rule or entry of `sites` names.
    fn port_cuts(sites: &[&Site<'_>]) -> Vec<(i32, i32)> {
        let mut out = Vec::new();
        for s in sites {
            for g in &s.iface.end.groups {
                out.extend(
                    g.ingress
                        .iter()
                        .chain(&g.egress)
                        .filter_map(|r| r.ports.map(|p| (p.from, p.to))),
                );
            }
            if let Some(acl) = &s.iface.end.acl {
                out.extend(
                    acl.entries
                        .iter()
                        .filter_map(|e| e.ports.map(|p| (p.from, p.to))),
                );
            }
        }
        out
    }

    fn packet(&self, src: IpAddr, dst: IpAddr, dst_port: u16) -> Packet {
        let protocol = match (self.protocol, src) {
            (Protocol::ICMP, IpAddr::V6(_)) => Protocol::ICMPV6.0,
            (p, _) => p.0,
        };
        Packet {
            protocol,
            src,
            dst,
            src_port: EXAMPLE_CLIENT_PORT,
            dst_port: if self.protocol.has_ports() {
                dst_port
            } else {
                0
            },
            echo_reply: false,
        }
    }

    fn sg_hop(&self, site: &Site<'_>, way: Way, p: &Packet) -> Option<Hop> {
        let groups: &[SecurityGroup] = &site.iface.end.groups;
        // Interfaces AWS manages (NAT gateways, some endpoints) carry no security group: nothing
        // filters there.
        if groups.is_empty() {
            return None;
        }
        Some(Hop::SecurityGroups {
            eni: site.iface.end.eni.clone().unwrap_or_default(),
            way,
            decision: rules::security_groups(groups, way, p, &self.config.members),
        })
    }

    fn acl_hop(site: &Site<'_>, egress: bool, p: &Packet) -> Option<Hop> {
        let acl = site.iface.end.acl.as_ref()?;
        Some(Hop::NetworkAcl {
            acl: acl.id.clone(),
            subnet: site.iface.end.subnet.clone().unwrap_or_default(),
            egress,
            decision: rules::network_acl(acl, egress, p),
        })
    }

    fn route_hop(
        &self,
        from: &Site<'_>,
        to: Option<&Site<'_>>,
        dst: IpAddr,
        leg: Leg,
    ) -> Option<Hop> {
        let (table, association) = from.table?;
        let choice = routes::lookup(
            table,
            from.vpc_cidrs,
            &self.config.members.prefix_lists,
            dst,
        );
        let far = match to {
            Some(t) if t.iface.vpc.is_some() && t.iface.vpc == from.iface.vpc => Far::SameVpc,
            Some(_) => Far::OtherVpc {
                private: routes::is_private(dst),
            },
            None => Far::Outside {
                private: routes::is_private(dst),
            },
        };
        let verdict = routes::verdict(&choice, far, leg);
        Some(Hop::Route {
            table: table.id.clone(),
            subnet: from.iface.end.subnet.clone().unwrap_or_default(),
            association,
            dst,
            choice,
            verdict,
        })
    }

    /// The request's hops in order, stopping after the first refusal.
    fn request(
        &self,
        client: Option<&Site<'_>>,
        server: Option<&Site<'_>>,
        crosses: bool,
        p: &Packet,
    ) -> Vec<Step> {
        let mut hops: Vec<Hop> = Vec::new();
        let mut push = |h: Option<Hop>| -> bool {
            if let Some(h) = h {
                let ok = h.allows();
                hops.push(h);
                return ok;
            }
            true
        };
        let ok = client.is_none_or(|c| {
            push(self.sg_hop(c, Way::Egress, p))
                && (!crosses
                    || (push(Self::acl_hop(c, true, p))
                        && push(self.route_hop(c, server, p.dst, Leg::Request))))
        });
        if ok && let Some(s) = server {
            let _ = (!crosses || push(Self::acl_hop(s, false, p)))
                && push(self.sg_hop(s, Way::Ingress, p));
        }
        hops.into_iter()
            .map(|hop| Step { reply: false, hop })
            .collect()
    }

    /// The reply's hops in order, stopping after the first refusal (security groups are stateful).
    fn reply(
        &self,
        client: Option<&Site<'_>>,
        server: Option<&Site<'_>>,
        crosses: bool,
        r: &Packet,
    ) -> Vec<Step> {
        let mut hops: Vec<Hop> = Vec::new();
        if crosses {
            let mut push = |h: Option<Hop>| -> bool {
                if let Some(h) = h {
                    let ok = h.allows();
                    hops.push(h);
                    return ok;
                }
                true
            };
            let ok = server.is_none_or(|s| {
                push(Self::acl_hop(s, true, r))
                    && push(self.route_hop(s, client, r.dst, Leg::Reply))
            });
            if ok && let Some(c) = client {
                push(Self::acl_hop(c, false, r));
            }
        }
        hops.into_iter()
            .map(|hop| Step { reply: true, hop })
            .collect()
    }

    fn route_caveats(steps: &[Step], out: &mut Vec<String>) {
        for s in steps {
            if let Hop::Route {
                choice, verdict, ..
            } = &s.hop
            {
                if let Verdict::DeliversBeyond(why) = verdict {
                    out.push(format!(
                        "{} goes {why}",
                        if s.reply { "the reply" } else { "the request" }
                    ));
                }
                if let Choice::Route { route, tied, .. } = choice
                    && !tied.is_empty()
                {
                    let others: Vec<String> = tied.iter().map(ToString::to_string).collect();
                    out.push(format!(
                        "{route} ties with {}: AWS picks one of these prefix-list routes and keeps it",
                        others.join(", ")
                    ));
                }
            }
        }
    }

    fn pair(&self, client: &Unit, server: &Unit, ports: &[RangeInclusive<u16>]) -> PairResult {
        let site_of = |u: &Unit| match u {
            Unit::Interface { eni, .. } => self.site(eni),
            Unit::Outside { .. } => None,
        };
        let (c_site, s_site) = (site_of(client), site_of(server));
        let subnet = |s: &Option<Site<'_>>| s.as_ref().and_then(|s| s.iface.end.subnet.clone());
        let crosses = c_site.is_none()
            || s_site.is_none()
            || subnet(&c_site).is_none()
            || subnet(&c_site) != subnet(&s_site);
        let client_atoms = ordered(
            client
                .addrs()
                .atoms(&s_site.as_ref().map(|s| self.cuts(s)).unwrap_or_default()),
        );
        let server_atoms = ordered(
            server
                .addrs()
                .atoms(&c_site.as_ref().map(|s| self.cuts(s)).unwrap_or_default()),
        );
        let sites: Vec<&Site<'_>> = c_site.iter().chain(s_site.iter()).collect();
        let port_cuts = Self::port_cuts(&sites);
        let port_atoms = spans::port_atoms(ports, &port_cuts);
        // Client ports, cut where the reply's entries change and where the counted ports begin.
        let counted = match self.purpose {
            Purpose::Reach => CLIENT_PORTS,
            Purpose::Deny => 1..=65535,
        };
        let mut reply_cuts = port_cuts.clone();
        reply_cuts.extend(
            [EPHEMERAL, CLIENT_PORTS].map(|r| (i32::from(*r.start()), i32::from(*r.end()))),
        );
        let ephemeral = if self.protocol.has_ports() {
            spans::port_atoms(std::slice::from_ref(&counted), &reply_cuts)
        } else {
            vec![0..=0]
        };
        let mut groups: BTreeMap<String, Refusal> = BTreeMap::new();
        let mut refuse =
            |step: &Step, packet: Packet, c: &Span, s: &Span, p: &RangeInclusive<u16>| {
                let one = |x: &Span| Spans::of_span(*x);
                let entry = groups.entry(step.place()).or_insert_with(|| Refusal {
                    at: step.clone(),
                    packet,
                    clients: Spans::default(),
                    servers: Spans::default(),
                    ports: Vec::new(),
                });
                entry.clients = entry.clients.union(&one(c));
                entry.servers = entry.servers.union(&one(s));
                if !entry.ports.contains(p) {
                    entry.ports.push(p.clone());
                }
            };
        for c in &client_atoms {
            for s in server_atoms.iter().filter(|s| s.family == c.family) {
                for p in &port_atoms {
                    let request = self.packet(c.pick(), s.pick(), *p.start());
                    let steps = self.request(c_site.as_ref(), s_site.as_ref(), crosses, &request);
                    if let Some(bad) = steps.iter().find(|st| !st.hop.allows()) {
                        refuse(bad, request, c, s, p);
                        continue;
                    }
                    let mut allowed: Vec<RangeInclusive<u16>> = Vec::new();
                    let mut first_ok: Option<Vec<Step>> = None;
                    let mut first_bad: Option<(Step, Packet)> = None;
                    for q in &ephemeral {
                        let port = if q.contains(&EXAMPLE_CLIENT_PORT) {
                            EXAMPLE_CLIENT_PORT
                        } else {
                            *q.start()
                        };
                        let reply = request.reply(port);
                        let back = self.reply(c_site.as_ref(), s_site.as_ref(), crosses, &reply);
                        match back.iter().find(|st| !st.hop.allows()) {
                            None => {
                                allowed.push(q.clone());
                                if first_ok.is_none() || q.contains(&EXAMPLE_CLIENT_PORT) {
                                    first_ok = Some(back);
                                }
                            }
                            Some(bad) => {
                                if first_bad.is_none() || q.contains(&EXAMPLE_CLIENT_PORT) {
                                    first_bad = Some((bad.clone(), reply));
                                }
                            }
                        }
                    }
                    let Some(back) = first_ok else {
                        if let Some((bad, reply)) = first_bad {
                            refuse(&bad, reply, c, s, p);
                        }
                        continue;
                    };
                    let mut all = steps;
                    all.extend(back);
                    let mut caveats = Vec::new();
                    Self::route_caveats(&all, &mut caveats);
                    if self.protocol.has_ports()
                        && crosses
                        && !spans::ports_cover(&allowed, &counted)
                    {
                        caveats.push(format!(
                            "replies are allowed back only to client ports {} of {}-{}: clients that pick other ports are refused",
                            spans::describe_ports(&allowed),
                            counted.start(),
                            counted.end()
                        ));
                    }
                    caveats.extend(self.caveats.iter().cloned());
                    return PairResult::Allows(Path {
                        request,
                        reply_ports: allowed,
                        steps: all,
                        caveats,
                    });
                }
            }
        }
        PairResult::Refuses(groups.into_values().collect())
    }
}

/// Atoms in the order to try them, so that the example found reads well: those holding a
/// documentation address first, then the largest.
fn ordered(mut atoms: Vec<Span>) -> Vec<Span> {
    atoms.sort_by_key(|a| (!a.has_nice(), u128::MAX - (a.hi - a.lo)));
    atoms
}

/// Splits one side into units: interfaces holding its addresses, and its addresses outside the
/// VPCs read. Returns them with the side's addresses that sit in a VPC but on no interface.
fn units(config: &Config, side: &AddrSet) -> (Vec<Unit>, Spans) {
    let side = Spans::of_ranges(side.ranges());
    let mut out = Vec::new();
    let mut held = Spans::default();
    for i in &config.interfaces {
        let nets = Spans::of_nets(&i.nets);
        held = held.union(&nets);
        let mine = side.intersect(&nets);
        if let (false, Some(eni)) = (mine.is_empty(), &i.end.eni) {
            out.push(Unit::Interface {
                eni: eni.clone(),
                addrs: mine,
            });
        }
    }
    let vpcs = Spans::of_nets(config.routing.vpc_cidrs.values().flatten());
    let rest = side.subtract(&held);
    let nobody = rest.intersect(&vpcs);
    let outside = rest.subtract(&vpcs);
    if !outside.is_empty() {
        out.push(Unit::Outside { addrs: outside });
    }
    (out, nobody)
}

/// The configuration's witness for one check.
pub fn judge(config: &Config, q: &Query<'_>) -> Witness {
    let mut caveats = Vec::new();
    if let Some(e) = &config.routing.unread {
        caveats.push(format!(
            "route tables were not read ({e}): only security groups and network ACLs were evaluated"
        ));
    }
    let ev = Evaluator {
        config,
        protocol: q.protocol,
        purpose: q.purpose,
        caveats: caveats.clone(),
    };
    let ports: Vec<RangeInclusive<u16>> = match (q.ports, q.protocol.has_ports()) {
        (Ports::Set(set), true) => set.ranges().to_vec(),
        (_, true) => vec![1..=65535],
        (_, false) => vec![0..=0],
    };
    let (clients, nobody_c) = units(config, q.from);
    let (servers, nobody_s) = units(config, q.to);
    let mut pairs = Vec::new();
    for c in &clients {
        for s in &servers {
            match (c, s) {
                (Unit::Outside { .. }, Unit::Outside { .. }) => continue,
                // An interface talking to itself never reaches the network.
                (Unit::Interface { eni: a, .. }, Unit::Interface { eni: b, .. }) if a == b => {
                    continue;
                }
                _ => {}
            }
            let result = ev.pair(c, s, &ports);
            pairs.push(Pair {
                client: c.clone(),
                server: s.clone(),
                result,
            });
        }
    }
    let unevaluated = pairs.is_empty().then(|| {
        let none = |units: &[Unit], nobody: &Spans, side: &str| {
            (units.is_empty() && !nobody.is_empty()).then(|| {
                format!(
                    "no network interface holds an address of `{side}` ({}) now",
                    nobody.describe(3)
                )
            })
        };
        none(&clients, &nobody_c, "from")
            .or_else(|| none(&servers, &nobody_s, "to"))
            .unwrap_or_else(|| {
                "neither end is a network interface in this account and region: no security group, network ACL or route read is on the path".into()
            })
    });
    Witness {
        pairs,
        nobody: nobody_c.union(&nobody_s),
        caveats,
        unevaluated,
    }
}

fn ports_text(p: &Packet) -> String {
    match p.protocol {
        6 | 17 => format!("{} {}", rules::protocol_name(p.protocol), p.dst_port),
        1 | 58 if p.echo_reply => format!("{} echo replies", rules::protocol_name(p.protocol)),
        1 | 58 => format!("{} (ping)", rules::protocol_name(p.protocol)),
        n => rules::protocol_name(n),
    }
}

fn rule_words(rule: &rules::SgRule) -> String {
    match rule.protocol {
        RuleProtocol::All => "all traffic".to_string(),
        RuleProtocol::Number(n) => match rule.ports {
            Some(r) if matches!(n, 6 | 17) && r.from == r.to => {
                format!("{} {}", rules::protocol_name(n), r.from)
            }
            Some(r) if matches!(n, 6 | 17) => {
                format!("{} {}-{}", rules::protocol_name(n), r.from, r.to)
            }
            _ => rules::protocol_name(n),
        },
    }
}

fn sg_words(eni: &str, way: Way, decision: &SgDecision, p: &Packet) -> String {
    let (w, from_to, peer) = match way {
        Way::Ingress => ("ingress", "from", p.src),
        Way::Egress => ("egress", "to", p.dst),
    };
    match decision {
        SgDecision::Allowed { group, rule } => format!(
            "SG {group} of {eni} {w} rule {} {from_to} {}",
            rule_words(rule),
            rule.peer
        ),
        SgDecision::Denied { groups } => format!(
            "SG {} of {eni} has no {w} rule for {} {from_to} {peer}",
            groups.join(", "),
            ports_text(p)
        ),
    }
}

fn acl_words(
    acl: &str,
    subnet: &str,
    egress: bool,
    d: &AclDecision,
    p: &Packet,
    reply: bool,
) -> String {
    let dir = if egress { "outbound" } else { "inbound" };
    let what = if reply && matches!(p.protocol, 6 | 17) {
        format!(
            "{} {} → {}:{} (the client's ephemeral port)",
            rules::protocol_name(p.protocol),
            p.src,
            p.dst,
            p.dst_port
        )
    } else {
        p.to_string()
    };
    match (&d.entry, d.allow) {
        (Some(e), true) => format!("NACL {acl} ({subnet}) {dir} rule {}", e.number),
        (None, true) => format!("NACL {acl} ({subnet}) {dir}"),
        (Some(e), false) => format!(
            "NACL {acl} ({subnet}) {dir}: rule {} denies {what}",
            e.number
        ),
        (None, false) => {
            format!("NACL {acl} ({subnet}) {dir}: rule * (default deny) matches {what}")
        }
    }
}

fn route_words(
    table: &str,
    subnet: &str,
    association: Association,
    dst: IpAddr,
    choice: &Choice,
    verdict: &Verdict,
) -> String {
    let whose = match association {
        Association::Explicit => format!("route table {table} of {subnet}"),
        Association::Main => {
            format!("route table {table} (the VPC's main table, used by {subnet})")
        }
    };
    let route = match choice {
        Choice::Route { route, .. } => route.to_string(),
        Choice::Local { cidr } => format!("{cidr} → local"),
        Choice::NoRoute => String::new(),
    };
    match verdict {
        Verdict::Delivers | Verdict::DeliversBeyond(_) => format!("{whose}: {route}"),
        Verdict::NoRoute => format!("{whose} has no route to {dst}: the packet is dropped"),
        Verdict::Blackhole => format!(
            "{whose}: {dst} takes {route}, a blackhole (its target is gone): the packet is dropped"
        ),
        Verdict::Cannot(why) => format!("{whose}: {dst} takes {route}, but {why}"),
    }
}

#[cfg(test)]
mod tests;
