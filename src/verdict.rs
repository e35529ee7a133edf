//! Verdicts: pure functions from evidence to outcomes. No I/O, no clocks.
//!
//! The rules, in the words of the spec format:
//! - a connection is one request 5-tuple and its mirrored reply; it is judged from what each
//!   interface that logged it saw (see [`connection`]);
//! - a (client, server) pair takes its worst connection: REJECTED, then RETURN_REJECTED, then
//!   NO_RETURN, then ESTABLISHED; a connection left without reply while the server answered the
//!   client on that port until after it began is UNANSWERED, not NO_RETURN, and breaks nothing;
//! - a reach check passes when some pair is ESTABLISHED and none is broken, fails with the worst
//!   pair otherwise, and fails NO_TRAFFIC when nothing was seen;
//! - a reach check whose traffic a transit gateway dropped (Transit Gateway flow logs count the
//!   packets it lost: no route, blackhole, MTU, TTL) fails TGW_DROPPED, whatever else was seen:
//!   the drop names its cause;
//! - a deny check fails ALLOWED when any request got through to the server, and passes otherwise;
//! - a pass that rests on incomplete evidence (unreadable files, bad lines, SKIPDATA) is an error,
//!   not a pass: the missing records could have failed the check.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::evidence::{
    Action, CheckEvidence, Gaps, PairEvidence, Role, Sample, Shape, Unavailable, flag,
};
use crate::plan::Check;
use crate::spec::Kind;

/// What the evidence says about one connection, in rising order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnVerdict {
    Established,
    /// Accepted, never answered, while the server answered the same client on the same port
    /// after it began (see `evidence::Answering`): not a network failure.
    Unanswered,
    NoReturn,
    ReturnRejected,
    Rejected,
}

impl ConnVerdict {
    pub fn label(self) -> &'static str {
        match self {
            ConnVerdict::Established => "ESTABLISHED",
            ConnVerdict::Unanswered => "UNANSWERED",
            ConnVerdict::NoReturn => "NO_RETURN",
            ConnVerdict::ReturnRejected => "RETURN_REJECTED",
            ConnVerdict::Rejected => "REJECTED",
        }
    }

    /// Whether the request reached the server (what a deny check forbids).
    pub fn request_delivered(self) -> bool {
        self != ConnVerdict::Rejected
    }

    /// Whether a reach check fails on this connection.
    pub fn is_broken(self) -> bool {
        self > ConnVerdict::Unanswered
    }
}

impl fmt::Display for ConnVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

fn any(shape: &Shape, f: u8) -> bool {
    shape.views().any(|(_, x)| x & f != 0)
}

/// Judges one connection for a check of `kind`: what its shape shows, or `None` when nothing in
/// it is a request that could be judged. A connection left without reply while its server port
/// answered new connections from the client until after it began is UNANSWERED, not NO_RETURN.
pub fn connection(kind: Kind, shape: &Shape) -> Option<ConnVerdict> {
    match kind {
        Kind::Reach { return_required } => match reach_connection(shape, return_required) {
            Some(ConnVerdict::NoReturn) if shape.answered => Some(ConnVerdict::Unanswered),
            v => v,
        },
        Kind::Deny => deny_connection(shape),
    }
}

/// Judges one connection for a reach check.
///
/// A REJECT is a packet after the connection closed, not a block, when the interface that logged
/// it saw the connection's request and its reply both accepted, or (already folded into the flags)
/// when its tcp-flags carry no SYN. Judging "established" per interface matters when both ends are
/// in the VPC: the server's interface can see request and reply accepted while the client's subnet
/// NACL refuses the reply on the client's interface; that connection is RETURN_REJECTED. Where the
/// format has no interface-id, records of both interfaces are indistinguishable, so the exemption
/// does not apply (only tcp-flags can show a late packet): a refusal is never explained away.
///
/// An interface's acceptances in the minutes before a time window (see `Window::context`) excuse
/// its late packets too, but are never judged themselves.
///
/// Returns `None` when nothing in the flags is a request that could be judged (only late packets,
/// or replies whose request is not in the evidence).
pub fn reach_connection(seen: &Shape, return_required: bool) -> Option<ConnVerdict> {
    // Acceptances just before the window count here, and only here.
    let late_exempt = |known: bool, f: u8| {
        let f = f | f >> 4;
        known && f & flag::REQ_ACCEPT != 0 && f & flag::REP_ACCEPT != 0
    };
    let blocked = |f: u8| {
        seen.views()
            .any(|(known, x)| x & f != 0 && !late_exempt(known, x))
    };
    if blocked(flag::REQ_REJECT) {
        Some(ConnVerdict::Rejected)
    } else if !any(seen, flag::REQ_ACCEPT) {
        None
    } else if blocked(flag::REP_REJECT) {
        Some(ConnVerdict::ReturnRejected)
    } else if any(seen, flag::REP_ACCEPT) || !return_required {
        Some(ConnVerdict::Established)
    } else {
        Some(ConnVerdict::NoReturn)
    }
}

/// Judges one connection for a deny check, where the question is only whether the request got
/// through, and any doubt counts as yes.
///
/// The request was refused when some interface only ever rejected it (in the VPC, that is the
/// server's interface refusing what the client's let out). An interface that logged the same
/// request both accepted and rejected let it through at some point (a rule changed inside the
/// window), and an accepted reply proves the server answered, even when its request is not in the
/// evidence.
pub fn deny_connection(seen: &Shape) -> Option<ConnVerdict> {
    let only = |yes: u8, no: u8| seen.views().any(|(_, x)| x & yes != 0 && x & no == 0);
    let refused = only(flag::REQ_REJECT, flag::REQ_ACCEPT);
    let delivered = any(seen, flag::REP_ACCEPT) || (any(seen, flag::REQ_ACCEPT) && !refused);
    if !delivered {
        return refused.then_some(ConnVerdict::Rejected);
    }
    Some(if only(flag::REP_REJECT, flag::REP_ACCEPT) {
        ConnVerdict::ReturnRejected
    } else if any(seen, flag::REP_ACCEPT) {
        ConnVerdict::Established
    } else {
        ConnVerdict::NoReturn
    })
}

/// A pair's connections judged for a check of `kind`: how many of each verdict, and how many
/// had nothing to judge (late packets, replies without requests).
pub fn connections(kind: Kind, ev: &PairEvidence) -> (BTreeMap<ConnVerdict, u64>, u64) {
    let mut judged: BTreeMap<ConnVerdict, u64> = BTreeMap::new();
    let mut unjudged = 0;
    for (shape, n) in &ev.connections {
        match connection(kind, shape) {
            Some(v) => *judged.entry(v).or_default() += n,
            None => unjudged += n,
        }
    }
    (judged, unjudged)
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
    /// The verdict of each connection a sample belongs to, by (client port, server port).
    pub sampled: BTreeMap<(u16, u16), ConnVerdict>,
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
    let (connections, unjudged) = connections(check.kind, ev);
    let sampled: BTreeMap<(u16, u16), ConnVerdict> = ev
        .sampled
        .iter()
        .filter_map(|(ports, shape)| connection(check.kind, shape).map(|v| (*ports, v)))
        .collect();
    let worst = connections.keys().next_back().copied();
    let (headline, broken) = match check.kind {
        Kind::Reach { .. } => (
            worst,
            worst.is_some_and(ConnVerdict::is_broken) || !ev.tgw.lost.is_empty(),
        ),
        Kind::Deny => match connections.keys().rev().find(|v| v.request_delivered()) {
            Some(&through) => (Some(through), true),
            None => (worst, false),
        },
    };
    let samples = pick_samples(&ev.samples, &sampled, headline);
    PairVerdict {
        client,
        server,
        connections,
        unjudged,
        headline,
        broken,
        evidence: ev,
        samples,
        sampled,
    }
}

/// The records to show for a pair: those of the headline's connections first, one of each kind
/// (e.g. the client's ACCEPT next to the server's REJECT) before a second of any kind, and the
/// records that show the problem (REJECTs for a block, ACCEPTs otherwise) before the others.
fn pick_samples<'e>(
    samples: &'e [Sample],
    by_conn: &BTreeMap<(u16, u16), ConnVerdict>,
    headline: Option<ConnVerdict>,
) -> Vec<&'e Sample> {
    let blocking = matches!(
        headline,
        Some(ConnVerdict::Rejected | ConnVerdict::ReturnRejected)
    );
    let mut ranked: Vec<(bool, usize, bool, &Sample)> = samples
        .iter()
        .map(|s| {
            let relevant = headline.is_some() && by_conn.get(&s.conn) == headline.as_ref();
            let shows_it = (s.action == Action::Reject) == blocking;
            (!relevant, 0, !shows_it, s)
        })
        .collect();
    ranked.sort_by(|a, b| (a.0, a.2, &a.3.origin).cmp(&(b.0, b.2, &b.3.origin)));
    // Number each record within its kind, so that the first of each kind sorts first.
    let mut counts: BTreeMap<(bool, Role, Action), usize> = BTreeMap::new();
    for r in &mut ranked {
        let n = counts.entry((r.0, r.3.role, r.3.action)).or_default();
        r.1 = *n;
        *n += 1;
    }
    ranked.sort_by(|a, b| (a.0, a.1, a.2, &a.3.origin).cmp(&(b.0, b.1, b.2, &b.3.origin)));
    ranked
        .into_iter()
        .take(SAMPLES_SHOWN)
        .map(|r| r.3)
        .collect()
}

/// Why a check failed: the JUnit failure type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Rejected,
    ReturnRejected,
    NoReturn,
    NoTraffic,
    /// A transit gateway on the path dropped packets of the check's traffic.
    TgwDropped,
    /// A deny check saw traffic get through.
    Allowed,
    /// A deny check's path is open in the configuration (whatever the traffic).
    Open,
    /// The configuration alone (a preflight) refuses a reach check's path.
    PredictedRefused,
    /// A strict host took connections no reach expectation covers.
    Undeclared,
    /// A strict host's security groups allow more than its expectations need.
    RulesTooWide,
}

impl Failure {
    pub fn label(self) -> &'static str {
        match self {
            Failure::Rejected => "REJECTED",
            Failure::ReturnRejected => "RETURN_REJECTED",
            Failure::NoReturn => "NO_RETURN",
            Failure::NoTraffic => "NO_TRAFFIC",
            Failure::TgwDropped => "TGW_DROPPED",
            Failure::Allowed => "ALLOWED",
            Failure::Open => "OPEN",
            Failure::PredictedRefused => "PREDICTED_REFUSED",
            Failure::Undeclared => "UNDECLARED",
            Failure::RulesTooWide => "RULES_TOO_WIDE",
        }
    }

    fn of(v: ConnVerdict) -> Failure {
        match v {
            ConnVerdict::Rejected => Failure::Rejected,
            ConnVerdict::ReturnRejected => Failure::ReturnRejected,
            ConnVerdict::NoReturn => Failure::NoReturn,
            ConnVerdict::Established | ConnVerdict::Unanswered => {
                unreachable!("an answered pair is not a failure")
            }
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
    let worst_broken = pairs.iter().filter(|p| p.broken).find_map(|p| {
        p.headline
            .filter(|v| v.is_broken() || check.kind == Kind::Deny)
    });
    let tgw_dropped = pairs.iter().any(|p| !p.evidence.tgw.lost.is_empty());
    let complete = gaps.is_empty();
    let outcome = match check.kind {
        Kind::Deny => match worst_broken {
            Some(_) => Outcome::Fail(Failure::Allowed),
            None if complete => Outcome::Pass,
            None => Outcome::Error(Missing::Incomplete),
        },
        Kind::Reach { .. } => match worst_broken {
            // The drop names its cause, which the connections' verdict (NO_RETURN, or a
            // REJECT further on) only shows the effect of.
            _ if tgw_dropped => Outcome::Fail(Failure::TgwDropped),
            Some(v) => Outcome::Fail(Failure::of(v)),
            None if !judged => match no_traffic {
                NoTraffic::Fail => Outcome::Fail(Failure::NoTraffic),
                // A skip says "nothing happened yet"; with evidence missing that is not known.
                NoTraffic::Skip if complete => Outcome::Skip,
                NoTraffic::Skip => Outcome::Error(Missing::Incomplete),
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

pub mod strict;

#[cfg(test)]
mod tests;
