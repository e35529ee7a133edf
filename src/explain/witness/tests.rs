//! Cases from AWS's documented behaviour: security groups are stateful and allow-only; network
//! ACLs are stateless, ordered, and judge replies to the client's ephemeral ports; both only see
//! traffic crossing a subnet's boundary ("Control subnet traffic with network ACLs"); route tables
//! apply to traffic leaving a subnet, by longest prefix match; internet gateways carry public
//! addresses, NAT gateways and egress-only internet gateways take no connections from outside.

use std::collections::BTreeMap;

use super::*;
use crate::explain::config::Routing;
use crate::explain::path::End;
use crate::explain::routes::{Destination, Route, RouteTable, Target};
use crate::explain::rules::{Acl, AclEntry, PortRange, SgRule};
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
        } else if peer.starts_with("pl-") {
            Peer::PrefixList(peer.into())
        } else {
            Peer::Net(net(peer))
        },
    }
}

/// A group with these ingress rules and AWS's default egress rule (all traffic to anywhere).
fn sg(id: &str, ingress: Vec<SgRule>) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        ingress,
        egress: vec![rule("-1", None, "0.0.0.0/0"), rule("-1", None, "::/0")],
    }
}

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
                net: net(cidr),
            })
            .collect(),
    }
}

/// The default network ACL: everything allowed both ways, IPv4 and IPv6.
fn open_acl(id: &str) -> Acl {
    acl(
        id,
        vec![
            (100, false, true, None, "0.0.0.0/0"),
            (101, false, true, None, "::/0"),
            (100, true, true, None, "0.0.0.0/0"),
            (101, true, true, None, "::/0"),
        ],
    )
}

fn iface(eni: &str, subnet: &str, addr: &str, groups: Vec<SecurityGroup>, acl: Acl) -> Interface {
    Interface {
        end: End {
            eni: Some(eni.into()),
            subnet: Some(subnet.into()),
            groups,
            acl: Some(acl),
        },
        nets: addr.split(',').map(net).collect(),
        vpc: Some("vpc-shop".into()),
    }
}

fn route(dest: &str, target: Target) -> Route {
    Route {
        destination: if dest.starts_with("pl-") {
            Destination::PrefixList(dest.into())
        } else {
            Destination::Net(net(dest))
        },
        target,
        blackhole: false,
        propagated: false,
    }
}

fn local() -> Route {
    route("10.0.0.0/16", Target::Local)
}

fn igw() -> Target {
    Target::InternetGateway("igw-shop".into())
}

/// The main table (local only), and an explicit table per subnet given.
fn routing(explicit: Vec<(&str, Vec<Route>)>) -> Routing {
    let mut tables = vec![RouteTable {
        id: "rtb-main".into(),
        vpc: Some("vpc-shop".into()),
        main: true,
        subnets: vec![],
        routes: vec![local(), route("2001:db8:1234:1a00::/56", Target::Local)],
    }];
    for (subnet, routes) in explicit {
        tables.push(RouteTable {
            id: format!("rtb-{subnet}"),
            vpc: Some("vpc-shop".into()),
            main: false,
            subnets: vec![subnet.into()],
            routes,
        });
    }
    Routing {
        tables,
        vpc_cidrs: BTreeMap::from([(
            "vpc-shop".to_string(),
            vec![net("10.0.0.0/16"), net("2001:db8:1234:1a00::/56")],
        )]),
        unread: None,
    }
}

fn config(interfaces: Vec<Interface>, routing: Routing) -> Config {
    let mut members = Members::default();
    members
        .groups
        .insert("sg-app".into(), vec![net("10.0.2.20/32")]);
    Config {
        interfaces,
        routing,
        members,
        ..Config::default()
    }
}

fn app() -> Interface {
    iface(
        "eni-app",
        "subnet-app",
        "10.0.2.20/32",
        vec![sg("sg-app", vec![])],
        open_acl("acl-app"),
    )
}

fn db(ingress: Vec<SgRule>, acl: Acl) -> Interface {
    iface(
        "eni-db",
        "subnet-db",
        "10.0.3.30/32",
        vec![sg("sg-db", ingress)],
        acl,
    )
}

fn set(s: &str) -> AddrSet {
    let (inc, exc) = s.split_once(" except ").unwrap_or((s, ""));
    let list = |l: &str| -> Vec<IpNet> {
        l.split(',')
            .filter(|x| !x.is_empty())
            .map(|x| {
                if x.contains('/') {
                    net(x)
                } else {
                    IpNet::from(x.parse::<IpAddr>().unwrap())
                }
            })
            .collect()
    };
    AddrSet::networks(list(inc), list(exc))
}

fn tcp(port: u16) -> Ports {
    Ports::Set(PortSet::new(vec![port..=port]).unwrap())
}

fn judge_tcp(c: &Config, from: &str, to: &str, port: u16) -> Witness {
    let (from, to, ports) = (set(from), set(to), tcp(port));
    judge(
        c,
        &Query {
            from: &from,
            to: &to,
            protocol: Protocol::TCP,
            ports: &ports,
            purpose: Purpose::Reach,
        },
    )
}

fn refusal_words(w: &Witness) -> Vec<String> {
    w.refusals().map(Refusal::words).collect()
}

const INTERNET: &str = "0.0.0.0/0 except 10.0.0.0/16";

#[test]
fn a_security_group_open_to_the_world_lets_the_internet_in_and_is_named() {
    // The case: sg-db opens tcp/22 to 0.0.0.0/0 and the db subnet routes to an internet
    // gateway: some internet address reaches db on 22, with no traffic needed to say so.
    let c = config(
        vec![db(
            vec![rule("tcp", Some((22, 22)), "0.0.0.0/0")],
            open_acl("acl-db"),
        )],
        routing(vec![(
            "subnet-db",
            vec![local(), route("0.0.0.0/0", igw())],
        )]),
    );
    let w = judge_tcp(&c, INTERNET, "10.0.3.30", 22);
    let path = w.opening().expect("open");
    assert_eq!(path.request.src.to_string(), "203.0.113.10");
    let opening = path.opening().unwrap();
    assert_eq!(
        opening.words(&path.request),
        "SG sg-db of eni-db ingress rule tcp 22 from 0.0.0.0/0"
    );
    assert!(matches!(w.summary(), Summary::Allows { .. }));
    let words = path.words();
    assert!(
        words.contains("the reply: route table rtb-subnet-db of subnet-db: 0.0.0.0/0 → igw-shop"),
        "{words}"
    );
    // A closed port: the same group, another port, is refused at the group.
    let w = judge_tcp(&c, INTERNET, "10.0.3.30", 1433);
    assert!(w.opening().is_none());
    assert!(matches!(w.summary(), Summary::Refuses { .. }));
    let words = refusal_words(&w);
    assert_eq!(words.len(), 1, "{words:?}");
    assert!(
        words[0].starts_with("SG sg-db of eni-db has no ingress rule for tcp 1433 from 203.0.113.10 (and so for clients 0.0.0.0/5"),
        "{words:?}"
    );
}

#[test]
fn an_internet_client_needs_a_route_back_through_an_internet_gateway() {
    // The request from outside arrives through the internet gateway; the reply leaves through
    // the server subnet's route table, which must lead back to the internet gateway.
    let open = vec![rule("tcp", Some((22, 22)), "0.0.0.0/0")];
    let none = config(vec![db(open.clone(), open_acl("acl-db"))], routing(vec![]));
    let w = judge_tcp(&none, INTERNET, "10.0.3.30", 22);
    assert!(w.opening().is_none());
    let words = refusal_words(&w);
    assert!(
        words.iter().all(|r| r.starts_with("the reply: route table rtb-main (the VPC's main table, used by subnet-db) has no route to")),
        "{words:?}"
    );
    let nat = config(
        vec![db(open.clone(), open_acl("acl-db"))],
        routing(vec![(
            "subnet-db",
            vec![
                local(),
                route("0.0.0.0/0", Target::NatGateway("nat-1".into())),
            ],
        )]),
    );
    let words = refusal_words(&judge_tcp(&nat, INTERNET, "10.0.3.30", 22));
    assert!(
        words[0].contains(
            "0.0.0.0/0 → nat-1, but the NAT gateway nat-1 takes no connections from outside"
        ),
        "{words:?}"
    );
    let mut gone = route("0.0.0.0/0", igw());
    gone.blackhole = true;
    let blackholed = config(
        vec![db(open, open_acl("acl-db"))],
        routing(vec![("subnet-db", vec![local(), gone])]),
    );
    let words = refusal_words(&judge_tcp(&blackholed, INTERNET, "10.0.3.30", 22));
    assert!(
        words[0]
            .contains("takes 0.0.0.0/0 → igw-shop (blackhole), a blackhole (its target is gone)"),
        "{words:?}"
    );
}

#[test]
fn app_reaches_db_through_a_group_rule_and_both_subnets_nacls_both_ways() {
    let c = config(
        vec![
            app(),
            db(
                vec![rule("tcp", Some((1433, 1433)), "sg-app")],
                open_acl("acl-db"),
            ),
        ],
        routing(vec![]),
    );
    let w = judge_tcp(&c, "10.0.2.20", "10.0.3.30", 1433);
    let Summary::Allows { via } = w.summary() else {
        panic!("{:?}", w.summary())
    };
    assert_eq!(
        via.words(),
        "tcp 10.0.2.20 → 10.0.3.30:1433 is allowed: \
         SG sg-app of eni-app egress rule all traffic to 0.0.0.0/0; \
         NACL acl-app (subnet-app) outbound rule 100; \
         route table rtb-main (the VPC's main table, used by subnet-app): 10.0.0.0/16 → local; \
         NACL acl-db (subnet-db) inbound rule 100; \
         SG sg-db of eni-db ingress rule tcp 1433 from sg-app; \
         the reply: NACL acl-db (subnet-db) outbound rule 100; \
         the reply: route table rtb-main (the VPC's main table, used by subnet-db): 10.0.0.0/16 → local; \
         the reply: NACL acl-app (subnet-app) inbound rule 100"
    );
    // Another member-less address is not in sg-app: refused at sg-db.
    let c = config(
        vec![
            iface(
                "eni-web",
                "subnet-web",
                "10.0.1.10/32",
                vec![sg("sg-web", vec![])],
                open_acl("acl-web"),
            ),
            db(
                vec![rule("tcp", Some((1433, 1433)), "sg-app")],
                open_acl("acl-db"),
            ),
        ],
        routing(vec![]),
    );
    let words = refusal_words(&judge_tcp(&c, "10.0.1.10", "10.0.3.30", 1433));
    assert_eq!(
        words,
        vec!["SG sg-db of eni-db has no ingress rule for tcp 1433 from 10.0.1.10"]
    );
}

#[test]
fn within_one_subnet_neither_network_acls_nor_routes_apply() {
    // NACLs filter traffic entering and leaving the subnet; route tables apply to traffic that
    // leaves it. Two interfaces of one subnet only meet each other's security groups.
    let deny_all = acl("acl-closed", vec![]);
    let a = iface(
        "eni-a",
        "subnet-1",
        "10.0.1.10/32",
        vec![sg("sg-a", vec![])],
        deny_all.clone(),
    );
    let b = iface(
        "eni-b",
        "subnet-1",
        "10.0.1.11/32",
        vec![sg(
            "sg-b",
            vec![rule("tcp", Some((8080, 8080)), "10.0.1.0/24")],
        )],
        deny_all,
    );
    let w = judge_tcp(
        &config(vec![a, b], routing(vec![])),
        "10.0.1.10",
        "10.0.1.11",
        8080,
    );
    let via = w.opening().expect("allowed");
    assert_eq!(via.steps.len(), 2, "{}", via.words());
    assert!(
        via.steps
            .iter()
            .all(|s| matches!(s.hop, Hop::SecurityGroups { .. }))
    );
}

fn db_with_outbound(ports: (i32, i32)) -> Config {
    let outbound = acl(
        "acl-db",
        vec![
            (100, false, true, None, "0.0.0.0/0"),
            (100, true, true, Some(ports), "0.0.0.0/0"),
        ],
    );
    config(
        vec![
            app(),
            db(vec![rule("tcp", Some((1433, 1433)), "sg-app")], outbound),
        ],
        routing(vec![]),
    )
}

#[test]
fn a_stateless_acl_must_let_replies_back_to_the_clients_ports() {
    // "Ephemeral ports": a NACL allowing only the service port outbound refuses the replies to
    // the ports clients pick (Linux 32768-60999, Windows 49152-65535).
    let w = judge_tcp(
        &db_with_outbound((1433, 1433)),
        "10.0.2.20",
        "10.0.3.30",
        1433,
    );
    assert_eq!(
        refusal_words(&w),
        vec![
            "the reply: NACL acl-db (subnet-db) outbound: rule * (default deny) matches tcp 10.0.3.30 → 10.0.2.20:49152 (the client's ephemeral port)"
        ]
    );
    assert!(w.refusals().next().unwrap().at.reply);
    // 1024-32767 back: no Linux or Windows client gets its replies.
    let w = judge_tcp(
        &db_with_outbound((1024, 32767)),
        "10.0.2.20",
        "10.0.3.30",
        1433,
    );
    assert!(w.opening().is_none());
    // Part of the clients' ports: allowed, and said to be partial.
    let w = judge_tcp(
        &db_with_outbound((1024, 49151)),
        "10.0.2.20",
        "10.0.3.30",
        1433,
    );
    let via = w.opening().expect("some client ports work");
    assert_eq!(via.reply_ports, vec![32768..=49151]);
    assert!(
        via.caveats
            .iter()
            .any(|c| c.contains("only to client ports 32768-49151 of 32768-65535")),
        "{:?}",
        via.caveats
    );
}

#[test]
fn for_a_deny_check_any_client_port_the_reply_gets_back_to_opens_the_door() {
    // A sender chooses its own source port: with replies allowed back to port 1433 only, a
    // connection from client port 1433 gets its answers.
    let (from, to, ports) = (set("10.0.2.20"), set("10.0.3.30"), tcp(1433));
    let q = Query {
        from: &from,
        to: &to,
        protocol: Protocol::TCP,
        ports: &ports,
        purpose: Purpose::Deny,
    };
    let w = judge(&db_with_outbound((1433, 1433)), &q);
    let via = w.opening().expect("open from client port 1433");
    assert_eq!(via.reply_ports, vec![1433..=1433]);
    let q = Query {
        purpose: Purpose::Reach,
        ..q
    };
    assert!(
        judge(&db_with_outbound((1433, 1433)), &q)
            .opening()
            .is_none()
    );
}

#[test]
fn a_nacl_deny_for_part_of_the_internet_leaves_the_rest_open() {
    // Deny checks ask whether SOME address of `from` gets through: a NACL rule 90 denying one
    // range, before rule 100 allowing all, leaves the door open for the others.
    let partly = acl(
        "acl-db",
        vec![
            (90, false, false, Some((22, 22)), "203.0.113.0/24"),
            (100, false, true, None, "0.0.0.0/0"),
            (100, true, true, None, "0.0.0.0/0"),
        ],
    );
    let c = config(
        vec![db(vec![rule("tcp", Some((22, 22)), "0.0.0.0/0")], partly)],
        routing(vec![(
            "subnet-db",
            vec![local(), route("0.0.0.0/0", igw())],
        )]),
    );
    let w = judge_tcp(&c, INTERNET, "10.0.3.30", 22);
    let via = w.opening().expect("open to the rest");
    assert!(!via.request.src.to_string().starts_with("203.0.113."));
    // Only the denied range: refused at rule 90.
    let w = judge_tcp(&c, "203.0.113.0/24", "10.0.3.30", 22);
    assert_eq!(
        refusal_words(&w),
        vec![
            "NACL acl-db (subnet-db) inbound: rule 90 denies tcp 203.0.113.10 → 10.0.3.30:22 (and so for clients 203.0.113.0/24)"
        ]
    );
}

#[test]
fn a_subnet_without_a_route_to_on_premises_cannot_reach_it() {
    let on_prem = "192.168.0.0/16";
    let only_local = config(vec![app()], routing(vec![]));
    let w = judge_tcp(&only_local, "10.0.2.20", on_prem, 1521);
    assert_eq!(
        refusal_words(&w),
        vec![
            "route table rtb-main (the VPC's main table, used by subnet-app) has no route to 192.168.0.1: the packet is dropped (and so for servers 192.168.0.0/16)"
        ]
    );
    // A default route to the internet gateway does not reach private addresses.
    let public = config(
        vec![app()],
        routing(vec![(
            "subnet-app",
            vec![local(), route("0.0.0.0/0", igw())],
        )]),
    );
    let words = refusal_words(&judge_tcp(&public, "10.0.2.20", on_prem, 1521));
    assert!(
        words[0].contains("0.0.0.0/0 → igw-shop, but the internet gateway igw-shop leads to the internet, which does not carry private addresses"),
        "{words:?}"
    );
    // A route to the virtual private gateway does; what lies beyond it is a caveat.
    let vpn = config(
        vec![app()],
        routing(vec![(
            "subnet-app",
            vec![
                local(),
                route("0.0.0.0/0", igw()),
                route(on_prem, Target::VirtualPrivateGateway("vgw-office".into())),
            ],
        )]),
    );
    let w = judge_tcp(&vpn, "10.0.2.20", on_prem, 1521);
    let via = w.opening().expect("routed to the vgw");
    assert!(
        via.caveats.iter().any(|c| c.contains(
            "the virtual private gateway vgw-office (what lies beyond it is not evaluated)"
        )),
        "{:?}",
        via.caveats
    );
    // An internet destination from the same subnet goes out through the internet gateway.
    assert!(
        judge_tcp(&vpn, "10.0.2.20", "198.51.100.7", 443)
            .opening()
            .is_some()
    );
}

#[test]
fn pairs_are_judged_per_interface_and_summed_up() {
    // web1 is allowed by app's rule, web2 is not: the reach check is partly refused.
    let web = |eni: &str, addr: &str| {
        iface(
            eni,
            "subnet-web",
            addr,
            vec![sg("sg-web", vec![])],
            open_acl("acl-web"),
        )
    };
    let app = iface(
        "eni-app",
        "subnet-app",
        "10.0.2.20/32",
        vec![sg(
            "sg-app",
            vec![rule("tcp", Some((8080, 8080)), "10.0.1.10/32")],
        )],
        open_acl("acl-app"),
    );
    let c = config(
        vec![
            web("eni-web1", "10.0.1.10/32"),
            web("eni-web2", "10.0.1.11/32"),
            app,
        ],
        routing(vec![]),
    );
    let w = judge_tcp(&c, "10.0.1.10,10.0.1.11", "10.0.2.20", 8080);
    let Summary::Partly { via, refused } = w.summary() else {
        panic!("{:?}", w.summary())
    };
    assert_eq!(via.request.src.to_string(), "10.0.1.10");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].client.to_string(), "eni-web2 (10.0.1.11)");
}

#[test]
fn ipv6_is_routed_and_filtered_on_its_own() {
    // A ::/0 security group rule and an IPv4-only default route: the IPv6 reply has no route.
    let mut server = iface(
        "eni-web",
        "subnet-web",
        "2001:db8:1234:1a01::10/128",
        vec![sg("sg-web", vec![rule("tcp", Some((443, 443)), "::/0")])],
        open_acl("acl-web"),
    );
    server.nets.push(net("10.0.1.10/32"));
    let v4_only = config(
        vec![server.clone()],
        routing(vec![(
            "subnet-web",
            vec![local(), route("0.0.0.0/0", igw())],
        )]),
    );
    let w = judge_tcp(&v4_only, "2600:1f18::/32", "2001:db8:1234:1a01::10", 443);
    assert!(w.opening().is_none());
    assert!(
        refusal_words(&w)[0].contains("has no route to 2600:1f18::"),
        "{:?}",
        refusal_words(&w)
    );
    let dual = config(
        vec![server],
        routing(vec![(
            "subnet-web",
            vec![local(), route("0.0.0.0/0", igw()), route("::/0", igw())],
        )]),
    );
    let w = judge_tcp(&dual, "2600:1f18::/32", "2001:db8:1234:1a01::10", 443);
    assert!(w.opening().is_some());
    // The IPv4 internet is not let in by the ::/0 rule.
    let w = judge_tcp(&dual, INTERNET, "10.0.1.10", 443);
    assert!(w.opening().is_none());
}

#[test]
fn ping_is_judged_as_echo_request_and_echo_reply() {
    let c = config(
        vec![
            app(),
            db(
                vec![rule("icmp", Some((-1, -1)), "10.0.0.0/16")],
                open_acl("acl-db"),
            ),
        ],
        routing(vec![]),
    );
    let (from, to) = (set("10.0.2.20"), set("10.0.3.30"));
    let q = Query {
        from: &from,
        to: &to,
        protocol: Protocol::ICMP,
        ports: &Ports::Any,
        purpose: Purpose::Reach,
    };
    let w = judge(&c, &q);
    let via = w.opening().expect("ping allowed");
    assert_eq!(via.request.to_string(), "icmp 10.0.2.20 → 10.0.3.30");
    let q = Query {
        protocol: Protocol::UDP,
        ports: &tcp(53),
        ..q
    };
    assert!(judge(&c, &q).opening().is_none());
}

#[test]
fn addresses_in_the_vpc_without_an_interface_send_nothing() {
    let c = config(
        vec![db(
            vec![rule("tcp", Some((22, 22)), "0.0.0.0/0")],
            open_acl("acl-db"),
        )],
        routing(vec![]),
    );
    let w = judge_tcp(&c, "10.0.9.0/24", "10.0.3.30", 22);
    assert!(w.pairs.is_empty());
    assert_eq!(w.nobody.networks(), vec![net("10.0.9.0/24")]);
    assert_eq!(
        w.summary(),
        Summary::Unknown(
            "no network interface holds an address of `from` (10.0.9.0/24) now".into()
        )
    );
    // Two ends outside every VPC read: nothing of ours is on the path.
    let w = judge_tcp(&c, "203.0.113.0/24", "192.168.0.0/16", 22);
    assert!(matches!(w.summary(), Summary::Unknown(_)));
}

#[test]
fn routes_not_read_leave_the_filters_and_say_so() {
    let mut r = routing(vec![]);
    r.tables.clear();
    r.vpc_cidrs.clear();
    r.unread = Some("ec2:DescribeRouteTables: UnauthorizedOperation".into());
    let c = config(
        vec![db(
            vec![rule("tcp", Some((22, 22)), "0.0.0.0/0")],
            open_acl("acl-db"),
        )],
        r,
    );
    let w = judge_tcp(&c, INTERNET, "10.0.3.30", 22);
    let via = w.opening().expect("the filters allow it");
    assert!(via.steps.iter().all(|s| !s.hop.is_route()));
    assert!(
        via.caveats[0].starts_with("route tables were not read (ec2:DescribeRouteTables"),
        "{:?}",
        via.caveats
    );
}

#[test]
fn an_interface_without_security_groups_is_not_filtered_by_them() {
    // NAT gateways' interfaces carry no security group.
    let mut nat = iface(
        "eni-nat",
        "subnet-app",
        "10.0.2.99/32",
        vec![],
        open_acl("acl-app"),
    );
    nat.end.groups.clear();
    let c = config(vec![app(), nat], routing(vec![]));
    let w = judge_tcp(&c, "10.0.2.20", "10.0.2.99", 443);
    assert!(w.opening().is_some());
}

#[test]
fn each_atom_of_a_port_range_is_tried() {
    // A check over 8000-8100 against a rule for 8080 only: 8080 is the open port found.
    let c = config(
        vec![
            app(),
            db(
                vec![rule("tcp", Some((8080, 8080)), "10.0.2.0/24")],
                open_acl("acl-db"),
            ),
        ],
        routing(vec![]),
    );
    let (from, to) = (set("10.0.2.20"), set("10.0.3.30"));
    let ports = Ports::Set(PortSet::new(vec![8000..=8100]).unwrap());
    let w = judge(
        &c,
        &Query {
            from: &from,
            to: &to,
            protocol: Protocol::TCP,
            ports: &ports,
            purpose: Purpose::Reach,
        },
    );
    assert_eq!(w.opening().unwrap().request.dst_port, 8080);
}

#[test]
fn a_rule_for_a_small_part_of_a_wide_side_is_found() {
    // "Some address of `from`": the side is cut at the rule's CIDR, so the one /24 the group
    // opens is tried, whatever example address the rest of the internet would give.
    let c = config(
        vec![db(
            vec![rule("tcp", Some((22, 22)), "198.51.100.0/24")],
            open_acl("acl-db"),
        )],
        routing(vec![(
            "subnet-db",
            vec![local(), route("0.0.0.0/0", igw())],
        )]),
    );
    let w = judge_tcp(&c, INTERNET, "10.0.3.30", 22);
    let via = w.opening().expect("open to 198.51.100.0/24");
    assert_eq!(via.request.src.to_string(), "198.51.100.10");
    assert_eq!(
        via.opening().unwrap().words(&via.request),
        "SG sg-db of eni-db ingress rule tcp 22 from 198.51.100.0/24"
    );
}
