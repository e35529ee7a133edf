//! The configuration as a second witness: what the security groups, network ACLs and route
//! tables say of a check, added to what the evidence says. Pure.
//!
//! Evidence can show that a door is open (traffic got through) but never that it is shut: nobody
//! may have tried. So a deny check whose path the configuration opens fails `OPEN`, with or
//! without traffic. A reach check keeps the evidence's verdict (traffic is the proof that it
//! works); the configuration says why there was none, whether a pass still holds, and which
//! return route is missing. A preflight (`--evidence config`) has no evidence at all: the
//! configuration alone decides, and a check it cannot evaluate is an error, never a pass.

use std::fmt::Write as _;

use super::routes::Verdict;
use super::witness::{Hop, PairResult, Path, Refusal, Summary, Witness};
use crate::plan::Check;
use crate::spec::{Kind, Service};
use crate::verdict::{ConnVerdict, Failure, Judgement, Missing, Outcome};

/// Pairs of units described per check; the rest are counted.
const PAIRS_SHOWN: usize = 5;

/// What the configuration could say of a check.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'w> {
    /// Not asked (`--no-explain`, or no way to EC2).
    Off,
    /// EC2 could not be read: why.
    Unread(&'w str),
    Read(&'w Witness),
}

/// A case's outcome, message and details once both witnesses have spoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub outcome: Outcome,
    pub message: String,
    pub details: String,
}

/// `tcp 0.0.0.1 → 10.0.3.30:22 is allowed by SG sg-1 of eni-1 ingress rule tcp 22 from 0.0.0.0/0`
pub fn opened(path: &Path) -> String {
    match path.opening() {
        Some(step) => format!(
            "{} is allowed by {}",
            path.request,
            step.words(&path.request)
        ),
        None => path.words().lines().next().unwrap_or_default().to_string(),
    }
}

/// Where the first of `refusals` is refused, and how many places more.
fn refused_at(refusals: &[&Refusal]) -> String {
    let Some(first) = refusals.first() else {
        return "refused".into();
    };
    let mut out = first.words();
    if refusals.len() > 1 {
        let _ = write!(
            out,
            " (and {} more place{})",
            refusals.len() - 1,
            if refusals.len() == 2 { "" } else { "s" }
        );
    }
    out
}

fn partly_refusals<'w>(refused: &[&'w super::witness::Pair]) -> Vec<&'w Refusal> {
    refused
        .iter()
        .flat_map(|p| match &p.result {
            PairResult::Refuses(r) => r.iter().collect::<Vec<_>>(),
            PairResult::Allows(_) => Vec::new(),
        })
        .collect()
}

/// The configuration's word on every pair of units, for the details.
pub fn block(w: &Witness) -> String {
    let mut out =
        String::from("configuration (security groups, network ACLs and routes as they are now):\n");
    if let Some(why) = &w.unevaluated {
        let _ = writeln!(out, "  not evaluated: {why}");
    }
    for p in w.pairs.iter().take(PAIRS_SHOWN) {
        let _ = writeln!(out, "  {} -> {}:", p.client, p.server);
        match &p.result {
            PairResult::Allows(path) => {
                for line in path.words().lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
            PairResult::Refuses(refusals) => {
                for r in refusals {
                    let _ = writeln!(out, "    refused: {}", r.words());
                }
            }
        }
    }
    if w.pairs.len() > PAIRS_SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more pairs of interfaces",
            w.pairs.len() - PAIRS_SHOWN
        );
    }
    if !w.nobody.is_empty() {
        let _ = writeln!(
            out,
            "  left out: {} (in a VPC, but on no interface now: nothing sends from or answers there)",
            w.nobody.describe(3)
        );
    }
    for c in &w.caveats {
        let _ = writeln!(out, "  note: {c}");
    }
    out
}

/// A missing or blackholed route that refuses the reply of `client -> server`.
fn return_route(
    w: &Witness,
    client: std::net::IpAddr,
    server: std::net::IpAddr,
) -> Option<&Refusal> {
    w.refusals().find(|r| {
        r.at.reply
            && matches!(
                &r.at.hop,
                Hop::Route {
                    verdict: Verdict::NoRoute | Verdict::Blackhole,
                    ..
                }
            )
            && r.clients.contains(client)
            && r.servers.contains(server)
    })
}

/// The details with their first line (the message) replaced.
fn retitled(message: &str, details: &str) -> String {
    let rest = details.split_once('\n').map_or("", |(_, r)| r);
    format!("{message}\n{rest}")
}

fn service(check: &Check) -> String {
    Service(check.protocol, &check.ports).to_string()
}

/// The evidence's verdict on `check`, with the configuration's word added.
pub fn with_evidence(
    check: &Check,
    j: &Judgement<'_>,
    message: String,
    details: String,
    seen: Seen<'_>,
) -> Said {
    let w = match seen {
        Seen::Off => {
            return Said {
                outcome: j.outcome.clone(),
                message,
                details,
            };
        }
        Seen::Unread(why) => {
            let mut details = details;
            let _ = writeln!(
                details,
                "configuration: could not be read ({why}); --no-explain skips this"
            );
            return Said {
                outcome: j.outcome.clone(),
                message,
                details,
            };
        }
        Seen::Read(w) => w,
    };
    let summary = w.summary();
    let mut outcome = j.outcome.clone();
    let mut message = message;
    match (check.kind, &j.outcome) {
        (Kind::Deny, Outcome::Fail(Failure::Allowed)) => {}
        (Kind::Deny, _) => {
            if let Some(path) = w.opening() {
                outcome = Outcome::Fail(Failure::Open);
                message = format!(
                    "OPEN: the configuration lets {} reach {} on {}: {}",
                    check.from.label,
                    check.to.label,
                    service(check),
                    opened(path)
                );
            }
        }
        (Kind::Reach { .. }, Outcome::Fail(Failure::NoTraffic) | Outcome::Skip) => match &summary {
            Summary::Allows { .. } => {
                message.push_str("; the configuration allows it (ready, nothing sent yet)");
            }
            Summary::Partly { refused, .. } => {
                let _ = write!(
                    message,
                    "; the configuration allows some of it and refuses {} of {} pairs: {}",
                    refused.len(),
                    w.pairs.len(),
                    refused_at(&partly_refusals(refused))
                );
            }
            Summary::Refuses { at } => {
                let _ = write!(
                    message,
                    "; the configuration refuses it: {}",
                    refused_at(at)
                );
            }
            Summary::Unknown(_) => {}
        },
        (Kind::Reach { .. }, Outcome::Pass) => match &summary {
            Summary::Refuses { at } => {
                let _ = write!(
                    message,
                    "; but the configuration now refuses it (changed inside the window?): {}",
                    refused_at(at)
                );
            }
            Summary::Partly { refused, .. } => {
                let _ = write!(
                    message,
                    "; but the configuration now refuses {} of {} pairs: {}",
                    refused.len(),
                    w.pairs.len(),
                    refused_at(&partly_refusals(refused))
                );
            }
            _ => {}
        },
        (Kind::Reach { .. }, Outcome::Fail(Failure::NoReturn)) => {
            let route = j
                .broken_pairs()
                .filter(|p| p.headline == Some(ConnVerdict::NoReturn))
                .find_map(|p| return_route(w, p.client, p.server));
            if let Some(r) = route {
                let _ = write!(message, "; the reply has no way back: {}", r.words());
            }
        }
        _ => {}
    }
    let mut details = retitled(&message, &details);
    details.push_str(&block(w));
    Said {
        outcome,
        message,
        details,
    }
}

/// A check judged by the configuration alone (`--evidence config`).
pub fn preflight(check: &Check, expectation: &str, config: Result<&Witness, &str>) -> Said {
    let unavailable = |why: String| {
        let message = format!("UNAVAILABLE: {why}");
        Said {
            outcome: Outcome::Error(Missing::Unavailable(why)),
            details: format!("{message}\nexpected: {expectation}\n"),
            message,
        }
    };
    if let Some(why) = &check.unavailable {
        return unavailable(why.clone());
    }
    let w = match config {
        Ok(w) => w,
        Err(why) => {
            return unavailable(format!("the configuration could not be read: {why}"));
        }
    };
    let (outcome, message) = match (check.kind, w.summary()) {
        (_, Summary::Unknown(why)) => {
            return unavailable(format!("the configuration cannot judge this check: {why}"));
        }
        (Kind::Deny, _) => match w.opening() {
            Some(path) => (
                Outcome::Fail(Failure::Open),
                format!(
                    "OPEN: the configuration lets {} reach {} on {}: {}",
                    check.from.label,
                    check.to.label,
                    service(check),
                    opened(path)
                ),
            ),
            None => (
                Outcome::Pass,
                format!(
                    "predicted: refused: {}",
                    refused_at(&w.refusals().collect::<Vec<_>>())
                ),
            ),
        },
        (Kind::Reach { .. }, Summary::Allows { via }) => (
            Outcome::Pass,
            format!(
                "predicted: the configuration allows it ({} and the reply)",
                via.request
            ),
        ),
        (Kind::Reach { .. }, Summary::Partly { refused, .. }) => (
            Outcome::Fail(Failure::PredictedRefused),
            format!(
                "PREDICTED_REFUSED: {} of {} pairs refused: {}",
                refused.len(),
                w.pairs.len(),
                refused_at(&partly_refusals(&refused))
            ),
        ),
        (Kind::Reach { .. }, Summary::Refuses { at }) => (
            Outcome::Fail(Failure::PredictedRefused),
            format!("PREDICTED_REFUSED: {}", refused_at(&at)),
        ),
    };
    let details = format!("{message}\nexpected: {expectation}\n{}", block(w));
    Said {
        outcome,
        message,
        details,
    }
}
