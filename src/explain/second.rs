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
                    "; but the configuration refuses {} of {} pairs of interfaces: {}",
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use ipnet::IpNet;

    use super::*;
    use crate::evidence::{Gaps, PairEvidence};
    use crate::explain::config::{Config, Interface, Routing};
    use crate::explain::path::End;
    use crate::explain::routes::{Destination, Route, RouteTable, Target};
    use crate::explain::rules::{
        Acl, AclEntry, Peer, PortRange, RuleProtocol, SecurityGroup, SgRule,
    };
    use crate::explain::witness::{self, Purpose, Query};
    use crate::plan::Plan;
    use crate::verdict::PairVerdict;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn all(peer: &str) -> SgRule {
        SgRule {
            protocol: RuleProtocol::All,
            ports: None,
            peer: Peer::Net(net(peer)),
        }
    }

    fn tcp_from(port: i32, peer: &str) -> SgRule {
        SgRule {
            protocol: RuleProtocol::Number(6),
            ports: Some(PortRange {
                from: port,
                to: port,
            }),
            peer: Peer::Net(net(peer)),
        }
    }

    fn open_acl() -> Acl {
        let entry = |egress| AclEntry {
            number: 100,
            egress,
            allow: true,
            protocol: RuleProtocol::All,
            ports: None,
            net: net("0.0.0.0/0"),
        };
        Acl {
            id: "acl-open".into(),
            entries: vec![entry(false), entry(true)],
        }
    }

    fn iface(eni: &str, subnet: &str, addr: &str, ingress: Vec<SgRule>) -> Interface {
        Interface {
            end: End {
                eni: Some(eni.into()),
                subnet: Some(subnet.into()),
                groups: vec![SecurityGroup {
                    id: format!("sg-{eni}"),
                    ingress,
                    egress: vec![all("0.0.0.0/0")],
                }],
                acl: Some(open_acl()),
            },
            nets: vec![net(addr)],
            vpc: Some("vpc-1".into()),
        }
    }

    /// db's subnet routes to the internet and the offices; app's (the main table) has only the
    /// local route. db opens ssh to the world; app takes 8080 from the offices.
    fn config() -> Config {
        let route = |dest: &str, target: Target| Route {
            destination: Destination::Net(net(dest)),
            target,
            blackhole: false,
            propagated: false,
        };
        let table = |id: &str, main: bool, subnets: Vec<String>, routes: Vec<Route>| RouteTable {
            id: id.into(),
            vpc: Some("vpc-1".into()),
            main,
            subnets,
            routes,
        };
        Config {
            interfaces: vec![
                iface(
                    "eni-db",
                    "subnet-db",
                    "10.0.3.30/32",
                    vec![tcp_from(22, "0.0.0.0/0")],
                ),
                iface(
                    "eni-app",
                    "subnet-app",
                    "10.0.2.20/32",
                    vec![tcp_from(8080, "192.168.0.0/16")],
                ),
            ],
            routing: Routing {
                tables: vec![
                    table(
                        "rtb-main",
                        true,
                        vec![],
                        vec![route("10.0.0.0/16", Target::Local)],
                    ),
                    table(
                        "rtb-public",
                        false,
                        vec!["subnet-db".into()],
                        vec![
                            route("10.0.0.0/16", Target::Local),
                            route("0.0.0.0/0", Target::InternetGateway("igw-1".into())),
                            route(
                                "192.168.0.0/16",
                                Target::VirtualPrivateGateway("vgw-1".into()),
                            ),
                        ],
                    ),
                ],
                vpc_cidrs: BTreeMap::from([("vpc-1".to_string(), vec![net("10.0.0.0/16")])]),
                unread: None,
            },
            ..Config::default()
        }
    }

    fn plan() -> Plan {
        let spec = crate::spec::parse(
            Path::new("t.yaml"),
            "app: t\nhosts:\n  db: { ip: 10.0.3.30 }\n  app: { ip: 10.0.2.20 }\n  offices: { cidr: 192.168.0.0/16 }\n  internet: { cidr: 0.0.0.0/0, except: [10.0.0.0/8, 192.168.0.0/16] }\nexpect:\n  - { name: no ssh, from: internet, to: db, port: 22, deny: true }\n  - { name: no sql, from: internet, to: db, port: 1433, deny: true }\n  - { name: offices reach app, from: offices, to: app, port: 8080 }\n  - { name: internet reaches db ssh, from: internet, to: db, port: 22 }\n",
        )
        .unwrap();
        crate::plan::build(&[spec], crate::plan::Window::default()).unwrap()
    }

    fn witness(c: &Check) -> Witness {
        witness::judge(&config(), &Query::of(c))
    }

    fn said(c: &Check, outcome: Outcome, pairs: Vec<PairVerdict<'_>>, w: &Witness) -> Said {
        let gaps = Gaps::default();
        let j = Judgement {
            outcome,
            pairs,
            gaps: &gaps,
        };
        with_evidence(
            c,
            &j,
            "evidence says".into(),
            "evidence says\nmore\n".into(),
            Seen::Read(w),
        )
    }

    #[test]
    fn a_deny_check_without_traffic_fails_open_when_a_rule_opens_it() {
        let plan = plan();
        let (ssh, sql) = (&plan.checks[0], &plan.checks[1]);
        let w = witness(ssh);
        let s = said(ssh, Outcome::Pass, vec![], &w);
        assert_eq!(s.outcome, Outcome::Fail(Failure::Open));
        assert_eq!(
            s.message,
            "OPEN: the configuration lets internet reach db on tcp/22: tcp 203.0.113.10 → 10.0.3.30:22 is allowed by SG sg-eni-db of eni-db ingress rule tcp 22 from 0.0.0.0/0"
        );
        assert!(
            s.details.starts_with(&format!("{}\nmore\n", s.message)),
            "{}",
            s.details
        );
        // Traffic that got through stays ALLOWED; a closed port stays a pass.
        let s = said(ssh, Outcome::Fail(Failure::Allowed), vec![], &w);
        assert_eq!(
            (s.outcome, s.message.as_str()),
            (Outcome::Fail(Failure::Allowed), "evidence says")
        );
        let s = said(sql, Outcome::Pass, vec![], &witness(sql));
        assert_eq!(s.outcome, Outcome::Pass);
        // Without the configuration the evidence alone decides.
        let gaps = Gaps::default();
        let j = Judgement {
            outcome: Outcome::Pass,
            pairs: vec![],
            gaps: &gaps,
        };
        let off = with_evidence(ssh, &j, "m".into(), "m\n".into(), Seen::Off);
        assert_eq!(off.outcome, Outcome::Pass);
    }

    #[test]
    fn no_traffic_and_passes_say_what_the_configuration_makes_of_the_path() {
        let plan = plan();
        let ssh = &plan.checks[3];
        let w = witness(ssh);
        let s = said(ssh, Outcome::Fail(Failure::NoTraffic), vec![], &w);
        assert_eq!(s.outcome, Outcome::Fail(Failure::NoTraffic));
        assert_eq!(
            s.message,
            "evidence says; the configuration allows it (ready, nothing sent yet)"
        );
        // The offices cannot reach app in the configuration: the reply has no route back.
        let offices = &plan.checks[2];
        let w = witness(offices);
        let s = said(offices, Outcome::Pass, vec![], &w);
        assert!(
            s.message.starts_with("evidence says; but the configuration now refuses it (changed inside the window?): the reply: route table rtb-main (the VPC's main table, used by subnet-app) has no route to 192.168.0.1"),
            "{}",
            s.message
        );
    }

    #[test]
    fn no_return_names_the_missing_return_route() {
        let plan = plan();
        let offices = &plan.checks[2];
        let w = witness(offices);
        let ev = PairEvidence::default();
        let pair = PairVerdict {
            client: "192.168.20.15".parse().unwrap(),
            server: "10.0.2.20".parse().unwrap(),
            connections: BTreeMap::from([(ConnVerdict::NoReturn, 3)]),
            unjudged: 0,
            headline: Some(ConnVerdict::NoReturn),
            broken: true,
            evidence: &ev,
            samples: vec![],
            sampled: BTreeMap::new(),
        };
        let s = said(offices, Outcome::Fail(Failure::NoReturn), vec![pair], &w);
        assert_eq!(s.outcome, Outcome::Fail(Failure::NoReturn));
        assert!(
            s.message.starts_with("evidence says; the reply has no way back: the reply: route table rtb-main (the VPC's main table, used by subnet-app) has no route to 192.168."),
            "{}",
            s.message
        );
    }

    #[test]
    fn a_preflight_passes_what_the_configuration_allows_and_never_what_it_cannot_judge() {
        let plan = plan();
        let (ssh_deny, offices, ssh) = (&plan.checks[0], &plan.checks[2], &plan.checks[3]);
        let p = preflight(ssh, "e", Ok(&witness(ssh)));
        assert_eq!(p.outcome, Outcome::Pass, "{}", p.message);
        let p = preflight(ssh_deny, "e", Ok(&witness(ssh_deny)));
        assert_eq!(p.outcome, Outcome::Fail(Failure::Open));
        let p = preflight(offices, "e", Ok(&witness(offices)));
        assert_eq!(p.outcome, Outcome::Fail(Failure::PredictedRefused));
        assert!(p.message.contains("route table rtb-main"), "{}", p.message);
        let p = preflight(offices, "e", Err("AccessDenied"));
        assert!(
            matches!(p.outcome, Outcome::Error(Missing::Unavailable(_))),
            "{p:?}"
        );
        let nothing = witness::judge(
            &Config::default(),
            &Query {
                from: &offices.from.addrs,
                to: &offices.to.addrs,
                protocol: offices.protocol,
                ports: &offices.ports,
                purpose: Purpose::Reach,
            },
        );
        let p = preflight(offices, "e", Ok(&nothing));
        assert!(
            matches!(p.outcome, Outcome::Error(Missing::Unavailable(_))),
            "{p:?}"
        );
    }
}
