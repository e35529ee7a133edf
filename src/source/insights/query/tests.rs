use std::path::Path;

use super::*;
use crate::plan::{Plan, Window};

fn plan(spec: &str) -> Plan {
    let spec = crate::spec::parse(Path::new("t.yaml"), spec).unwrap();
    crate::plan::build(&[spec], Window::default()).unwrap()
}

fn one(spec: &str, format: &Format, rows: Rows, purpose: Purpose) -> String {
    let p = plan(spec);
    let qs = queries(format, p.interesting().as_ref(), rows, purpose);
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
        Rows::Aggregated,
        Purpose::Evidence,
    );
    insta::assert_snapshot!("single", q);
}

#[test]
fn batched_expectations_share_one_query_with_each_network_once() {
    let q = one(SHOP, &Format::default_v2(), Rows::Aggregated, Purpose::Evidence);
    // web, app and db are the narrow sides; onprem is wider than web, internet than db.
    assert!(!q.contains("192.168.0.0/16") && !q.contains("0.0.0.0/0"), "{q}");
    assert_eq!(q.matches("10.0.3.30").count(), 2, "db once per address field:\n{q}");
    insta::assert_snapshot!("batched", q);
}

#[test]
fn cidrs_become_subnet_tests() {
    let q = one(
        "app: a\nhosts: {apps: {cidr: 10.0.2.0/24, except: [10.0.2.128/25]}, db: {cidr: 10.0.3.0/24}}\nexpect: [{from: apps, to: db, port: 5432}]\n",
        &Format::default_v2(),
        Rows::Aggregated,
        Purpose::Evidence,
    );
    assert!(q.contains("isIpInSubnet(srcAddr, \"10.0.2.0/25\")"), "{q}");
    insta::assert_snapshot!("cidr", q);
}

#[test]
fn ipv6_addresses_and_networks() {
    let q = one(
        "app: a\nhosts: {web: {ips: ['2001:db8::10', 10.0.1.10]}, app: {cidr: '2001:db8:2::/64'}}\nexpect: [{from: web, to: app, port: 443}]\n",
        &Format::default_v2(),
        Rows::Aggregated,
        Purpose::Evidence,
    );
    insta::assert_snapshot!("ipv6", q);
}

#[test]
fn a_custom_format_is_parsed_and_keeps_what_judging_needs() {
    let format = Format::parse(
        "${version} ${vpc-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${tcp-flags} ${log-status} ${pkt-srcaddr} ${pkt-dstaddr} ${flow-direction}",
    )
    .unwrap();
    let q = one(SHOP, &format, Rows::Aggregated, Purpose::Evidence);
    assert!(q.starts_with("parse @message \"* * * * * * * * * * * * * * * *\" as version, other1, interfaceId,"), "{q}");
    assert!(q.contains("isIpInSubnet(pktSrcAddr") || q.contains("pktSrcAddr in ["), "{q}");
    insta::assert_snapshot!("custom_format", q);
}

#[test]
fn raw_rows_and_context_queries() {
    let q = one(SHOP, &Format::default_v2(), Rows::Raw, Purpose::Evidence);
    assert!(q.ends_with("| fields @ptr, @message, @logStream\n| limit 10000"), "{q}");
    let c = one(SHOP, &Format::default_v2(), Rows::Aggregated, Purpose::Context);
    assert!(c.starts_with("filter action = \"ACCEPT\" and ("), "{c}");
    insta::assert_snapshot!("context", c);
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
    let qs = queries(&Format::default_v2(), p.interesting().as_ref(), Rows::Aggregated, Purpose::Evidence);
    assert!(qs.len() > 1);
    assert!(qs.iter().all(|q| q.text.len() <= MAX_QUERY), "{:?}", qs.iter().map(|q| q.text.len()).collect::<Vec<_>>());
    // Every address is in exactly one query, at each end.
    for i in 0..400 {
        let addr = format!("\"10.{}.{}.7\"", i / 200, i % 200);
        assert_eq!(qs.iter().map(|q| q.text.matches(&addr).count()).sum::<usize>(), 2, "{addr}");
    }
    insta::assert_snapshot!("over_long_first", &qs[0].text[..400]);
}

#[test]
fn the_number_of_queries_follows_the_hosts_not_the_expectations() {
    for n in [1, 50, 500] {
        let expect: String = (0..n)
            .map(|i| format!("  - {{ from: web, to: app, port: {} }}\n", 1000 + i))
            .collect();
        let p = plan(&format!("app: a\nhosts: {{web: {{ip: 10.0.1.10}}, app: {{ip: 10.0.2.20}}}}\nexpect:\n{expect}"));
        let qs = queries(&Format::default_v2(), p.interesting().as_ref(), Rows::Aggregated, Purpose::Evidence);
        assert_eq!(qs.len(), 1, "{n} expectations");
    }
}
