//! What evidence to ask for: every expectation of every spec, flattened into checks with
//! resolved address sets, and the time window they are judged over.

pub mod index;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::evidence::{Flow, IfaceId, Role};
use crate::resolve::{AddrSet, Host, Hosts, Place, Ranges};
use crate::spec::{Endpoint, Kind, Ports, Pos, Problem, Protocol, Spec};

/// One expectation, ready to match flows against.
#[derive(Debug, Clone)]
pub struct Check {
    pub app: String,
    pub name: String,
    pub spec_path: PathBuf,
    pub at: Pos,
    pub from: Side,
    pub to: Side,
    pub protocol: Protocol,
    pub ports: Ports,
    pub kind: Kind,
    /// How far back to look against AWS when no window is given: the spec's `window`.
    pub lookback: Option<Duration>,
    /// Every interface both sides can use, when that is fixed (see `Host::interfaces`); `None`
    /// otherwise, and then any SKIPDATA can bear on the check.
    pub interfaces: Option<BTreeSet<IfaceId>>,
    /// Why the check cannot be judged at all (a host could not be resolved).
    pub unavailable: Option<String>,
}

/// One end of an expectation: the name the spec used, the addresses behind it, and where in
/// AWS they live (known for AWS selectors, and for addresses once discovery looked them up).
#[derive(Debug, Clone)]
pub struct Side {
    pub label: String,
    pub addrs: AddrSet,
    pub places: Vec<Place>,
}

impl Check {
    /// The libtest trial name: `<app>::<name>`.
    pub fn trial_name(&self) -> String {
        format!("{}::{}", self.app, self.name)
    }

    /// The roles a flow plays for this check. A flow can be both a request and a reply when the
    /// two sides and the ports overlap (a cluster talking to itself on a port range); counting it
    /// both ways keeps such connections from looking unanswered.
    ///
    /// `icmp` means ping to people writing specs, so on IPv6 flows it matches ICMPv6 (58).
    pub fn roles(&self, flow: &Flow) -> (bool, bool) {
        if flow.protocol != self.protocol_for(flow.src) {
            return (false, false);
        }
        let request = self.from.addrs.contains(flow.src)
            && self.to.addrs.contains(flow.dst)
            && self.ports.contains(flow.dstport);
        let reply = self.to.addrs.contains(flow.src)
            && self.from.addrs.contains(flow.dst)
            && self.ports.contains(flow.srcport);
        (request, reply)
    }

    /// The protocol number a flow from `src` must have to match: `icmp` is ICMPv6 on IPv6.
    pub fn protocol_for(&self, src: IpAddr) -> u8 {
        match (self.protocol, src) {
            (Protocol::ICMP, IpAddr::V6(_)) => Protocol::ICMPV6.0,
            (p, _) => p.0,
        }
    }

    pub fn is_deny(&self) -> bool {
        matches!(self.kind, Kind::Deny)
    }

    /// Every role a flow plays, for the evidence accumulator.
    pub fn roles_of(&self, flow: &Flow) -> impl Iterator<Item = Role> {
        let (request, reply) = self.roles(flow);
        [(request, Role::Request), (reply, Role::Reply)]
            .into_iter()
            .filter_map(|(yes, role)| yes.then_some(role))
    }
}

impl Plan {
    /// The addresses a flow must have at one end to matter to some check, for skipping the others
    /// cheaply: each check's narrower side (a check always names a host on one side). `None` when
    /// that is every address.
    pub fn interesting(&self) -> Option<Ranges> {
        let mut all = Ranges::default();
        for c in self.checks.iter().filter(|c| c.unavailable.is_none()) {
            let (from, to) = (c.from.addrs.ranges(), c.to.addrs.ranges());
            let narrow = if from.size() <= to.size() { from } else { to };
            all = all.union(narrow);
        }
        (all != Ranges::all()).then_some(all)
    }
}

/// The time range records must overlap, in Unix seconds; open ends are unbounded. `since`
/// (`--since`) is a length back from the end, wherever the source puts the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub since: Option<u64>,
}

/// How far back to look against AWS when neither the command line nor the spec says.
pub const DEFAULT_LOOKBACK: u64 = 3600;

impl Window {
    /// The window over files on disk, which hold what they hold: `--since` counts back from
    /// `--end`, else from now; no end is set otherwise.
    pub fn on_disk(&self, now: u64) -> Window {
        Window {
            start: self.start.or_else(|| {
                self.since
                    .map(|s| self.end.unwrap_or(now).saturating_sub(s))
            }),
            end: self.end,
            since: None,
        }
    }

    pub fn is_bounded(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }

    /// Records ending this long before the window are read as context: a connection established
    /// there can have a late packet refused inside the window, which is not a block. Flow logs
    /// aggregate over at most 10 minutes, so the previous interval falls within it.
    pub const CONTEXT: u64 = 600;

    /// Whether a record ending at `end` lies in the context before the window.
    pub fn in_context(&self, end: u64) -> bool {
        self.start
            .is_some_and(|s| end < s && end + Self::CONTEXT >= s)
    }

    /// Whether a record spanning `start..=end` overlaps the window.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start.is_none_or(|s| end >= s) && self.end.is_none_or(|e| start <= e)
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub checks: Vec<Check>,
    pub window: Window,
}

impl Plan {
    /// The time range of each check against a source whose records arrive `margin` seconds
    /// late: the command line's window, else the spec's look-back, else an hour, ending `margin`
    /// before now unless `--end` says otherwise. `--since` is a length, so a user who asks for 30
    /// minutes gets 30 minutes.
    pub fn ranges(&self, now: u64, margin: u64) -> Vec<(u64, u64)> {
        self.checks
            .iter()
            .map(|c| self.range(c.lookback.map(|l| l.as_secs()), now, margin))
            .collect()
    }

    fn range(&self, lookback: Option<u64>, now: u64, margin: u64) -> (u64, u64) {
        let end = self.window.end.unwrap_or(now.saturating_sub(margin));
        let start = self.window.start.unwrap_or_else(|| {
            end.saturating_sub(self.window.since.or(lookback).unwrap_or(DEFAULT_LOOKBACK))
        });
        (start, end)
    }

    /// The checks that share each time range (see `ranges`), in plan order; checks that
    /// cannot be judged at all are left out.
    pub fn by_range(&self, now: u64, margin: u64) -> BTreeMap<(u64, u64), Vec<usize>> {
        let mut groups: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
        for (i, r) in self.ranges(now, margin).into_iter().enumerate() {
            if self.checks[i].unavailable.is_none() {
                groups.entry(r).or_default().push(i);
            }
        }
        groups
    }

    /// One time range over every check (for questions about flows rather than checks), or the
    /// default range when there are none.
    pub fn span(&self, now: u64, margin: u64) -> (u64, u64) {
        let ranges = self.ranges(now, margin);
        if ranges.is_empty() {
            return self.range(None, now, margin);
        }
        ranges
            .into_iter()
            .fold((u64::MAX, 0), |(s, e), (a, b)| (s.min(a), e.max(b)))
    }

    /// The plan with only the checks `ids`, over `window`.
    pub fn subset(&self, ids: &[usize], window: Window) -> Plan {
        Plan {
            checks: ids.iter().map(|&i| self.checks[i].clone()).collect(),
            window,
        }
    }
}

/// Builds the plan from specs whose hosts need no AWS (tests, and the file source without AWS).
pub fn build(specs: &[Spec], window: Window) -> Result<Plan, Vec<Problem>> {
    let mut hosts = Vec::new();
    let mut problems = Vec::new();
    for spec in specs {
        match crate::resolve::resolve_local(spec) {
            Ok(h) => hosts.push(h),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(assemble(specs, &hosts, window))
    } else {
        Err(problems)
    }
}

/// Builds the plan from specs and their resolved hosts (one map per spec, in order).
pub fn assemble(specs: &[Spec], hosts: &[Hosts], window: Window) -> Plan {
    let mut checks = Vec::new();
    for (spec, hosts) in specs.iter().zip(hosts) {
        let host = |e: &Endpoint| -> Result<Option<&Host>, String> {
            match e {
                Endpoint::Any => Ok(None),
                Endpoint::Host(name) => hosts[name].as_ref().map(Some).map_err(Clone::clone),
            }
        };
        for exp in &spec.expectations {
            let (from, to) = (host(&exp.from), host(&exp.to));
            let unavailable = from.as_ref().err().or(to.as_ref().err()).cloned();
            let (from, to) = (from.ok().flatten(), to.ok().flatten());
            let side = |e: &Endpoint, h: Option<&Host>| Side {
                label: e.to_string(),
                places: h.map(|h| h.places.clone()).unwrap_or_default(),
                addrs: match (e, h) {
                    (Endpoint::Any, _) => AddrSet::any(),
                    (_, Some(h)) => h.addrs.clone(),
                    // Not resolved: matches nothing, and the check is unavailable.
                    (_, None) => AddrSet::networks(Vec::new(), Vec::new()),
                },
            };
            let interfaces = match (from, to) {
                (Some(f), Some(t)) => f
                    .interfaces
                    .as_ref()
                    .zip(t.interfaces.as_ref())
                    .map(|(a, b)| a.iter().chain(b).copied().collect()),
                _ => None,
            };
            checks.push(Check {
                app: spec.app.clone(),
                name: exp.name.clone(),
                spec_path: spec.path.clone(),
                at: exp.at,
                from: side(&exp.from, from),
                to: side(&exp.to, to),
                protocol: exp.protocol,
                ports: exp.ports.clone(),
                kind: exp.kind,
                lookback: spec.window,
                interfaces,
                unavailable,
            });
        }
    }
    Plan { checks, window }
}

/// A strict host of a spec: one test, that nothing reaches it beyond the spec's reach
/// expectations (and that its security groups allow no more than those need).
#[derive(Debug, Clone)]
pub struct Strict {
    pub app: String,
    /// The host's name in the spec.
    pub host: String,
    /// The test's name (see `Spec::strict_test_name`).
    pub name: String,
    pub spec_path: PathBuf,
    pub at: Pos,
    pub side: Side,
    /// The plan's checks of the same spec, by index: what may reach the host.
    pub spec_checks: Vec<usize>,
    /// Why it cannot be judged (the host could not be resolved).
    pub unavailable: Option<String>,
}

impl Strict {
    pub fn trial_name(&self) -> String {
        format!("{}::{}", self.app, self.name)
    }
}

/// The strict hosts of every spec, with the checks of `plan` (assembled from the same specs and
/// hosts) that belong to each one's spec.
pub fn strict(specs: &[Spec], hosts: &[Hosts], plan: &Plan) -> Vec<Strict> {
    let mut out = Vec::new();
    for (spec, hosts) in specs.iter().zip(hosts) {
        let spec_checks: Vec<usize> = (0..plan.checks.len())
            .filter(|&i| plan.checks[i].app == spec.app)
            .collect();
        for h in spec.hosts.values().filter(|h| h.strict) {
            let resolved = hosts.get(&h.name);
            let (addrs, places, unavailable) = match resolved {
                Some(Ok(r)) => (r.addrs.clone(), r.places.clone(), None),
                Some(Err(e)) => (
                    AddrSet::networks(Vec::new(), Vec::new()),
                    Vec::new(),
                    Some(e.clone()),
                ),
                None => (
                    AddrSet::networks(Vec::new(), Vec::new()),
                    Vec::new(),
                    Some("not resolved".to_string()),
                ),
            };
            out.push(Strict {
                app: spec.app.clone(),
                host: h.name.clone(),
                name: Spec::strict_test_name(&h.name),
                spec_path: spec.path.clone(),
                at: h.at,
                side: Side {
                    label: h.name.clone(),
                    addrs,
                    places,
                },
                spec_checks: spec_checks.clone(),
                unavailable,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(src: &str, dst: &str, protocol: u8) -> Flow {
        Flow {
            iface: crate::evidence::IfaceId::UNKNOWN,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            srcport: 0,
            dstport: 0,
            protocol,
            action: crate::evidence::Action::Accept,
            tcp_flags: None,
            start: None,
            end: None,
            reject_reason: None,
        }
    }

    /// SKIPDATA counts only on a check's interfaces when both hosts are fixed interfaces: the
    /// interfaces a check holds are exactly its hosts', and any host given by address leaves
    /// them open (then every SKIPDATA counts). Widening them would let lost records pass.
    #[test]
    fn a_check_holds_exactly_its_hosts_interfaces_when_both_are_fixed() {
        use crate::evidence::{Gaps, IfaceId};
        use crate::resolve::{AddrSet, Host};
        let spec = crate::spec::parse(
            std::path::Path::new("t.yaml"),
            "app: a\nhosts:\n  web: {eni: eni-0aaaaaaaaaaaaaaa1}\n  db: {eni: eni-0bbbbbbbbbbbbbbb2}\n  office: {cidr: 192.168.0.0/16}\nexpect:\n  - {from: web, to: db, port: 1433}\n  - {from: office, to: db, port: 1433}\n",
        )
        .unwrap();
        let iface = |s: &str| IfaceId::new(s).unwrap();
        let host = |ip: &str, eni: Option<&str>| {
            Ok(Host {
                addrs: AddrSet::networks(vec![ip.parse().unwrap()], Vec::new()),
                interfaces: eni.map(|e| vec![iface(e)]),
                places: Vec::new(),
            })
        };
        let hosts: crate::resolve::Hosts = [
            (
                "web".to_string(),
                host("10.0.1.10/32", Some("eni-0aaaaaaaaaaaaaaa1")),
            ),
            (
                "db".to_string(),
                host("10.0.3.30/32", Some("eni-0bbbbbbbbbbbbbbb2")),
            ),
            ("office".to_string(), host("192.168.0.0/16", None)),
        ]
        .into();
        let plan = assemble(&[spec], &[hosts], Window::default());
        let fixed = plan.checks[0]
            .interfaces
            .as_ref()
            .expect("both hosts are interfaces");
        assert_eq!(
            fixed,
            &[
                iface("eni-0aaaaaaaaaaaaaaa1"),
                iface("eni-0bbbbbbbbbbbbbbb2")
            ]
            .into()
        );
        assert_eq!(
            plan.checks[1].interfaces, None,
            "an office has no fixed interface"
        );
        let mut gaps = Gaps::default();
        gaps.skipdata.insert(iface("eni-0ccccccccccccccc3"), 3);
        assert!(
            gaps.bearing_on(plan.checks[0].interfaces.as_ref())
                .skipdata
                .is_empty()
        );
        assert_eq!(
            gaps.bearing_on(plan.checks[1].interfaces.as_ref())
                .skipdata_records(),
            3
        );
        gaps.skipdata.insert(iface("eni-0bbbbbbbbbbbbbbb2"), 1);
        assert_eq!(
            gaps.bearing_on(plan.checks[0].interfaces.as_ref())
                .skipdata_records(),
            1
        );
    }

    #[test]
    fn icmp_means_ping_on_either_address_family() {
        let spec = crate::spec::parse(
            std::path::Path::new("t.yaml"),
            "app: a\nhosts: {m: {ips: [10.0.0.5, '2001:db8::5']}}\nexpect: [{from: m, to: any, protocol: icmp}, {from: m, to: any, protocol: icmpv6}]\n",
        )
        .unwrap();
        let plan = build(&[spec], Window::default()).unwrap();
        let (icmp, icmpv6) = (&plan.checks[0], &plan.checks[1]);
        assert_eq!(icmp.roles(&flow("10.0.0.5", "10.9.9.9", 1)), (true, false));
        assert_eq!(
            icmp.roles(&flow("2001:db8::5", "2001:db8::9", 58)),
            (true, false)
        );
        assert_eq!(
            icmp.roles(&flow("2001:db8::9", "2001:db8::5", 58)),
            (false, true)
        );
        assert_eq!(
            icmp.roles(&flow("10.0.0.5", "10.9.9.9", 58)),
            (false, false)
        );
        assert_eq!(
            icmpv6.roles(&flow("10.0.0.5", "10.9.9.9", 1)),
            (false, false)
        );
    }

    #[test]
    fn windows_keep_records_that_overlap_them() {
        let w = Window {
            start: Some(100),
            end: Some(200),
            ..Window::default()
        };
        assert!(w.overlaps(50, 100), "ends at the start");
        assert!(w.overlaps(200, 260), "starts at the end");
        assert!(w.overlaps(120, 130));
        assert!(!w.overlaps(40, 99));
        assert!(!w.overlaps(201, 300));
        assert!(Window::default().overlaps(0, u64::MAX));
    }

    #[test]
    fn since_is_a_length_ending_where_the_source_puts_the_end() {
        let spec = crate::spec::parse(
            std::path::Path::new("t.yaml"),
            "app: a\nwindow: 2h\nhosts: {web: {ip: 10.0.1.10}, app: {ip: 10.0.2.20}}\nexpect: [{from: web, to: app, port: 80}]\n",
        )
        .unwrap();
        let now = 100_000;
        let with = |window: Window| build(std::slice::from_ref(&spec), window).unwrap();
        // `--since 30m` against a source 10 minutes late: 30 minutes, ending 10 minutes ago.
        let since = with(Window {
            since: Some(1800),
            ..Window::default()
        });
        assert_eq!(since.ranges(now, 600), [(now - 600 - 1800, now - 600)]);
        // No --since: the spec's window, then an hour.
        assert_eq!(
            with(Window::default()).ranges(now, 600),
            [(now - 600 - 7200, now - 600)]
        );
        // --end is where the window ends, whatever the delay.
        let ended = with(Window {
            end: Some(50_000),
            since: Some(60),
            ..Window::default()
        });
        assert_eq!(ended.ranges(now, 600), [(49_940, 50_000)]);
        // Files on disk: --since counts back from now, and nothing ends the window.
        assert_eq!(
            since.window.on_disk(now),
            Window {
                start: Some(now - 1800),
                ..Window::default()
            }
        );
    }
}
