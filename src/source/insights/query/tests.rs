use std::path::Path;

use super::*;
use crate::plan::{Plan, Window};

fn plan(spec: &str) -> Plan {
    let spec = crate::spec::parse(Path::new("t.yaml"), spec).unwrap();
    crate::plan::build(&[spec], Window::default()).unwrap()
}

fn one(spec: &str, format: &Format, ask: Ask) -> String {
    let p = plan(spec);
    let qs = by_networks(format, p.interesting().as_ref(), ask, None);
    assert_eq!(qs.len(), 1, "{qs:#?}");
    qs.into_iter().next().unwrap().text
}

const SHOP: &str = "app: shop
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11] }
  app: { ip: 10.0.2.20 }
  db: { ip: 10.0.3.30 }
  onprem: { cidr: 192.168.0.0/16 }
  internet: { cidr: 0.0.0.0/0, except: [10.0.0.0/16, 192.168.0.0/16] }
expect:
  - { from: onprem, to: web, port: 443 }
  - { from: web, to: app, port: 8080 }
  - { from: app, to: db, port: 1433 }
  - { from: internet, to: db, port: 1433, deny: true }
";

#[test]
fn a_single_expectation() {
    let q = one(
        "app: a\nhosts: {web: {ip: 10.0.1.10}, app: {ip: 10.0.2.20}}\nexpect: [{from: web, to: app, port: 8080}]\n",
        &Format::default_v2(),
        Ask::Pairs,
    );
    insta::assert_snapshot!("single", q);
}

#[test]
fn batched_expectations_share_one_query_with_each_network_once() {
    let q = one(SHOP, &Format::default_v2(), Ask::Pairs);
    // web, app and db are the narrow sides; onprem is wider than web, internet than db.
    assert!(
        !q.contains("192.168.0.0/16") && !q.contains("0.0.0.0/0"),
        "{q}"
    );
    assert_eq!(
        q.matches("10.0.3.30").count(),
        2,
        "db once per address field:\n{q}"
    );
    insta::assert_snapshot!("batched", q);
}

#[test]
fn cidrs_become_subnet_tests() {
    let q = one(
        "app: a\nhosts: {apps: {cidr: 10.0.2.0/24, except: [10.0.2.128/25]}, db: {cidr: 10.0.3.0/24}}\nexpect: [{from: apps, to: db, port: 5432}]\n",
        &Format::default_v2(),
        Ask::Pairs,
    );
    assert!(q.contains("isIpInSubnet(srcAddr, \"10.0.2.0/25\")"), "{q}");
    insta::assert_snapshot!("cidr", q);
}

#[test]
fn ipv6_addresses_and_networks() {
    let q = one(
        "app: a\nhosts: {web: {ips: ['2001:db8::10', 10.0.1.10]}, app: {cidr: '2001:db8:2::/64'}}\nexpect: [{from: web, to: app, port: 443}]\n",
        &Format::default_v2(),
        Ask::Pairs,
    );
    insta::assert_snapshot!("ipv6", q);
}

#[test]
fn a_custom_format_is_parsed_and_keeps_what_judging_needs() {
    let format = Format::parse(
        "${version} ${vpc-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${tcp-flags} ${log-status} ${pkt-srcaddr} ${pkt-dstaddr} ${flow-direction}",
    )
    .unwrap();
    let q = one(SHOP, &format, Ask::Pairs);
    assert!(
        q.starts_with(
            "parse @message \"* * * * * * * * * * * * * * * *\" as version, other1, interfaceId,"
        ),
        "{q}"
    );
    assert!(
        q.contains("isIpInSubnet(pktSrcAddr") || q.contains("pktSrcAddr in ["),
        "{q}"
    );
    insta::assert_snapshot!("custom_format", q);
}

/// AWS's default Transit Gateway format (the "Transit Gateway Flow Log records" page): the
/// gateway's fields by name, a row per gateway, attachment, connection and packets lost.
#[test]
fn transit_gateway_records_are_asked_per_hop() {
    let format = Format::parse(
        "${version} ${resource-type} ${account-id} ${tgw-id} ${tgw-attachment-id} ${tgw-src-vpc-account-id} ${tgw-dst-vpc-account-id} ${tgw-src-vpc-id} ${tgw-dst-vpc-id} ${tgw-src-subnet-id} ${tgw-dst-subnet-id} ${tgw-src-eni} ${tgw-dst-eni} ${tgw-src-az-id} ${tgw-dst-az-id} ${tgw-pair-attachment-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${log-status} ${type} ${packets-lost-no-route} ${packets-lost-blackhole} ${packets-lost-mtu-exceeded} ${packets-lost-ttl-expired} ${tcp-flags} ${region} ${flow-direction} ${pkt-src-aws-service} ${pkt-dst-aws-service}",
    )
    .unwrap();
    let q = one(SHOP, &format, Ask::Hops);
    assert!(
        q.ends_with("by tgwId, tgwAttachmentId, srcAddr, dstAddr, srcPort, dstPort, protocol, packetsLostNoRoute, packetsLostBlackhole, packetsLostMtuExceeded, packetsLostTtlExpired"),
        "{q}"
    );
    insta::assert_snapshot!("transit_gateway", q);
    // No log-status and no action: a record without a flow has `-` for its addresses.
    let bare = Format::parse("${tgw-id} ${tgw-attachment-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${packets-lost-no-route}").unwrap();
    let all = by_networks(&bare, None, Ask::Hops, None);
    assert!(
        all[0].text.contains("| filter srcAddr != \"-\"\n"),
        "{}",
        all[0].text
    );
}

#[test]
fn raw_rows_and_context_queries() {
    let q = one(SHOP, &Format::default_v2(), Ask::Records);
    assert!(q.starts_with("filter logStatus = \"SKIPDATA\" or "), "{q}");
    assert!(
        q.ends_with("| fields @ptr, @message, @logStream\n| limit 10000"),
        "{q}"
    );
    let edge = one(SHOP, &Format::default_v2(), Ask::RecordsEdge);
    assert_eq!(
        edge, q,
        "the same records, asked for over the minutes before the window"
    );
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn drill_down_asks_about_each_pair_both_ways() {
    let pairs: BTreeSet<(IpAddr, IpAddr)> = [
        unordered(addr("10.0.2.20"), addr("10.0.1.10")),
        unordered(addr("2001:db8::10"), addr("2001:db8:2::5")),
    ]
    .into_iter()
    .collect();
    let qs = by_pairs(&Format::default_v2(), &pairs, Ask::Connections);
    assert_eq!(qs.len(), 1);
    let q = &qs[0].text;
    assert!(q.contains("(srcAddr = \"10.0.1.10\" and dstAddr = \"10.0.2.20\") or (srcAddr = \"10.0.2.20\" and dstAddr = \"10.0.1.10\")"), "{q}");
    assert!(
        q.contains("isIpInSubnet(srcAddr, \"2001:db8::10/128\")"),
        "IPv6 is written in full in flow logs: {q}"
    );
    insta::assert_snapshot!("drill_down", q);
    let c = &by_pairs(&Format::default_v2(), &pairs, Ask::ConnectionsEdge)[0].text;
    assert!(
        c.ends_with("logStatus, endTime"),
        "rows placed by their end: {c}"
    );
    insta::assert_snapshot!("edge", c);
}

#[test]
fn drill_down_on_a_custom_format_matches_packet_addresses_too() {
    let format = Format::parse("${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action} ${log-status} ${pkt-srcaddr} ${pkt-dstaddr}").unwrap();
    let pairs = [unordered(addr("10.0.1.10"), addr("10.0.2.20"))]
        .into_iter()
        .collect();
    let q = &by_pairs(&format, &pairs, Ask::Connections)[0].text;
    assert!(q.contains("((srcAddr = \"10.0.1.10\" or pktSrcAddr = \"10.0.1.10\") and (dstAddr = \"10.0.2.20\" or pktDstAddr = \"10.0.2.20\"))"), "{q}");
}

#[test]
fn each_record_is_reported_by_one_query() {
    let nets = |n: &[&str]| Query {
        ask: Ask::Pairs,
        text: String::new(),
        scope: Scope::Nets(Ranges::of(
            &n.iter().map(|s| s.parse().unwrap()).collect::<Vec<_>>(),
            &[],
        )),
    };
    let batches = [nets(&["10.0.1.0/24"]), nets(&["10.0.2.0/24"])];
    let rec = Some((addr("10.0.1.10"), addr("10.0.2.20")));
    assert!(
        query_reports(&batches, rec) == [true, false],
        "both return it; the first reports it"
    );
    let outside = Some((addr("10.9.0.1"), addr("10.9.0.2")));
    assert_eq!(
        query_reports(&batches, outside),
        [false, false],
        "returned for a packet address only"
    );
    assert_eq!(
        query_reports(&batches, None),
        [true, false],
        "SKIPDATA once"
    );
    let pairs = |p: &[(&str, &str)]| Query {
        ask: Ask::Connections,
        text: String::new(),
        scope: Scope::Pairs(p.iter().map(|(a, b)| unordered(addr(a), addr(b))).collect()),
    };
    let batches = [
        pairs(&[("10.0.1.10", "10.0.2.20")]),
        pairs(&[("10.0.1.11", "10.0.2.20")]),
    ];
    assert_eq!(
        query_reports(&batches, Some((addr("10.0.2.20"), addr("10.0.1.11")))),
        [false, true]
    );
}

fn query_reports(batches: &[Query], own: Option<(IpAddr, IpAddr)>) -> Vec<bool> {
    (0..batches.len())
        .map(|b| reports(batches, b, own))
        .collect()
}

#[test]
fn an_over_long_filter_is_split_into_queries_under_the_limit() {
    let hosts: String = (0..400)
        .map(|i| format!("  h{i}: {{ ip: 10.{}.{}.7 }}\n", i / 200, i % 200))
        .collect();
    let expect: String = (0..400)
        .map(|i| format!("  - {{ from: h{i}, to: any, port: 443 }}\n"))
        .collect();
    let p = plan(&format!("app: a\nhosts:\n{hosts}expect:\n{expect}"));
    let qs = by_networks(
        &Format::default_v2(),
        p.interesting().as_ref(),
        Ask::Pairs,
        None,
    );
    assert!(qs.len() > 1);
    assert!(
        qs.iter().all(|q| q.text.len() <= MAX_QUERY),
        "{:?}",
        qs.iter().map(|q| q.text.len()).collect::<Vec<_>>()
    );
    // Every address is in exactly one query, at each end.
    for i in 0..400 {
        let addr = format!("\"10.{}.{}.7\"", i / 200, i % 200);
        assert_eq!(
            qs.iter()
                .map(|q| q.text.matches(&addr).count())
                .sum::<usize>(),
            2,
            "{addr}"
        );
    }
    insta::assert_snapshot!("over_long_first", &qs[0].text[..400]);
}

#[test]
fn the_number_of_queries_follows_the_hosts_not_the_expectations() {
    for n in [1, 50, 500] {
        let expect: String = (0..n)
            .map(|i| format!("  - {{ from: web, to: app, port: {} }}\n", 1000 + i))
            .collect();
        let p = plan(&format!(
            "app: a\nhosts: {{web: {{ip: 10.0.1.10}}, app: {{ip: 10.0.2.20}}}}\nexpect:\n{expect}"
        ));
        let qs = by_networks(
            &Format::default_v2(),
            p.interesting().as_ref(),
            Ask::Pairs,
            None,
        );
        assert_eq!(qs.len(), 1, "{n} expectations");
    }
}

#[test]
fn a_record_two_triage_queries_return_counts_in_the_first_only() {
    let nets: Vec<IpNet> = (0..2000)
        .map(|i| format!("10.{}.{}.0/25", i / 256, i % 256).parse().unwrap())
        .collect();
    let batches = by_networks(
        &Format::default_v2(),
        Some(&Ranges::of(&nets, &[])),
        Ask::Flows(Fold::Service),
        Some(Action::Reject),
    );
    assert!(batches.len() > 1, "several queries");
    let (a, b): (IpAddr, IpAddr) = ("10.0.0.5".parse().unwrap(), "10.7.207.5".parse().unwrap());
    let last = batches.len() - 1;
    let reported = |x, y| {
        (0..batches.len())
            .filter(|i| reports(&batches, *i, Some((x, y))))
            .collect::<Vec<_>>()
    };
    assert_eq!(reported(a, b), [0]);
    assert_eq!(reported(b, b), [last]);
    let outside: (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    assert!(reported(outside.0, outside.1).is_empty());
    assert!(batches.iter().all(|q| q.text.len() <= MAX_QUERY));
}
