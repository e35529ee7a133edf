use std::net::IpAddr;

use super::*;
use crate::evidence::{Flow, IfaceId, Origin, flag::*};
use crate::plan::Side;
use crate::resolve::AddrSet;
use crate::spec::{PortSet, Ports, Protocol};

// ---- one connection -------------------------------------------------------------------------

/// What interfaces eni-0, eni-1, ... saw.
fn seen(ifaces: &[u8]) -> Shape {
    let views: Vec<(IfaceId, u8)> = ifaces
        .iter()
        .enumerate()
        .map(|(i, f)| (IfaceId::new(&format!("eni-{i}")).unwrap(), *f))
        .collect();
    Shape::new(&views, false)
}

fn conn(ifaces: &[u8]) -> Option<ConnVerdict> {
    reach_connection(&seen(ifaces), true)
}

fn deny(ifaces: &[u8]) -> Option<ConnVerdict> {
    deny_connection(&seen(ifaces))
}

#[test]
fn accepted_request_and_reply_is_established() {
    assert_eq!(
        conn(&[REQ_ACCEPT | REP_ACCEPT]),
        Some(ConnVerdict::Established)
    );
    // Logged on both interfaces of an in-VPC connection.
    assert_eq!(
        conn(&[REQ_ACCEPT | REP_ACCEPT, REQ_ACCEPT | REP_ACCEPT]),
        Some(ConnVerdict::Established)
    );
}

#[test]
fn accepted_request_without_reply_is_no_return_unless_return_is_optional() {
    assert_eq!(conn(&[REQ_ACCEPT]), Some(ConnVerdict::NoReturn));
    assert_eq!(
        reach_connection(&seen(&[REQ_ACCEPT]), false),
        Some(ConnVerdict::Established)
    );
}

#[test]
fn a_refused_request_is_rejected_even_when_the_other_interface_let_it_out() {
    // Allowed out of the client's interface, refused into the server's by its security group.
    assert_eq!(conn(&[REQ_ACCEPT, REQ_REJECT]), Some(ConnVerdict::Rejected));
    assert_eq!(conn(&[REQ_REJECT]), Some(ConnVerdict::Rejected));
}

#[test]
fn a_refused_reply_is_return_rejected() {
    assert_eq!(
        conn(&[REQ_ACCEPT | REP_REJECT]),
        Some(ConnVerdict::ReturnRejected)
    );
    // `return: optional` waives a missing reply, not a refused one.
    assert_eq!(
        reach_connection(&seen(&[REQ_ACCEPT | REP_REJECT]), false),
        Some(ConnVerdict::ReturnRejected)
    );
}

#[test]
fn a_reply_refused_at_the_client_is_not_hidden_by_the_server_side_seeing_it_leave() {
    let client = REQ_ACCEPT | REP_REJECT;
    let server = REQ_ACCEPT | REP_ACCEPT;
    assert_eq!(conn(&[client, server]), Some(ConnVerdict::ReturnRejected));
}

#[test]
fn a_reject_on_an_interface_that_saw_the_connection_established_is_a_late_packet() {
    assert_eq!(
        conn(&[REQ_ACCEPT | REP_ACCEPT | REQ_REJECT]),
        Some(ConnVerdict::Established)
    );
    assert_eq!(
        conn(&[REQ_ACCEPT | REP_ACCEPT | REP_REJECT]),
        Some(ConnVerdict::Established)
    );
}

#[test]
fn rejects_without_syn_are_late_packets_not_blocks() {
    // A late packet sets no flag (see `Flow::flag`): the interface logged it, nothing more.
    assert_eq!(conn(&[0]), None);
    assert_eq!(
        conn(&[REQ_ACCEPT | REP_ACCEPT, 0]),
        Some(ConnVerdict::Established)
    );
    assert_eq!(conn(&[REQ_ACCEPT]), Some(ConnVerdict::NoReturn));
}

#[test]
fn acceptances_before_the_window_excuse_a_late_packet_but_are_not_judged() {
    let before = CTX_REQ_ACCEPT | CTX_REP_ACCEPT;
    assert_eq!(conn(&[before | REQ_REJECT | SEEN]), None);
    assert_eq!(conn(&[before | REP_REJECT | SEEN]), None);
    // Only the interface that saw it established is excused.
    assert_eq!(
        conn(&[before, REQ_REJECT | SEEN]),
        Some(ConnVerdict::Rejected)
    );
    // Acceptance before the window does not make an answer inside it.
    assert_eq!(
        conn(&[CTX_REP_ACCEPT | REQ_ACCEPT | SEEN]),
        Some(ConnVerdict::NoReturn)
    );
    assert_eq!(
        deny(&[before | REQ_REJECT | SEEN]),
        Some(ConnVerdict::Rejected)
    );
}

#[test]
fn without_interface_ids_a_refusal_is_never_explained_away() {
    // Both interfaces' records land on one unknown interface: the client's refused reply must not
    // hide behind the server's accepted one.
    let merged = Shape::new(
        &[(IfaceId::UNKNOWN, REQ_ACCEPT | REP_ACCEPT | REP_REJECT)],
        false,
    );
    assert_eq!(
        reach_connection(&merged, true),
        Some(ConnVerdict::ReturnRejected)
    );
    let merged = Shape::new(
        &[(IfaceId::UNKNOWN, REQ_ACCEPT | REP_ACCEPT | REQ_REJECT)],
        false,
    );
    assert_eq!(reach_connection(&merged, true), Some(ConnVerdict::Rejected));
}

#[test]
fn for_a_deny_check_a_request_refused_on_the_servers_interface_did_not_get_through() {
    assert_eq!(deny(&[REQ_ACCEPT, REQ_REJECT]), Some(ConnVerdict::Rejected));
    assert_eq!(deny(&[REQ_REJECT]), Some(ConnVerdict::Rejected));
    assert_eq!(deny(&[0]), None);
}

#[test]
fn for_a_deny_check_any_doubt_counts_as_through() {
    // One interface accepted it once and refused it later (a rule changed inside the window).
    assert_eq!(
        deny(&[REQ_ACCEPT | REQ_REJECT]),
        Some(ConnVerdict::NoReturn)
    );
    // The server answered: whatever its request's records say, the request arrived.
    assert_eq!(deny(&[REP_ACCEPT]), Some(ConnVerdict::Established));
    assert_eq!(
        deny(&[REQ_ACCEPT, REQ_REJECT | REP_ACCEPT]),
        Some(ConnVerdict::Established)
    );
    // Arrived, and only the reply was refused.
    assert_eq!(
        deny(&[REQ_ACCEPT | REP_REJECT]),
        Some(ConnVerdict::ReturnRejected)
    );
}

#[test]
fn a_reply_without_its_request_cannot_be_judged() {
    assert_eq!(conn(&[REP_ACCEPT]), None);
    assert_eq!(conn(&[REP_REJECT]), None);
}

// ---- whole checks ---------------------------------------------------------------------------

const CLIENT: &str = "10.0.1.10";
const CLIENT2: &str = "10.0.1.11";
const SERVER: &str = "10.0.2.20";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn check(kind: Kind) -> Check {
    let net =
        |list: &[&str]| AddrSet::networks(list.iter().map(|s| ip(s).into()).collect(), vec![]);
    Check {
        app: "shop".into(),
        name: "web -> app tcp/8080".into(),
        spec_path: "shop.yaml".into(),
        at: Default::default(),
        from: Side {
            places: Vec::new(),
            label: "web".into(),
            addrs: net(&[CLIENT, CLIENT2]),
        },
        to: Side {
            places: Vec::new(),
            label: "app".into(),
            addrs: net(&[SERVER]),
        },
        protocol: Protocol::TCP,
        ports: Ports::Set(PortSet::new(vec![8080..=8080]).unwrap()),
        kind,
        lookback: None,
        interfaces: None,
        unavailable: None,
    }
}

const REACH: Kind = Kind::Reach {
    return_required: true,
};

/// Builds evidence from records written like flow-log lines:
/// `eni src sport dst dport ACCEPT|REJECT [tcp-flags]`, through the same ledger the sources use.
fn evidence(check: &Check, records: &[&str]) -> Result<CheckEvidence, Unavailable> {
    let mut flows = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let f: Vec<&str> = r.split_whitespace().collect();
        let flow = Flow {
            iface: IfaceId::new(f[0]).unwrap(),
            src: ip(f[1]),
            srcport: f[2].parse().unwrap(),
            dst: ip(f[3]),
            dstport: f[4].parse().unwrap(),
            protocol: 6,
            action: if f[5] == "ACCEPT" {
                Action::Accept
            } else {
                Action::Reject
            },
            tcp_flags: f.get(6).map(|s| s.parse().unwrap()),
            start: Some(1000 + i as u64),
            end: Some(1060 + i as u64),
            reject_reason: None,
        };
        assert!(
            check.roles_of(&flow).next().is_some(),
            "test record matches nothing: {r}"
        );
        let origin = Origin {
            file: 0,
            chunk: 0,
            line: i as u64 + 1,
        };
        flows.push((flow, origin, r.to_string()));
    }
    let plan = crate::plan::Plan {
        checks: vec![check.clone()],
        window: Default::default(),
    };
    Ok(crate::source::ledger::collect(&plan, &flows).remove(0))
}

fn outcome(kind: Kind, records: &[&str]) -> Outcome {
    let c = check(kind);
    let ev = evidence(&c, records);
    judge(&c, &ev, &Gaps::default(), NoTraffic::Fail).outcome
}

const REQ: &str = "eni-a 10.0.1.10 40000 10.0.2.20 8080 ACCEPT";
const REP: &str = "eni-a 10.0.2.20 8080 10.0.1.10 40000 ACCEPT";

#[test]
fn a_reach_check_passes_when_a_pair_is_established_and_none_is_broken() {
    assert_eq!(outcome(REACH, &[REQ, REP]), Outcome::Pass);
}

#[test]
fn a_pair_takes_its_worst_connection() {
    let records = [REQ, REP, "eni-b 10.0.1.10 40001 10.0.2.20 8080 REJECT"];
    assert_eq!(outcome(REACH, &records), Outcome::Fail(Failure::Rejected));
}

#[test]
fn the_check_fails_with_its_worst_pair_and_lists_broken_pairs_first() {
    let records = [
        REQ,
        REP,
        // Second client: accepted, never answered.
        "eni-c 10.0.1.11 41000 10.0.2.20 8080 ACCEPT",
    ];
    let c = check(REACH);
    let ev = evidence(&c, &records);
    let gaps = Gaps::default();
    let j = judge(&c, &ev, &gaps, NoTraffic::Fail);
    assert_eq!(j.outcome, Outcome::Fail(Failure::NoReturn));
    assert_eq!(j.pairs[0].client, ip(CLIENT2));
    assert!(j.pairs[0].broken && !j.pairs[1].broken);
    assert_eq!(j.broken_pairs().count(), 1);
}

#[test]
fn rejected_outranks_return_rejected_and_no_return() {
    let records = [
        "eni-a 10.0.1.10 40000 10.0.2.20 8080 ACCEPT",
        "eni-a 10.0.2.20 8080 10.0.1.10 40000 REJECT",
        "eni-c 10.0.1.11 41000 10.0.2.20 8080 REJECT",
    ];
    assert_eq!(outcome(REACH, &records), Outcome::Fail(Failure::Rejected));
    assert_eq!(
        outcome(REACH, &records[..2]),
        Outcome::Fail(Failure::ReturnRejected)
    );
}

#[test]
fn nothing_seen_is_no_traffic_or_a_skip_when_asked() {
    assert_eq!(outcome(REACH, &[]), Outcome::Fail(Failure::NoTraffic));
    let c = check(REACH);
    let ev = evidence(&c, &[]);
    let gaps = Gaps::default();
    assert_eq!(
        judge(&c, &ev, &gaps, NoTraffic::Skip).outcome,
        Outcome::Skip
    );
}

#[test]
fn late_packets_alone_are_no_traffic_not_a_block() {
    // A FIN (1) refused after close, on a connection whose start is not in the evidence.
    assert_eq!(
        outcome(REACH, &["eni-a 10.0.1.10 40000 10.0.2.20 8080 REJECT 1"]),
        Outcome::Fail(Failure::NoTraffic)
    );
    // The same with SYN (2) is a refused connection attempt.
    assert_eq!(
        outcome(REACH, &["eni-a 10.0.1.10 40000 10.0.2.20 8080 REJECT 2"]),
        Outcome::Fail(Failure::Rejected)
    );
}

#[test]
fn a_late_reject_next_to_an_established_connection_does_not_fail_the_check() {
    let late = "eni-a 10.0.2.20 8080 10.0.1.10 40000 REJECT";
    assert_eq!(outcome(REACH, &[REQ, REP, late]), Outcome::Pass);
}

#[test]
fn a_deny_check_passes_with_no_traffic_or_only_refused_requests() {
    assert_eq!(outcome(Kind::Deny, &[]), Outcome::Pass);
    assert_eq!(
        outcome(Kind::Deny, &["eni-a 10.0.1.10 40000 10.0.2.20 8080 REJECT"]),
        Outcome::Pass
    );
}

#[test]
fn a_deny_check_fails_allowed_on_any_connection_that_got_through() {
    assert_eq!(
        outcome(Kind::Deny, &[REQ, REP]),
        Outcome::Fail(Failure::Allowed)
    );
    assert_eq!(
        outcome(Kind::Deny, &[REQ]),
        Outcome::Fail(Failure::Allowed),
        "NO_RETURN"
    );
    // One rejected attempt does not hide an established connection of the same pair.
    let records = [REQ, REP, "eni-a 10.0.1.10 40001 10.0.2.20 8080 REJECT"];
    assert_eq!(
        outcome(Kind::Deny, &records),
        Outcome::Fail(Failure::Allowed)
    );
    // The request reached the server; only its reply was refused.
    let records = [REQ, "eni-a 10.0.2.20 8080 10.0.1.10 40000 REJECT"];
    assert_eq!(
        outcome(Kind::Deny, &records),
        Outcome::Fail(Failure::Allowed)
    );
}

fn with_gaps(kind: Kind, records: &[&str], gaps: Gaps) -> Outcome {
    let c = check(kind);
    let ev = evidence(&c, records);
    judge(&c, &ev, &gaps, NoTraffic::Fail).outcome
}

fn skipdata() -> Gaps {
    let mut g = Gaps::default();
    g.skipdata.insert(IfaceId::new("eni-z").unwrap(), 1);
    g
}

fn bad_line() -> Gaps {
    let mut g = Gaps::default();
    g.bad_line(
        Origin {
            file: 0,
            chunk: 0,
            line: 7,
        },
        "3 fields".into(),
    );
    g
}

#[test]
fn a_pass_on_incomplete_evidence_is_an_error() {
    let incomplete = Outcome::Error(Missing::Incomplete);
    assert_eq!(with_gaps(REACH, &[REQ, REP], bad_line()), incomplete);
    assert_eq!(with_gaps(REACH, &[REQ, REP], skipdata()), incomplete);
    assert_eq!(with_gaps(Kind::Deny, &[], skipdata()), incomplete);
    let mut unreadable = Gaps::default();
    unreadable.bad_files.push(crate::evidence::BadFile {
        file: 0,
        reason: "unexpected end of file".into(),
    });
    assert_eq!(with_gaps(Kind::Deny, &[], unreadable), incomplete);
}

#[test]
fn failures_stay_failures_when_evidence_is_incomplete() {
    assert_eq!(
        with_gaps(REACH, &[REQ], bad_line()),
        Outcome::Fail(Failure::NoReturn)
    );
    assert_eq!(
        with_gaps(REACH, &[], skipdata()),
        Outcome::Fail(Failure::NoTraffic)
    );
    assert_eq!(
        with_gaps(Kind::Deny, &[REQ, REP], skipdata()),
        Outcome::Fail(Failure::Allowed)
    );
}

#[test]
fn no_traffic_is_not_skipped_when_evidence_is_missing() {
    let c = check(REACH);
    let ev = evidence(&c, &[]);
    let gaps = bad_line();
    assert_eq!(
        judge(&c, &ev, &gaps, NoTraffic::Skip).outcome,
        Outcome::Error(Missing::Incomplete)
    );
}

#[test]
fn a_deny_check_fails_when_a_request_got_through_before_a_rule_change() {
    let records = [
        "eni-db 10.0.1.10 40000 10.0.2.20 8080 ACCEPT",
        "eni-db 10.0.1.10 40000 10.0.2.20 8080 REJECT",
    ];
    assert_eq!(
        outcome(Kind::Deny, &records),
        Outcome::Fail(Failure::Allowed)
    );
    // Refused at the server while the client's interface let it out: not through.
    let records = [
        "eni-web 10.0.1.10 40000 10.0.2.20 8080 ACCEPT",
        "eni-db 10.0.1.10 40000 10.0.2.20 8080 REJECT",
    ];
    assert_eq!(outcome(Kind::Deny, &records), Outcome::Pass);
}

#[test]
fn a_source_failure_is_an_error_never_a_pass_or_no_traffic() {
    let c = check(Kind::Deny);
    let ev = Err(Unavailable("query Failed".into()));
    let gaps = Gaps::default();
    assert_eq!(
        judge(&c, &ev, &gaps, NoTraffic::Skip).outcome,
        Outcome::Error(Missing::Unavailable("query Failed".into()))
    );
}

#[test]
fn samples_show_the_records_of_the_broken_connection_first() {
    let records = [
        REQ,
        REP,
        "eni-a 10.0.1.10 40001 10.0.2.20 8080 ACCEPT",
        "eni-b 10.0.1.10 40001 10.0.2.20 8080 REJECT",
    ];
    let c = check(REACH);
    let ev = evidence(&c, &records);
    let gaps = Gaps::default();
    let j = judge(&c, &ev, &gaps, NoTraffic::Fail);
    let shown: Vec<&str> = j.pairs[0].samples.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(shown, [records[3], records[2], records[0]]);
    assert_eq!(j.pairs[0].connections[&ConnVerdict::Rejected], 1);
    assert_eq!(j.pairs[0].connections[&ConnVerdict::Established], 1);
}

#[test]
fn duplicated_evidence_never_changes_a_verdict() {
    let sets: [&[&str]; 4] = [
        &[REQ, REP],
        &[REQ],
        &[REQ, "eni-a 10.0.2.20 8080 10.0.1.10 40000 REJECT"],
        &[REQ, REP, "eni-b 10.0.1.10 40001 10.0.2.20 8080 REJECT"],
    ];
    for records in sets {
        let twice: Vec<&str> = records.iter().chain(records.iter()).copied().collect();
        for kind in [REACH, Kind::Deny] {
            assert_eq!(outcome(kind, records), outcome(kind, &twice), "{records:?}");
        }
    }
}

// ---- transit gateways -------------------------------------------------------------------------

fn tgw_dropped(ev: &mut CheckEvidence, client: &str, lost: [u64; 4]) {
    let hop = crate::evidence::TgwHop {
        tgw: IfaceId::new("tgw-1").unwrap(),
        attachment: IfaceId::new("tgw-attach-1").unwrap(),
        lost,
    };
    ev.pairs
        .entry((ip(client), ip(SERVER)))
        .or_default()
        .tgw
        .observe(Role::Request, &hop, 1);
}

#[test]
fn traffic_a_transit_gateway_dropped_fails_tgw_dropped_whatever_the_connections_show() {
    let c = check(REACH);
    let gaps = Gaps::default();
    // Accepted out of the client, never answered: the drop is the cause, NO_RETURN the effect.
    let mut ev = evidence(&c, &["eni-c 10.0.1.11 41000 10.0.2.20 8080 ACCEPT"]).unwrap();
    tgw_dropped(&mut ev, CLIENT2, [3, 0, 0, 0]);
    let ev = Ok(ev);
    let j = judge(&c, &ev, &gaps, NoTraffic::Fail);
    assert_eq!(j.outcome, Outcome::Fail(Failure::TgwDropped));
    // Even beside an established pair, and with nothing in the VPC flow logs at all.
    let mut ev = evidence(&c, &[REQ, REP]).unwrap();
    tgw_dropped(&mut ev, CLIENT2, [0, 0, 2, 0]);
    let ev = Ok(ev);
    let j = judge(&c, &ev, &gaps, NoTraffic::Fail);
    assert_eq!(j.outcome, Outcome::Fail(Failure::TgwDropped));
    assert!(j.pairs.iter().any(|p| p.broken && p.client == ip(CLIENT2)));
    // What a gateway carried without dropping changes nothing.
    let mut ev = evidence(&c, &[REQ, REP]).unwrap();
    tgw_dropped(&mut ev, CLIENT, [0, 0, 0, 0]);
    let ev = Ok(ev);
    assert_eq!(
        judge(&c, &ev, &gaps, NoTraffic::Fail).outcome,
        Outcome::Pass
    );
    // A deny check: a drop is traffic that did not get through.
    let d = check(Kind::Deny);
    let mut ev = CheckEvidence::default();
    tgw_dropped(&mut ev, CLIENT2, [1, 0, 0, 0]);
    let ev = Ok(ev);
    assert_eq!(
        judge(&d, &ev, &gaps, NoTraffic::Fail).outcome,
        Outcome::Pass
    );
}
