//! Reading EC2's answers into the model, and the fetch's soft failure, against mocked EC2.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ec2::operation::describe_network_acls::DescribeNetworkAclsOutput;
use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_ec2::types::{
    GroupIdentifier, NetworkInterface, NetworkInterfacePrivateIpAddress, RouteTableAssociation,
    RouteTableAssociationState, Vpc, VpcCidrBlockAssociation, VpcCidrBlockState,
    VpcIpv6CidrBlockAssociation,
};
use aws_smithy_mocks::{Rule, mock};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::*;

type SdkRoute = aws_sdk_ec2::types::Route;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn routes_are_read_with_their_target_state_and_origin() {
    let igw = SdkRoute::builder()
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id("igw-1")
        .state(RouteState::Active)
        .origin(RouteOrigin::CreateRoute)
        .build();
    let r = route_of(&igw).unwrap();
    assert_eq!(r.destination, Destination::Net(net("0.0.0.0/0")));
    assert_eq!(r.target, Target::InternetGateway("igw-1".into()));
    assert!(!r.blackhole && !r.propagated);

    // A NAT instance's route names the instance and its interface: the instance is the target.
    let nat_instance = SdkRoute::builder()
        .destination_ipv6_cidr_block("::/0")
        .instance_id("i-1")
        .network_interface_id("eni-1")
        .state(RouteState::Blackhole)
        .build();
    let r = route_of(&nat_instance).unwrap();
    assert_eq!(r.destination, Destination::Net(net("::/0")));
    assert_eq!(r.target, Target::Instance("i-1".into()));
    assert!(r.blackhole);

    let propagated = SdkRoute::builder()
        .destination_cidr_block("192.168.0.0/16")
        .gateway_id("vgw-1")
        .origin(RouteOrigin::EnableVgwRoutePropagation)
        .build();
    let r = route_of(&propagated).unwrap();
    assert_eq!(r.target, Target::VirtualPrivateGateway("vgw-1".into()));
    assert!(r.propagated);

    // `vpce-`: a gateway endpoint for a prefix list, a Gateway Load Balancer endpoint for a CIDR.
    let s3 = SdkRoute::builder()
        .destination_prefix_list_id("pl-6ca54005")
        .gateway_id("vpce-s3")
        .build();
    assert_eq!(
        route_of(&s3).unwrap(),
        Route {
            destination: Destination::PrefixList("pl-6ca54005".into()),
            target: Target::GatewayEndpoint("vpce-s3".into()),
            blackhole: false,
            propagated: false,
        }
    );
    let gwlb = SdkRoute::builder()
        .destination_cidr_block("10.0.3.0/24")
        .gateway_id("vpce-gwlb")
        .build();
    assert_eq!(
        route_of(&gwlb).unwrap().target,
        Target::LoadBalancerEndpoint("vpce-gwlb".into())
    );
    let local = SdkRoute::builder()
        .destination_cidr_block("10.0.0.0/16")
        .gateway_id("local")
        .origin(RouteOrigin::CreateRouteTable)
        .build();
    assert_eq!(route_of(&local).unwrap().target, Target::Local);
    for (b, t) in [
        (
            SdkRoute::builder().nat_gateway_id("nat-1"),
            Target::NatGateway("nat-1".into()),
        ),
        (
            SdkRoute::builder().transit_gateway_id("tgw-1"),
            Target::TransitGateway("tgw-1".into()),
        ),
        (
            SdkRoute::builder().vpc_peering_connection_id("pcx-1"),
            Target::Peering("pcx-1".into()),
        ),
        (
            SdkRoute::builder().egress_only_internet_gateway_id("eigw-1"),
            Target::EgressOnlyInternetGateway("eigw-1".into()),
        ),
        (
            SdkRoute::builder().network_interface_id("eni-fw"),
            Target::NetworkInterface("eni-fw".into()),
        ),
    ] {
        let r = b.destination_cidr_block("172.16.0.0/12").build();
        assert_eq!(route_of(&r).unwrap().target, t);
    }
    // No destination at all: nothing to match.
    assert!(route_of(&SdkRoute::builder().gateway_id("igw-1").build()).is_none());
}

fn association(
    subnet: Option<&str>,
    main: bool,
    state: RouteTableAssociationStateCode,
) -> RouteTableAssociation {
    let mut b = RouteTableAssociation::builder()
        .main(main)
        .association_state(RouteTableAssociationState::builder().state(state).build());
    if let Some(s) = subnet {
        b = b.subnet_id(s);
    }
    b.build()
}

#[test]
fn a_table_knows_whether_it_is_main_and_its_live_subnet_associations() {
    let t = aws_sdk_ec2::types::RouteTable::builder()
        .route_table_id("rtb-1")
        .vpc_id("vpc-1")
        .associations(association(
            None,
            true,
            RouteTableAssociationStateCode::Associated,
        ))
        .associations(association(
            Some("subnet-a"),
            false,
            RouteTableAssociationStateCode::Associated,
        ))
        .associations(association(
            Some("subnet-gone"),
            false,
            RouteTableAssociationStateCode::Disassociated,
        ))
        .routes(
            SdkRoute::builder()
                .destination_cidr_block("10.0.0.0/16")
                .gateway_id("local")
                .build(),
        )
        .build();
    let model = table_of(&t);
    assert_eq!(model.id, "rtb-1");
    assert_eq!(model.vpc.as_deref(), Some("vpc-1"));
    assert!(model.main);
    assert_eq!(model.subnets, vec!["subnet-a".to_string()]);
    assert_eq!(model.routes.len(), 1);
}

#[test]
fn a_vpcs_cidrs_are_its_associated_ipv4_and_ipv6_blocks() {
    let state = |s| VpcCidrBlockState::builder().state(s).build();
    let v = Vpc::builder()
        .vpc_id("vpc-1")
        .cidr_block("10.0.0.0/16")
        .cidr_block_association_set(
            VpcCidrBlockAssociation::builder()
                .cidr_block("10.0.0.0/16")
                .cidr_block_state(state(VpcCidrBlockStateCode::Associated))
                .build(),
        )
        .cidr_block_association_set(
            VpcCidrBlockAssociation::builder()
                .cidr_block("100.64.0.0/16")
                .cidr_block_state(state(VpcCidrBlockStateCode::Associated))
                .build(),
        )
        .cidr_block_association_set(
            VpcCidrBlockAssociation::builder()
                .cidr_block("10.9.0.0/16")
                .cidr_block_state(state(VpcCidrBlockStateCode::Disassociated))
                .build(),
        )
        .ipv6_cidr_block_association_set(
            VpcIpv6CidrBlockAssociation::builder()
                .ipv6_cidr_block("2001:db8:1234:1a00::/56")
                .ipv6_cidr_block_state(state(VpcCidrBlockStateCode::Associated))
                .build(),
        )
        .build();
    assert_eq!(
        cidrs_of(&v),
        vec![
            net("10.0.0.0/16"),
            net("100.64.0.0/16"),
            net("2001:db8:1234:1a00::/56")
        ]
    );
}

use crate::aws::mocks::ec2 as mocked;

fn unauthorized() -> Response {
    Response::new(
        StatusCode::try_from(403).unwrap(),
        SdkBody::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r-1</RequestID></Response>",
        ),
    )
}

fn db_interface() -> Rule {
    mock!(Client::describe_network_interfaces).then_output(|| {
        DescribeNetworkInterfacesOutput::builder()
            .network_interfaces(
                NetworkInterface::builder()
                    .network_interface_id("eni-db")
                    .subnet_id("subnet-db")
                    .vpc_id("vpc-shop")
                    .private_ip_address("10.0.3.30")
                    .private_ip_addresses(
                        NetworkInterfacePrivateIpAddress::builder()
                            .private_ip_address("10.0.3.30")
                            .build(),
                    )
                    .groups(GroupIdentifier::builder().group_id("sg-db").build())
                    .build(),
            )
            .build()
    })
}

fn no_groups_or_acls() -> (Rule, Rule) {
    (
        mock!(Client::describe_security_groups)
            .then_output(|| DescribeSecurityGroupsOutput::builder().build()),
        mock!(Client::describe_network_acls)
            .then_output(|| DescribeNetworkAclsOutput::builder().build()),
    )
}

#[tokio::test]
async fn routes_that_cannot_be_read_leave_the_rest_of_the_configuration() {
    // An IAM policy written for the security groups alone: DescribeVpcs is refused.
    let (groups, acls) = no_groups_or_acls();
    let vpcs = mock!(Client::describe_vpcs).then_http_response(unauthorized);
    let tables = mock!(Client::describe_route_tables)
        .then_output(|| DescribeRouteTablesOutput::builder().build());
    let client = mocked(&[&db_interface(), &groups, &acls, &vpcs, &tables]);
    let ips = BTreeSet::from(["10.0.3.30".parse().unwrap()]);
    let config = fetch(&client, &ips).await.expect("fail soft");
    assert_eq!(
        config.routing.unread.as_deref(),
        Some(
            "ec2:DescribeVpcs: UnauthorizedOperation: You are not authorized to perform this operation."
        )
    );
    assert!(config.routing.tables.is_empty());
    assert_eq!(config.interfaces.len(), 1);
    assert_eq!(
        config.ends[&"10.0.3.30".parse::<IpAddr>().unwrap()]
            .eni
            .as_deref(),
        Some("eni-db")
    );
}

#[tokio::test]
async fn route_tables_are_read_for_the_interfaces_vpcs() {
    let (groups, acls) = no_groups_or_acls();
    let vpcs = mock!(Client::describe_vpcs)
        .match_requests(|r| r.filters().iter().any(|f| f.values() == ["vpc-shop"]))
        .then_output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(
                    Vpc::builder()
                        .vpc_id("vpc-shop")
                        .cidr_block("10.0.0.0/16")
                        .build(),
                )
                .build()
        });
    let tables = mock!(Client::describe_route_tables)
        .match_requests(|r| {
            r.filters()
                .iter()
                .any(|f| f.name() == Some("vpc-id") && f.values() == ["vpc-shop"])
        })
        .then_output(|| {
            DescribeRouteTablesOutput::builder()
                .route_tables(
                    aws_sdk_ec2::types::RouteTable::builder()
                        .route_table_id("rtb-main")
                        .vpc_id("vpc-shop")
                        .associations(RouteTableAssociation::builder().main(true).build())
                        .routes(
                            SdkRoute::builder()
                                .destination_cidr_block("10.0.0.0/16")
                                .gateway_id("local")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let client = mocked(&[&db_interface(), &groups, &acls, &vpcs, &tables]);
    let ips = BTreeSet::from(["10.0.3.30".parse().unwrap()]);
    let config = fetch(&client, &ips).await.unwrap();
    assert_eq!(config.routing.unread, None);
    assert_eq!(
        config.routing.vpc_cidrs["vpc-shop"],
        vec![net("10.0.0.0/16")]
    );
    assert_eq!(config.routing.tables.len(), 1);
    assert!(config.routing.tables[0].main);
    assert_eq!(config.interfaces[0].vpc.as_deref(), Some("vpc-shop"));
    assert_eq!((vpcs.num_calls(), tables.num_calls()), (1, 1));
}

/// tests/data/moto_shop.py, running until the returned guard drops: moto's ids by name. `None`
/// when FLOWGATE_TEST_PYTHON is not set (ci/test sets it, with moto installed).
struct Shop {
    ids: BTreeMap<String, String>,
    child: std::process::Child,
}

impl Drop for Shop {
    fn drop(&mut self) {
        // Closing its standard input ends the script, which stops the server.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn shop() -> Option<Shop> {
    use std::io::BufRead;
    let Some(python) = std::env::var_os("FLOWGATE_TEST_PYTHON") else {
        eprintln!(
            "FLOWGATE_TEST_PYTHON is not set: the emulator test is skipped (ci/test runs it)"
        );
        return None;
    };
    let mut child = std::process::Command::new(python)
        .arg("tests/data/moto_shop.py")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tests/data/moto_shop.py");
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut ids = BTreeMap::new();
    for line in out.lines() {
        let line = line.unwrap();
        if line == "ready" {
            return Some(Shop { ids, child });
        }
        let (k, v) = line.split_once(' ').expect("key value");
        ids.insert(k.to_string(), v.to_string());
    }
    let _ = child.wait();
    panic!("moto_shop.py ended before it was ready (is moto in FLOWGATE_TEST_PYTHON's venv?)");
}

fn against(endpoint: &str) -> Client {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIAFLOWGATETESTFAKE",
            "flowgate-test-fake-secret",
            None,
            None,
            "test",
        )))
        .build();
    Client::new(&sdk)
}

fn side(s: &str) -> AddrSet {
    let (inc, exc) = s.split_once(" except ").unwrap_or((s, ""));
    let list = |l: &str| -> Vec<IpNet> {
        l.split(',')
            .filter(|x| !x.is_empty())
            .map(|x| {
                x.parse()
                    .unwrap_or_else(|_| IpNet::from(x.parse::<IpAddr>().unwrap()))
            })
            .collect()
    };
    AddrSet::networks(list(inc), list(exc))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shops_routes_and_rules_are_read_and_witnessed_from_the_emulator() {
    use crate::explain::witness::{self, Purpose, Query, Summary};
    use crate::spec::{PortSet, Ports, Protocol};
    let Some(shop) = shop() else { return };
    let id = |k: &str| shop.ids[k].clone();
    let client = against(&id("endpoint"));

    let internet = side("0.0.0.0/0 except 10.0.0.0/16");
    let db = side("10.0.3.30");
    let app = side("10.0.2.20");
    let web1 = side("10.0.1.10");
    let offices = side("192.168.0.0/16");
    let mut wanted = Wanted::default();
    for s in [&internet, &db, &app, &web1, &offices] {
        wanted.add_side(s, &[]);
    }
    let config = fetch_wanted(&client, &wanted).await.unwrap();
    assert_eq!(config.routing.unread, None);
    assert_eq!(
        config.routing.vpc_cidrs[&id("vpc")],
        vec![net("10.0.0.0/16")]
    );
    let table = |subnet: &str| {
        crate::explain::routes::table_for(&config.routing.tables, subnet, Some(&id("vpc")))
            .map(|(t, _)| t.id.clone())
    };
    assert_eq!(table(&id("db_subnet")), Some(id("public_rtb")));
    assert_eq!(table(&id("app_subnet")), Some(id("main_rtb")));
    let public = config
        .routing
        .tables
        .iter()
        .find(|t| t.id == id("public_rtb"))
        .unwrap();
    let routes: Vec<String> = public.routes.iter().map(ToString::to_string).collect();
    assert_eq!(
        routes,
        vec![
            "10.0.0.0/16 → local".to_string(),
            format!("0.0.0.0/0 → {}", id("igw")),
            format!("192.168.0.0/16 → {}", id("vgw")),
        ]
    );

    let tcp = |p: u16| Ports::Set(PortSet::new(vec![p..=p]).unwrap());
    let judge = |from: &AddrSet, to: &AddrSet, port: u16, purpose: Purpose| {
        let ports = tcp(port);
        witness::judge(
            &config,
            &Query {
                from,
                to,
                protocol: Protocol::TCP,
                ports: &ports,
                purpose,
            },
        )
    };
    // The internet reaches db on 22: the group's rule opens it, the public table leads back.
    let w = judge(&internet, &db, 22, Purpose::Deny);
    let path = w.opening().expect("OPEN");
    assert_eq!(
        path.opening().unwrap().words(&path.request),
        format!(
            "SG {} of {} ingress rule tcp 22 from 0.0.0.0/0",
            id("db_sg"),
            id("db")
        )
    );
    // ... but not on 1433, which only app's group may use.
    let w = judge(&internet, &db, 1433, Purpose::Deny);
    assert!(
        matches!(w.summary(), Summary::Refuses { .. }),
        "{:?}",
        w.summary()
    );
    // app reaches db on 1433 through its group.
    assert!(matches!(
        judge(&app, &db, 1433, Purpose::Reach).summary(),
        Summary::Allows { .. }
    ));
    // app's subnet has no route to the offices; web's routes them to the virtual private gateway.
    let w = judge(&app, &offices, 1521, Purpose::Reach);
    let words: Vec<String> = w.refusals().map(|r| r.words()).collect();
    assert_eq!(words.len(), 1, "{words:?}");
    assert!(
        words[0].starts_with(&format!(
            "route table {} (the VPC's main table, used by {}) has no route to 192.168.0.1",
            id("main_rtb"),
            id("app_subnet")
        )),
        "{words:?}"
    );
    assert!(
        judge(&web1, &offices, 1521, Purpose::Reach)
            .opening()
            .is_some()
    );
}

#[test]
fn an_address_held_in_two_accounts_is_not_read_from_either() {
    let ip: IpAddr = "10.0.1.20".parse().unwrap();
    let end = |eni: Option<&str>| End {
        eni: eni.map(Into::into),
        ..End::default()
    };
    let with = |eni: Option<&str>| Config {
        ends: [(ip, end(eni))].into(),
        ..Config::default()
    };
    // Another account's interface where the caller's has none: taken in.
    let mut caller = with(None);
    caller
        .merge(with(Some("eni-theirs")), "222222222222")
        .unwrap();
    assert_eq!(caller.end(ip).eni.as_deref(), Some("eni-theirs"));
    // The same interface seen from both (a shared VPC): one.
    let mut caller = with(Some("eni-shared"));
    caller
        .merge(with(Some("eni-shared")), "222222222222")
        .unwrap();
    // Two interfaces with one address (overlapping ranges): neither, and said why.
    let mut caller = with(Some("eni-mine"));
    let err = caller
        .merge(with(Some("eni-theirs")), "222222222222")
        .unwrap_err();
    assert!(
        err.contains(
            "address 10.0.1.20 is held by eni-mine and, in account 222222222222, by eni-theirs"
        ),
        "{err}"
    );
}
