use super::*;
use crate::explain::rules::{AclEntry, PortRange, RuleProtocol, SgRule};

/// Rule number, egress, allow, tcp port range (none: all traffic), network.
type Entry<'a> = (i32, bool, bool, Option<(i32, i32)>, &'a str);

fn acl(id: &str, entries: Vec<Entry<'_>>) -> Acl {
    Acl {
        id: id.into(),
        entries: entries
            .into_iter()
            .map(|(number, egress, allow, ports, cidr)| AclEntry {
                number,
                egress,
                allow,
                protocol: if ports.is_some() {
                    RuleProtocol::Number(6)
                } else {
                    RuleProtocol::All
                },
                ports: ports.map(|(from, to)| PortRange { from, to }),
                net: cidr.parse().unwrap(),
            })
            .collect(),
    }
}

fn open_acl(id: &str) -> Acl {
    acl(
        id,
        vec![
            (100, false, true, None, "0.0.0.0/0"),
            (100, true, true, None, "0.0.0.0/0"),
        ],
    )
}

fn sg(id: &str, ingress: Vec<(i32, Peer)>) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        ingress: ingress
            .into_iter()
            .map(|(port, peer)| SgRule {
                protocol: RuleProtocol::Number(6),
                ports: Some(PortRange {
                    from: port,
                    to: port,
                }),
                peer,
            })
            .collect(),
        egress: vec![SgRule {
            protocol: RuleProtocol::All,
            ports: None,
            peer: Peer::Net("0.0.0.0/0".parse().unwrap()),
        }],
    }
}

fn app() -> End {
    End {
        eni: Some("eni-app".into()),
        subnet: Some("subnet-app".into()),
        groups: vec![sg("sg-app", vec![])],
        acl: Some(open_acl("acl-app")),
    }
}

fn db(groups: Vec<SecurityGroup>, acl: Acl) -> End {
    End {
        eni: Some("eni-db".into()),
        subnet: Some("subnet-db".into()),
        groups,
        acl: Some(acl),
    }
}

fn request() -> Packet {
    Packet {
        protocol: 6,
        src: "10.0.2.20".parse().unwrap(),
        dst: "10.0.3.30".parse().unwrap(),
        src_port: 50000,
        dst_port: 1433,
        echo_reply: false,
    }
}

fn members() -> Members {
    let mut m = Members::default();
    m.groups
        .insert("sg-app".into(), vec!["10.0.2.20/32".parse().unwrap()]);
    m
}

#[test]
fn a_missing_security_group_rule_is_named_with_the_rule_that_would_allow_it() {
    let server = db(
        vec![sg(
            "sg-db",
            vec![(443, Peer::Net("10.0.0.0/16".parse().unwrap()))],
        )],
        open_acl("acl-db"),
    );
    let text = explain(
        Broken::Refused,
        &app(),
        &server,
        request(),
        50000,
        &members(),
    );
    assert_eq!(
        text,
        "  SG sg-db of eni-db has no ingress rule for tcp 1433 from 10.0.2.20 or sg-app\n    to allow it: add to sg-db an ingress rule tcp 1433 from sg-app (or 10.0.2.20/32)\n"
    );
}

#[test]
fn a_nacl_deny_is_named_by_its_rule_number() {
    let denying = acl(
        "acl-db",
        vec![
            (90, false, false, Some((1433, 1433)), "10.0.2.0/24"),
            (100, false, true, None, "0.0.0.0/0"),
        ],
    );
    let server = db(
        vec![sg("sg-db", vec![(1433, Peer::Group("sg-app".into()))])],
        denying,
    );
    let text = explain(
        Broken::Refused,
        &app(),
        &server,
        request(),
        50000,
        &members(),
    );
    assert_eq!(
        text,
        "  NACL acl-db (subnet-db) inbound: rule 90 denies tcp 10.0.2.20 → 10.0.3.30:1433\n    to allow it: an inbound allow rule numbered below 90 for tcp 1433 from 10.0.2.20/32\n"
    );
}

#[test]
fn a_refused_reply_names_the_nacl_without_the_ephemeral_ports() {
    let only_1433 = acl(
        "acl-db",
        vec![
            (100, false, true, Some((1433, 1433)), "0.0.0.0/0"),
            (100, true, true, Some((1433, 1433)), "0.0.0.0/0"),
        ],
    );
    let server = db(
        vec![sg("sg-db", vec![(1433, Peer::Group("sg-app".into()))])],
        only_1433,
    );
    let text = explain(
        Broken::ReplyRefused,
        &app(),
        &server,
        request(),
        50000,
        &members(),
    );
    assert_eq!(
        text,
        "  NACL acl-db (subnet-db) outbound: rule * (default deny) matches the reply tcp 10.0.3.30 → 10.0.2.20:50000; no lower-numbered allow\n    to allow it: an outbound allow rule for tcp 1024-65535 (the client's ephemeral ports) to 10.0.2.20/32\n"
    );
}

#[test]
fn a_refusal_the_configuration_allows_says_so() {
    let server = db(
        vec![sg("sg-db", vec![(1433, Peer::Group("sg-app".into()))])],
        open_acl("acl-db"),
    );
    let text = explain(
        Broken::Refused,
        &app(),
        &server,
        request(),
        50000,
        &members(),
    );
    assert!(
        text.contains("the configuration as it is now allows the request"),
        "{text}"
    );
    assert!(
        text.contains("SG sg-db of eni-db ingress rule tcp 1433 from sg-app"),
        "{text}"
    );
    assert!(
        text.contains("the rules changed since, or something beyond them refused it"),
        "{text}"
    );
}

#[test]
fn no_reply_means_the_service_or_a_firewall_beyond_the_vpc() {
    let server = db(
        vec![sg("sg-db", vec![(1433, Peer::Group("sg-app".into()))])],
        open_acl("acl-db"),
    );
    let text = explain(
        Broken::NoReply,
        &app(),
        &server,
        request(),
        50000,
        &members(),
    );
    assert!(
        text.contains("the service on 10.0.3.30 is not answering, or a firewall outside the VPC"),
        "{text}"
    );
}

#[test]
fn within_one_subnet_no_nacl_applies_and_an_outside_client_is_said_to_be_outside() {
    let denying = acl("acl-db", vec![(1, false, false, None, "0.0.0.0/0")]);
    let mut client = app();
    client.subnet = Some("subnet-db".into());
    let server = db(
        vec![sg("sg-db", vec![(1433, Peer::Group("sg-app".into()))])],
        denying.clone(),
    );
    let text = explain(
        Broken::Refused,
        &client,
        &server,
        request(),
        50000,
        &members(),
    );
    assert!(!text.contains("NACL"), "same subnet: {text}");
    let outside = End::default();
    let text = explain(
        Broken::Refused,
        &outside,
        &db(vec![], denying),
        request(),
        50000,
        &members(),
    );
    assert!(
        text.contains("NACL acl-db (subnet-db) inbound: rule 1 denies"),
        "{text}"
    );
    assert!(text.contains("eni-db has no security group"), "{text}");
    assert!(
        text.contains("no interface in this account and region has 10.0.2.20"),
        "{text}"
    );
}

#[test]
fn what_let_a_denied_flow_through_is_named() {
    let server = db(
        vec![sg(
            "sg-db",
            vec![(1433, Peer::Net("0.0.0.0/0".parse().unwrap()))],
        )],
        open_acl("acl-db"),
    );
    let mut internet = request();
    internet.src = "198.51.100.23".parse().unwrap();
    let text = explain(
        Broken::GotThrough,
        &End::default(),
        &server,
        internet,
        50000,
        &members(),
    );
    assert!(
        text.contains("let through by NACL acl-db (subnet-db) inbound rule 100; SG sg-db of eni-db ingress rule tcp 1433 from 0.0.0.0/0"),
        "{text}"
    );
}

#[test]
fn messages_never_name_a_refusing_rule_as_letting_a_flow_through() {
    // The rule that refuses the flow now, for a deny check whose records show it got through.
    let denying = acl(
        "acl-db",
        vec![(90, false, false, Some((1433, 1433)), "0.0.0.0/0")],
    );
    let server = db(
        vec![sg(
            "sg-db",
            vec![(1433, Peer::Net("0.0.0.0/0".parse().unwrap()))],
        )],
        denying,
    );
    let text = explain(
        Broken::GotThrough,
        &End::default(),
        &server,
        request(),
        50000,
        &members(),
    );
    assert!(!text.contains("let through by"), "{text}");
    assert!(
        text.contains("refuses it: NACL acl-db (subnet-db) inbound: rule 90 denies"),
        "{text}"
    );
    assert!(
        text.contains("the rules changed since the records"),
        "{text}"
    );
    let text = explain(
        Broken::NoReply,
        &app(),
        &server,
        request(),
        50000,
        &members(),
    );
    assert!(!text.contains("and so does the configuration"), "{text}");
    assert!(
        text.contains("note: the configuration as it is now refuses it: NACL acl-db"),
        "{text}"
    );
}

#[test]
fn a_refused_ping_reply_asks_for_echo_replies() {
    let only_requests = Acl {
        id: "acl-app".into(),
        entries: vec![
            AclEntry {
                number: 100,
                egress: false,
                allow: true,
                protocol: RuleProtocol::All,
                ports: None,
                net: "0.0.0.0/0".parse().unwrap(),
            },
            AclEntry {
                number: 100,
                egress: true,
                allow: true,
                protocol: RuleProtocol::Number(1),
                ports: Some(PortRange { from: 8, to: -1 }),
                net: "0.0.0.0/0".parse().unwrap(),
            },
        ],
    };
    let server = End {
        acl: Some(only_requests),
        ..app()
    };
    let ping = Packet {
        protocol: 1,
        src: "192.168.30.5".parse().unwrap(),
        dst: "10.0.2.20".parse().unwrap(),
        src_port: 0,
        dst_port: 0,
        echo_reply: false,
    };
    let text = explain(
        Broken::ReplyRefused,
        &End::default(),
        &server,
        ping,
        0,
        &members(),
    );
    assert!(
        text.contains(
            "to allow it: an outbound allow rule for icmp echo replies (type 0) to 192.168.30.5/32"
        ),
        "{text}"
    );
}
