//! Cases written from AWS's documented semantics (VPC user guide: security group rules, network
//! ACL rules, "Example: Control access to instances in a subnet").

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn tcp(src: &str, dst: &str, sport: u16, dport: u16) -> Packet {
    Packet {
        protocol: 6,
        src: ip(src),
        dst: ip(dst),
        src_port: sport,
        dst_port: dport,
        echo_reply: false,
    }
}

fn entry(
    number: i32,
    egress: bool,
    allow: bool,
    proto: &str,
    ports: Option<(i32, i32)>,
    cidr: &str,
) -> AclEntry {
    AclEntry {
        number,
        egress,
        allow,
        protocol: RuleProtocol::parse(proto).unwrap(),
        ports: ports.map(|(from, to)| PortRange { from, to }),
        net: net(cidr),
    }
}

/// The default network ACL: rule 100 allows everything both ways (IPv4 and IPv6), `*` denies.
fn default_acl() -> Acl {
    Acl {
        id: "acl-default".into(),
        entries: vec![
            entry(100, false, true, "-1", None, "0.0.0.0/0"),
            entry(101, false, true, "-1", None, "::/0"),
            entry(32767, false, false, "-1", None, "0.0.0.0/0"),
            entry(100, true, true, "-1", None, "0.0.0.0/0"),
            entry(101, true, true, "-1", None, "::/0"),
            entry(32767, true, false, "-1", None, "0.0.0.0/0"),
        ],
    }
}

fn rule(proto: &str, ports: Option<(i32, i32)>, peer: Peer) -> SgRule {
    SgRule {
        protocol: RuleProtocol::parse(proto).unwrap(),
        ports: ports.map(|(from, to)| PortRange { from, to }),
        peer,
    }
}

#[test]
fn the_default_acl_allows_everything_both_ways() {
    let p = tcp("10.0.2.20", "10.0.3.30", 50000, 1433);
    let d = network_acl(&default_acl(), false, &p);
    assert!(d.allow);
    assert_eq!(d.entry.unwrap().number, 100);
    assert!(network_acl(&default_acl(), true, &p.reply(50000)).allow);
    let v6 = tcp("2001:db8::1", "2001:db8::2", 50000, 443);
    assert_eq!(
        network_acl(&default_acl(), false, &v6)
            .entry
            .unwrap()
            .number,
        101
    );
}

#[test]
fn the_lowest_numbered_matching_entry_decides() {
    // Deny before allow: the deny wins.
    let acl = Acl {
        id: "acl-1".into(),
        entries: vec![
            entry(100, false, true, "-1", None, "0.0.0.0/0"),
            entry(90, false, false, "tcp", Some((1433, 1433)), "10.0.2.0/24"),
        ],
    };
    let d = network_acl(&acl, false, &tcp("10.0.2.20", "10.0.3.30", 50000, 1433));
    assert!(!d.allow);
    assert_eq!(d.entry.unwrap().number, 90);
    // Another port, or another source, falls through to the allow.
    assert!(network_acl(&acl, false, &tcp("10.0.2.20", "10.0.3.30", 50000, 1434)).allow);
    assert!(network_acl(&acl, false, &tcp("10.0.1.10", "10.0.3.30", 50000, 1433)).allow);
    // Allow before deny: the allow wins.
    let acl = Acl {
        id: "acl-2".into(),
        entries: vec![
            entry(200, false, false, "-1", None, "0.0.0.0/0"),
            entry(100, false, true, "tcp", Some((1433, 1433)), "10.0.2.0/24"),
        ],
    };
    assert!(network_acl(&acl, false, &tcp("10.0.2.20", "10.0.3.30", 50000, 1433)).allow);
}

#[test]
fn no_matching_entry_is_the_default_deny() {
    let acl = Acl {
        id: "acl-1".into(),
        entries: vec![
            entry(100, false, true, "tcp", Some((443, 443)), "0.0.0.0/0"),
            entry(32767, false, false, "-1", None, "0.0.0.0/0"),
        ],
    };
    let d = network_acl(&acl, false, &tcp("10.0.2.20", "10.0.3.30", 50000, 1433));
    assert_eq!(
        d,
        AclDecision {
            allow: false,
            entry: None
        },
        "reported as rule *"
    );
    // No entries at all (a new custom ACL denies everything).
    let empty = Acl {
        id: "acl-new".into(),
        entries: vec![],
    };
    assert!(!network_acl(&empty, true, &tcp("10.0.3.30", "10.0.2.20", 1433, 50000)).allow);
}

#[test]
fn replies_need_the_ephemeral_ports_in_a_stateless_acl() {
    // Outbound allows only 443 (what people write first): the reply to port 50000 is denied.
    let acl = Acl {
        id: "acl-web".into(),
        entries: vec![
            entry(100, false, true, "tcp", Some((445, 445)), "0.0.0.0/0"),
            entry(100, true, true, "tcp", Some((445, 445)), "0.0.0.0/0"),
        ],
    };
    let request = tcp("192.168.20.15", "10.0.4.40", 50000, 445);
    assert!(network_acl(&acl, false, &request).allow);
    assert!(!network_acl(&acl, true, &request.reply(50000)).allow);
    let fixed = Acl {
        entries: [
            acl.entries.clone(),
            vec![entry(
                110,
                true,
                true,
                "tcp",
                Some((1024, 65535)),
                "192.168.0.0/16",
            )],
        ]
        .concat(),
        ..acl
    };
    assert!(network_acl(&fixed, true, &request.reply(50000)).allow);
    assert!(
        !network_acl(&fixed, true, &request.reply(1000)).allow,
        "below the range"
    );
}

#[test]
fn ipv6_entries_only_match_ipv6_packets() {
    let acl = Acl {
        id: "acl-1".into(),
        entries: vec![entry(100, false, true, "-1", None, "::/0")],
    };
    assert!(network_acl(&acl, false, &tcp("2001:db8::1", "2001:db8::2", 1, 80)).allow);
    assert!(!network_acl(&acl, false, &tcp("10.0.0.1", "10.0.0.2", 1, 80)).allow);
}

#[test]
fn any_matching_security_group_rule_allows() {
    let groups = vec![
        SecurityGroup {
            id: "sg-a".into(),
            ingress: vec![rule("tcp", Some((80, 80)), Peer::Net(net("0.0.0.0/0")))],
            egress: vec![],
        },
        SecurityGroup {
            id: "sg-b".into(),
            ingress: vec![rule(
                "tcp",
                Some((1400, 1500)),
                Peer::Net(net("10.0.2.0/24")),
            )],
            egress: vec![],
        },
    ];
    let m = Members::default();
    let p = tcp("10.0.2.20", "10.0.3.30", 50000, 1433);
    match security_groups(&groups, Way::Ingress, &p, &m) {
        SgDecision::Allowed { group, .. } => assert_eq!(group, "sg-b"),
        other => panic!("{other:?}"),
    }
    let other_source = tcp("10.0.1.10", "10.0.3.30", 50000, 1433);
    assert_eq!(
        security_groups(&groups, Way::Ingress, &other_source, &m),
        SgDecision::Denied {
            groups: vec!["sg-a".into(), "sg-b".into()]
        }
    );
    // Egress rules are separate: no egress rule, no way out.
    assert!(matches!(
        security_groups(&groups, Way::Egress, &p, &m),
        SgDecision::Denied { .. }
    ));
}

#[test]
fn a_rule_referencing_a_group_allows_its_members_only() {
    let groups = vec![SecurityGroup {
        id: "sg-db".into(),
        ingress: vec![rule(
            "tcp",
            Some((1433, 1433)),
            Peer::Group("sg-app".into()),
        )],
        egress: vec![],
    }];
    let mut m = Members::default();
    m.groups.insert("sg-app".into(), vec![net("10.0.2.20/32")]);
    assert!(matches!(
        security_groups(
            &groups,
            Way::Ingress,
            &tcp("10.0.2.20", "10.0.3.30", 50000, 1433),
            &m
        ),
        SgDecision::Allowed { .. }
    ));
    assert!(matches!(
        security_groups(
            &groups,
            Way::Ingress,
            &tcp("10.0.2.21", "10.0.3.30", 50000, 1433),
            &m
        ),
        SgDecision::Denied { .. }
    ));
}

#[test]
fn prefix_lists_and_all_traffic_rules() {
    let groups = vec![SecurityGroup {
        id: "sg-1".into(),
        ingress: vec![rule("-1", None, Peer::PrefixList("pl-office".into()))],
        egress: vec![rule("-1", None, Peer::Net(net("0.0.0.0/0")))],
    }];
    let mut m = Members::default();
    m.prefix_lists
        .insert("pl-office".into(), vec![net("192.168.10.0/24")]);
    let udp = Packet {
        protocol: 17,
        ..tcp("192.168.10.5", "10.0.1.10", 5000, 53)
    };
    assert!(matches!(
        security_groups(&groups, Way::Ingress, &udp, &m),
        SgDecision::Allowed { .. }
    ));
    assert!(matches!(
        security_groups(
            &groups,
            Way::Ingress,
            &tcp("192.168.11.5", "10.0.1.10", 1, 22),
            &m
        ),
        SgDecision::Denied { .. }
    ));
    assert!(matches!(
        security_groups(
            &groups,
            Way::Egress,
            &tcp("10.0.1.10", "8.8.8.8", 1, 443),
            &m
        ),
        SgDecision::Allowed { .. }
    ));
}

#[test]
fn icmp_is_judged_as_ping() {
    let ping = Packet {
        protocol: 1,
        src: ip("192.168.30.5"),
        dst: ip("10.0.2.20"),
        src_port: 0,
        dst_port: 0,
        echo_reply: false,
    };
    let allow = |from: i32| SecurityGroup {
        id: "sg-1".into(),
        ingress: vec![rule(
            "icmp",
            Some((from, -1)),
            Peer::Net(net("192.168.0.0/16")),
        )],
        egress: vec![],
    };
    let m = Members::default();
    assert!(matches!(
        security_groups(&[allow(-1)], Way::Ingress, &ping, &m),
        SgDecision::Allowed { .. }
    ));
    assert!(matches!(
        security_groups(&[allow(8)], Way::Ingress, &ping, &m),
        SgDecision::Allowed { .. }
    ));
    assert!(
        matches!(
            security_groups(&[allow(3)], Way::Ingress, &ping, &m),
            SgDecision::Denied { .. }
        ),
        "destination unreachable only"
    );
    // A tcp rule never allows ICMP.
    let tcp_only = SecurityGroup {
        id: "sg-2".into(),
        ingress: vec![rule("tcp", Some((0, 65535)), Peer::Net(net("0.0.0.0/0")))],
        egress: vec![],
    };
    assert!(matches!(
        security_groups(&[tcp_only], Way::Ingress, &ping, &m),
        SgDecision::Denied { .. }
    ));
    let v6 = Packet {
        protocol: 58,
        src: ip("2001:db8::1"),
        dst: ip("2001:db8::2"),
        src_port: 0,
        dst_port: 0,
        echo_reply: false,
    };
    let acl = Acl {
        id: "a".into(),
        entries: vec![entry(100, false, true, "58", Some((128, -1)), "::/0")],
    };
    assert!(network_acl(&acl, false, &v6).allow);
}

#[test]
fn port_ranges_are_inclusive() {
    let g = vec![SecurityGroup {
        id: "sg-1".into(),
        ingress: vec![rule(
            "tcp",
            Some((8000, 8080)),
            Peer::Net(net("10.0.0.0/16")),
        )],
        egress: vec![],
    }];
    let m = Members::default();
    for (port, allowed) in [(7999, false), (8000, true), (8080, true), (8081, false)] {
        let d = security_groups(
            &g,
            Way::Ingress,
            &tcp("10.0.1.10", "10.0.2.20", 50000, port),
            &m,
        );
        assert_eq!(matches!(d, SgDecision::Allowed { .. }), allowed, "{port}");
    }
}

#[test]
fn ping_replies_are_echo_replies_and_ipv6_has_its_own_default_rule() {
    let ping = Packet {
        protocol: 1,
        src: ip("192.168.30.5"),
        dst: ip("10.0.2.20"),
        src_port: 0,
        dst_port: 0,
        echo_reply: false,
    };
    let out_requests_only = Acl {
        id: "a".into(),
        entries: vec![AclEntry {
            number: 100,
            egress: true,
            allow: true,
            protocol: RuleProtocol::Number(1),
            ports: Some(PortRange { from: 8, to: -1 }),
            net: net("0.0.0.0/0"),
        }],
    };
    assert!(
        !network_acl(&out_requests_only, true, &ping.reply(0)).allow,
        "type 0 is not type 8"
    );
    let out_replies = Acl {
        id: "a".into(),
        entries: vec![AclEntry {
            number: 100,
            egress: true,
            allow: true,
            protocol: RuleProtocol::Number(1),
            ports: Some(PortRange { from: 0, to: -1 }),
            net: net("0.0.0.0/0"),
        }],
    };
    assert!(network_acl(&out_replies, true, &ping.reply(0)).allow);
    // The IPv6 default rule is listed as 32768: it is `*` too.
    let v6 = Acl {
        id: "a".into(),
        entries: vec![entry(32768, false, false, "-1", None, "::/0")],
    };
    assert_eq!(
        network_acl(&v6, false, &tcp("2001:db8::1", "2001:db8::2", 1, 80)),
        AclDecision {
            allow: false,
            entry: None
        }
    );
}
