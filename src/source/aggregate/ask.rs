//! What the protocol asks an engine: which rows, about which records, over which time range.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::evidence::Action;
use crate::evidence::flows::Fold;
use crate::resolve::Ranges;

/// What the rows of a query hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rows {
    /// Rows totalled by the engine (`stats`, `GROUP BY`).
    #[default]
    Aggregated,
    /// One row per record, read as the file source reads a line: for low volumes, and for
    /// emulators that do not aggregate.
    Raw,
}

/// What a query asks for. Engines pick records by their start time; a record that began in
/// the minutes before the window (one aggregation interval at most) can still overlap it. The
/// `*Edge` asks cover those minutes, with each row's end as well, so that each row can be
/// placed: in the window when it ends at or after the window's start (as the file source counts
/// it), else only context that excuses late packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// One row per interface, address pair, protocol, action (and tcp-flags).
    Pairs,
    PairsEdge,
    /// One row per connection, interface and action, with its earliest record as a sample.
    Connections,
    ConnectionsEdge,
    /// The records themselves, and SKIPDATA records.
    Records,
    RecordsEdge,
    /// Flows folded one way (see `evidence::flows`).
    Flows(Fold),
    FlowsEdge(Fold),
    /// What transit gateways carried and dropped (a family of Transit Gateway flow logs): one
    /// row per gateway, attachment, connection and packets lost, with its earliest record.
    Hops,
    HopsEdge,
    /// The SKIPDATA records per interface, by a query of their own: totals of flows are grouped
    /// by fields a SKIPDATA record lacks, and how `stats ... by` treats a missing field is not
    /// documented, so nothing rests on it.
    SkipData,
    SkipDataEdge,
}

impl Ask {
    /// Whether the query covers the minutes before the window rather than the window.
    pub fn is_edge(self) -> bool {
        matches!(
            self,
            Ask::PairsEdge
                | Ask::ConnectionsEdge
                | Ask::RecordsEdge
                | Ask::FlowsEdge(_)
                | Ask::HopsEdge
                | Ask::SkipDataEdge
        )
    }

    /// Whether rows are records rather than totals.
    pub fn is_records(self) -> bool {
        matches!(self, Ask::Records | Ask::RecordsEdge)
    }

    /// Whether rows are connections (per connection totals).
    pub fn is_connections(self) -> bool {
        matches!(self, Ask::Connections | Ask::ConnectionsEdge)
    }

    /// The same question about the minutes before the window.
    pub fn edge(self) -> Ask {
        match self {
            Ask::Pairs | Ask::PairsEdge => Ask::PairsEdge,
            Ask::Connections | Ask::ConnectionsEdge => Ask::ConnectionsEdge,
            Ask::Records | Ask::RecordsEdge => Ask::RecordsEdge,
            Ask::Flows(f) | Ask::FlowsEdge(f) => Ask::FlowsEdge(f),
            Ask::Hops | Ask::HopsEdge => Ask::HopsEdge,
            Ask::SkipData | Ask::SkipDataEdge => Ask::SkipDataEdge,
        }
    }
}

/// The records a query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Records with an address in these networks at either end (`None`: every record), and
    /// with this action when one is given. SKIPDATA records come along.
    Networks {
        nets: Option<Ranges>,
        action: Option<Action>,
    },
    /// Records between the two addresses of one of these pairs (each written low address first),
    /// either way. SKIPDATA records do not come along: the first queries counted them.
    Pairs(BTreeSet<(IpAddr, IpAddr)>),
}

/// One question to an engine: which family of records, what rows, about which records, over
/// which time range (Unix seconds, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub family: usize,
    pub ask: Ask,
    pub target: Target,
    pub range: (u64, u64),
}
