//! Which checks a record can concern, found by address instead of by asking every check: a
//! migration wave gates a thousand expectations against the same records, and asking each of
//! them about each record made the cost records × expectations.
//!
//! A record matters to a check only if one of its addresses lies in the check's narrower side
//! (a request goes from `from` to `to`, a reply back). Each check is filed under the address
//! ranges of that side, cut into elementary segments; a record looks up its two addresses (two
//! binary searches) and gets the checks filed there, which `Check::roles` then tests exactly.
//! The index only narrows: it never decides.

use std::net::IpAddr;

use super::Check;
use crate::resolve::Ranges;

/// Checks by address: a record asks only the checks filed under its two addresses.
#[derive(Debug, Default)]
pub struct Index {
    by: ByAddress,
    /// Checks both of whose sides are every address: every record may concern them.
    everywhere: Vec<u32>,
}

/// Which of some numbered address sets hold an address: sorted, disjoint segments per family,
/// each with the ids filed there. Checks (above), and the hosts that triage and observe attribute
/// flows to, are looked up this way.
#[derive(Debug, Default)]
pub struct ByAddress {
    v4: Table,
    v6: Table,
}

impl ByAddress {
    /// Files each id under every range of its set.
    pub fn of<'r>(sets: impl IntoIterator<Item = (u32, &'r Ranges)>) -> ByAddress {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (id, ranges) in sets {
            for (v6_range, a, b) in ranges.spans() {
                if v6_range {
                    v6.push((a, b, id));
                } else {
                    v4.push((a, b, id));
                }
            }
        }
        ByAddress {
            v4: Table::build(v4),
            v6: Table::build(v6),
        }
    }

    /// The ids of the sets that hold `ip`, ascending.
    pub fn at(&self, ip: IpAddr) -> &[u32] {
        match ip {
            IpAddr::V4(a) => self.v4.get(u128::from(u32::from(a))),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    /// Segment starts, ascending; segment `i` ends where `i + 1` starts (the last at the top).
    starts: Vec<u128>,
    /// The checks filed under each segment (ascending ids), as ranges of `ids`.
    slots: Vec<(u32, u32)>,
    ids: Vec<u32>,
}

impl Table {
    fn build(mut filed: Vec<(u128, u128, u32)>) -> Table {
        // Cut the line at every range's start and just past its end; then list the ranges
        // covering each piece.
        let mut cuts: Vec<u128> = Vec::with_capacity(filed.len() * 2);
        for &(a, b, _) in &filed {
            cuts.push(a);
            if let Some(after) = b.checked_add(1) {
                cuts.push(after);
            }
        }
        cuts.push(0);
        cuts.sort_unstable();
        cuts.dedup();
        let mut per: Vec<Vec<u32>> = vec![Vec::new(); cuts.len()];
        filed.sort_unstable_by_key(|&(a, _, id)| (a, id));
        for (a, b, id) in filed {
            // `per` and `cuts` line up: file the check under every segment of its range.
            let mut i = cuts.partition_point(|&c| c < a);
            while i < cuts.len() && cuts[i] <= b {
                per[i].push(id);
                i += 1;
            }
        }
        let mut table = Table::default();
        for (start, mut checks) in cuts.into_iter().zip(per) {
            checks.sort_unstable();
            checks.dedup();
            // Neighbours filing the same checks are one segment.
            if let Some(&(from, to)) = table.slots.last()
                && table.ids[from as usize..to as usize] == checks[..]
            {
                continue;
            }
            let from = table.ids.len() as u32;
            table.ids.extend(checks);
            table.starts.push(start);
            table.slots.push((from, table.ids.len() as u32));
        }
        table
    }

    fn get(&self, at: u128) -> &[u32] {
        let i = self.starts.partition_point(|&s| s <= at);
        match i.checked_sub(1).and_then(|i| self.slots.get(i)) {
            Some(&(from, to)) => &self.ids[from as usize..to as usize],
            None => &[],
        }
    }
}

impl Index {
    /// Files every judged check under its narrower side.
    pub fn of(checks: &[Check]) -> Index {
        let mut narrow_sides = Vec::new();
        let mut everywhere = Vec::new();
        for (i, c) in checks.iter().enumerate() {
            if c.unavailable.is_some() {
                continue;
            }
            let (from, to) = (c.from.addrs.ranges(), c.to.addrs.ranges());
            let narrow = if from.size() <= to.size() { from } else { to };
            if narrow == &Ranges::all() {
                everywhere.push(i as u32);
            } else {
                narrow_sides.push((i as u32, narrow));
            }
        }
        Index {
            by: ByAddress::of(narrow_sides),
            everywhere,
        }
    }

    /// An index that narrows nothing: every judged check is a candidate for every record. What
    /// the index must agree with (the tests and the `index` fuzz target compare the two).
    pub fn plain(checks: &[Check]) -> Index {
        Index {
            by: ByAddress::default(),
            everywhere: (0..checks.len() as u32)
                .filter(|&i| checks[i as usize].unavailable.is_none())
                .collect(),
        }
    }

    /// The checks a record between `src` and `dst` may concern, each once, in plan order.
    pub fn candidates(&self, src: IpAddr, dst: IpAddr, out: &mut Vec<u32>) {
        out.clear();
        let (a, b) = (self.by.at(src), self.by.at(dst));
        // Both lists ascend: merge them without repeats.
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let next = match (a.get(i), b.get(j)) {
                (Some(&x), Some(&y)) if x == y => {
                    i += 1;
                    j += 1;
                    x
                }
                (Some(&x), Some(&y)) if x < y => {
                    i += 1;
                    x
                }
                (Some(_), Some(&y)) => {
                    j += 1;
                    y
                }
                (Some(&x), None) => {
                    i += 1;
                    x
                }
                (None, Some(&y)) => {
                    j += 1;
                    y
                }
                (None, None) => unreachable!(),
            };
            out.push(next);
        }
        if !self.everywhere.is_empty() {
            out.extend_from_slice(&self.everywhere);
            out.sort_unstable();
            out.dedup();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Action, Flow, IfaceId};

    fn plan(expect: &str, hosts: &str) -> super::super::Plan {
        let text = format!("app: a\nhosts:\n{hosts}expect:\n{expect}");
        let spec = crate::spec::parse(std::path::Path::new("t.yaml"), &text).unwrap();
        super::super::build(&[spec], Default::default()).unwrap()
    }

    fn flow(src: &str, dst: &str, sport: u16, dport: u16, protocol: u8) -> Flow {
        Flow {
            iface: IfaceId::UNKNOWN,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            srcport: sport,
            dstport: dport,
            protocol,
            action: Action::Accept,
            tcp_flags: None,
            start: None,
            end: None,
            reject_reason: None,
        }
    }

    /// What the index must give: every check some role of the flow concerns (asking them all).
    fn concerned(plan: &super::super::Plan, f: &Flow) -> Vec<u32> {
        (0..plan.checks.len() as u32)
            .filter(|&i| plan.checks[i as usize].roles_of(f).next().is_some())
            .collect()
    }

    #[test]
    fn the_index_finds_every_check_a_record_concerns_and_each_once() {
        let plan = plan(
            "  - { from: web, to: app, port: 8080 }
  - { from: app, to: db, port: 5432 }
  - { from: internet, to: db, port: 5432, deny: true }
  - { from: office, to: web, port: 443 }
  - { from: all, to: all, protocol: icmp }
  - { from: v6, to: app, port: 8080 }
  - { from: wide, to: narrowed, port: 22, deny: true }
",
            "  web: { ips: [10.0.1.10, 10.0.1.11] }
  app: { ips: [10.0.2.20] }
  db: { cidr: 10.0.3.0/24 }
  internet: { cidr: 0.0.0.0/0, except: [10.0.0.0/8] }
  office: { cidr: 192.168.0.0/16, except: [192.168.99.0/24] }
  v6: { cidr: '2001:db8::/32' }
  wide: { cidr: 10.0.0.0/8 }
  all: { cidrs: [0.0.0.0/0, '::/0'] }
  narrowed: { cidr: 10.0.0.0/9, except: [10.0.1.0/24] }
",
        );
        let index = Index::of(&plan.checks);
        let addrs = [
            "10.0.1.10",
            "10.0.1.11",
            "10.0.2.20",
            "10.0.3.7",
            "203.0.113.9",
            "192.168.5.5",
            "192.168.99.1",
            "10.200.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "2001:db8::5",
            "::1",
        ];
        let mut out = Vec::new();
        for src in addrs {
            for dst in addrs {
                if src.contains(':') != dst.contains(':') {
                    continue;
                }
                for (sport, dport, proto) in [
                    (40000, 8080, 6),
                    (5432, 40000, 6),
                    (40000, 22, 6),
                    (0, 0, 1),
                    (0, 0, 58),
                ] {
                    let f = flow(src, dst, sport, dport, proto);
                    index.candidates(f.src, f.dst, &mut out);
                    let mut sorted = out.clone();
                    sorted.dedup();
                    assert_eq!(out, sorted, "each once, in order: {src} -> {dst}");
                    for c in concerned(&plan, &f) {
                        assert!(out.contains(&c), "{src} -> {dst} {dport}: check {c} missed");
                    }
                }
            }
        }
        // And it narrows: a record between two unrelated addresses asks only the check of any
        // address; one of web's, also the check filed under web (office -> web: web is the
        // narrower side; web -> app is filed under app).
        index.candidates(
            "172.16.0.1".parse().unwrap(),
            "172.16.0.2".parse().unwrap(),
            &mut out,
        );
        assert_eq!(out, vec![4]);
        index.candidates(
            "10.0.1.10".parse().unwrap(),
            "172.16.0.2".parse().unwrap(),
            &mut out,
        );
        assert_eq!(out, vec![3, 4]);
    }

    use proptest::prelude::*;

    /// A network in a small space, so that random hosts overlap: 10.0.0.0/20 or 2001:db8::/116.
    fn net() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..4096, 20u8..=32).prop_map(|(host, len)| {
                let a = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + host;
                let net = ipnet::Ipv4Net::new(a.into(), len).unwrap().trunc();
                net.to_string()
            }),
            (0u128..4096, 116u8..=128).prop_map(|(host, len)| {
                let a = u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap()) + host;
                let net = ipnet::Ipv6Net::new(a.into(), len).unwrap().trunc();
                format!("'{net}'")
            }),
        ]
    }

    fn addr() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..4096).prop_map(|h| std::net::Ipv4Addr::from(
                u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + h
            )
            .to_string()),
            (0u128..4096).prop_map(|h| std::net::Ipv6Addr::from(
                u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap()) + h
            )
            .to_string()),
            Just("203.0.113.9".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        /// The index gives every check a record concerns, each once, whatever the hosts: so a
        /// scan through it gives exactly the evidence of asking every check.
        #[test]
        fn the_index_never_misses_a_check_on_random_specs(
            hosts in proptest::collection::vec(
                (proptest::collection::vec(net(), 1..4), proptest::collection::vec((0u8..4, any::<u16>()), 0..3)),
                2..7,
            ),
            expects in proptest::collection::vec((0usize..7, 0usize..7, 1u16..100, 0u16..3, any::<bool>()), 1..25),
            flows in proptest::collection::vec((addr(), addr(), 1u16..110, 1u16..110), 1..60),
        ) {
            let mut text = String::new();
            for (i, (include, cuts)) in hosts.iter().enumerate() {
                // Exceptions inside the host's first network, as a spec must have them.
                let base: ipnet::IpNet = include[0].trim_matches('\'').parse().unwrap();
                let except: Vec<String> = cuts
                    .iter()
                    .filter(|_| base.prefix_len() < base.max_prefix_len())
                    .map(|(extra, at)| {
                        let len = (base.prefix_len() + 1 + extra).min(base.max_prefix_len());
                        let subnets: Vec<ipnet::IpNet> = base.subnets(len).unwrap().collect();
                        format!("'{}'", subnets[*at as usize % subnets.len()])
                    })
                    .collect();
                text.push_str(&format!("  h{i}: {{ cidrs: [{}], except: [{}] }}\n", include.join(", "), except.join(", ")));
            }
            let mut expect = String::new();
            for (n, (from, to, port, span, deny)) in expects.iter().enumerate() {
                let (from, to) = (from % hosts.len(), to % hosts.len());
                expect.push_str(&format!(
                    "  - {{ name: e{n}, from: h{from}, to: h{to}, port: '{port}-{}', deny: {deny} }}\n",
                    port + span
                ));
            }
            let doc = format!("app: a\nhosts:\n{text}expect:\n{expect}");
            let spec = match crate::spec::parse(std::path::Path::new("t.yaml"), &doc) {
                Ok(s) => s,
                Err(e) => panic!("{e:?}\n{doc}"),
            };
            let plan = super::super::build(&[spec], Default::default()).unwrap();
            let index = Index::of(&plan.checks);
            let mut out = Vec::new();
            for (src, dst, sport, dport) in &flows {
                if src.contains(':') != dst.contains(':') {
                    continue;
                }
                for f in [flow(src, dst, *sport, *dport, 6), flow(dst, src, *dport, *sport, 6)] {
                    index.candidates(f.src, f.dst, &mut out);
                    let mut once = out.clone();
                    once.sort_unstable();
                    once.dedup();
                    prop_assert_eq!(&once, &out, "each once, in order");
                    for c in concerned(&plan, &f) {
                        prop_assert!(out.contains(&c), "{} -> {} port {}: check {} missed\n{}", src, dst, dport, c, doc);
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Verdicts through the index are those of asking every check: the `index` fuzz target's
        /// body on random bytes (specs of overlapping CIDRs with exceptions, IPv6, port ranges,
        /// denies, and records between them).
        #[test]
        fn reading_through_the_index_gives_the_evidence_of_asking_every_check(
            data in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            crate::fuzzing::index(&data);
        }
    }
}
