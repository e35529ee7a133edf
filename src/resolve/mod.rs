//! Host selectors → address sets.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::evidence::IfaceId;
use crate::spec::{AwsSelector, HostSelector, Problem, Spec};

pub mod ec2;

/// A set of addresses as sorted, disjoint, inclusive ranges per family: membership is one binary
/// search, whatever networks and exceptions built it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ranges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn range_of(net: &IpNet) -> Range {
    match net {
        IpNet::V4(n) => Range::V4(u32::from(n.network()), u32::from(n.broadcast())),
        IpNet::V6(n) => Range::V6(u128::from(n.network()), u128::from(n.broadcast())),
    }
}

enum Range {
    V4(u32, u32),
    V6(u128, u128),
}

/// Sorts and merges overlapping or touching ranges.
fn normalize<T: Copy + Ord + num_like::Step>(mut r: Vec<(T, T)>) -> Vec<(T, T)> {
    r.sort();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if lo <= last.1.next_or_max() => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// `a` minus `b`, both normalized.
fn subtract<T: Copy + Ord + num_like::Step>(a: &[(T, T)], b: &[(T, T)]) -> Vec<(T, T)> {
    let mut out = Vec::new();
    for &(mut lo, hi) in a {
        let mut done = false;
        for &(blo, bhi) in b {
            if bhi < lo || blo > hi {
                continue;
            }
            if blo > lo {
                out.push((lo, blo.prev()));
            }
            if bhi >= hi {
                done = true;
                break;
            }
            lo = bhi.next_or_max();
        }
        if !done {
            out.push((lo, hi));
        }
    }
    out
}

/// Calls `emit(network, prefix length)` for the aligned blocks that tile `lo..=hi` in a space of
/// `bits`-bit addresses, largest blocks first.
fn cover(mut lo: u128, hi: u128, bits: u8, emit: &mut impl FnMut(u128, u8)) {
    // The last address of the block of 2^size addresses starting at `lo`.
    let end = |lo: u128, size: u32| match size {
        128 => u128::MAX,
        s => lo + ((1u128 << s) - 1),
    };
    loop {
        // The largest block aligned at `lo` that does not run past `hi`.
        let mut size = if lo == 0 {
            u32::from(bits)
        } else {
            lo.trailing_zeros().min(u32::from(bits))
        };
        while end(lo, size) > hi {
            size -= 1;
        }
        emit(lo, bits - size as u8);
        let last = end(lo, size);
        if last >= hi {
            return;
        }
        lo = last + 1;
    }
}

fn find<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    // The last range starting at or before x is the only one that can hold it.
    let i = ranges.partition_point(|r| r.0 <= x);
    i > 0 && x <= ranges[i - 1].1
}

mod num_like {
    pub trait Step {
        fn next_or_max(self) -> Self;
        fn prev(self) -> Self;
    }
    impl Step for u32 {
        fn next_or_max(self) -> Self {
            self.saturating_add(1)
        }
        fn prev(self) -> Self {
            self - 1
        }
    }
    impl Step for u128 {
        fn next_or_max(self) -> Self {
            self.saturating_add(1)
        }
        fn prev(self) -> Self {
            self - 1
        }
    }
}

impl Ranges {
    pub fn all() -> Ranges {
        Ranges {
            v4: vec![(0, u32::MAX)],
            v6: vec![(0, u128::MAX)],
        }
    }

    /// The addresses of `include` that are not in `exclude`.
    pub fn of(include: &[IpNet], exclude: &[IpNet]) -> Ranges {
        let split = |nets: &[IpNet]| {
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            for n in nets {
                match range_of(n) {
                    Range::V4(a, b) => v4.push((a, b)),
                    Range::V6(a, b) => v6.push((a, b)),
                }
            }
            (normalize(v4), normalize(v6))
        };
        let (i4, i6) = split(include);
        let (e4, e6) = split(exclude);
        Ranges {
            v4: subtract(&i4, &e4),
            v6: subtract(&i6, &e6),
        }
    }

    /// The ranges, IPv4 then IPv6, as numbers of the same width (IPv4 as the low 32 bits of a
    /// 128-bit number, apart from IPv6 by the flag).
    pub fn spans(&self) -> impl Iterator<Item = (bool, u128, u128)> + '_ {
        let v4 = self
            .v4
            .iter()
            .map(|&(a, b)| (false, u128::from(a), u128::from(b)));
        v4.chain(self.v6.iter().map(|&(a, b)| (true, a, b)))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }

    pub fn union(&self, other: &Ranges) -> Ranges {
        Ranges {
            v4: normalize(self.v4.iter().chain(&other.v4).copied().collect()),
            v6: normalize(self.v6.iter().chain(&other.v6).copied().collect()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The fewest CIDR networks that hold exactly these addresses, IPv4 first.
    pub fn networks(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.v4 {
            cover(u128::from(lo), u128::from(hi), 32, &mut |a, len| {
                out.push(IpNet::V4(
                    ipnet::Ipv4Net::new((a as u32).into(), len).expect("valid prefix"),
                ));
            });
        }
        for &(lo, hi) in &self.v6 {
            cover(lo, hi, 128, &mut |a, len| {
                out.push(IpNet::V6(
                    ipnet::Ipv6Net::new(a.into(), len).expect("valid prefix"),
                ));
            });
        }
        out
    }

    /// How many addresses, for choosing the narrower side of a check (saturating for IPv6).
    pub fn size(&self) -> u128 {
        let v4: u128 = self.v4.iter().map(|(a, b)| u128::from(b - a) + 1).sum();
        self.v6.iter().fold(v4, |acc, (a, b)| {
            acc.saturating_add((b - a).saturating_add(1))
        })
    }
}

/// The addresses one side of an expectation stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSet {
    /// What the spec said, for messages.
    shown: Shown,
    ranges: Ranges,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shown {
    Any,
    Networks {
        include: Vec<IpNet>,
        exclude: Vec<IpNet>,
    },
    /// Looked up in AWS: the selector and the addresses found.
    Labelled {
        label: String,
        found: Vec<IpNet>,
    },
}

impl AddrSet {
    pub fn any() -> AddrSet {
        AddrSet {
            shown: Shown::Any,
            ranges: Ranges::all(),
        }
    }

    pub fn networks(include: Vec<IpNet>, exclude: Vec<IpNet>) -> AddrSet {
        AddrSet {
            ranges: Ranges::of(&include, &exclude),
            shown: Shown::Networks { include, exclude },
        }
    }

    /// Addresses found for an AWS selector, shown with it.
    pub fn labelled(label: String, found: Vec<IpNet>) -> AddrSet {
        AddrSet {
            ranges: Ranges::of(&found, &[]),
            shown: Shown::Labelled { label, found },
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.contains(ip)
    }

    pub fn ranges(&self) -> &Ranges {
        &self.ranges
    }
}

impl fmt::Display for AddrSet {
    /// `10.0.1.10, 10.0.1.11`, `0.0.0.0/0 except 10.0.0.0/16`: single addresses without /32.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, nets: &[IpNet]) -> fmt::Result {
            for (i, n) in nets.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if n.prefix_len() == n.max_prefix_len() {
                    write!(f, "{}", n.addr())?;
                } else {
                    write!(f, "{n}")?;
                }
            }
            Ok(())
        }
        match &self.shown {
            Shown::Any => f.write_str("any address"),
            Shown::Networks { include, exclude } => {
                list(f, include)?;
                if !exclude.is_empty() {
                    f.write_str(" except ")?;
                    list(f, exclude)?;
                }
                Ok(())
            }
            Shown::Labelled { label, found } => {
                write!(f, "{label}: ")?;
                list(f, found)
            }
        }
    }
}

/// A host, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub addrs: AddrSet,
    /// Every interface that can carry the host's traffic, where that is fixed: the host is one
    /// interface, or one instance's. `None` otherwise (hosts given by address; tags, security
    /// groups and subnets, whose interfaces can change inside a window).
    pub interfaces: Option<Vec<IfaceId>>,
    /// Where the host lives, for finding the flow logs that cover it.
    pub places: Vec<Place>,
}

impl Host {
    /// A host given by addresses and networks: no interfaces or places known.
    fn of_networks(include: &[IpNet], exclude: &[IpNet]) -> Host {
        Host {
            addrs: AddrSet::networks(include.to_vec(), exclude.to_vec()),
            interfaces: None,
            places: Vec::new(),
        }
    }
}

/// A network interface's place, or a subnet's (`eni` is `None`): a flow log on any of these ids
/// records its traffic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub eni: Option<String>,
    pub subnet: Option<String>,
    pub vpc: Option<String>,
    /// The account that owns it, when a host named one (`None`: the caller's).
    pub account: Option<String>,
}

impl Place {
    pub fn ids(&self) -> impl Iterator<Item = &String> {
        [&self.eni, &self.subnet, &self.vpc].into_iter().flatten()
    }

    pub fn of(e: &ec2::Eni) -> Place {
        Place {
            eni: Some(e.id.clone()),
            subnet: e.subnet.clone(),
            vpc: e.vpc.clone(),
            account: None,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.ids().map(String::as_str).collect();
        f.write_str(&ids.join(" in "))?;
        match &self.account {
            Some(a) => write!(f, " (account {a})"),
            None => Ok(()),
        }
    }
}

/// Each host of a spec, or why it could not be resolved (an AWS call failed: the checks that use
/// it cannot be judged, which is an error of the run, not of the spec).
pub type Hosts = BTreeMap<String, Result<Host, String>>;

/// Resolves the hosts of a spec. Hosts given by address need nothing; AWS selectors are looked
/// up through EC2 when `ec2` is there. A selector that matches no interface, or one with no way
/// to reach EC2, is a problem of the spec.
pub async fn resolve(spec: &Spec, aws: Option<&crate::aws::Aws>) -> Result<Hosts, Vec<Problem>> {
    let Some(aws) = aws else {
        return resolve_local(spec);
    };
    let mut resolved = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, host) in &spec.hosts {
        let problem = |message: String, help: &str| Problem {
            file: spec.path.clone(),
            at: Some(host.at),
            message,
            help: Some(help.to_string()),
        };
        match &host.selector {
            HostSelector::Networks { include, exclude } => {
                resolved.insert(name.clone(), Ok(Host::of_networks(include, exclude)));
            }
            HostSelector::Aws(sel) => {
                let account = host.account.as_deref();
                if let Some(a) = account
                    && !aws.accounts.has_role()
                {
                    match aws.caller_account().await {
                        Ok(caller) if caller != a => {
                            problems.push(problem(
                                format!("host `{name}` is in account {a}, not the caller's ({caller}), and no --role-arn says which role to assume there"),
                                "add --role-arn 'arn:aws:iam::{account}:role/NAME' (and --external-id ID if the role's trust policy asks for one)",
                            ));
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            resolved.insert(
                                name.clone(),
                                Err(format!("cannot resolve host `{name}`: {e}")),
                            );
                            continue;
                        }
                    }
                }
                let there = match aws.in_account(account).await {
                    Ok(there) => there,
                    Err(e) => {
                        resolved.insert(
                            name.clone(),
                            Err(format!("cannot resolve host `{name}`: {e}")),
                        );
                        continue;
                    }
                };
                let ec2 = &there.ec2;
                let nothing = |what: &str| {
                    problem(
                        format!(
                            "host `{name}`: {} matches no {what}",
                            describe_selector(sel)
                        ),
                        nothing_help(sel),
                    )
                };
                match resolve_selector(ec2, sel).await {
                    Err(e) => {
                        resolved.insert(
                            name.clone(),
                            Err(format!("cannot resolve host `{name}`: {e}")),
                        );
                    }
                    Ok(Err(what)) => problems.push(nothing(what)),
                    Ok(Ok(h)) if h.addrs.ranges().is_empty() => {
                        problems.push(nothing("network interface"))
                    }
                    Ok(Ok(mut h)) => {
                        for p in &mut h.places {
                            p.account = host.account.clone();
                        }
                        resolved.insert(name.clone(), Ok(h));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// What to check when a selector matches nothing.
fn nothing_help(sel: &AwsSelector) -> &'static str {
    match sel {
        AwsSelector::LoadBalancer(_) => {
            "check the name and the region; flowgate looks for the interfaces Elastic Load Balancing \
             made for it (description `ELB app/NAME/...`, `ELB net/NAME/...`, `ELB gwy/NAME/...` or `ELB NAME`)"
        }
        AwsSelector::Lambda(_) => {
            "check the name and the region; only a function in a VPC has interfaces (description \
             `AWS Lambda VPC ENI-NAME-...`); functions sharing subnets and security groups share \
             interfaces named after one of them: `interface: { type: lambda, security_group: sg-... }` finds those"
        }
        AwsSelector::VpcEndpoint(_) => {
            "check the id and the region; a Gateway endpoint (S3, DynamoDB) has no interfaces: its \
             traffic goes to the service's public addresses (a `cidrs` host)"
        }
        AwsSelector::NatGateway(_) => "check the id and the region",
        AwsSelector::Interface(_) => {
            "check the values and the region; every field given must match (EC2's filters \
             description, requester-id, interface-type and group-id; `*` is a wildcard in description)"
        }
        _ => {
            "check the value and the region; flowgate looks for network interfaces \
             (tags on the interface or on its instance)"
        }
    }
}

/// What an AWS selector names, or what it names that does not exist (`Err("subnet")`).
async fn resolve_selector(
    ec2: &aws_sdk_ec2::Client,
    sel: &AwsSelector,
) -> Result<Result<Host, &'static str>, String> {
    let enis = match ec2::find(ec2, sel).await? {
        ec2::Found::Enis(enis) => enis,
        ec2::Found::NoSuch(what) => return Ok(Err(what)),
    };
    let mut nets: Vec<IpNet> = enis.iter().flat_map(|e| e.nets.iter().copied()).collect();
    let mut places: Vec<Place> = enis.iter().map(Place::of).collect();
    if let AwsSelector::Subnet(id) = sel {
        // The whole subnet, not only the interfaces in it now.
        let Some((subnet_nets, vpc)) = ec2::subnet_networks(ec2, id).await? else {
            return Ok(Err("subnet"));
        };
        nets = subnet_nets;
        places.push(Place {
            eni: None,
            subnet: Some(id.clone()),
            vpc,
            account: None,
        });
    }
    places.sort();
    places.dedup();
    // Interfaces that do not come and go inside a window: an instance's, a NAT gateway's (one
    // per address), an endpoint's (one per subnet). Load balancers and Lambda scale theirs.
    let fixed = matches!(
        sel,
        AwsSelector::Eni(_)
            | AwsSelector::Instance(_)
            | AwsSelector::NatGateway(_)
            | AwsSelector::VpcEndpoint(_)
    );
    Ok(Ok(Host {
        addrs: AddrSet::labelled(describe_selector(sel), nets),
        interfaces: fixed.then(|| enis.iter().filter_map(|e| IfaceId::new(&e.id)).collect()),
        places,
    }))
}

/// Resolves the hosts of a spec without AWS: AWS selectors are problems.
pub fn resolve_local(spec: &Spec) -> Result<Hosts, Vec<Problem>> {
    let mut resolved = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, host) in &spec.hosts {
        match &host.selector {
            HostSelector::Networks { include, exclude } => {
                resolved.insert(name.clone(), Ok(Host::of_networks(include, exclude)));
            }
            HostSelector::Aws(sel) => problems.push(Problem {
                file: spec.path.clone(),
                at: Some(host.at),
                message: format!("host `{name}` is chosen by `{}`, which needs AWS to resolve", sel.key()),
                help: Some(
                    "run against CloudWatch Logs (no --flow-logs), or give --region/--profile so that \
                     flowgate can look the host up in EC2; or give the host `ip`, `ips`, `cidr` or `cidrs`"
                        .into(),
                ),
            }),
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// `tag Name=shop-web`, `instance i-0123...`: how messages name a selector.
pub fn describe_selector(sel: &AwsSelector) -> String {
    match sel {
        AwsSelector::Tag(tags) => {
            let t: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("tag {}", t.join(","))
        }
        AwsSelector::Instance(id)
        | AwsSelector::Eni(id)
        | AwsSelector::SecurityGroup(id)
        | AwsSelector::Subnet(id)
        | AwsSelector::LoadBalancer(id)
        | AwsSelector::Lambda(id)
        | AwsSelector::VpcEndpoint(id)
        | AwsSelector::NatGateway(id) => {
            format!("{} {id}", sel.key())
        }
        AwsSelector::Interface(f) => format!("interface {}", f.describe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn except_carves_networks_out() {
        let internet = AddrSet::networks(
            nets(&["0.0.0.0/0"]),
            nets(&["10.0.0.0/16", "192.168.0.0/16"]),
        );
        assert!(internet.contains("203.0.113.9".parse().unwrap()));
        assert!(!internet.contains("10.0.3.30".parse().unwrap()));
        assert!(
            !internet.contains("2001:db8::1".parse().unwrap()),
            "0.0.0.0/0 is IPv4 only"
        );
        assert_eq!(
            internet.to_string(),
            "0.0.0.0/0 except 10.0.0.0/16, 192.168.0.0/16"
        );
    }

    #[test]
    fn single_addresses_print_without_prefix() {
        let web = AddrSet::networks(nets(&["10.0.1.10/32", "2001:db8::10/128"]), vec![]);
        assert_eq!(web.to_string(), "10.0.1.10, 2001:db8::10");
        assert!(web.contains("2001:db8::10".parse().unwrap()));
    }

    #[test]
    fn ranges_match_exactly_what_the_networks_and_exceptions_say() {
        let r = Ranges::of(
            &nets(&[
                "10.0.0.0/16",
                "10.0.0.0/24",
                "10.2.0.0/31",
                "0.0.0.0/32",
                "255.255.255.255/32",
            ]),
            &nets(&["10.0.1.0/24", "10.0.255.255/32", "10.0.0.0/32"]),
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for (addr, inside) in [
            ("10.0.0.0", false),
            ("10.0.0.1", true),
            ("10.0.0.255", true),
            ("10.0.1.0", false),
            ("10.0.1.255", false),
            ("10.0.2.0", true),
            ("10.0.255.254", true),
            ("10.0.255.255", false),
            ("10.1.0.0", false),
            ("10.2.0.1", true),
            ("10.2.0.2", false),
            ("0.0.0.0", true),
            ("255.255.255.255", true),
            ("::", false),
        ] {
            assert_eq!(r.contains(ip(addr)), inside, "{addr}");
        }
        let all = Ranges::of(&nets(&["0.0.0.0/0", "::/0"]), &nets(&["::/1"]));
        assert!(
            all.contains(ip("8000::1"))
                && !all.contains(ip("7fff::1"))
                && all.contains(ip("1.2.3.4"))
        );
        assert_eq!(
            Ranges::of(&nets(&["10.0.0.0/24"]), &nets(&["10.0.0.0/16"])),
            Ranges::default()
        );
        assert_eq!(Ranges::of(&nets(&["10.0.0.0/30"]), &[]).size(), 4);
    }

    #[test]
    fn ranges_come_back_as_the_fewest_networks() {
        let show = |r: Ranges| {
            r.networks()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            show(Ranges::of(
                &nets(&["0.0.0.0/0"]),
                &nets(&["10.0.0.0/8", "192.168.0.0/16"])
            ))
            .len(),
            // 7 blocks around 10.0.0.0/8, 15 in 128.0.0.0/1 around 192.168.0.0/16.
            22
        );
        assert_eq!(
            show(Ranges::of(&nets(&["10.0.0.0/24"]), &nets(&["10.0.0.0/25"]))),
            ["10.0.0.128/25"]
        );
        assert_eq!(
            show(Ranges::of(
                &nets(&["10.0.1.10/32", "10.0.1.11/32", "10.0.1.12/32"]),
                &[]
            )),
            ["10.0.1.10/31", "10.0.1.12/32"]
        );
        assert_eq!(
            show(Ranges::of(&nets(&["::/0", "0.0.0.0/0"]), &[])),
            ["0.0.0.0/0", "::/0"]
        );
        assert_eq!(
            show(Ranges::of(&nets(&["2001:db8::/127"]), &[])),
            ["2001:db8::/127"]
        );
        // Whatever the networks, the cover holds exactly their addresses.
        let r = Ranges::of(
            &nets(&["10.0.0.0/16", "172.16.5.0/24"]),
            &nets(&["10.0.3.7/32", "10.0.128.0/17"]),
        );
        let again = Ranges::of(&r.networks(), &[]);
        assert_eq!(again, r);
    }

    #[test]
    fn aws_selectors_need_an_aws_source() {
        let spec = crate::spec::parse(
            std::path::Path::new("s.yaml"),
            "app: a\nhosts:\n  web: {tag: {Name: w}}\n  db: {ip: 10.0.0.1}\nexpect: [{from: web, to: db, port: 1}]\n",
        )
        .unwrap();
        let problems = resolve_local(&spec).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].at, Some(crate::spec::Pos { line: 3, col: 3 }));
        assert!(
            problems[0].message.contains("needs AWS"),
            "{}",
            problems[0].message
        );
    }
}
