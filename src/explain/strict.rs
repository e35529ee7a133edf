//! Strict hosts: the security group ingress rules on a host's interfaces that allow more than the
//! spec's expectations need, with the narrower rules that would do. Pure.
//!
//! A rule allows a set of sources, a protocol and (for TCP and UDP) a port range. What the spec
//! needs is the union of its reach expectations to the host: (clients, protocol, ports). A rule is
//! wider than needed when it admits a source no expectation names, a port no expectation to those
//! sources uses, every protocol where the expectations name some, or a (source, port) pairing no
//! single expectation has. Rules whose group or prefix list was not read are not judged.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::ops::RangeInclusive;

use ipnet::IpNet;

use super::config::Interface;
use super::rules::{Members, Peer, RuleProtocol, SgRule};
use super::spans::{self, Span, Spans};
use crate::resolve::AddrSet;
use crate::spec::{Ports, Protocol};

/// One reach expectation to the host.
#[derive(Debug, Clone, Copy)]
pub struct Need<'a> {
    pub peers: &'a AddrSet,
    pub protocol: Protocol,
    pub ports: &'a Ports,
}

/// Whose addresses a narrower rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The rule's own security group: every member is needed.
    Group(String),
    Nets(Vec<IpNet>),
}

/// A rule that would do instead, for one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrower {
    pub protocol: Protocol,
    /// Empty for protocols without ports.
    pub ports: Vec<RangeInclusive<u16>>,
    pub source: Source,
}

/// A rule allowing more than the spec needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub group: String,
    /// The host's interfaces the group is on.
    pub enis: Vec<String>,
    pub rule: SgRule,
    /// Sources no expectation names.
    pub extra_sources: Spans,
    /// Ports no expectation (from the sources it does name) uses.
    pub extra_ports: Vec<RangeInclusive<u16>>,
    /// An all-traffic rule, where the expectations name protocols.
    pub all_protocols: bool,
    /// A source and port that no one expectation pairs (when sources and ports are each needed).
    pub unpaired: Option<(std::net::IpAddr, u16)>,
    /// The rules that would do; empty when no expectation needs the rule at all.
    pub narrower: Vec<Narrower>,
}

fn protocol_matches(rule: RuleProtocol, need: Protocol) -> bool {
    match rule {
        RuleProtocol::All => true,
        // `icmp` in a spec means ping on either family.
        RuleProtocol::Number(1 | 58) if need.is_icmp() => true,
        RuleProtocol::Number(n) => n == need.0,
    }
}

fn need_ports(n: &Need<'_>) -> Vec<RangeInclusive<u16>> {
    match n.ports {
        Ports::Set(s) => s.ranges().to_vec(),
        Ports::Any => vec![0..=65535],
    }
}

/// The TCP/UDP ports a rule admits; `None` where ports do not apply (other protocols).
fn rule_ports(rule: &SgRule) -> Option<RangeInclusive<u16>> {
    match (rule.protocol, rule.ports) {
        (RuleProtocol::All, _) => Some(0..=65535),
        (RuleProtocol::Number(6 | 17), Some(r)) => {
            let clamp = |p: i32| u16::try_from(p.clamp(0, 65535)).unwrap_or(u16::MAX);
            Some(clamp(r.from)..=clamp(r.to))
        }
        (RuleProtocol::Number(6 | 17), None) => Some(0..=65535),
        _ => None,
    }
}

fn intersect_ports(a: &[RangeInclusive<u16>], b: &RangeInclusive<u16>) -> Vec<RangeInclusive<u16>> {
    a.iter()
        .filter_map(|r| {
            let (lo, hi) = ((*r.start()).max(*b.start()), (*r.end()).min(*b.end()));
            (lo <= hi).then_some(lo..=hi)
        })
        .collect()
}

fn subtract_ports(
    whole: &RangeInclusive<u16>,
    minus: &[RangeInclusive<u16>],
) -> Vec<RangeInclusive<u16>> {
    let mut out = Vec::new();
    let mut next = u32::from(*whole.start());
    let mut v: Vec<&RangeInclusive<u16>> = minus.iter().collect();
    v.sort_by_key(|r| *r.start());
    let end = u32::from(*whole.end());
    for r in v {
        let (lo, hi) = (u32::from(*r.start()), u32::from(*r.end()));
        if hi < next || lo > end {
            continue;
        }
        if lo > next {
            out.push(narrow(next)..=narrow(lo - 1));
        }
        next = next.max(hi + 1);
    }
    if next <= end {
        out.push(narrow(next)..=narrow(end));
    }
    out
}

fn narrow(p: u32) -> u16 {
    u16::try_from(p).unwrap_or(u16::MAX)
}

fn rule_sources(rule: &SgRule, members: &Members) -> Option<Spans> {
    let nets = match &rule.peer {
        Peer::Net(n) => vec![*n],
        Peer::Group(g) => members.groups.get(g)?.clone(),
        Peer::PrefixList(p) => members.prefix_lists.get(p)?.clone(),
    };
    Some(Spans::of_nets(&nets))
}

/// The ingress rules of `host`'s security groups that allow more than `needs`.
pub fn findings(host: &[&Interface], needs: &[Need<'_>], members: &Members) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<(String, usize)> = BTreeSet::new();
    for iface in host {
        for g in &iface.end.groups {
            for (i, rule) in g.ingress.iter().enumerate() {
                if !seen.insert((g.id.clone(), i)) {
                    continue;
                }
                let Some(sources) = rule_sources(rule, members) else {
                    continue;
                };
                if let Some(mut f) = judge_rule(&g.id, rule, &sources, needs) {
                    f.enis = host
                        .iter()
                        .filter(|h| h.end.groups.iter().any(|x| x.id == g.id))
                        .filter_map(|h| h.end.eni.clone())
                        .collect();
                    out.push(f);
                }
            }
        }
    }
    out
}

fn judge_rule(group: &str, rule: &SgRule, sources: &Spans, needs: &[Need<'_>]) -> Option<Finding> {
    let ports = rule_ports(rule);
    // The expectations this rule serves: same protocol, some common source and port.
    let relevant: Vec<(Spans, Vec<RangeInclusive<u16>>, &Need<'_>)> = needs
        .iter()
        .filter(|n| protocol_matches(rule.protocol, n.protocol))
        .filter_map(|n| {
            let common = sources.intersect(&Spans::of_ranges(n.peers.ranges()));
            let p = match &ports {
                Some(r) if n.protocol.has_ports() => intersect_ports(&need_ports(n), r),
                _ => Vec::new(),
            };
            let ported = ports.is_some() && n.protocol.has_ports();
            (!common.is_empty() && (!ported || !p.is_empty())).then_some((common, p, n))
        })
        .collect();
    let all_protocols = rule.protocol == RuleProtocol::All;
    let base = Finding {
        group: group.to_string(),
        enis: Vec::new(),
        rule: rule.clone(),
        extra_sources: Spans::default(),
        extra_ports: Vec::new(),
        all_protocols,
        unpaired: None,
        narrower: Vec::new(),
    };
    if relevant.is_empty() {
        return Some(Finding {
            extra_sources: sources.clone(),
            extra_ports: ports.iter().cloned().collect(),
            ..base
        });
    }
    let needed_sources = relevant
        .iter()
        .fold(Spans::default(), |acc, (s, _, _)| acc.union(s));
    let extra_sources = sources.subtract(&needed_sources);
    let needed_ports: Vec<RangeInclusive<u16>> = relevant
        .iter()
        .flat_map(|(_, p, _)| p.iter().cloned())
        .collect();
    let extra_ports = match (
        &ports,
        relevant.iter().any(|(_, _, n)| n.protocol.has_ports()),
    ) {
        (Some(r), true) => subtract_ports(r, &needed_ports),
        _ => Vec::new(),
    };
    // Sources and ports each needed, but not in these pairings: try each (source, port) atom.
    let mut unpaired = None;
    if extra_sources.is_empty()
        && extra_ports.is_empty()
        && let Some(r) = &ports
    {
        let cuts: Vec<IpNet> = relevant.iter().flat_map(|(s, _, _)| s.networks()).collect();
        let port_cuts: Vec<(i32, i32)> = needed_ports
            .iter()
            .map(|p| (i32::from(*p.start()), i32::from(*p.end())))
            .collect();
        'find: for a in sources.atoms(&cuts) {
            for p in spans::port_atoms(std::slice::from_ref(r), &port_cuts) {
                let covered = relevant.iter().any(|(s, ps, _)| {
                    s.contains(a.pick()) && ps.iter().any(|x| x.contains(p.start()))
                });
                if !covered {
                    unpaired = Some((a.pick(), *p.start()));
                    break 'find;
                }
            }
        }
    }
    if extra_sources.is_empty() && extra_ports.is_empty() && !all_protocols && unpaired.is_none() {
        return None;
    }
    let narrower = relevant
        .iter()
        .map(|(common, p, n)| Narrower {
            protocol: n.protocol,
            ports: p.clone(),
            source: match &rule.peer {
                // A group whose members the expectation wholly needs stays the better rule.
                Peer::Group(g) if sources.subtract(common).is_empty() => Source::Group(g.clone()),
                _ => Source::Nets(common.networks()),
            },
        })
        .collect();
    Some(Finding {
        extra_sources,
        extra_ports,
        unpaired,
        narrower,
        ..base
    })
}

fn rule_text(rule: &SgRule) -> String {
    let proto = match rule.protocol {
        RuleProtocol::All => "all traffic".to_string(),
        RuleProtocol::Number(n) => match rule_ports(rule) {
            Some(r) if r.start() == r.end() => {
                format!("{} {}", super::rules::protocol_name(n), r.start())
            }
            Some(r) => format!(
                "{} {}-{}",
                super::rules::protocol_name(n),
                r.start(),
                r.end()
            ),
            None => super::rules::protocol_name(n),
        },
    };
    format!("{proto} from {}", rule.peer)
}

impl Finding {
    /// `SG sg-db (eni-db) ingress rule tcp 22 from 0.0.0.0/0 allows more than the spec needs: ...`
    pub fn words(&self) -> String {
        let mut out = format!(
            "SG {} ({}) ingress rule {}",
            self.group,
            self.enis.join(", "),
            rule_text(&self.rule)
        );
        if self.narrower.is_empty() {
            out.push_str(": no expectation of the spec needs it; remove it");
            return out;
        }
        let mut why = Vec::new();
        if !self.extra_sources.is_empty() {
            let example = self
                .extra_sources
                .spans()
                .iter()
                .max_by_key(|s: &&Span| (s.has_nice(), s.hi - s.lo))
                .map(Span::pick);
            let mut w = format!(
                "a wider source ({} admits addresses no expectation names",
                self.rule.peer
            );
            if let Some(e) = example {
                let _ = write!(w, ", e.g. {e}");
            }
            w.push(')');
            why.push(w);
        }
        if !self.extra_ports.is_empty() {
            why.push(format!(
                "more ports ({})",
                spans::describe_ports(&self.extra_ports)
            ));
        }
        if self.all_protocols {
            why.push("every protocol".to_string());
        }
        if let Some((a, p)) = self.unpaired {
            why.push(format!(
                "pairings no expectation has (e.g. {a} on port {p})"
            ));
        }
        let rules: Vec<String> = self.narrower.iter().map(narrower_text).collect();
        let _ = write!(
            out,
            " allows more than the spec needs: {}; narrower: {}",
            why.join(", "),
            rules.join("; ")
        );
        out
    }
}

fn narrower_text(n: &Narrower) -> String {
    const SHOWN: usize = 4;
    let source = match &n.source {
        Source::Group(g) => g.clone(),
        Source::Nets(nets) => {
            let mut v: Vec<String> = nets.iter().take(SHOWN).map(ToString::to_string).collect();
            if nets.len() > SHOWN {
                v.push(format!("{} more networks", nets.len() - SHOWN));
            }
            v.join(", ")
        }
    };
    if n.ports.is_empty() {
        format!("{} from {source}", n.protocol)
    } else {
        format!(
            "{} {} from {source}",
            n.protocol,
            spans::describe_ports(&n.ports)
        )
    }
}

#[cfg(test)]
mod tests;
