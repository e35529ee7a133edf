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
        (None, Some(Missing::Unavailable(why))) => (
            Outcome::Error(Missing::Unavailable(why.clone())),
            format!("UNAVAILABLE: {why}"),
        ),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::plan::Window;

    fn setup() -> (crate::plan::Plan, Strict) {
        let spec = crate::spec::parse(
            Path::new("t.yaml"),
            "app: t\nhosts:\n  app: { ip: 10.0.2.20 }\n  db: { ip: 10.0.3.30, strict: true }\n  all: { cidr: 10.0.0.0/16 }\nexpect:\n  - { from: app, to: db, port: 1433 }\n  - { from: app, to: all, port: 22 }\n  - { from: app, to: db, port: 3389, deny: true }\n",
        )
        .unwrap();
        let hosts = vec![crate::resolve::resolve_local(&spec).unwrap()];
        let plan = crate::plan::assemble(std::slice::from_ref(&spec), &hosts, Window::default());
        let strict = crate::plan::strict(&[spec], &hosts, &plan).remove(0);
        (plan, strict)
    }

    #[test]
    fn the_reach_checks_towards_the_host_are_what_may_reach_it() {
        let (plan, s) = setup();
        let names: Vec<String> = expected(&s, &plan.checks)
            .iter()
            .map(|c| c.name.clone())
            .collect();
        // A wider host that holds db counts; a deny never does.
        assert_eq!(names, ["app -> db tcp/1433", "app -> all tcp/22"]);
        assert_eq!(s.trial_name(), "t::nothing else reaches db");
    }

    #[test]
    fn a_strict_host_never_passes_on_what_was_not_read() {
        let (plan, s) = setup();
        let ev = Evidence::default();
        let clean = Gaps::default();
        let read = |gaps| Traffic::Read {
            rows: Vec::new(),
            gaps,
            evidence: &ev,
        };
        let ok = case(&s, &plan.checks, &read(&clean), &Rules::Read(Vec::new()));
        assert_eq!(ok.outcome, Outcome::Pass, "{}", ok.details);
        let gaps = Gaps {
            bad_lines: 1,
            ..Gaps::default()
        };
        let short = case(&s, &plan.checks, &read(&gaps), &Rules::Off);
        assert_eq!(short.outcome, Outcome::Error(Missing::Incomplete));
        assert_eq!(
            short.message,
            "INCOMPLETE: would pass, but evidence is missing (1 bad line)"
        );
        // A preflight without the security groups has judged nothing.
        let blind = case(
            &s,
            &plan.checks,
            &Traffic::NotRead,
            &Rules::Unread("AccessDenied"),
        );
        assert!(
            matches!(blind.outcome, Outcome::Error(Missing::Unavailable(_))),
            "{blind:?}"
        );
        let lost = case(
            &s,
            &plan.checks,
            &Traffic::Unavailable("Timeout"),
            &Rules::Off,
        );
        assert!(
            matches!(lost.outcome, Outcome::Error(Missing::Unavailable(_))),
            "{lost:?}"
        );
    }
}
