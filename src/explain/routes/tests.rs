//! Each case is a documented behaviour: the VPC user guide ("Configure route tables": routes,
//! rules and considerations, subnet route table association; "Route priority": longest prefix
//! match, propagated routes, prefix lists), the PrivateLink guide (gateway endpoint routing), the
//! Site-to-Site VPN guide (route priority), the EC2 API reference (CreateRoute, Route.State) and
//! the internet gateway, egress-only internet gateway and NAT gateway pages.

use super::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn target(id: &str) -> Target {
    match id.split('-').next().unwrap() {
        "local" => Target::Local,
        "igw" => Target::InternetGateway(id.into()),
        "eigw" => Target::EgressOnlyInternetGateway(id.into()),
        "nat" => Target::NatGateway(id.into()),
        "tgw" => Target::TransitGateway(id.into()),
        "vgw" => Target::VirtualPrivateGateway(id.into()),
        "pcx" => Target::Peering(id.into()),
        "vpce" => Target::GatewayEndpoint(id.into()),
        "gwlbe" => Target::LoadBalancerEndpoint(id.into()),
        "eni" => Target::NetworkInterface(id.into()),
        other => Target::Other(other.into()),
    }
}

fn route(dest: &str, to: &str) -> Route {
    Route {
        destination: if dest.starts_with("pl-") {
            Destination::PrefixList(dest.into())
        } else {
            Destination::Net(net(dest))
        },
        target: target(to),
        blackhole: false,
        propagated: false,
    }
}

fn propagated(dest: &str, to: &str) -> Route {
    Route {
        propagated: true,
        ..route(dest, to)
    }
}

fn table(routes: Vec<Route>) -> RouteTable {
    RouteTable {
        id: "rtb-1".into(),
        vpc: Some("vpc-1".into()),
        main: false,
        subnets: vec!["subnet-1".into()],
        routes,
    }
}

const VPC: &str = "10.0.0.0/16";

fn chosen(t: &RouteTable, lists: &BTreeMap<String, Vec<IpNet>>, dst: &str) -> String {
    match lookup(t, &[net(VPC)], lists, ip(dst)) {
        Choice::Local { cidr } => format!("local {cidr}"),
        Choice::Route { route, .. } => route.target.id().to_string(),
        Choice::NoRoute => "no route".into(),
    }
}

fn no_lists() -> BTreeMap<String, Vec<IpNet>> {
    BTreeMap::new()
}

#[test]
fn route_priority_example_peering_is_more_specific_than_the_internet_gateway() {
    // "How route priority works", longest prefix match: 172.31.0.0/16 → pcx wins over
    // 0.0.0.0/0 → igw; the VPC's own range stays local; everything else goes to the igw.
    let t = table(vec![
        route(VPC, "local"),
        route("172.31.0.0/16", "pcx-11223344556677889"),
        route("0.0.0.0/0", "igw-12345678901234567"),
    ]);
    assert_eq!(
        chosen(&t, &no_lists(), "172.31.4.5"),
        "pcx-11223344556677889"
    );
    assert_eq!(chosen(&t, &no_lists(), "10.0.3.30"), "local 10.0.0.0/16");
    assert_eq!(chosen(&t, &no_lists(), "8.8.8.8"), "igw-12345678901234567");
}

#[test]
fn create_route_example_the_slash_28_beats_the_slash_24_for_192_0_2_3() {
    // CreateRoute: traffic for 192.0.2.3 with routes 192.0.2.0/24 (A) and 192.0.2.0/28 (B) uses B.
    let t = table(vec![
        route(VPC, "local"),
        route("192.0.2.0/24", "tgw-a"),
        route("192.0.2.0/28", "vgw-b"),
    ]);
    assert_eq!(chosen(&t, &no_lists(), "192.0.2.3"), "vgw-b");
    assert_eq!(chosen(&t, &no_lists(), "192.0.2.100"), "tgw-a");
}

#[test]
fn ipv4_and_ipv6_routes_are_independent() {
    // "Routes": 0.0.0.0/0 does not include IPv6 addresses; ::/0 is needed for them. The guide's
    // example: the VPC's IPv6 range is local, other IPv6 traffic goes to the egress-only igw.
    let v4_only = table(vec![route(VPC, "local"), route("0.0.0.0/0", "igw-1")]);
    assert_eq!(chosen(&v4_only, &no_lists(), "2600:1f18::1"), "no route");
    let dual = table(vec![
        route(VPC, "local"),
        route("2001:db8:1234:1a00::/56", "local"),
        route("172.31.0.0/16", "pcx-1"),
        route("0.0.0.0/0", "igw-1"),
        route("::/0", "eigw-1"),
    ]);
    assert_eq!(
        chosen(&dual, &no_lists(), "2001:db8:1234:1a10::5"),
        "local 2001:db8:1234:1a00::/56"
    );
    assert_eq!(chosen(&dual, &no_lists(), "2600:1f18::1"), "eigw-1");
    assert_eq!(chosen(&dual, &no_lists(), "1.1.1.1"), "igw-1");
}

#[test]
fn a_static_route_beats_a_propagated_route_to_the_same_destination() {
    // "Route priority and propagated routes": 172.31.0.0/24 → vgw (propagated) and the same
    // destination → igw (static): the internet gateway gets the traffic, in either order.
    let t = table(vec![
        route(VPC, "local"),
        propagated("172.31.0.0/24", "vgw-11223344556677889"),
        route("172.31.0.0/24", "igw-12345678901234567"),
    ]);
    assert_eq!(
        chosen(&t, &no_lists(), "172.31.0.9"),
        "igw-12345678901234567"
    );
    let mut reversed = t.clone();
    reversed.routes.reverse();
    assert_eq!(
        chosen(&reversed, &no_lists(), "172.31.0.9"),
        "igw-12345678901234567"
    );
    // A more specific propagated route still wins over a less specific static one.
    let t = table(vec![
        route(VPC, "local"),
        route("172.16.0.0/12", "tgw-1"),
        propagated("172.31.0.0/24", "vgw-1"),
    ]);
    assert_eq!(chosen(&t, &no_lists(), "172.31.0.9"), "vgw-1");
}

#[test]
fn the_local_route_wins_over_more_specific_propagated_routes() {
    // Site-to-Site VPN guide: propagated routes overlapping the local route never win, even
    // when they are more specific.
    let t = table(vec![
        route(VPC, "local"),
        propagated("10.0.3.0/24", "vgw-1"),
    ]);
    assert_eq!(chosen(&t, &no_lists(), "10.0.3.30"), "local 10.0.0.0/16");
    // The VPC's CIDRs count as local even when the table's copy of the route is not listed.
    let bare = table(vec![route("0.0.0.0/0", "igw-1")]);
    assert_eq!(chosen(&bare, &no_lists(), "10.0.3.30"), "local 10.0.0.0/16");
}

#[test]
fn a_middlebox_route_for_a_whole_subnet_overrides_the_local_route() {
    // "Rules and considerations": a route more specific than the local route must match a
    // subnet's whole CIDR and point to a NAT gateway, a network interface or a Gateway Load
    // Balancer endpoint; traffic to other subnets stays local.
    let t = table(vec![
        route(VPC, "local"),
        route("10.0.3.0/24", "eni-appliance"),
        route("10.0.4.0/24", "gwlbe-1"),
    ]);
    assert_eq!(chosen(&t, &no_lists(), "10.0.3.30"), "eni-appliance");
    assert_eq!(chosen(&t, &no_lists(), "10.0.4.1"), "gwlbe-1");
    assert_eq!(chosen(&t, &no_lists(), "10.0.2.20"), "local 10.0.0.0/16");
    // "Replace or restore the target for a local route": the VPC CIDR itself to an interface.
    let replaced = table(vec![route(VPC, "eni-appliance")]);
    assert_eq!(chosen(&replaced, &no_lists(), "10.0.2.20"), "eni-appliance");
}

fn s3() -> BTreeMap<String, Vec<IpNet>> {
    BTreeMap::from([(
        "pl-6ca54005".to_string(),
        vec![net("52.218.0.0/17"), net("3.5.64.0/21")],
    )])
}

#[test]
fn a_gateway_endpoint_takes_the_service_traffic_from_the_default_route() {
    // PrivateLink guide, gateway endpoint routing: with 0.0.0.0/0 → igw, traffic for the
    // service's prefix list goes to the endpoint; all other internet traffic to the igw.
    let t = table(vec![
        route(VPC, "local"),
        route("0.0.0.0/0", "igw-1"),
        route("pl-6ca54005", "vpce-1"),
    ]);
    assert_eq!(chosen(&t, &s3(), "52.218.1.1"), "vpce-1");
    assert_eq!(chosen(&t, &s3(), "3.5.65.9"), "vpce-1");
    assert_eq!(chosen(&t, &s3(), "54.0.0.1"), "igw-1");
    match lookup(&t, &[net(VPC)], &s3(), ip("52.218.1.1")) {
        Choice::Route { matched, .. } => assert_eq!(matched, net("52.218.0.0/17")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn more_specific_or_identical_static_routes_beat_the_gateway_endpoint() {
    // "If you have existing, more specific routes ... those routes take precedence. If you have
    // existing routes destined for an IP address range that is identical to the IP address
    // range used by the service, then your routes take precedence."
    let t = table(vec![
        route(VPC, "local"),
        route("pl-6ca54005", "vpce-1"),
        route("52.218.0.0/17", "nat-1"),
        route("3.5.64.0/24", "igw-1"),
    ]);
    assert_eq!(chosen(&t, &s3(), "52.218.1.1"), "nat-1");
    assert_eq!(chosen(&t, &s3(), "3.5.64.7"), "igw-1");
    assert_eq!(chosen(&t, &s3(), "3.5.66.7"), "vpce-1");
}

#[test]
fn a_prefix_list_route_beats_a_propagated_route_and_ties_between_lists_are_reported() {
    // "Route priority and prefix lists": a propagated route matching a prefix-list route loses
    // to it; prefix lists with overlapping entries to different targets: AWS picks one.
    let lists = BTreeMap::from([
        ("pl-a".to_string(), vec![net("192.168.0.0/16")]),
        ("pl-b".to_string(), vec![net("192.168.0.0/16")]),
    ]);
    let t = table(vec![
        route(VPC, "local"),
        propagated("192.168.0.0/16", "vgw-1"),
        route("pl-a", "tgw-1"),
    ]);
    assert_eq!(chosen(&t, &lists, "192.168.20.15"), "tgw-1");
    let both = table(vec![
        route(VPC, "local"),
        route("pl-a", "tgw-1"),
        route("pl-b", "pcx-1"),
    ]);
    match lookup(&both, &[net(VPC)], &lists, ip("192.168.20.15")) {
        Choice::Route { route, tied, .. } => {
            assert_eq!(route.target.id(), "tgw-1");
            assert_eq!(tied.len(), 1);
            assert_eq!(tied[0].target.id(), "pcx-1");
        }
        other => panic!("{other:?}"),
    }
    // A list that was not read matches nothing (it is not guessed at).
    assert_eq!(chosen(&both, &no_lists(), "192.168.20.15"), "no route");
}

#[test]
fn a_blackhole_route_still_matches_and_drops_the_traffic() {
    // Route.State: `blackhole` means the target is not available; the longest match is taken
    // anyway, so a less specific working route does not rescue the packet.
    let mut gone = route("0.0.0.0/0", "nat-deleted");
    gone.blackhole = true;
    let t = table(vec![route(VPC, "local"), gone, route("0.0.0.0/1", "igw-1")]);
    assert_eq!(chosen(&t, &no_lists(), "200.0.0.1"), "nat-deleted");
    let c = lookup(&t, &[net(VPC)], &no_lists(), ip("200.0.0.1"));
    assert_eq!(
        verdict(&c, Far::Outside { private: false }, Leg::Request),
        Verdict::Blackhole
    );
    assert!(
        verdict(
            &lookup(&t, &[net(VPC)], &no_lists(), ip("100.0.0.1")),
            Far::Outside { private: false },
            Leg::Request
        )
        .delivers()
    );
}

#[test]
fn a_subnet_uses_its_explicit_table_else_its_vpcs_main_table() {
    // "Subnet route table association": explicit association, else implicitly the main table.
    let main = RouteTable {
        id: "rtb-main".into(),
        vpc: Some("vpc-1".into()),
        main: true,
        subnets: vec![],
        routes: vec![route(VPC, "local")],
    };
    let other_main = RouteTable {
        id: "rtb-other".into(),
        vpc: Some("vpc-2".into()),
        main: true,
        ..RouteTable::default()
    };
    let custom = RouteTable {
        id: "rtb-public".into(),
        vpc: Some("vpc-1".into()),
        subnets: vec!["subnet-web".into()],
        ..RouteTable::default()
    };
    let tables = vec![other_main, main, custom];
    let (t, how) = table_for(&tables, "subnet-web", Some("vpc-1")).unwrap();
    assert_eq!((t.id.as_str(), how), ("rtb-public", Association::Explicit));
    let (t, how) = table_for(&tables, "subnet-db", Some("vpc-1")).unwrap();
    assert_eq!((t.id.as_str(), how), ("rtb-main", Association::Main));
    assert!(table_for(&tables, "subnet-x", Some("vpc-9")).is_none());
    assert!(table_for(&tables, "subnet-x", None).is_none());
}

#[test]
fn no_matching_route_drops_the_packet() {
    // A subnet whose table has only the local route reaches nothing outside the VPC.
    let t = table(vec![route(VPC, "local")]);
    let c = lookup(&t, &[net(VPC)], &no_lists(), ip("192.168.20.15"));
    assert_eq!(c, Choice::NoRoute);
    assert_eq!(
        verdict(&c, Far::Outside { private: true }, Leg::Request),
        Verdict::NoRoute
    );
}

#[test]
fn an_internet_gateway_does_not_carry_private_addresses() {
    // Internet gateways route to the internet; on premises needs a virtual private gateway or
    // transit gateway. A private destination matching only 0.0.0.0/0 → igw is not reached.
    let t = table(vec![route(VPC, "local"), route("0.0.0.0/0", "igw-1")]);
    let c = lookup(&t, &[net(VPC)], &no_lists(), ip("192.168.20.15"));
    assert!(matches!(
        verdict(&c, Far::Outside { private: true }, Leg::Request),
        Verdict::Cannot(_)
    ));
    let c = lookup(&t, &[net(VPC)], &no_lists(), ip("203.0.113.9"));
    assert_eq!(
        verdict(&c, Far::Outside { private: false }, Leg::Reply),
        Verdict::Delivers
    );
    assert!(is_private(ip("192.168.20.15")) && is_private(ip("fd00::1")));
    assert!(!is_private(ip("203.0.113.9")) && !is_private(ip("2600:1f18::1")));
}

#[test]
fn egress_only_gateways_and_nat_gateways_carry_requests_out_but_no_replies_to_connections_from_outside()
 {
    // Egress-only internet gateway: outbound IPv6 only, "prevents the internet from initiating
    // an IPv6 connection". NAT gateway: "external services cannot initiate a connection".
    let t = table(vec![
        route(VPC, "local"),
        route("0.0.0.0/0", "nat-1"),
        route("::/0", "eigw-1"),
    ]);
    let out = Far::Outside { private: false };
    for dst in ["203.0.113.9", "2600:1f18::1"] {
        let c = lookup(&t, &[net(VPC)], &no_lists(), ip(dst));
        assert!(verdict(&c, out, Leg::Request).delivers(), "{dst}");
        assert!(
            matches!(verdict(&c, out, Leg::Reply), Verdict::Cannot(_)),
            "{dst}"
        );
    }
}

#[test]
fn a_local_route_does_not_reach_another_vpc_with_an_overlapping_range() {
    let t = table(vec![route(VPC, "local"), route("10.1.0.0/16", "pcx-1")]);
    let c = lookup(&t, &[net("10.0.0.0/8")], &no_lists(), ip("10.1.0.5"));
    assert!(matches!(c, Choice::Local { .. }));
    assert!(matches!(
        verdict(&c, Far::OtherVpc { private: true }, Leg::Request),
        Verdict::Cannot(_)
    ));
    let c = lookup(&t, &[net(VPC)], &no_lists(), ip("10.1.0.5"));
    assert!(verdict(&c, Far::OtherVpc { private: true }, Leg::Request).delivers());
}
