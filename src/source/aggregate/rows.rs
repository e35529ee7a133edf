//! What an engine's result rows say, once decoded: the same for Logs Insights and Athena.

use std::net::IpAddr;

use crate::evidence::flows::FlowSeen;
use crate::evidence::{Action, Flow, IfaceId, TgwHop};

/// What one row says.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// `records` records of one connection on one interface with one action; `latest_start` is
    /// the latest start among them (`flow.start` the earliest), `sample` the earliest record.
    /// A record read whole is one of these with `records` 1.
    Flow {
        flow: Flow,
        records: u64,
        latest_start: Option<u64>,
        sample: Option<String>,
    },
    /// The records of one address pair on one interface with one action (a pair query's row).
    Pair(PairRow),
    /// Flows folded as `Ask::Flows` asks: `flow` names them (its source port is the lowest).
    Folded { flow: Flow, seen: FlowSeen },
    /// `records` Transit Gateway records of one connection through one gateway attachment,
    /// which lost `hop.lost` packets in all; `sample` the earliest record.
    Hop {
        flow: Flow,
        hop: TgwHop,
        records: u64,
        sample: Option<String>,
    },
    /// SKIPDATA on an interface; `end` is the latest end of those records.
    SkipData {
        iface: IfaceId,
        records: u64,
        end: Option<u64>,
    },
    /// NODATA, or nothing a check can use.
    Nothing,
}

impl Decoded {
    /// The (source, destination) a row is judged by: the packet's own addresses where the
    /// records have them.
    pub fn addresses(&self) -> Option<(IpAddr, IpAddr)> {
        match self {
            Decoded::Flow { flow, .. }
            | Decoded::Folded { flow, .. }
            | Decoded::Hop { flow, .. } => Some((flow.src, flow.dst)),
            Decoded::Pair(p) => Some((p.src, p.dst)),
            Decoded::SkipData { .. } | Decoded::Nothing => None,
        }
    }
}

/// The ports one side of a pair row's records used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub low: u16,
    pub high: u16,
    /// How many distinct ports (Logs Insights' `count_distinct`, Athena's `count(DISTINCT)`).
    pub distinct: u64,
}

impl Span {
    pub fn single(&self) -> Option<u16> {
        (self.low == self.high).then_some(self.low)
    }
}

/// One row of a pair query.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRow {
    pub iface: IfaceId,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub action: Action,
    /// The row's tcp-flags value, where the format has them.
    pub tcp_flags: Option<u8>,
    pub records: u64,
    pub first: Option<u64>,
    pub last_start: Option<u64>,
    pub last: Option<u64>,
    pub src_ports: Span,
    pub dst_ports: Span,
}

/// A pair of addresses, low one first: how pairs to drill into are named.
pub fn unordered(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b { (a, b) } else { (b, a) }
}
