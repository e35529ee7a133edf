//! What "allows more than needed" means for a security group rule: a rule admits every packet
//! matching its protocol, port range and source (security groups are allow-only; any matching
//! rule of any group allows), so any part of that beyond the expectations is open without need.

use super::*;
use crate::explain::path::End;
use crate::explain::rules::{PortRange, SecurityGroup};
use crate::spec::PortSet;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn rule(proto: &str, ports: Option<(i32, i32)>, peer: &str) -> SgRule {
    SgRule {
        protocol: RuleProtocol::parse(proto).unwrap(),
        ports: ports.map(|(from, to)| PortRange { from, to }),
        peer: if peer.starts_with("sg-") {
            Peer::Group(peer.into())
        } else {
            Peer::Net(net(peer))
        },
    }
}

fn host(ingress: Vec<SgRule>) -> Interface {
    Interface {
        end: End {
            eni: Some("eni-db".into()),
            subnet: Some("subnet-db".into()),
            groups: vec![SecurityGroup {
                id: "sg-db".into(),
                ingress,
                egress: vec![],
            }],
            acl: None,
        },
        nets: vec![net("10.0.3.30/32")],
        vpc: Some("vpc-shop".into()),
    }
}

fn members() -> Members {
    let mut m = Members::default();
    m.groups.insert("sg-app".into(), vec![net("10.0.2.20/32")]);
    m
}

fn ports(list: &[RangeInclusive<u16>]) -> Ports {
    Ports::Set(PortSet::new(list.to_vec()).unwrap())
}

fn words(ingress: Vec<SgRule>, needs: &[(&str, Protocol, Ports)]) -> Vec<String> {
    let sets: Vec<(AddrSet, Protocol, Ports)> = needs
        .iter()
        .map(|(peers, p, ports)| {
            (
                AddrSet::networks(peers.split(',').map(net).collect(), vec![]),
                *p,
                ports.clone(),
            )
        })
        .collect();
    let needs: Vec<Need<'_>> = sets
        .iter()
        .map(|(peers, protocol, ports)| Need {
            peers,
            protocol: *protocol,
            ports,
        })
        .collect();
    let h = host(ingress);
    findings(&[&h], &needs, &members())
        .iter()
        .map(Finding::words)
        .collect()
}

fn app_1433() -> (&'static str, Protocol, Ports) {
    ("10.0.2.20/32", Protocol::TCP, ports(&[1433..=1433]))
}

#[test]
fn a_rule_no_expectation_needs_is_to_be_removed() {
    assert_eq!(
        words(
            vec![rule("tcp", Some((22, 22)), "0.0.0.0/0")],
            &[app_1433()]
        ),
        vec![
            "SG sg-db (eni-db) ingress rule tcp 22 from 0.0.0.0/0: no expectation of the spec needs it; remove it"
        ]
    );
}

#[test]
fn a_wider_source_is_narrowed_to_the_expected_clients() {
    assert_eq!(
        words(
            vec![rule("tcp", Some((1433, 1433)), "10.0.0.0/16")],
            &[app_1433()]
        ),
        vec![
            "SG sg-db (eni-db) ingress rule tcp 1433 from 10.0.0.0/16 allows more than the spec needs: a wider source (10.0.0.0/16 admits addresses no expectation names, e.g. 10.0.2.21); narrower: tcp 1433 from 10.0.2.20/32"
        ]
    );
}

#[test]
fn more_ports_are_narrowed_and_a_wholly_needed_group_is_kept() {
    assert_eq!(
        words(
            vec![rule("tcp", Some((1000, 2000)), "sg-app")],
            &[app_1433()]
        ),
        vec![
            "SG sg-db (eni-db) ingress rule tcp 1000-2000 from sg-app allows more than the spec needs: more ports (1000-1432, 1434-2000); narrower: tcp 1433 from sg-app"
        ]
    );
}

#[test]
fn an_all_traffic_rule_allows_every_protocol() {
    let w = words(vec![rule("-1", None, "10.0.2.20/32")], &[app_1433()]);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains(
            "more ports (0-1432, 1434-65535), every protocol; narrower: tcp 1433 from 10.0.2.20/32"
        ),
        "{w:?}"
    );
}

#[test]
fn a_rule_exactly_as_needed_is_no_finding() {
    assert!(
        words(
            vec![rule("tcp", Some((1433, 1433)), "sg-app")],
            &[app_1433()]
        )
        .is_empty()
    );
    assert!(
        words(
            vec![rule("tcp", Some((1433, 1433)), "10.0.2.20/32")],
            &[app_1433()]
        )
        .is_empty()
    );
    // Two expectations together needing the whole rule.
    assert!(
        words(
            vec![rule("tcp", Some((8080, 8081)), "10.0.1.10/31")],
            &[
                ("10.0.1.10/31", Protocol::TCP, ports(&[8080..=8080])),
                ("10.0.1.10/31", Protocol::TCP, ports(&[8081..=8081])),
            ]
        )
        .is_empty()
    );
}

#[test]
fn sources_and_ports_each_needed_but_not_paired_are_found() {
    // web1 needs 8080-8081, web2 needs 8081-8082: one rule for both on 8080-8082 also lets web1
    // in on 8082 (and web2 on 8080).
    let w = words(
        vec![rule("tcp", Some((8080, 8082)), "10.0.1.10/31")],
        &[
            ("10.0.1.10/32", Protocol::TCP, ports(&[8080..=8081])),
            ("10.0.1.11/32", Protocol::TCP, ports(&[8081..=8082])),
        ],
    );
    assert_eq!(
        w,
        vec![
            "SG sg-db (eni-db) ingress rule tcp 8080-8082 from 10.0.1.10/31 allows more than the spec needs: pairings no expectation has (e.g. 10.0.1.10 on port 8082); narrower: tcp 8080-8081 from 10.0.1.10/32; tcp 8081-8082 from 10.0.1.11/32"
        ]
    );
}

#[test]
fn a_rule_whose_group_was_not_read_is_not_judged() {
    assert!(
        words(
            vec![rule("tcp", Some((22, 22)), "sg-unknown")],
            &[app_1433()]
        )
        .is_empty()
    );
}

#[test]
fn another_protocol_does_not_cover_a_rule() {
    let w = words(
        vec![rule("udp", Some((1433, 1433)), "10.0.2.20/32")],
        &[app_1433()],
    );
    assert!(
        w[0].ends_with("no expectation of the spec needs it; remove it"),
        "{w:?}"
    );
}
