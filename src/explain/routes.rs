//! Route tables as AWS evaluates them for a packet leaving a subnet. Pure.
//!
//! From the VPC user guide ("Configure route tables", "Route priority", gateway endpoints):
//! - A subnet uses the route table explicitly associated with it, else its VPC's main table.
//! - The most specific route that matches the destination decides (longest prefix match); IPv4
//!   and IPv6 routes are independent.
//! - Every table has a local route per VPC CIDR. A route more specific than the local route must
//!   match a whole subnet's CIDR and point to a NAT gateway, a network interface or a Gateway Load
//!   Balancer endpoint (middlebox routing); propagated routes never win over the local route, even
//!   when more specific (Site-to-Site VPN guide, "route priority").
//! - With equally specific routes: a static route beats a route to a prefix list, which beats a
//!   propagated route. Gateway endpoints (S3, DynamoDB) are routes to the service's prefix list,
//!   so a more specific route, or one for exactly the service's range, wins over them. Two prefix
//!   lists with the same most specific entry towards different targets: AWS picks one at random,
//!   then keeps it.
//! - A route whose target is gone (a deleted gateway, a terminated NAT instance) is in state
//!   `blackhole`: it still matches, and the traffic it matches is dropped.
//! - Route tables apply only to traffic that leaves a subnet; traffic between two interfaces of
//!   one subnet is not routed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Local,
    InternetGateway(String),
    EgressOnlyInternetGateway(String),
    NatGateway(String),
    TransitGateway(String),
    VirtualPrivateGateway(String),
    Peering(String),
    /// A gateway endpoint (S3, DynamoDB): the target of a route to the service's prefix list.
    GatewayEndpoint(String),
    /// A Gateway Load Balancer endpoint: a middlebox in the path.
    LoadBalancerEndpoint(String),
    NetworkInterface(String),
    /// An instance (a NAT instance, an appliance), with its interface when EC2 names it.
    Instance(String),
    LocalGateway(String),
    CarrierGateway(String),
    CoreNetwork(String),
    Other(String),
}

impl Target {
    /// Middlebox targets may take routes more specific than the local route.
    fn is_middlebox(&self) -> bool {
        matches!(
            self,
            Target::NetworkInterface(_)
                | Target::Instance(_)
                | Target::NatGateway(_)
                | Target::LoadBalancerEndpoint(_)
        )
    }

    pub fn id(&self) -> &str {
        match self {
            Target::Local => "local",
            Target::InternetGateway(s)
            | Target::EgressOnlyInternetGateway(s)
            | Target::NatGateway(s)
            | Target::TransitGateway(s)
            | Target::VirtualPrivateGateway(s)
            | Target::Peering(s)
            | Target::GatewayEndpoint(s)
            | Target::LoadBalancerEndpoint(s)
            | Target::NetworkInterface(s)
            | Target::Instance(s)
            | Target::LocalGateway(s)
            | Target::CarrierGateway(s)
            | Target::CoreNetwork(s)
            | Target::Other(s) => s,
        }
    }

    /// What the target is, in words: `the internet gateway igw-1`.
    pub fn describe(&self) -> String {
        let kind = match self {
            Target::Local => return "the VPC (local)".into(),
            Target::InternetGateway(_) => "the internet gateway",
            Target::EgressOnlyInternetGateway(_) => "the egress-only internet gateway",
            Target::NatGateway(_) => "the NAT gateway",
            Target::TransitGateway(_) => "the transit gateway",
            Target::VirtualPrivateGateway(_) => "the virtual private gateway",
            Target::Peering(_) => "the peering connection",
            Target::GatewayEndpoint(_) => "the gateway endpoint",
            Target::LoadBalancerEndpoint(_) => "the Gateway Load Balancer endpoint",
            Target::NetworkInterface(_) => "the network interface",
            Target::Instance(_) => "the instance",
            Target::LocalGateway(_) => "the local gateway",
            Target::CarrierGateway(_) => "the carrier gateway",
            Target::CoreNetwork(_) => "the core network",
            Target::Other(_) => "the target",
        };
        format!("{kind} {}", self.id())
    }
}

/// What a route matches: a CIDR, or the entries of a managed prefix list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    Net(IpNet),
    PrefixList(String),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Net(n) => write!(f, "{n}"),
            Destination::PrefixList(p) => write!(f, "{p}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: Destination,
    pub target: Target,
    /// State `blackhole`: the target is gone; matching traffic is dropped.
    pub blackhole: bool,
    /// Propagated from a virtual private gateway (or advertised by a route server).
    pub propagated: bool,
}

impl fmt::Display for Route {
    /// `0.0.0.0/0 → igw-1`, `10.0.0.0/16 → local`, `pl-1 → vpce-1 (blackhole)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.destination, self.target.id())?;
        if self.propagated {
            f.write_str(" (propagated)")?;
        }
        if self.blackhole {
            f.write_str(" (blackhole)")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    pub id: String,
    pub vpc: Option<String>,
    /// The VPC's main route table: used by every subnet without an explicit association.
    pub main: bool,
    /// The subnets explicitly associated with it.
    pub subnets: Vec<String>,
    pub routes: Vec<Route>,
}

/// How a subnet came to use a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Association {
    Explicit,
    /// No explicit association: the VPC's main route table.
    Main,
}

/// The table a subnet uses: its explicit association, else its VPC's main table.
pub fn table_for<'a>(
    tables: &'a [RouteTable],
    subnet: &str,
    vpc: Option<&str>,
) -> Option<(&'a RouteTable, Association)> {
    if let Some(t) = tables
        .iter()
        .find(|t| t.subnets.iter().any(|s| s == subnet))
    {
        return Some((t, Association::Explicit));
    }
    tables
        .iter()
        .find(|t| t.main && vpc.is_some() && t.vpc.as_deref() == vpc)
        .map(|t| (t, Association::Main))
}

/// The route a packet takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Within a VPC CIDR: the local route (which nothing but a middlebox route overrides).
    Local { cidr: IpNet },
    /// `matched` is the route's CIDR, or the prefix-list entry that matched. `tied`: routes to
    /// other prefix lists with an entry as specific, towards other targets (AWS picks one).
    Route {
        route: Route,
        matched: IpNet,
        tied: Vec<Route>,
    },
    /// No route matches: the packet is dropped.
    NoRoute,
}

/// Ranks equally specific routes: static CIDR routes first, then prefix lists, then propagated.
fn rank(r: &Route) -> u8 {
    match (&r.destination, r.propagated) {
        (_, true) => 2,
        (Destination::PrefixList(_), false) => 1,
        (Destination::Net(_), false) => 0,
    }
}

/// The networks a route matches (a prefix list's entries; none when the list was not read).
fn matched_nets<'a>(
    r: &'a Route,
    lists: &'a BTreeMap<String, Vec<IpNet>>,
) -> Box<dyn Iterator<Item = IpNet> + 'a> {
    match &r.destination {
        Destination::Net(n) => Box::new(std::iter::once(*n)),
        Destination::PrefixList(p) => Box::new(lists.get(p).into_iter().flatten().copied()),
    }
}

/// The route `table` chooses for a packet to `dst`. `vpc_cidrs` are the CIDRs of the table's VPC
/// (the local routes); `lists` the entries of the prefix lists routes name.
pub fn lookup(
    table: &RouteTable,
    vpc_cidrs: &[IpNet],
    lists: &BTreeMap<String, Vec<IpNet>>,
    dst: IpAddr,
) -> Choice {
    // The table's own local routes count too: they are the VPC's CIDRs as the table sees them.
    let local_routes = table
        .routes
        .iter()
        .filter_map(|r| match (&r.destination, &r.target) {
            (Destination::Net(n), Target::Local) => Some(*n),
            _ => None,
        });
    let local = vpc_cidrs
        .iter()
        .copied()
        .chain(local_routes)
        .filter(|n| n.contains(&dst))
        .max_by_key(IpNet::prefix_len);
    if let Some(cidr) = local {
        // Only middlebox routes as specific as the local route or more (a replaced local target,
        // or a subnet's CIDR) override it; anything else within the VPC stays local.
        let middlebox = table
            .routes
            .iter()
            .filter(|r| !r.propagated && r.target.is_middlebox())
            .filter_map(|r| match &r.destination {
                Destination::Net(n) if n.contains(&dst) && n.prefix_len() >= cidr.prefix_len() => {
                    Some((r, *n))
                }
                _ => None,
            })
            .max_by_key(|(_, n)| n.prefix_len());
        return match middlebox {
            Some((r, n)) => Choice::Route {
                route: r.clone(),
                matched: n,
                tied: Vec::new(),
            },
            None => Choice::Local { cidr },
        };
    }
    let mut best: Option<(u8, u8, &Route, IpNet)> = None;
    let mut tied: Vec<&Route> = Vec::new();
    for r in table.routes.iter().filter(|r| r.target != Target::Local) {
        let Some(n) = matched_nets(r, lists)
            .filter(|n| n.contains(&dst))
            .max_by_key(IpNet::prefix_len)
        else {
            continue;
        };
        // Longer prefix first; then the lower rank.
        let key = (n.prefix_len(), u8::MAX - rank(r));
        match best {
            Some((len, rk, b, _)) if (len, rk) == key => {
                if matches!(r.destination, Destination::PrefixList(_)) && r.target != b.target {
                    tied.push(r);
                }
            }
            Some((len, rk, _, _)) if (len, rk) > key => {}
            _ => {
                best = Some((key.0, key.1, r, n));
                tied.clear();
            }
        }
    }
    match best {
        Some((_, _, r, n)) => Choice::Route {
            route: r.clone(),
            matched: n,
            tied: tied.into_iter().cloned().collect(),
        },
        None => Choice::NoRoute,
    }
}

/// Where the packet's destination is, seen from the sender's VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Far {
    /// An interface in the sender's own VPC.
    SameVpc,
    /// An interface in another VPC of the account.
    OtherVpc { private: bool },
    /// No interface we know: the internet, on premises, a network behind a gateway.
    Outside { private: bool },
}

/// Who opened the connection the packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The sender opened it: a request.
    Request,
    /// The far end opened it: a reply going back.
    Reply,
}

/// Whether the chosen route carries the packet to where it must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It does (as far as one VPC's tables say): the words say through what.
    Delivers,
    /// It does, through something this evaluation does not follow (an appliance, a gateway to
    /// other networks): said as a caveat, never a refusal.
    DeliversBeyond(String),
    NoRoute,
    Blackhole,
    /// The route leads somewhere that cannot carry this packet, and why.
    Cannot(String),
}

impl Verdict {
    pub fn delivers(&self) -> bool {
        matches!(self, Verdict::Delivers | Verdict::DeliversBeyond(_))
    }
}

/// Addresses the internet does not carry: private (RFC 1918), shared (RFC 6598), link-local, and
/// IPv6 unique-local and link-local.
pub fn is_private(ip: IpAddr) -> bool {
    const PRIVATE: [&str; 7] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    ];
    PRIVATE
        .iter()
        .filter_map(|n| n.parse::<IpNet>().ok())
        .any(|n| n.contains(&ip))
}

/// Judges the chosen route for a packet to a destination that is `far`, on `leg`.
pub fn verdict(choice: &Choice, far: Far, leg: Leg) -> Verdict {
    let route = match choice {
        Choice::NoRoute => return Verdict::NoRoute,
        Choice::Local { .. } => {
            return match far {
                Far::SameVpc => Verdict::Delivers,
                _ => Verdict::Cannot(
                    "the address is inside this VPC's own CIDR, so the local route keeps it in the VPC".into(),
                ),
            };
        }
        Choice::Route { route, .. } => route,
    };
    if route.blackhole {
        return Verdict::Blackhole;
    }
    let private = match far {
        Far::SameVpc => {
            return Verdict::DeliversBeyond(format!(
                "through {} (a middlebox; what it forwards is not evaluated)",
                route.target.describe()
            ));
        }
        Far::OtherVpc { private } | Far::Outside { private } => private,
    };
    let t = route.target.describe();
    match (&route.target, leg) {
        (Target::InternetGateway(_) | Target::EgressOnlyInternetGateway(_), _) if private => {
            Verdict::Cannot(format!(
                "{t} leads to the internet, which does not carry private addresses; on premises and other VPCs need a route to a virtual private gateway, transit gateway or peering connection"
            ))
        }
        (Target::InternetGateway(_), _) => Verdict::Delivers,
        (Target::EgressOnlyInternetGateway(_), Leg::Request) => Verdict::Delivers,
        (Target::EgressOnlyInternetGateway(_), Leg::Reply) => Verdict::Cannot(format!(
            "{t} lets no connection in from the internet, so a connection opened from outside has no way back"
        )),
        (Target::NatGateway(_), Leg::Request) => Verdict::DeliversBeyond(format!(
            "through {t} (its own subnet's route onwards is not evaluated)"
        )),
        (Target::NatGateway(_), Leg::Reply) => Verdict::Cannot(format!(
            "{t} takes no connections from outside: a reply sent through it leaves from the NAT's address and is not a reply"
        )),
        (Target::GatewayEndpoint(_), _) => Verdict::Delivers,
        (Target::Local, _) => Verdict::Delivers,
        _ => Verdict::DeliversBeyond(format!(
            "through {t} (what lies beyond it is not evaluated)"
        )),
    }
}

#[cfg(test)]
mod tests;
