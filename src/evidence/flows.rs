//! Flows folded for the commands that list flows rather than judge checks: `triage` (refused
//! flows touching the hosts) and `observe` (accepted flows among them). Every source folds its
//! records or rows the same way, so the commands never see where they came from.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Action, Flow, max_opt, min_opt};

/// How finely flows are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// By the whole 5-tuple: both ports (observe tells client from server by them).
    Tuple,
    /// By source, destination, destination port and protocol, with the span of source ports:
    /// a refused reply comes back from one service port to many ephemeral ones (triage).
    Service,
}

/// One folded flow: which way, which ports, which protocol, accepted or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The source port under `Fold::Tuple`; 0 under `Fold::Service` (see `FlowSeen::src_ports`).
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub action: Action,
}

/// What was seen of one folded flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSeen {
    pub records: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// The OR of tcp-flags, where the format has them.
    pub tcp_flags: Option<u8>,
    /// The lowest and highest source port.
    pub src_ports: (u16, u16),
}

impl FlowSeen {
    /// A single source port, if every record had the same one.
    pub fn src_port(&self) -> Option<u16> {
        (self.src_ports.0 == self.src_ports.1).then_some(self.src_ports.0)
    }

    fn merge(&mut self, o: &FlowSeen) {
        self.records = self.records.saturating_add(o.records);
        self.first = min_opt(self.first, o.first);
        self.last = max_opt(self.last, o.last);
        self.tcp_flags = match (self.tcp_flags, o.tcp_flags) {
            (Some(a), Some(b)) => Some(a | b),
            (a, b) => a.or(b),
        };
        self.src_ports = (
            self.src_ports.0.min(o.src_ports.0),
            self.src_ports.1.max(o.src_ports.1),
        );
    }
}

/// Flows folded one way; what `Question::Flows` gathers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    pub fold: Fold,
    pub flows: BTreeMap<FlowKey, FlowSeen>,
}

impl Folded {
    pub fn new(fold: Fold) -> Folded {
        Folded {
            fold,
            flows: BTreeMap::new(),
        }
    }

    /// Takes in one record.
    pub fn add(&mut self, flow: &Flow) {
        let seen = FlowSeen {
            records: 1,
            first: flow.start,
            last: flow.end,
            tcp_flags: flow.tcp_flags,
            src_ports: (flow.srcport, flow.srcport),
        };
        self.add_seen(flow, seen);
    }

    /// Takes in what a row of an aggregating engine counted for the flow `key_of` (its source
    /// port is not part of the key under `Fold::Service`).
    pub fn add_seen(&mut self, key_of: &Flow, seen: FlowSeen) {
        let key = FlowKey {
            src: key_of.src,
            dst: key_of.dst,
            src_port: match self.fold {
                Fold::Tuple => key_of.srcport,
                Fold::Service => 0,
            },
            dst_port: key_of.dstport,
            protocol: key_of.protocol,
            action: key_of.action,
        };
        match self.flows.get_mut(&key) {
            Some(s) => s.merge(&seen),
            None => {
                self.flows.insert(key, seen);
            }
        }
    }

    pub fn merge(&mut self, other: Folded) {
        for (k, s) in other.flows {
            match self.flows.get_mut(&k) {
                Some(mine) => mine.merge(&s),
                None => {
                    self.flows.insert(k, s);
                }
            }
        }
    }
}

impl Default for Folded {
    fn default() -> Self {
        Folded::new(Fold::Tuple)
    }
}
