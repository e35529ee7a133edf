//! Verdicts: pure functions from evidence to outcomes. No I/O, no clocks.
//!
//! The rules, in the words of the spec format:
//! - a connection is one request 5-tuple and its mirrored reply; it is judged from what each
//!   interface that logged it saw (see [`connection`]);
//! - a (client, server) pair takes its worst connection: REJECTED, then RETURN_REJECTED, then
//!   NO_RETURN, then ESTABLISHED;
//! - a reach check passes when some pair is ESTABLISHED and none is broken, fails with the worst
//!   pair otherwise, and fails NO_TRAFFIC when nothing was seen;
//! - a deny check fails ALLOWED when any request got through to the server, and passes otherwise;
//! - a pass that rests on incomplete evidence (unreadable files, bad lines, SKIPDATA) is an error,
//!   not a pass: the missing records could have failed the check.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::evidence::{Action, CheckEvidence, Gaps, PairEvidence, Sample, Unavailable, flag};
use crate::plan::Check;
use crate::spec::Kind;

/// What the evidence says about one connection, in rising order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnVerdict {
    Established,
    NoReturn,
    ReturnRejected,
    Rejected,
}

impl ConnVerdict {
    pub fn label(self) -> &'static str {
        match self {
            ConnVerdict::Established => "ESTABLISHED",
            ConnVerdict::NoReturn => "NO_RETURN",
            ConnVerdict::ReturnRejected => "RETURN_REJECTED",
            ConnVerdict::Rejected => "REJECTED",
        }
    }

    /// Whether the request reached the server (what a deny check forbids).
    pub fn request_delivered(self) -> bool {
        self != ConnVerdict::Rejected
    }
}

impl fmt::Display for ConnVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Judges one connection from the flags each interface that logged it recorded.
///
/// A REJECT is a packet after the connection closed, not a block, when the same interface saw the
/// connection's request and its reply both accepted, or (already folded into the flags) when its
/// tcp-flags carry no SYN. Judging "established" per interface matters when both ends are in the
/// VPC: the server's interface can see request and reply accepted while the client's subnet NACL
/// refuses the reply on the client's interface; that connection is RETURN_REJECTED.
///
/// Returns `None` when nothing in the flags is a request that could be judged (only late packets,
/// or replies whose request is not in the evidence).
pub fn connection(
    ifaces: impl IntoIterator<Item = u8>,
    return_required: bool,
) -> Option<ConnVerdict> {
    let (mut req_accept, mut rep_accept, mut req_block, mut rep_block) =
        (false, false, false, false);
    for f in ifaces {
        let established_here = f & flag::REQ_ACCEPT != 0 && f & flag::REP_ACCEPT != 0;
        req_accept |= f & flag::REQ_ACCEPT != 0;
        rep_accept |= f & flag::REP_ACCEPT != 0;
        if !established_here {
            req_block |= f & flag::REQ_REJECT != 0;
            rep_block |= f & flag::REP_REJECT != 0;
        }
    }
    if req_block {
        Some(ConnVerdict::Rejected)
    } else if !req_accept {
        None
    } else if rep_block {
        Some(ConnVerdict::ReturnRejected)
    } else if rep_accept || !return_required {
        Some(ConnVerdict::Established)
    } else {
        Some(ConnVerdict::NoReturn)
    }
}

/// The verdict on one (client, server) pair.
#[derive(Debug, Clone)]
pub struct PairVerdict<'e> {
    pub client: IpAddr,
    pub server: IpAddr,
    /// Connections by verdict.
    pub connections: BTreeMap<ConnVerdict, u64>,
    /// Connections with records but nothing to judge (late packets, replies without requests).
    pub unjudged: u64,
    /// What this pair shows for the check: its worst connection, or for a deny check the worst
    /// connection whose request got through. `None` when no connection could be judged.
    pub headline: Option<ConnVerdict>,
    /// Whether this pair fails the check.
    pub broken: bool,
    pub evidence: &'e PairEvidence,
    /// Raw records to show, those of the headline's connections first.
    pub samples: Vec<&'e Sample>,
}

impl PairVerdict<'_> {
    pub fn connection_count(&self) -> u64 {
        self.connections.values().sum()
    }
}

/// How samples are shown per pair.
pub const SAMPLES_SHOWN: usize = 3;

fn judge_pair<'e>(
    client: IpAddr,
    server: IpAddr,
    ev: &'e PairEvidence,
    check: &Check,
) -> PairVerdict<'e> {
    let return_required = check.return_required();
    let mut connections: BTreeMap<ConnVerdict, u64> = BTreeMap::new();
    let mut by_conn: BTreeMap<(u16, u16), ConnVerdict> = BTreeMap::new();
    let mut unjudged = 0;
    // Keys are sorted by (client port, server port, interface): one run per connection.
    let mut keys = ev.conns.iter().peekable();
    while let Some((&(cport, sport, _), &first)) = keys.next() {
        let mut flags = vec![first];
        while let Some(&(&(c, s, _), &f)) = keys.peek() {
            if (c, s) != (cport, sport) {
                break;
            }
            flags.push(f);
            keys.next();
        }
        match connection(flags, return_required) {
            Some(v) => {
                *connections.entry(v).or_default() += 1;
                by_conn.insert((cport, sport), v);
            }
            None => unjudged += 1,
        }
    }
    let (headline, broken) = match check.kind {
        Kind::Reach { .. } => {
            let worst = connections.keys().next_back().copied();
            (worst, worst.is_some_and(|w| w != ConnVerdict::Established))
        }
        Kind::Deny => {
            let through = connections
                .keys()
                .rev()
                .find(|v| v.request_delivered())
                .copied();
            match through {
                Some(v) => (Some(v), true),
                None => (connections.keys().next_back().copied(), false),
            }
        }
    };
    let mut samples: Vec<&Sample> = ev.samples.iter().collect();
    let blocking = matches!(
        headline,
        Some(ConnVerdict::Rejected | ConnVerdict::ReturnRejected)
    );
    samples.sort_by_key(|s| {
        let relevant = by_conn.get(&s.conn) == headline.as_ref();
        let shows_it = (s.action == Action::Reject) == blocking;
        (!relevant, !shows_it, s.origin.clone())
    });
    // One record of each kind first (e.g. the client's ACCEPT next to the server's REJECT), then
    // the rest in order.
    let mut kinds_seen = Vec::new();
    let (mut firsts, rest): (Vec<&Sample>, Vec<&Sample>) = samples.into_iter().partition(|s| {
        let kind = (s.role, s.action);
        let first = by_conn.get(&s.conn) == headline.as_ref() && !kinds_seen.contains(&kind);
        kinds_seen.push(kind);
        first
    });
    firsts.extend(rest);
    let mut samples = firsts;
    samples.truncate(SAMPLES_SHOWN);
    PairVerdict {
        client,
        server,
        connections,
        unjudged,
        headline,
        broken,
        evidence: ev,
        samples,
    }
}

/// Why a check failed: the JUnit failure type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Rejected,
    ReturnRejected,
    NoReturn,
    NoTraffic,
    /// A deny check saw traffic get through.
    Allowed,
}

impl Failure {
    pub fn label(self) -> &'static str {
        match self {
            Failure::Rejected => "REJECTED",
            Failure::ReturnRejected => "RETURN_REJECTED",
            Failure::NoReturn => "NO_RETURN",
            Failure::NoTraffic => "NO_TRAFFIC",
            Failure::Allowed => "ALLOWED",
        }
    }

    fn of(v: ConnVerdict) -> Failure {
        match v {
            ConnVerdict::Rejected => Failure::Rejected,
            ConnVerdict::ReturnRejected => Failure::ReturnRejected,
            ConnVerdict::NoReturn => Failure::NoReturn,
            ConnVerdict::Established => unreachable!("an established pair is not a failure"),
        }
    }
}

/// Why a check could not be judged: the JUnit error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The check would pass, but part of the evidence is missing.
    Incomplete,
    /// The source could not provide evidence for this check.
    Unavailable(String),
}

impl Missing {
    pub fn label(&self) -> &'static str {
        match self {
            Missing::Incomplete => "INCOMPLETE",
            Missing::Unavailable(_) => "UNAVAILABLE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(Failure),
    Error(Missing),
    /// NO_TRAFFIC, turned into a skip by `--no-traffic skip`.
    Skip,
}

/// What to make of a reach check with no traffic at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoTraffic {
    #[default]
    Fail,
    Skip,
}

/// The full verdict on one check, with what explains it.
#[derive(Debug, Clone)]
pub struct Judgement<'e> {
    pub outcome: Outcome,
    /// Every pair with records: broken pairs first (worst first), then the rest.
    pub pairs: Vec<PairVerdict<'e>>,
    /// The gaps in the evidence that bear on this check.
    pub gaps: &'e Gaps,
}

impl Judgement<'_> {
    pub fn broken_pairs(&self) -> impl Iterator<Item = &PairVerdict<'_>> {
        self.pairs.iter().filter(|p| p.broken)
    }
}

/// Judges one check against its evidence.
pub fn judge<'e>(
    check: &Check,
    evidence: &'e Result<CheckEvidence, Unavailable>,
    gaps: &'e Gaps,
    no_traffic: NoTraffic,
) -> Judgement<'e> {
    let ev = match evidence {
        Ok(ev) => ev,
        Err(Unavailable(why)) => {
            return Judgement {
                outcome: Outcome::Error(Missing::Unavailable(why.clone())),
                pairs: Vec::new(),
                gaps,
            };
        }
    };
    let mut pairs: Vec<PairVerdict<'e>> = ev
        .pairs
        .iter()
        .map(|(&(client, server), pe)| judge_pair(client, server, pe, check))
        .collect();
    pairs.sort_by(|a, b| {
        (b.broken, b.headline, b.connection_count())
            .cmp(&(a.broken, a.headline, a.connection_count()))
            .then((a.client, a.server).cmp(&(b.client, b.server)))
    });
    let judged = pairs.iter().any(|p| p.headline.is_some());
    let worst_broken = pairs.iter().find(|p| p.broken).and_then(|p| p.headline);
    let complete = gaps.is_empty();
    let outcome = match check.kind {
        Kind::Deny => match worst_broken {
            Some(_) => Outcome::Fail(Failure::Allowed),
            None if complete => Outcome::Pass,
            None => Outcome::Error(Missing::Incomplete),
        },
        Kind::Reach { .. } => match worst_broken {
            Some(v) => Outcome::Fail(Failure::of(v)),
            None if !judged => match no_traffic {
                NoTraffic::Fail => Outcome::Fail(Failure::NoTraffic),
                NoTraffic::Skip => Outcome::Skip,
            },
            None if complete => Outcome::Pass,
            None => Outcome::Error(Missing::Incomplete),
        },
    };
    Judgement {
        outcome,
        pairs,
        gaps,
    }
}

#[cfg(test)]
mod tests;
