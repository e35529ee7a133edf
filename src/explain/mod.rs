//! Why a flow is refused: the security groups and network ACLs on its path, evaluated for it.
//! Flow logs never say which rule refused a packet; the EC2 configuration does. The explanations
//! of broken pairs add to a failure's details and never change a verdict; the configuration as a
//! witness of whole checks (`witness`, `second`) is what can (a deny check it opens fails `OPEN`).

pub mod config;
pub mod path;
pub mod routes;
pub mod rules;
pub mod second;
pub mod spans;
pub mod strict;
pub mod witness;

use std::fmt::Write as _;

use crate::evidence::Evidence;
use crate::plan::{Check, Plan};
use crate::spec::Ports;
use crate::verdict::{self, ConnVerdict, Failure, NoTraffic, Outcome};
use path::Broken;
use rules::Packet;

/// Broken pairs explained per check; the rest are counted.
const PAIRS_EXPLAINED: usize = 5;

/// A broken pair to explain.
struct Case {
    check: usize,
    broken: Broken,
    request: Packet,
    client_port: u16,
}

fn cases(plan: &Plan, evidence: &Evidence, no_traffic: NoTraffic) -> Vec<Case> {
    let mut out = Vec::new();
    for (i, check) in plan.checks.iter().enumerate() {
        let gaps = evidence.gaps.bearing_on(check.interfaces.as_ref());
        let j = verdict::judge(check, &evidence.checks[i], &gaps, no_traffic);
        let Outcome::Fail(failure) = j.outcome else {
            continue;
        };
        for pair in j.broken_pairs().take(PAIRS_EXPLAINED) {
            let broken = match (failure, pair.headline) {
                (Failure::Allowed, _) => Broken::GotThrough,
                (_, Some(ConnVerdict::Rejected)) => Broken::Refused,
                (_, Some(ConnVerdict::ReturnRejected)) => Broken::ReplyRefused,
                (_, Some(ConnVerdict::NoReturn)) => Broken::NoReply,
                _ => continue,
            };
            // A connection of the headline's kind, for its ports; else the check's first port.
            let seen = pair
                .sampled
                .iter()
                .find(|(_, v)| Some(**v) == pair.headline)
                .map(|(ports, _)| *ports);
            let (client_port, server_port) = seen.unwrap_or((49152, first_port(check)));
            out.push(Case {
                check: i,
                broken,
                request: Packet {
                    protocol: check.protocol_for(pair.client),
                    src: pair.client,
                    dst: pair.server,
                    src_port: client_port,
                    dst_port: server_port,
                    echo_reply: false,
                },
                client_port,
            });
        }
    }
    out
}

fn first_port(check: &Check) -> u16 {
    match &check.ports {
        Ports::Any => 0,
        Ports::Set(s) => s.ranges().first().map_or(0, |r| *r.start()),
    }
}

/// What to read from EC2 for a run: both sides of every check and every strict host (for the
/// configuration's witness and the strict findings), and the ends of the broken pairs to explain.
pub fn wanted(
    plan: &Plan,
    strict: &[crate::plan::Strict],
    evidence: Option<&Evidence>,
    no_traffic: NoTraffic,
) -> config::Wanted {
    let mut w = config::Wanted::default();
    for c in plan.checks.iter().filter(|c| c.unavailable.is_none()) {
        w.add_side(&c.from.addrs, &c.from.places);
        w.add_side(&c.to.addrs, &c.to.places);
    }
    for s in strict.iter().filter(|s| s.unavailable.is_none()) {
        w.add_side(&s.side.addrs, &s.side.places);
    }
    if let Some(ev) = evidence {
        for c in cases(plan, ev, no_traffic) {
            w.ips.extend([c.request.src, c.request.dst]);
        }
    }
    w
}

/// The explanation to add to each check's details, by check index; `None` where nothing failed
/// or nothing could be said. Reading EC2 fails soft: the failures say the rules could not be read.
pub fn explain(
    config: &Result<config::Config, String>,
    plan: &Plan,
    evidence: &Evidence,
    no_traffic: NoTraffic,
) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = vec![None; plan.checks.len()];
    let cases = cases(plan, evidence, no_traffic);
    if cases.is_empty() {
        return out;
    }
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            for c in &cases {
                out[c.check] = Some(format!(
                    "why: the security groups and network ACLs could not be read ({e}); --no-explain skips this\n"
                ));
            }
            return out;
        }
    };
    for c in &cases {
        let text = path::explain(
            c.broken,
            &config.end(c.request.src),
            &config.end(c.request.dst),
            c.request,
            c.client_port,
            &config.members,
        );
        let entry = out[c.check].get_or_insert_with(|| {
            "why (the security groups and network ACLs as they are now):\n".to_string()
        });
        let _ = writeln!(entry, "  {} -> {}:", c.request.src, c.request.dst);
        for line in text.lines() {
            let _ = writeln!(entry, "  {line}");
        }
    }
    out
}
