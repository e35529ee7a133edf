//! `flowgate triage`: the REJECTed flows touching a spec's hosts, counted and sorted, each with
//! the expectation that covers it, if any. What an engineer runs when "the application is not
//! working" and nobody knows which server cannot reach which.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::TriageArgs;
use crate::error::Error;
use crate::evidence::flows::Fold;
use crate::source::{FlowQuestion, Question};

use crate::evidence::Action;
use crate::evidence::flows::Folded;
use crate::explain::rules::protocol_name;
use crate::plan::index::{ByAddress, Index};
use crate::plan::{Check, Plan};
use crate::report::text::time;
use crate::resolve::{AddrSet, Ranges};

pub async fn run(args: TriageArgs) -> Result<ExitCode, Error> {
    let window = super::window(&args.evidence)?;
    let specs = super::load(&args.specs)?;
    let request = super::request(&args.evidence, None);
    let aws = super::connect(&args.evidence, &request, &specs, super::Purpose::Read).await?;
    let resolved = super::resolve_all(&specs, aws.as_ref()).await?;
    let plan = Arc::new(crate::plan::assemble(&specs, &resolved, window));
    // Every host of the specs, whether an expectation names it or not.
    let hosts: Vec<AddrSet> = resolved
        .iter()
        .flat_map(|h| {
            h.values()
                .filter_map(|r| r.as_ref().ok())
                .map(|h| h.addrs.clone())
        })
        .collect();
    let touching = hosts
        .iter()
        .fold(Ranges::of(&[], &[]), |u, h| u.union(h.ranges()));
    let source = super::open(&request, &plan, aws.as_ref()).await?;
    if let Some(uncovered) = source.uncovered() {
        for (i, why) in uncovered {
            eprintln!(
                "not covered, its refused flows may be missing: {}: {why}",
                plan.checks[*i].trial_name()
            );
        }
    }
    let ask = FlowQuestion {
        action: Action::Reject,
        touching,
        fold: Fold::Service,
    };
    let question = Question::Flows {
        plan: Arc::clone(&plan),
        ask,
    };
    let ev = super::gather(&source, &question).await?;
    eprint!("{}", crate::report::text::gap_lines(&ev.gaps, &ev, "  "));
    if !ev.gaps.is_empty() {
        eprintln!("(evidence is missing: the table may be short of refused flows)");
    }
    let scope = Scope::new(&hosts, &plan);
    let read = crate::report::what_was_read(&ev);
    print!("{}", render(&scope, &scope.table(&ev.flows), &read));
    Ok(ExitCode::SUCCESS)
}

/// What a refused flow was: a request to `port`, or a reply from service port `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Port {
    To(u16),
    ReplyFrom(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub port: Port,
    pub protocol: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub records: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// The OR of the records' tcp-flags, where the format has them.
    pub flags: Option<u8>,
}

impl Seen {
    /// Refused TCP records none of which opens a connection (no SYN): packets that came after
    /// the connection closed (a FIN or RST retransmitted), not a block.
    pub fn late_only(&self, protocol: u8) -> bool {
        protocol == 6 && self.flags.is_some_and(|f| f & 0x02 == 0)
    }

    pub fn add(&mut self, records: u64, first: Option<u64>, last: Option<u64>) {
        self.records = self.records.saturating_add(records);
        self.first = match (self.first, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(last);
    }
}

/// The spec's hosts and checks, to tell which flows matter and which expectation covers one.
/// Both are looked up by address (a wave's thousand checks would otherwise be asked about every
/// row, as the scan once asked them about every record).
pub struct Scope<'a> {
    hosts: ByAddress,
    checks: Index,
    plan: &'a Plan,
}

impl<'a> Scope<'a> {
    pub fn new(hosts: &[AddrSet], plan: &'a Plan) -> Scope<'a> {
        Scope {
            hosts: ByAddress::of((0..).zip(hosts.iter().map(AddrSet::ranges))),
            checks: Index::of(&plan.checks),
            plan,
        }
    }

    pub fn touches(&self, a: IpAddr, b: IpAddr) -> bool {
        !self.hosts.at(a).is_empty() || !self.hosts.at(b).is_empty()
    }

    /// The checks that may cover a flow between `a` and `b`, either way round.
    fn candidates(&self, a: IpAddr, b: IpAddr) -> impl Iterator<Item = &Check> {
        let mut ids = Vec::new();
        self.checks.candidates(a, b, &mut ids);
        ids.into_iter().map(|i| &self.plan.checks[i as usize])
    }

    /// The key of a refused flow: a reply when some check's server answers its client from a
    /// service port (replies go to ephemeral ports, one row per port would bury the rest).
    pub fn key(&self, src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16, protocol: u8) -> Key {
        let reply = self.candidates(src, dst).any(|c| {
            covers(c, dst, src, src_port, protocol) && !covers(c, src, dst, dst_port, protocol)
        });
        Key {
            src,
            dst,
            port: if reply {
                Port::ReplyFrom(src_port)
            } else {
                Port::To(dst_port)
            },
            protocol,
        }
    }

    /// The expectations that cover a row, in words.
    fn covered_by(&self, k: &Key) -> String {
        let mut names = Vec::new();
        let (client, server, port, reply) = match k.port {
            Port::To(p) => (k.src, k.dst, p, false),
            Port::ReplyFrom(p) => (k.dst, k.src, p, true),
        };
        for c in self.candidates(client, server) {
            if covers(c, client, server, port, k.protocol) {
                let deny = if c.is_deny() {
                    " (deny: refused as expected)"
                } else {
                    ""
                };
                let reply = if reply { "reply of " } else { "" };
                names.push(format!("{reply}{}{deny}", c.trial_name()));
            }
        }
        if names.is_empty() {
            "none".into()
        } else {
            names.join("; ")
        }
    }
}

fn covers(c: &Check, client: IpAddr, server: IpAddr, port: u16, protocol: u8) -> bool {
    c.from.addrs.contains(client)
        && c.to.addrs.contains(server)
        && c.protocol_for(client) == protocol
        && c.ports.contains(port)
}

impl Scope<'_> {
    /// The refused flows touching the hosts, keyed for the table, from flows folded by service
    /// (see `evidence::flows::Fold::Service`).
    pub fn table(&self, folded: &Folded) -> BTreeMap<Key, Seen> {
        let mut rows: BTreeMap<Key, Seen> = BTreeMap::new();
        for (k, s) in &folded.flows {
            if k.action != Action::Reject || !self.touches(k.src, k.dst) {
                continue;
            }
            let key = match s.src_port() {
                Some(p) => self.key(k.src, k.dst, p, k.dst_port, k.protocol),
                None => Key {
                    src: k.src,
                    dst: k.dst,
                    port: Port::To(k.dst_port),
                    protocol: k.protocol,
                },
            };
            let row = rows.entry(key).or_default();
            row.add(s.records, s.first, s.last);
            row.flags = match (row.flags, s.tcp_flags) {
                (Some(a), Some(b)) => Some(a | b),
                (a, b) => a.or(b),
            };
        }
        rows
    }
}

/// The table, most records first.
pub fn render(scope: &Scope<'_>, rows: &BTreeMap<Key, Seen>, source: &str) -> String {
    let mut sorted: Vec<(&Key, &Seen)> = rows.iter().collect();
    sorted.sort_by(|a, b| b.1.records.cmp(&a.1.records).then(a.0.cmp(b.0)));
    let mut out = String::new();
    let uncovered = sorted
        .iter()
        .filter(|(k, _)| scope.covered_by(k) == "none")
        .count();
    let _ = writeln!(
        out,
        "REJECTed flows touching the spec's hosts ({source}): {} ({uncovered} not covered by any expectation)\n",
        sorted.len()
    );
    if sorted.is_empty() {
        return out;
    }
    let table: Vec<[String; 7]> = sorted
        .iter()
        .map(|(k, s)| {
            let port = match k.port {
                Port::To(p) if matches!(k.protocol, 6 | 17) => p.to_string(),
                Port::To(_) => "-".into(),
                Port::ReplyFrom(p) => format!("reply from {p}"),
            };
            [
                s.records.to_string(),
                k.src.to_string(),
                k.dst.to_string(),
                port,
                protocol_name(k.protocol),
                match (s.first, s.last) {
                    (Some(f), Some(l)) => format!("{} .. {}", time(f), time(l)),
                    _ => "-".into(),
                },
                if s.late_only(k.protocol) {
                    format!(
                        "{} (late packets: no SYN, after the connection closed; not a block)",
                        scope.covered_by(k)
                    )
                } else {
                    scope.covered_by(k)
                },
            ]
        })
        .collect();
    let head = [
        "records",
        "source",
        "destination",
        "port",
        "protocol",
        "seen",
        "expectation",
    ];
    let width: Vec<usize> = (0..7)
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].len())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(l, "{c:>w$}", w = width[i]);
            } else if i == cells.len() - 1 {
                let _ = write!(l, "  {c}");
            } else {
                let _ = write!(l, "  {c:<w$}", w = width[i]);
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(head.to_vec()));
    for r in &table {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::evidence::flows::Fold;
    use crate::evidence::{Flow, IfaceId};
    use crate::plan::Window;
    use crate::source::aggregate::Ask;
    use crate::source::format::Format;
    use crate::source::insights::query::by_networks;

    fn plan() -> Plan {
        let spec = crate::spec::parse(
            Path::new("t.yaml"),
            "app: t\nhosts:\n  batch: { ip: 192.168.20.15 }\n  files: { ip: 10.0.4.40 }\nexpect:\n  - { from: batch, to: files, port: 445 }\n",
        )
        .unwrap();
        crate::plan::build(&[spec], Window::default()).unwrap()
    }

    fn refused(src: &str, sport: u16, dst: &str, dport: u16, start: u64) -> Flow {
        Flow {
            iface: IfaceId::UNKNOWN,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            srcport: sport,
            dstport: dport,
            protocol: 6,
            action: Action::Reject,
            tcp_flags: None,
            start: Some(start),
            end: Some(start + 60),
            reject_reason: None,
        }
    }

    #[test]
    fn refused_packets_without_syn_are_marked_late_apart_from_blocks() {
        let plan = plan();
        let scope = Scope::new(
            &[
                plan.checks[0].from.addrs.clone(),
                plan.checks[0].to.addrs.clone(),
            ],
            &plan,
        );
        let with = |flags: u8, sport: u16| Flow {
            tcp_flags: Some(flags),
            ..refused("192.168.20.15", sport, "10.0.4.40", 445, 100)
        };
        // A FIN-ACK and an RST after the connection closed: late. A SYN among them: a block.
        let mut late = Folded::new(Fold::Service);
        late.add(&with(0x11, 40000));
        late.add(&with(0x04, 40000));
        let rendered = render(&scope, &scope.table(&late), "test");
        assert!(
            rendered.contains("(late packets: no SYN, after the connection closed; not a block)"),
            "{rendered}"
        );
        let mut blocked = Folded::new(Fold::Service);
        for f in [0x11, 0x04, 0x02] {
            blocked.add(&with(f, 40000));
        }
        let rendered = render(&scope, &scope.table(&blocked), "test");
        assert!(!rendered.contains("late packets"), "{rendered}");
        // Without tcp-flags nothing can be told: no mark.
        let mut unknown = Folded::new(Fold::Service);
        unknown.add(&refused("192.168.20.15", 40000, "10.0.4.40", 445, 100));
        assert!(!render(&scope, &scope.table(&unknown), "test").contains("late packets"));
    }

    #[test]
    fn refused_replies_fold_by_their_service_port_and_requests_by_theirs() {
        let plan = plan();
        let hosts: Vec<_> = plan
            .checks
            .iter()
            .flat_map(|c| [c.from.addrs.clone(), c.to.addrs.clone()])
            .collect();
        let scope = Scope::new(&hosts, &plan);
        let mut folded = Folded::new(Fold::Service);
        // Two replies from the share's port 445, to two ephemeral ports of the batch job.
        folded.add(&refused("10.0.4.40", 445, "192.168.20.15", 46469, 100));
        folded.add(&refused("10.0.4.40", 445, "192.168.20.15", 47584, 160));
        // Requests to ssh from many client ports; and a flow of nobody's.
        for p in 40000..40003 {
            folded.add(&refused("192.168.20.15", p, "10.0.4.40", 22, 200));
        }
        folded.add(&refused("10.9.9.9", 1, "10.9.9.8", 22, 200));
        let table = scope.table(&folded);
        let reply = Key {
            src: "10.0.4.40".parse().unwrap(),
            dst: "192.168.20.15".parse().unwrap(),
            port: Port::ReplyFrom(445),
            protocol: 6,
        };
        assert_eq!(
            table[&reply],
            Seen {
                records: 2,
                first: Some(100),
                last: Some(220),
                flags: None,
            }
        );
        assert_eq!(
            scope.covered_by(&reply),
            "reply of t::batch -> files tcp/445"
        );
        let ssh = Key {
            port: Port::To(22),
            src: reply.dst,
            dst: reply.src,
            protocol: 6,
        };
        assert_eq!(table[&ssh].records, 3);
        assert_eq!(scope.covered_by(&ssh), "none");
        assert_eq!(
            table.len(),
            2,
            "the flow of nobody's is not in it: {table:?}"
        );
    }

    #[test]
    fn the_observe_query_asks_for_accepted_records() {
        let nets = crate::resolve::Ranges::of(&["10.0.0.0/16".parse().unwrap()], &[]);
        let q = by_networks(
            &Format::default_v2(),
            Some(&nets),
            Ask::Records,
            Some(Action::Accept),
        );
        assert_eq!(
            q.into_iter().map(|q| q.text).collect::<Vec<_>>(),
            [
                "filter logStatus = \"SKIPDATA\" or (action = \"ACCEPT\" and (isIpInSubnet(srcAddr, \"10.0.0.0/16\") or isIpInSubnet(dstAddr, \"10.0.0.0/16\")))\n| fields @ptr, @message, @logStream\n| limit 10000"
            ]
        );
    }

    #[test]
    fn the_triage_query_asks_for_refused_records_of_the_hosts_counted() {
        let nets = crate::resolve::Ranges::of(
            &[
                "192.168.20.15/32".parse().unwrap(),
                "10.0.4.0/24".parse().unwrap(),
            ],
            &[],
        );
        let q = by_networks(
            &Format::default_v2(),
            Some(&nets),
            Ask::Flows(Fold::Service),
            Some(Action::Reject),
        );
        assert_eq!(q.len(), 1);
        assert_eq!(
            q[0].text,
            // SKIPDATA is counted by a query of its own (`Ask::SkipData`), not among totals.
            "filter (action = \"REJECT\" and (srcAddr in [\"192.168.20.15\"] or isIpInSubnet(srcAddr, \"10.0.4.0/24\") or dstAddr in [\"192.168.20.15\"] or isIpInSubnet(dstAddr, \"10.0.4.0/24\")))\n| stats count(*) as records, min(startTime) as first, max(endTime) as last, min(srcPort) as srcPortLow, max(srcPort) as srcPortHigh by logStatus, srcAddr, dstAddr, dstPort, protocol, action"
        );
    }
}
