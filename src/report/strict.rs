//! A strict host's test in words: the connections no expectation covers, as triage lists flows,
//! and the security group rules wider than the expectations need.

use std::fmt::Write as _;

use crate::evidence::{Evidence, Gaps};
use crate::explain::rules::protocol_name;
use crate::explain::second::Said;
use crate::explain::spans::Spans;
use crate::explain::strict::Finding;
use crate::plan::{Check, Strict};
use crate::resolve::AddrSet;
use crate::verdict::strict::Row;
use crate::verdict::{Failure, Missing, Outcome};

use super::text::{gap_lines, gap_summary, time};

/// Rows and findings listed in full; the rest are counted.
const SHOWN: usize = 20;

/// What the traffic says.
pub enum Traffic<'a> {
    /// A preflight: no flow logs read.
    NotRead,
    Unavailable(&'a str),
    Read {
        rows: Vec<Row>,
        gaps: &'a Gaps,
        evidence: &'a Evidence,
    },
}

/// What the security groups say.
pub enum Rules<'a> {
    /// Not asked (`--no-explain`, or no way to EC2).
    Off,
    Unread(&'a str),
    /// No interface holds an address of the host.
    NoInterface,
    Read(Vec<Finding>),
}

fn service(protocol: u8, port: u16) -> String {
    match protocol {
        6 | 17 => format!("{}/{port}", protocol_name(protocol)),
        p => protocol_name(p),
    }
}

fn table(rows: &[Row]) -> String {
    let mut cells: Vec<[String; 6]> = vec![[
        "peer".into(),
        "server".into(),
        "port".into(),
        "protocol".into(),
        "connections".into(),
        "seen".into(),
    ]];
    for r in rows.iter().take(SHOWN) {
        cells.push([
            r.peer.to_string(),
            r.server.to_string(),
            if matches!(r.protocol, 6 | 17) {
                r.port.to_string()
            } else {
                "-".into()
            },
            protocol_name(r.protocol),
            if r.protocol == 6 || r.answered == r.connections {
                r.connections.to_string()
            } else {
                format!("{} ({} answered)", r.connections, r.answered)
            },
            match (r.first, r.last) {
                (Some(f), Some(l)) => format!("{} .. {}", time(f), time(l)),
                _ => "-".into(),
            },
        ]);
    }
    let width: Vec<usize> = (0..6)
        .map(|i| cells.iter().map(|c| c[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for c in &cells {
        let mut line = String::from("  ");
        for (i, cell) in c.iter().enumerate() {
            let _ = write!(line, "{cell:<w$}  ", w = width[i]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if rows.len() > SHOWN {
        let _ = writeln!(out, "  ... and {} more", rows.len() - SHOWN);
    }
    out
}

/// The strict host's test: fails `UNDECLARED` on connections no expectation covers, else
/// `RULES_TOO_WIDE` on security group rules wider than needed; an error when what it rests on is
/// missing.
pub fn case(s: &Strict, checks: &[Check], traffic: &Traffic<'_>, rules: &Rules<'_>) -> Said {
    let expected = expected(s, checks);
    let mut body = format!(
        "expected: nothing but the spec's reach expectations to reach {} ({}) ({}:{})\n",
        s.host,
        s.side.addrs,
        s.spec_path.display(),
        s.at
    );
    if expected.is_empty() {
        body.push_str("allowed to reach it: nothing (no reach expectation of the spec names it)\n");
    } else {
        let names: Vec<String> = expected.iter().map(|c| c.trial_name()).collect();
        let _ = writeln!(body, "allowed to reach it: {}", names.join("; "));
    }
    if let Some(why) = &s.unavailable {
        let message = format!("UNAVAILABLE: {why}");
        return Said {
            outcome: Outcome::Error(Missing::Unavailable(why.clone())),
            details: format!("{message}\n{body}"),
            message,
        };
    }
    let mut failure = None;
    let mut headline = None;
    let mut missing: Option<Missing> = None;
    match traffic {
        Traffic::NotRead => {
            body.push_str("traffic: not read (a preflight judges the configuration alone)\n");
        }
        Traffic::Unavailable(why) => {
            let _ = writeln!(body, "traffic: could not be read: {why}");
            missing = Some(Missing::Unavailable(format!(
                "the flows to {} could not be read: {why}",
                s.host
            )));
        }
        Traffic::Read {
            rows,
            gaps,
            evidence,
        } => {
            if rows.is_empty() {
                body.push_str("traffic: every accepted connection to it is one the spec expects\n");
            } else {
                let n: u64 = rows.iter().map(|r| r.connections).sum();
                let _ = writeln!(
                    body,
                    "connections no reach expectation covers ({} peer and port{}, {n} connection{}):",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" },
                    if n == 1 { "" } else { "s" }
                );
                body.push_str(&table(rows));
                let r = &rows[0];
                let more = match rows.len() {
                    1 => String::new(),
                    2 => " (and 1 more peer or port)".into(),
                    k => format!(" (and {} more peers or ports)", k - 1),
                };
                failure = Some(Failure::Undeclared);
                headline = Some(format!(
                    "UNDECLARED: {} -> {} {} got through ({} connection{}){more}; no reach expectation covers it",
                    r.peer,
                    r.server,
                    service(r.protocol, r.port),
                    r.connections,
                    if r.connections == 1 { "" } else { "s" }
                ));
            }
            if !gaps.is_empty() {
                let _ = writeln!(
                    body,
                    "evidence missing ({}): connections may be in the missing part",
                    gap_summary(gaps)
                );
                body.push_str(&gap_lines(gaps, evidence, "  "));
                missing = missing.or(Some(Missing::Incomplete));
            }
        }
    }
    match rules {
        Rules::Off => body.push_str("security groups: not read (no way to EC2, or --no-explain)\n"),
        Rules::Unread(why) => {
            let _ = writeln!(body, "security groups: could not be read ({why})");
        }
        Rules::NoInterface => {
            body.push_str("security groups: no network interface holds an address of it now\n");
        }
        Rules::Read(findings) if findings.is_empty() => {
            body.push_str(
                "security groups: no ingress rule allows more than the expectations need\n",
            );
        }
        Rules::Read(findings) => {
            let _ = writeln!(
                body,
                "security group rules wider than the expectations need ({}):",
                findings.len()
            );
            for f in findings.iter().take(SHOWN) {
                let _ = writeln!(body, "  {}", f.words());
            }
            if findings.len() > SHOWN {
                let _ = writeln!(body, "  ... and {} more", findings.len() - SHOWN);
            }
            if failure.is_none() {
                failure = Some(Failure::RulesTooWide);
                let more = match findings.len() {
                    1 => String::new(),
                    2 => " (and 1 more rule)".into(),
                    k => format!(" (and {} more rules)", k - 1),
                };
                headline = Some(format!("RULES_TOO_WIDE: {}{more}", findings[0].words()));
            }
        }
    }
    if matches!(traffic, Traffic::NotRead) && !matches!(rules, Rules::Read(_)) && failure.is_none()
    {
        // A preflight without the security groups has judged nothing.
        let why = "a preflight of a strict host needs its security groups, and they were not read"
            .to_string();
        missing = Some(Missing::Unavailable(why));
    }
    let (outcome, message) = match (failure, missing) {
        (Some(f), _) => (Outcome::Fail(f), headline.unwrap_or_default()),
        (None, Some(Missing::Incomplete)) => (
            Outcome::Error(Missing::Incomplete),
            format!(
                "INCOMPLETE: would pass, but evidence is missing ({})",
                match traffic {
                    Traffic::Read { gaps, .. } => gap_summary(gaps),
                    _ => "none".into(),
                }
            ),
        ),
        (None, Some(m @ Missing::Unavailable(_))) => {
            let Missing::Unavailable(why) = &m else {
                unreachable!()
            };
            let message = format!("UNAVAILABLE: {why}");
            (Outcome::Error(m.clone()), message)
        }
        (None, None) => (
            Outcome::Pass,
            format!(
                "passed: nothing the spec does not expect reaches {}",
                s.host
            ),
        ),
    };
    Said {
        details: format!("{message}\n{body}"),
        message,
        outcome,
    }
}

/// Whether two address sets share an address.
pub fn overlaps(a: &AddrSet, b: &AddrSet) -> bool {
    !Spans::of_ranges(a.ranges())
        .intersect(&Spans::of_ranges(b.ranges()))
        .is_empty()
}

/// The reach checks of the strict host's spec towards it: what may reach it.
pub fn expected<'c>(s: &Strict, checks: &'c [Check]) -> Vec<&'c Check> {
    s.spec_checks
        .iter()
        .map(|&i| &checks[i])
        .filter(|c| !c.is_deny() && overlaps(&c.to.addrs, &s.side.addrs))
        .collect()
}
