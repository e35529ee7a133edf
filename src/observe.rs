//! `flowgate observe`: a baseline spec from what worked. The ESTABLISHED connections among a
//! set of hosts (a request accepted and its reply accepted), folded by service port, become reach
//! expectations with comments saying how often and when they were seen. Teams record what worked
//! before a change and gate on it after.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::evidence::{Action, Flow};
use crate::explain::rules::protocol_name;
use crate::report::text::time;
use crate::resolve::AddrSet;
use crate::spec::{AwsSelector, HostSelector};

/// One direction of one connection: (source, destination, source port, destination port,
/// protocol).
type Tuple = (IpAddr, IpAddr, u16, u16, u8);

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    first: Option<u64>,
    last: Option<u64>,
    /// The OR of tcp-flags, where the format has them.
    flags: Option<u8>,
}

/// Connections folded by (client host, server host, server port, protocol): their count, first
/// and last seen.
type Services = BTreeMap<(usize, usize, u16, u8), (u64, Option<u64>, Option<u64>)>;

/// A named set of addresses to observe, and how to write it back as a spec host.
#[derive(Debug, Clone)]
pub struct Named {
    pub name: String,
    pub addrs: AddrSet,
    pub yaml: String,
}

/// The accepted flows among the hosts, by direction.
#[derive(Default)]
pub struct Observed {
    flows: HashMap<Tuple, Seen>,
}

impl Observed {
    /// Takes in a flow if it was accepted and both its ends are `among` the hosts.
    pub fn add(&mut self, among: &AddrSet, f: &Flow) {
        if f.action != Action::Accept || !among.contains(f.src) || !among.contains(f.dst) {
            return;
        }
        let s = self
            .flows
            .entry((f.src, f.dst, f.srcport, f.dstport, f.protocol))
            .or_default();
        s.first = match (s.first, f.start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        s.last = s.last.max(f.end);
        s.flags = match (s.flags, f.tcp_flags) {
            (Some(a), Some(b)) => Some(a | b),
            (a, b) => a.or(b),
        };
    }

    /// The ESTABLISHED connections, folded by service.
    fn services(&self, hosts: &[Named]) -> Services {
        // How many peer ports each (address, port, protocol) talks with: a service talks with
        // many client ports, a client port with one service.
        let mut peers: HashMap<(IpAddr, u16, u8), BTreeSet<(IpAddr, u16)>> = HashMap::new();
        for &(s, d, sp, dp, p) in self.flows.keys() {
            peers.entry((s, sp, p)).or_default().insert((d, dp));
            peers.entry((d, dp, p)).or_default().insert((s, sp));
        }
        let owner = |ip: IpAddr| -> Option<usize> {
            // The most specific host that holds the address.
            hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.addrs.contains(ip))
                .min_by_key(|(_, h)| h.addrs.ranges().size())
                .map(|(i, _)| i)
        };
        let mut out = Services::new();
        for (&(s, d, sp, dp, p), seen) in &self.flows {
            let Some(reply) = self.flows.get(&(d, s, dp, sp, p)) else {
                continue; // not ESTABLISHED: no reply was accepted
            };
            // Each connection once: from the request's side.
            let syn_ack = |f: &Seen| f.flags.is_some_and(|x| x & 0x12 == 0x12);
            let peers_of = |a: IpAddr, port: u16| peers.get(&(a, port, p)).map_or(0, BTreeSet::len);
            let is_request = if syn_ack(seen) != syn_ack(reply) {
                syn_ack(reply)
            } else if matches!(p, 1 | 58) {
                // No ports: the side that pings many is the client (monitoring), not the other.
                let (mine, theirs) = (peers_of(s, sp), peers_of(d, dp));
                mine > theirs || (mine == theirs && s < d)
            } else {
                // A service talks with many client ports; a client port with one service.
                let (mine, theirs) = (peers_of(d, dp), peers_of(s, sp));
                mine > theirs || (mine == theirs && (dp, d) < (sp, s))
            };
            if !is_request {
                continue;
            }
            let (Some(c), Some(v)) = (owner(s), owner(d)) else {
                continue;
            };
            let port = if matches!(p, 6 | 17) { dp } else { 0 };
            let e = out.entry((c, v, port, p)).or_insert((0, None, None));
            e.0 += 1;
            e.1 = match (e.1, seen.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            e.2 = e.2.max(seen.last.max(reply.last));
        }
        out
    }

    /// The baseline spec, as YAML with comments; `None` when no connection among the hosts was
    /// ESTABLISHED (a spec needs an expectation).
    pub fn spec(&self, app: &str, hosts: &[Named], source: &str) -> Option<String> {
        let services = self.services(hosts);
        if services.is_empty() {
            return None;
        }
        let used: BTreeSet<usize> = services.keys().flat_map(|k| [k.0, k.1]).collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Written by `flowgate observe` from {source}: the connections that were ESTABLISHED\n# (request and reply accepted) among the hosts, by service port. Review it before gating on it.\napp: {}",
            yaml_string(app)
        );
        let _ = writeln!(out, "hosts:");
        for i in &used {
            let _ = writeln!(out, "  {}: {}", hosts[*i].name, hosts[*i].yaml);
        }
        let _ = writeln!(out, "expect:");
        for ((c, v, port, p), (count, first, last)) in &services {
            let (from, to) = (&hosts[*c].name, &hosts[*v].name);
            let proto = match p {
                6 => "tcp".to_string(),
                17 => "udp".to_string(),
                1 | 58 => "icmp".to_string(),
                n => n.to_string(),
            };
            let seen = match (first, last) {
                (Some(f), Some(l)) => format!(", first {}, last {}", time(*f), time(*l)),
                _ => String::new(),
            };
            let s = if *count == 1 { "" } else { "s" };
            let _ = writeln!(out, "  # {count} connection{s}{seen}");
            let what = if matches!(p, 6 | 17) {
                format!("{}/{port}", protocol_name(*p))
            } else {
                protocol_name(*p)
            };
            let port_field = if matches!(p, 6 | 17) {
                format!(", port: {port}")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  - {{ name: {}, from: {from}, to: {to}{port_field}, protocol: {proto} }}",
                yaml_string(&format!("{from} reaches {to} on {what}"))
            );
        }
        Some(out)
    }
}

/// A string as a YAML scalar: JSON's double-quoted form is valid YAML.
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A spec host written back the way the spec gave it.
pub fn host_yaml(selector: &HostSelector) -> String {
    let list = |v: &[ipnet::IpNet]| {
        v.iter()
            .map(|n| yaml_string(&n.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match selector {
        HostSelector::Networks { include, exclude } if exclude.is_empty() => {
            format!("{{ cidrs: [{}] }}", list(include))
        }
        HostSelector::Networks { include, exclude } => {
            format!(
                "{{ cidrs: [{}], except: [{}] }}",
                list(include),
                list(exclude)
            )
        }
        HostSelector::Aws(AwsSelector::Tag(tags)) => format!(
            "{{ tag: {{ {} }} }}",
            tags.iter()
                .map(|(k, v)| format!("{}: {}", yaml_string(k), yaml_string(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        HostSelector::Aws(sel) => {
            let id = match sel {
                AwsSelector::Instance(i)
                | AwsSelector::Eni(i)
                | AwsSelector::SecurityGroup(i)
                | AwsSelector::Subnet(i) => i.clone(),
                AwsSelector::Tag(_) => unreachable!("handled above"),
            };
            format!("{{ {}: {} }}", sel.key(), yaml_string(&id))
        }
    }
}

/// Hosts for `--cidr`: one per address seen, named after it.
pub fn address_hosts(o: &Observed) -> Vec<Named> {
    let addrs: BTreeSet<IpAddr> = o.flows.keys().flat_map(|t| [t.0, t.1]).collect();
    addrs
        .into_iter()
        .map(|a| Named {
            name: format!(
                "ip-{}",
                a.to_string()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect::<String>()
            ),
            addrs: AddrSet::networks(vec![ipnet::IpNet::from(a)], Vec::new()),
            yaml: format!("{{ ip: {} }}", yaml_string(&a.to_string())),
        })
        .collect()
}
