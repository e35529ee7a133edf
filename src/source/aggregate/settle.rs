//! Settling address pairs from an engine's pair totals, and picking the pairs to ask about
//! connection by connection.
//!
//! A pair row (see `Ask::Pairs`) counts the records of one interface, address pair (as the
//! records have them: source, destination), protocol and action, with the span of ports on each
//! side. Where those totals decide what judging connection by connection would, the pair is
//! settled here; every other pair is asked again per connection and judged by the ledger. What is
//! settled, and why it agrees with the ledger:
//! - reach: only accepted records, and every server port with accepted requests took new
//!   connections throughout (`Answering::answered_throughout`, computed from the same times and
//!   tcp-flags the ledger uses; pair rows are grouped by tcp-flags for it). Each connection is
//!   then ESTABLISHED, UNANSWERED or unjudged (a reply whose request is not in the window): none
//!   is broken, and the pair counts as reached iff it has an accepted request.
//! - deny: only rejected records. No connection got through.
//!
//! Everything else is asked again: rejects in a reach check (a block, a late packet or a
//! stateless NACL: only connections tell), accepts in a deny check (ALLOWED, and the message
//! counts connections), a server port that stopped answering (NO_RETURN), a row whose ports span
//! more than one server port, and a row that is request and reply at once.
//!
//! Settled pairs count connections as the engine's distinct client ports (Logs Insights'
//! `count_distinct` is approximate for very high cardinality per AWS), so they are marked
//! `estimated`: per interface, the most any one row of it counts, since rows split by tcp-flags
//! or by window halves count the same ports again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::rows::{PairRow, Span, unordered};
use crate::evidence::{
    Action, Answering, Flow, IfaceId, PairEvidence, RecordCounts, Role, Shape, flag, max_opt,
    min_opt,
};
use crate::plan::{Check, Plan};
use crate::spec::Kind;

/// What the pair rows settle.
#[derive(Debug, Default)]
pub struct Settled {
    /// Per check of the plan: the pairs settled from their totals.
    pub pairs: BTreeMap<usize, BTreeMap<(IpAddr, IpAddr), PairEvidence>>,
    /// The pairs to ask about connection by connection, low address first. They are asked
    /// about for every check, so none of them is in `pairs`.
    pub drill: BTreeSet<(IpAddr, IpAddr)>,
}

/// What one server port of a pair shows: distinct client ports per interface.
#[derive(Debug, Default)]
struct PortTally {
    answering: Answering,
    requests: BTreeMap<IfaceId, u64>,
    replies: BTreeMap<IfaceId, u64>,
    refused: BTreeMap<IfaceId, u64>,
    replies_refused: BTreeMap<IfaceId, u64>,
}

/// The same connection is logged on both ends' interfaces: the interface that saw most of them
/// is the best count.
fn most(m: &BTreeMap<IfaceId, u64>) -> u64 {
    m.values().copied().max().unwrap_or(0)
}

#[derive(Debug, Default)]
struct Tally {
    ifaces: BTreeSet<IfaceId>,
    records: RecordCounts,
    first: Option<u64>,
    last: Option<u64>,
    drill: bool,
    ports: BTreeMap<u16, PortTally>,
}

impl Tally {
    fn take(&mut self, row: &PairRow, role: Role, server_port: u16, client_ports: &Span) {
        self.ifaces.insert(row.iface);
        self.records.add(role, row.action, row.records);
        self.first = min_opt(self.first, row.first);
        self.last = max_opt(self.last, row.last);
        let p = self.ports.entry(server_port).or_default();
        let flow = Flow {
            iface: row.iface,
            src: row.src,
            dst: row.dst,
            srcport: 0,
            dstport: 0,
            protocol: row.protocol,
            action: row.action,
            tcp_flags: row.tcp_flags,
            start: row.first,
            end: row.last,
            reject_reason: None,
        };
        p.answering.observe(role, &flow, row.last_start);
        let slot = match (role, row.action) {
            (Role::Request, Action::Accept) => &mut p.requests,
            (Role::Reply, Action::Accept) => &mut p.replies,
            (Role::Request, Action::Reject) => &mut p.refused,
            (Role::Reply, Action::Reject) => &mut p.replies_refused,
        };
        // Rows of one interface are split by tcp-flags (a connection's SYN record and its later
        // ones), and by the window and the minutes before it: the same client ports, counted
        // again. The row with the most of them is the count; every connection that began in
        // the window has its SYN record in one row.
        let n = slot.entry(row.iface).or_default();
        *n = (*n).max(client_ports.distinct);
    }

    /// The pair's evidence when its totals decide it, else `None`. Its connections are counted
    /// under the one shape every one of them shares as far as verdicts go: request and reply
    /// accepted (reach), request refused (deny), or only a reply (nothing to judge).
    fn settle(&self, kind: Kind) -> Option<PairEvidence> {
        if self.drill {
            return None;
        }
        let r = &self.records;
        let view = |flags: u8| {
            let iface = self.ifaces.first().copied().unwrap_or(IfaceId::UNKNOWN);
            Shape::new(&[(iface, flags | flag::SEEN)], false)
        };
        let ((judged_as, judged), (unjudged_as, unjudged)) = match kind {
            Kind::Reach { return_required } => {
                if r.request_reject + r.reply_reject > 0 {
                    return None;
                }
                let mut judged = 0;
                let mut unjudged = 0;
                for p in self.ports.values() {
                    match most(&p.requests) {
                        0 => unjudged += most(&p.replies),
                        _ if return_required && !p.answering.answered_throughout() => return None,
                        n => judged += n,
                    }
                }
                (
                    (view(flag::REQ_ACCEPT | flag::REP_ACCEPT), judged),
                    (view(flag::REP_ACCEPT), unjudged),
                )
            }
            Kind::Deny => {
                if r.request_accept + r.reply_accept > 0 {
                    return None;
                }
                let refused = self.ports.values().map(|p| most(&p.refused)).sum();
                let unjudged = self.ports.values().map(|p| most(&p.replies_refused)).sum();
                (
                    (view(flag::REQ_REJECT), refused),
                    (view(flag::REP_REJECT), unjudged),
                )
            }
        };
        let connections: BTreeMap<Shape, u64> = [(judged_as, judged), (unjudged_as, unjudged)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        Some(PairEvidence {
            ifaces: self.ifaces.iter().copied().collect(),
            records: self.records,
            first_seen: self.first,
            last_seen: self.last,
            connections,
            estimated: true,
            ..PairEvidence::default()
        })
    }
}

/// Whether a row can hold requests, and replies, of `check`: protocol and addresses match, and
/// the server side's port is one of the check's. A span of several ports may hold one: for a
/// custom format, Logs Insights' `parse` yields text, and `min` and `max` of text compare it as
/// text ("10000" < "9000"), so a span's ends do not bound its ports.
fn shapes(check: &Check, row: &PairRow) -> (bool, bool) {
    if row.protocol != check.protocol_for(row.src) {
        return (false, false);
    }
    let (from, to) = (&check.from.addrs, &check.to.addrs);
    let may = |span: &Span| span.single().is_none_or(|p| check.ports.contains(p));
    let request = from.contains(row.src) && to.contains(row.dst) && may(&row.dst_ports);
    let reply = to.contains(row.src) && from.contains(row.dst) && may(&row.src_ports);
    (request, reply)
}

/// Settles what the pair rows of one window decide for the checks `ids`, and names the pairs to
/// ask about connection by connection.
pub fn settle(plan: &Plan, ids: &[usize], rows: &[PairRow]) -> Settled {
    let mut tallies: BTreeMap<(usize, IpAddr, IpAddr), Tally> = BTreeMap::new();
    for row in rows {
        for &i in ids {
            let check = &plan.checks[i];
            let (request, reply) = shapes(check, row);
            let (role, client, server, server_ports, client_ports) = match (request, reply) {
                (false, false) => continue,
                (true, true) => {
                    // Both ways at once (the sides overlap): only connections tell them apart.
                    tallies.entry((i, row.src, row.dst)).or_default().drill = true;
                    tallies.entry((i, row.dst, row.src)).or_default().drill = true;
                    continue;
                }
                (true, false) => (
                    Role::Request,
                    row.src,
                    row.dst,
                    row.dst_ports,
                    row.src_ports,
                ),
                (false, true) => (Role::Reply, row.dst, row.src, row.src_ports, row.dst_ports),
            };
            let t = tallies.entry((i, client, server)).or_default();
            match server_ports.single() {
                Some(port) => t.take(row, role, port, &client_ports),
                // Several server ports in one row: which client port went to which is lost.
                None => t.drill = true,
            }
        }
    }
    let mut out = Settled::default();
    let mut settled = Vec::new();
    for ((i, client, server), t) in tallies {
        match t.settle(plan.checks[i].kind) {
            Some(ev) => settled.push((i, client, server, ev)),
            None => {
                out.drill.insert(unordered(client, server));
            }
        }
    }
    for (i, client, server, ev) in settled {
        if !out.drill.contains(&unordered(client, server)) {
            out.pairs.entry(i).or_default().insert((client, server), ev);
        }
    }
    out
}

#[cfg(test)]
mod tests;
