//! Host selectors → address sets.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::spec::{HostSelector, Problem, Spec};

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
        }
    }
}

/// Resolves the hosts of a spec that need no AWS calls. Hosts chosen by AWS selectors are
/// problems here: naming them is the job of an AWS source, which the file source is not.
pub fn resolve(spec: &Spec) -> Result<BTreeMap<String, AddrSet>, Vec<Problem>> {
    let mut resolved = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, host) in &spec.hosts {
        match &host.selector {
            HostSelector::Networks { include, exclude } => {
                resolved.insert(name.clone(), AddrSet::networks(include.clone(), exclude.clone()));
            }
            HostSelector::Aws(sel) => problems.push(Problem {
                file: spec.path.clone(),
                at: Some(host.at),
                message: format!(
                    "host `{name}` is chosen by `{}`, which needs an AWS source to resolve",
                    sel.key()
                ),
                help: Some(
                    "flow-log files only carry addresses: give this host `ip`, `ips`, `cidr` or `cidrs` \
                     (resolving AWS selectors through EC2 is not in this version of flowgate)"
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
    fn aws_selectors_need_an_aws_source() {
        let spec = crate::spec::parse(
            std::path::Path::new("s.yaml"),
            "app: a\nhosts:\n  web: {tag: {Name: w}}\n  db: {ip: 10.0.0.1}\nexpect: [{from: web, to: db, port: 1}]\n",
        )
        .unwrap();
        let problems = resolve(&spec).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].at, Some(crate::spec::Pos { line: 3, col: 3 }));
        assert!(
            problems[0].message.contains("needs an AWS source"),
            "{}",
            problems[0].message
        );
    }
}
