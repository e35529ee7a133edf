//! Strict hosts in the evidence: the accepted connections to a host, as the server, that no reach
//! expectation of its spec covers. Pure: flows come in folded by 5-tuple (as `observe` reads
//! them), accepted records only.
//!
//! Which end of a flow is the server: the one whose records carry SYN-ACK where the format has
//! `tcp-flags`; otherwise the end on the lower port (clients pick ephemeral ports, 1024 and up,
//! services listen below them or on fixed ports). Flows without ports (ICMP) cannot be told
//! apart from their replies, so every one towards the host counts. A TCP connection counts only
//! with an accepted reply: a request accepted by the client's own interface and refused by the
//! host's shows as accepted too, and the fold does not keep interfaces apart.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::evidence::Action;
use crate::evidence::flows::{FlowKey, FlowSeen, Folded};
use crate::plan::Check;
use crate::resolve::AddrSet;

/// Accepted connections from one peer to the host on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub peer: IpAddr,
    /// The host's address they went to (the first seen, when several).
    pub server: IpAddr,
    /// The server port; 0 for protocols without ports.
    pub port: u16,
    pub protocol: u8,
    pub connections: u64,
    /// Connections whose reply was accepted too.
    pub answered: u64,
    pub records: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
}

fn syn_ack(s: &FlowSeen) -> bool {
    s.tcp_flags.is_some_and(|f| f & 0x12 == 0x12)
}

fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17)
}

/// Whether `k` (towards the host) is a request, given the flow back, if any.
fn is_request(k: &FlowKey, seen: &FlowSeen, back: Option<&FlowSeen>) -> bool {
    if syn_ack(seen) {
        return false;
    }
    if back.is_some_and(syn_ack) {
        return true;
    }
    !has_ports(k.protocol) || k.dst_port <= k.src_port
}

/// Whether a reach check covers a connection from `peer` to `server` on `port`.
fn covers(c: &Check, peer: IpAddr, server: IpAddr, port: u16, protocol: u8) -> bool {
    !c.is_deny()
        && c.from.addrs.contains(peer)
        && c.to.addrs.contains(server)
        && c.protocol_for(peer) == protocol
        && c.ports.contains(port)
}

/// The connections to `host` that none of `expected` covers, most connections first.
pub fn undeclared(host: &AddrSet, expected: &[&Check], folded: &Folded) -> Vec<Row> {
    let mut rows: BTreeMap<(IpAddr, u16, u8), Row> = BTreeMap::new();
    for (k, seen) in &folded.flows {
        if k.action != Action::Accept || !host.contains(k.dst) || k.src == k.dst {
            continue;
        }
        let back = folded.flows.get(&FlowKey {
            src: k.dst,
            dst: k.src,
            src_port: k.dst_port,
            dst_port: k.src_port,
            protocol: k.protocol,
            action: Action::Accept,
        });
        if !is_request(k, seen, back) || (k.protocol == 6 && back.is_none()) {
            continue;
        }
        if expected
            .iter()
            .any(|c| covers(c, k.src, k.dst, k.dst_port, k.protocol))
        {
            continue;
        }
        let port = if has_ports(k.protocol) { k.dst_port } else { 0 };
        let row = rows.entry((k.src, port, k.protocol)).or_insert(Row {
            peer: k.src,
            server: k.dst,
            port,
            protocol: k.protocol,
            connections: 0,
            answered: 0,
            records: 0,
            first: None,
            last: None,
        });
        row.connections += 1;
        row.answered += u64::from(back.is_some());
        row.records = row.records.saturating_add(seen.records);
        row.first = match (row.first, seen.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        row.last = row.last.max(seen.last);
    }
    let mut out: Vec<Row> = rows.into_values().collect();
    out.sort_by(|a, b| {
        b.connections
            .cmp(&a.connections)
            .then((a.peer, a.port, a.protocol).cmp(&(b.peer, b.port, b.protocol)))
    });
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::evidence::flows::Fold;
    use crate::evidence::{Flow, IfaceId};
    use crate::plan::Window;

    fn plan() -> crate::plan::Plan {
        let spec = crate::spec::parse(
            Path::new("t.yaml"),
            "app: t\nhosts:\n  app: { ip: 10.0.2.20 }\n  db: { ip: 10.0.3.30, strict: true }\n  internet: { cidr: 0.0.0.0/0, except: [10.0.0.0/8] }\nexpect:\n  - { from: app, to: db, port: 1433 }\n  - { from: internet, to: db, port: 22, deny: true }\n",
        )
        .unwrap();
        crate::plan::build(&[spec], Window::default()).unwrap()
    }

    fn flow(src: &str, sport: u16, dst: &str, dport: u16, flags: Option<u8>, start: u64) -> Flow {
        Flow {
            iface: IfaceId::UNKNOWN,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            srcport: sport,
            dstport: dport,
            protocol: 6,
            action: Action::Accept,
            tcp_flags: flags,
            start: Some(start),
            end: Some(start + 60),
            reject_reason: None,
        }
    }

    fn rows(flows: &[Flow]) -> Vec<Row> {
        let plan = plan();
        let mut folded = Folded::new(Fold::Tuple);
        flows.iter().for_each(|f| folded.add(f));
        let expected: Vec<&Check> = plan.checks.iter().collect();
        undeclared(&plan.checks[0].to.addrs, &expected, &folded)
    }

    #[test]
    fn an_expected_client_is_not_listed_and_an_undeclared_one_is() {
        let r = rows(&[
            flow("10.0.2.20", 50001, "10.0.3.30", 1433, Some(2), 100),
            flow("10.0.3.30", 1433, "10.0.2.20", 50001, Some(18), 100),
            flow("10.0.1.10", 40001, "10.0.3.30", 22, Some(2), 200),
            flow("10.0.3.30", 22, "10.0.1.10", 40001, Some(18), 200),
            flow("10.0.1.10", 40002, "10.0.3.30", 22, Some(2), 400),
            flow("10.0.3.30", 22, "10.0.1.10", 40002, Some(18), 400),
        ]);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            (
                r[0].peer.to_string(),
                r[0].port,
                r[0].connections,
                r[0].answered
            ),
            ("10.0.1.10".to_string(), 22, 2, 2)
        );
        assert_eq!((r[0].first, r[0].last), (Some(200), Some(460)));
    }

    #[test]
    fn the_expected_client_on_another_port_is_listed() {
        let r = rows(&[
            flow("10.0.2.20", 50001, "10.0.3.30", 3389, None, 100),
            flow("10.0.3.30", 3389, "10.0.2.20", 50001, None, 100),
        ]);
        assert_eq!(r.iter().map(|r| r.port).collect::<Vec<_>>(), [3389]);
    }

    #[test]
    fn the_hosts_own_connections_out_and_a_deny_are_not_reaches() {
        let r = rows(&[
            // db as the client of 203.0.113.5:443: the reply comes to db's ephemeral port.
            flow("10.0.3.30", 51000, "203.0.113.5", 443, Some(2), 100),
            flow("203.0.113.5", 443, "10.0.3.30", 51000, Some(18), 100),
            // Without flags the lower port is the service.
            flow("10.0.3.30", 52000, "203.0.113.6", 443, None, 100),
            flow("203.0.113.6", 443, "10.0.3.30", 52000, None, 100),
        ]);
        assert!(r.is_empty(), "{r:?}");
        // A deny expectation covers nothing: the internet on ssh is listed.
        let r = rows(&[
            flow("203.0.113.9", 51515, "10.0.3.30", 22, Some(2), 100),
            flow("10.0.3.30", 22, "203.0.113.9", 51515, Some(18), 100),
        ]);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn an_unanswered_tcp_request_is_not_a_connection() {
        // The client's interface let it out; the host's may have refused it.
        let r = rows(&[flow("10.0.1.10", 40001, "10.0.3.30", 22, Some(2), 100)]);
        assert!(r.is_empty(), "{r:?}");
    }
}
