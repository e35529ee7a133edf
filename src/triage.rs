//! `flowgate triage`: the REJECTed flows touching a spec's hosts, counted and sorted, each with
//! the expectation that covers it, if any. What an engineer runs when "the application is not
//! working" and nobody knows which server cannot reach which.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::evidence::{Action, Flow};
use crate::explain::rules::protocol_name;
use crate::plan::{Check, Plan};
use crate::report::text::time;
use crate::resolve::AddrSet;

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
}

impl Seen {
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
pub struct Scope<'a> {
    pub hosts: Vec<AddrSet>,
    pub plan: &'a Plan,
}

impl Scope<'_> {
    pub fn touches(&self, a: IpAddr, b: IpAddr) -> bool {
        self.hosts.iter().any(|h| h.contains(a) || h.contains(b))
    }

    /// The key of a refused flow: a reply when some check's server answers its client from a
    /// service port (replies go to ephemeral ports, one row per port would bury the rest).
    pub fn key(&self, src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16, protocol: u8) -> Key {
        let reply = self.plan.checks.iter().any(|c| {
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
        for c in &self.plan.checks {
            let (client, server, port, reply) = match k.port {
                Port::To(p) => (k.src, k.dst, p, false),
                Port::ReplyFrom(p) => (k.dst, k.src, p, true),
            };
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

/// Counts refused flows as the file source shows them.
pub fn observe_flow(scope: &Scope<'_>, rows: &mut BTreeMap<Key, Seen>, f: &Flow) {
    if f.action != Action::Reject || !scope.touches(f.src, f.dst) {
        return;
    }
    let key = scope.key(f.src, f.dst, f.srcport, f.dstport, f.protocol);
    rows.entry(key).or_default().add(1, f.start, f.end);
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
                scope.covered_by(k),
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

/// Reads a row of the triage query (`query::triage`).
/// What a triage row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Refused(Key, Seen),
    /// SKIPDATA: AWS skipped this many records in the window.
    Skipped(u64),
    /// A row about no host of the specs.
    Elsewhere,
}

pub fn decode_row(
    scope: &Scope<'_>,
    row: &crate::source::insights::run::Row,
) -> Result<Row, String> {
    let get = |name: &str| -> Result<&str, String> {
        row.iter()
            .find(|(f, _)| f == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("has no {name}"))
    };
    let number = |name: &str| -> Result<u64, String> {
        let v = get(name)?;
        v.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0 && n.fract() == 0.0)
            .map(|n| n as u64)
            .ok_or_else(|| format!("{name} `{v}` is not a number"))
    };
    if row.iter().any(|(f, v)| f == "logStatus" && v == "SKIPDATA") {
        return Ok(Row::Skipped(number("records")?));
    }
    let port = |name: &str| -> Result<u16, String> {
        u16::try_from(number(name)?).map_err(|_| format!("{name} is not a port"))
    };
    let addr = |name: &str| -> Result<IpAddr, String> {
        let v = get(name)?;
        crate::source::record::parse_ip(v).ok_or_else(|| format!("{name} `{v}` is not an address"))
    };
    // The packet's own addresses where the format has them and the row carries them.
    let own = |pkt: &str, fallback: &str| -> Result<IpAddr, String> {
        match row.iter().find(|(f, _)| f == pkt).map(|(_, v)| v.as_str()) {
            Some(v) if v != "-" && !v.is_empty() => addr(pkt),
            _ => addr(fallback),
        }
    };
    let (src, dst) = (own("pktSrcAddr", "srcAddr")?, own("pktDstAddr", "dstAddr")?);
    let protocol =
        u8::try_from(number("protocol")?).map_err(|_| "protocol is not one".to_string())?;
    let (low, high, dport) = (port("srcPortLow")?, port("srcPortHigh")?, port("dstPort")?);
    let key = if low == high {
        scope.key(src, dst, low, dport, protocol)
    } else {
        Key {
            src,
            dst,
            port: Port::To(dport),
            protocol,
        }
    };
    let time = |name: &str| {
        number(name)
            .ok()
            .filter(|t| *t <= crate::source::record::LAST_TIME)
    };
    let seen = Seen {
        records: number("records")?,
        first: time("first"),
        last: time("last"),
    };
    // A row found by its interface's own address whose packet went elsewhere concerns no host.
    Ok(if scope.touches(src, dst) {
        Row::Refused(key, seen)
    } else {
        Row::Elsewhere
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::plan::Window;
    use crate::source::format::Format;

    fn plan() -> Plan {
        let spec = crate::spec::parse(
            Path::new("t.yaml"),
            "app: t\nhosts:\n  batch: { ip: 192.168.20.15 }\n  files: { ip: 10.0.4.40 }\nexpect:\n  - { from: batch, to: files, port: 445 }\n",
        )
        .unwrap();
        crate::plan::build(&[spec], Window::default()).unwrap()
    }

    fn row(fields: &[(&str, &str)]) -> crate::source::insights::run::Row {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn logs_insights_rows_fold_refused_replies_by_their_service_port() {
        let plan = plan();
        let scope = Scope {
            hosts: plan
                .checks
                .iter()
                .flat_map(|c| [c.from.addrs.clone(), c.to.addrs.clone()])
                .collect(),
            plan: &plan,
        };
        let reply = row(&[
            ("srcAddr", "10.0.4.40"),
            ("dstAddr", "192.168.20.15"),
            ("dstPort", "46469"),
            ("protocol", "6"),
            ("records", "3"),
            ("first", "100"),
            ("last", "160"),
            ("srcPortLow", "445"),
            ("srcPortHigh", "445"),
        ]);
        let Row::Refused(k, seen) = decode_row(&scope, &reply).unwrap() else {
            panic!("a refused reply")
        };
        assert_eq!(k.port, Port::ReplyFrom(445));
        assert_eq!(
            seen,
            Seen {
                records: 3,
                first: Some(100),
                last: Some(160)
            }
        );
        assert_eq!(scope.covered_by(&k), "reply of t::batch -> files tcp/445");
        let request = row(&[
            ("srcAddr", "192.168.20.15"),
            ("dstAddr", "10.0.4.40"),
            ("dstPort", "22"),
            ("protocol", "6"),
            ("records", "1"),
            ("srcPortLow", "40000"),
            ("srcPortHigh", "40100"),
        ]);
        let Row::Refused(k, _) = decode_row(&scope, &request).unwrap() else {
            panic!("a refused request")
        };
        assert_eq!(
            (k.port, scope.covered_by(&k).as_str()),
            (Port::To(22), "none")
        );
        assert!(decode_row(&scope, &row(&[("@message", "2 1 eni-1 ...")])).is_err());
        assert_eq!(
            decode_row(&scope, &row(&[("logStatus", "SKIPDATA"), ("records", "7")])),
            Ok(Row::Skipped(7))
        );
    }

    #[test]
    fn the_observe_query_asks_for_accepted_records() {
        let nets = ["10.0.0.0/16".parse().unwrap()];
        let q = crate::source::insights::query::touching(
            &Format::default_v2(),
            &nets,
            crate::evidence::Action::Accept,
            crate::source::insights::query::Rows::Raw,
        );
        assert_eq!(
            q.into_iter().map(|(text, _)| text).collect::<Vec<_>>(),
            [
                "filter logStatus = \"SKIPDATA\" or (action = \"ACCEPT\" and (isIpInSubnet(srcAddr, \"10.0.0.0/16\") or isIpInSubnet(dstAddr, \"10.0.0.0/16\")))\n| fields @ptr, @message, @logStream\n| limit 10000"
            ]
        );
    }

    #[test]
    fn the_triage_query_asks_for_refused_records_of_the_hosts_counted() {
        let nets = [
            "192.168.20.15/32".parse().unwrap(),
            "10.0.4.0/24".parse().unwrap(),
        ];
        let q = crate::source::insights::query::touching(
            &Format::default_v2(),
            &nets,
            crate::evidence::Action::Reject,
            crate::source::insights::query::Rows::Aggregated,
        );
        assert_eq!(q.len(), 1);
        assert_eq!(
            q[0].0,
            "filter logStatus = \"SKIPDATA\" or (action = \"REJECT\" and (srcAddr in [\"192.168.20.15\"] or isIpInSubnet(srcAddr, \"10.0.4.0/24\") or dstAddr in [\"192.168.20.15\"] or isIpInSubnet(dstAddr, \"10.0.4.0/24\")))\n| stats count(*) as records, min(startTime) as first, max(endTime) as last, min(srcPort) as srcPortLow, max(srcPort) as srcPortHigh by logStatus, srcAddr, dstAddr, dstPort, protocol"
        );
    }
}
