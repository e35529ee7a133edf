//! `flowgate observe`: a baseline spec from what worked. The ESTABLISHED connections among a
//! set of hosts (a request accepted and its reply accepted), folded by service port, become reach
//! expectations with comments saying how often and when they were seen. Teams record what worked
//! before a change and gate on it after.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::ObserveArgs;
use crate::error::Error;
use crate::evidence::flows::Fold;
use crate::source::{FlowQuestion, Kind, Question};

use crate::evidence::Action;
use crate::evidence::flows::Folded;
use crate::explain::rules::protocol_name;
use crate::plan::index::ByAddress;
use crate::report::text::time;
use crate::resolve::AddrSet;
use crate::spec::{AwsSelector, HostSelector};

pub async fn run(args: ObserveArgs) -> Result<ExitCode, Error> {
    let window = super::window(&args.evidence)?;
    let specs = match &args.hosts {
        Some(path) => super::load(std::slice::from_ref(path))?,
        None => Vec::new(),
    };
    if specs.len() > 1 {
        return Err(Error::Usage(format!(
            "--hosts-of {}: {} specs; a baseline is written for the hosts of one\n  help: name one spec file",
            args.hosts
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            specs.len()
        )));
    }
    let request = super::request(&args.evidence, None);
    if specs.is_empty() && request.kind()? == Kind::Discovered {
        return Err(Error::Usage(
            "observe --cidr against CloudWatch needs --log-group: there is no spec to find the flow logs from".into(),
        ));
    }
    let aws = super::connect(&args.evidence, &request, &specs, super::Purpose::Read).await?;
    let resolved = super::resolve_all(&specs, aws.as_ref()).await?;
    let plan = Arc::new(crate::plan::assemble(&specs, &resolved, window));
    let mut named: Vec<Named> = Vec::new();
    for (s, hosts) in specs.iter().zip(&resolved) {
        for (name, host) in &s.hosts {
            if let Some(Ok(h)) = hosts.get(name) {
                named.push(Named {
                    name: name.clone(),
                    addrs: h.addrs.clone(),
                    yaml: host_yaml(&host.selector, host.account.as_deref()),
                });
            }
        }
    }
    let among = if specs.is_empty() {
        AddrSet::networks(args.cidr.clone(), Vec::new())
    } else {
        let nets: Vec<ipnet::IpNet> = named
            .iter()
            .flat_map(|h| h.addrs.ranges().networks())
            .collect();
        AddrSet::networks(nets, Vec::new())
    };
    let source = super::open(&request, &plan, aws.as_ref()).await?;
    let ask = FlowQuestion {
        action: Action::Accept,
        touching: among.ranges().clone(),
        fold: Fold::Tuple,
    };
    let question = Question::Flows {
        plan: Arc::clone(&plan),
        ask,
    };
    let ev = super::gather(&source, &question).await?;
    eprint!("{}", crate::report::text::gap_lines(&ev.gaps, &ev, "  "));
    let read = crate::report::what_was_read(&ev);
    let observed = Observed::of(&among, &ev.flows);
    if specs.is_empty() {
        named = address_hosts(&observed);
    }
    let app = args.app.clone().unwrap_or_else(|| match specs.first() {
        Some(s) => format!("{}-baseline", s.app),
        None => "baseline".into(),
    });
    let gaps = (!ev.gaps.is_empty()).then(|| crate::report::text::gap_summary(&ev.gaps));
    let Some(text) = observed.spec(&app, &named, &read, gaps.as_deref()) else {
        return Err(Error::Evidence(format!(
            "no ESTABLISHED connection among the hosts in the evidence ({read}): there is no baseline to write"
        )));
    };
    // What is written must load as a spec: a bad --app, or names the spec format refuses.
    if let Err(problems) = crate::spec::parse(std::path::Path::new("<baseline>"), &text) {
        return Err(Error::Usage(format!(
            "the baseline would not be a valid spec: {}",
            problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    super::emit(text.as_bytes())
}

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
/// Connections by (client host, server host, port, protocol): how many, first and last seen,
/// and whether any was answered (a one-way UDP service, syslog say, never is).
type Services = BTreeMap<(usize, usize, u16, u8), (u64, Option<u64>, Option<u64>, bool)>;

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
    /// The accepted flows whose both ends are `among` the hosts, from flows folded by 5-tuple.
    pub fn of(among: &AddrSet, folded: &Folded) -> Observed {
        let flows = folded
            .flows
            .iter()
            .filter(|(k, _)| {
                k.action == Action::Accept && among.contains(k.src) && among.contains(k.dst)
            })
            .map(|(k, s)| {
                (
                    (k.src, k.dst, k.src_port, k.dst_port, k.protocol),
                    Seen {
                        first: s.first,
                        last: s.last,
                        flags: s.tcp_flags,
                    },
                )
            })
            .collect();
        Observed { flows }
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
        // Hosts by address: a week of an organisation's flows, each asking every host, would
        // cost flows × hosts.
        let by_address = ByAddress::of((0..).zip(hosts.iter().map(|h| h.addrs.ranges())));
        let owner = |ip: IpAddr| -> Option<usize> {
            // The most specific host that holds the address.
            by_address
                .at(ip)
                .iter()
                .map(|&i| i as usize)
                .min_by_key(|&i| (hosts[i].addrs.ranges().size(), i))
        };
        let mut out = Services::new();
        for (&(s, d, sp, dp, p), seen) in &self.flows {
            let peers_of = |a: IpAddr, port: u16| peers.get(&(a, port, p)).map_or(0, BTreeSet::len);
            let Some(reply) = self.flows.get(&(d, s, dp, sp, p)) else {
                // Accepted with no reply: over UDP a one-way service (syslog, metrics) the
                // baseline keeps with `return: optional`; anything else did not work.
                if p == 17 && !self.flows.contains_key(&(d, s, dp, sp, p)) {
                    let reverse = peers_of(d, dp) >= peers_of(s, sp);
                    if let (true, Some(c), Some(v)) = (reverse, owner(s), owner(d)) {
                        let e = out.entry((c, v, dp, p)).or_insert((0, None, None, false));
                        e.0 += 1;
                        e.1 = min_opt(e.1, seen.first);
                        e.2 = e.2.max(seen.last);
                    }
                }
                continue;
            };
            // Each connection once: from the request's side.
            let syn_ack = |f: &Seen| f.flags.is_some_and(|x| x & 0x12 == 0x12);
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
            let e = out.entry((c, v, port, p)).or_insert((0, None, None, false));
            e.0 += 1;
            e.1 = min_opt(e.1, seen.first);
            e.2 = e.2.max(seen.last.max(reply.last));
            e.3 = true;
        }
        out
    }

    /// The baseline spec, as YAML with comments; `None` when no connection among the hosts was
    /// ESTABLISHED (a spec needs an expectation).
    pub fn spec(
        &self,
        app: &str,
        hosts: &[Named],
        source: &str,
        gaps: Option<&str>,
    ) -> Option<String> {
        let services = self.services(hosts);
        if services.is_empty() {
            return None;
        }
        let used: BTreeSet<usize> = services.keys().flat_map(|k| [k.0, k.1]).collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Written by `flowgate observe` from {source}: the connections that were ESTABLISHED\n# (request and reply accepted) among the hosts, by service port, and one-way UDP services (return:\n# optional). Review it before gating on it."
        );
        if let Some(gaps) = gaps {
            // The baseline may be short of connections: say so where a reviewer reads it.
            let _ = writeln!(
                out,
                "# The evidence had gaps ({}): connections may be missing from this baseline.",
                gaps.replace('\n', " ")
            );
        }
        let _ = writeln!(out, "app: {}", yaml_string(app));
        let _ = writeln!(out, "hosts:");
        for i in &used {
            let _ = writeln!(out, "  {}: {}", hosts[*i].name, hosts[*i].yaml);
        }
        let _ = writeln!(out, "expect:");
        for ((c, v, port, p), (count, first, last, answered)) in &services {
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
            let one_way = if *answered {
                ""
            } else {
                ", one way (no reply: none expected)"
            };
            let _ = writeln!(out, "  # {count} connection{s}{seen}{one_way}");
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
            let optional = if *answered { "" } else { ", return: optional" };
            let _ = writeln!(
                out,
                "  - {{ name: {}, from: {from}, to: {to}{port_field}, protocol: {proto}{optional} }}",
                yaml_string(&format!("{from} reaches {to} on {what}"))
            );
        }
        Some(out)
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A string as a YAML scalar: JSON's double-quoted form is valid YAML.
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A spec host written back the way the spec gave it, with its account.
pub fn host_yaml(selector: &HostSelector, account: Option<&str>) -> String {
    let yaml = selector_yaml(selector);
    match account {
        // Every selector's YAML is one flow mapping: the account goes inside it.
        Some(a) => match yaml.strip_suffix(" }") {
            Some(open) => format!("{open}, account: {} }}", yaml_string(a)),
            None => yaml,
        },
        None => yaml,
    }
}

fn selector_yaml(selector: &HostSelector) -> String {
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
        HostSelector::Aws(AwsSelector::Interface(f)) => format!(
            "{{ interface: {{ {} }} }}",
            [
                ("description", &f.description),
                ("requester", &f.requester),
                ("type", &f.kind),
                ("security_group", &f.security_group),
            ]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {}", yaml_string(v))))
            .collect::<Vec<_>>()
            .join(", ")
        ),
        HostSelector::Aws(sel) => {
            let id = match sel {
                AwsSelector::Instance(i)
                | AwsSelector::Eni(i)
                | AwsSelector::SecurityGroup(i)
                | AwsSelector::Subnet(i)
                | AwsSelector::LoadBalancer(i)
                | AwsSelector::Lambda(i)
                | AwsSelector::VpcEndpoint(i)
                | AwsSelector::NatGateway(i) => i.clone(),
                AwsSelector::Tag(_) | AwsSelector::Interface(_) => {
                    unreachable!("handled above")
                }
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

#[cfg(test)]
mod host_yaml_tests {
    use super::*;

    /// What observe writes back must load as the same host: the account inside its mapping.
    #[test]
    fn hosts_are_written_back_with_their_account_and_load_again() {
        let src = "app: a\nhosts:\n  db: { tag: { Name: shared-db }, account: \"222222222222\" }\n  rds: { interface: { description: RDSNetworkInterface, type: interface } }\n  lb: { load_balancer: shop-lb }\nexpect: [{from: lb, to: db, port: 5432}, {from: lb, to: rds, port: 5432}]\n";
        let spec = crate::spec::parse(std::path::Path::new("s.yaml"), src).unwrap();
        let hosts: Vec<String> = spec
            .hosts
            .iter()
            .map(|(name, h)| format!("  {name}: {}", host_yaml(&h.selector, h.account.as_deref())))
            .collect();
        let again = format!(
            "app: a\nhosts:\n{}\nexpect: [{{from: lb, to: db, port: 5432}}, {{from: lb, to: rds, port: 5432}}]\n",
            hosts.join("\n")
        );
        let reread = crate::spec::parse(std::path::Path::new("s.yaml"), &again)
            .unwrap_or_else(|p| panic!("{again}\n{p:?}"));
        for (name, h) in &spec.hosts {
            assert_eq!(reread.hosts[name].selector, h.selector, "{again}");
            assert_eq!(reread.hosts[name].account, h.account, "{again}");
        }
    }
}
