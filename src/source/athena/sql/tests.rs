//! The SQL a run starts with, for the shipped spec and the shapes that change it: CIDR hosts,
//! IPv6, a custom format, a window crossing midnight, an hourly Hive table; and what prunes it.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::plan::{Plan, Window};
use crate::source::aggregate::{self, Settings};
use crate::source::athena::Athena;
use crate::source::athena::run::Offline;
use crate::source::athena::table::Metadata;

/// 2026-11-20T09:00:00Z, the troubled cutover's morning.
const MORNING: u64 = 1_795_165_200;
/// 2026-11-20T23:30:00Z.
const LATE: u64 = 1_795_217_400;

const AWS_COLUMNS: &str = "version:int account_id interface_id srcaddr dstaddr srcport:int dstport:int protocol:bigint packets:bigint bytes:bigint start:bigint end:bigint action log_status vpc_id subnet_id instance_id tcp_flags:int type pkt_srcaddr pkt_dstaddr";

fn metadata(columns: &str, partitions: &[(&str, &str)]) -> Metadata {
    Metadata {
        columns: columns
            .split(' ')
            .map(|c| {
                let (n, t) = c.split_once(':').unwrap_or((c, "string"));
                (n.to_string(), t.to_string())
            })
            .collect(),
        partitions: partitions
            .iter()
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .collect(),
        // As `flowgate athena-ddl` writes them: the accounts and regions the table holds.
        parameters: [
            ("projection.enabled", "true"),
            ("projection.accid.type", "enum"),
            ("projection.accid.values", "123456789012,210987654321"),
            ("projection.region.type", "enum"),
            ("projection.region.values", "eu-west-1"),
            ("projection.aws_account_id.type", "enum"),
            ("projection.aws_account_id.values", "123456789012"),
            ("projection.aws_region.type", "enum"),
            ("projection.aws_region.values", "eu-west-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    }
}

fn text_table() -> Table {
    Table::new(
        "flowlogs",
        "vpc_flow_logs",
        &metadata(
            AWS_COLUMNS,
            &[("accid", "string"), ("region", "string"), ("day", "string")],
        ),
    )
    .unwrap()
}

fn plan(spec: &str, start: u64, end: u64) -> Plan {
    let spec = crate::spec::parse(Path::new("t.yaml"), spec).unwrap();
    let window = Window {
        start: Some(start),
        end: Some(end),
        ..Window::default()
    };
    crate::plan::build(&[spec], window).unwrap()
}

/// Every statement a run starts with, as `flowgate query` prints them.
fn first_sql(table: Table, plan: &Plan) -> String {
    let engine = Athena::new(
        Arc::new(Offline),
        table,
        Some("eu-west-1".into()),
        "primary".into(),
    );
    aggregate::planned(&engine, &Settings::default(), plan, MORNING + 86_400 * 30)
        .iter()
        .flat_map(|p| p.texts.clone())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn shop() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/shop.yaml")).unwrap()
}

#[test]
fn the_shipped_spec() {
    let sql = first_sql(text_table(), &plan(&shop(), MORNING, MORNING + 3600));
    insta::assert_snapshot!(sql);
}

#[test]
fn cidr_hosts_and_ipv6_go_through_contains() {
    let spec = "app: nets
hosts:
  web: { cidr: 10.0.1.0/24 }
  v6web: { ip: '2001:db8::10' }
  v6app: { cidr: '2001:db8:1::/64' }
  db: { cidr: 10.0.2.0/28 }
expect:
  - { from: web, to: db, port: 5432 }
  - { from: v6web, to: v6app, port: 443 }
";
    let sql = first_sql(text_table(), &plan(spec, MORNING, MORNING + 1800));
    assert!(
        sql.contains("contains('10.0.2.0/28', TRY_CAST(\"srcaddr\" AS IPADDRESS))"),
        "{sql}"
    );
    assert!(
        sql.contains("contains('2001:db8::10/128', TRY_CAST(\"dstaddr\" AS IPADDRESS))"),
        "{sql}"
    );
    insta::assert_snapshot!(sql);
}

#[test]
fn a_custom_format_without_tcp_flags_or_log_status() {
    let table = Table::new(
        "flowlogs",
        "custom",
        &metadata(
            "interface_id srcaddr dstaddr srcport:int dstport:int protocol:bigint start:bigint end:bigint action",
            &[("date", "date")],
        ),
    )
    .unwrap();
    let spec = "app: c
hosts:
  web: { ip: 10.0.1.10 }
  app: { ip: 10.0.2.20 }
expect:
  - { from: web, to: app, port: 8080 }
";
    let sql = first_sql(table, &plan(spec, MORNING, MORNING + 600));
    assert!(
        !sql.contains("log_status") && !sql.contains("tcp_flags"),
        "{sql}"
    );
    insta::assert_snapshot!(sql);
}

#[test]
fn a_window_crossing_midnight_reads_both_days() {
    let spec = "app: m
hosts:
  web: { ip: 10.0.1.10 }
  app: { ip: 10.0.2.20 }
expect:
  - { from: web, to: app, port: 8080 }
";
    let sql = first_sql(text_table(), &plan(spec, LATE, LATE + 3600));
    assert!(
        sql.contains("\"day\" IN ('2026/11/20', '2026/11/21')"),
        "{sql}"
    );
    insta::assert_snapshot!(sql);
}

#[test]
fn an_hourly_hive_table_is_pruned_by_hour() {
    let table = Table::new(
        "flowlogs",
        "hive",
        &metadata(
            AWS_COLUMNS,
            &[
                ("aws_account_id", "string"),
                ("aws_service", "string"),
                ("aws_region", "string"),
                ("year", "string"),
                ("month", "string"),
                ("day", "string"),
                ("hour", "string"),
            ],
        ),
    )
    .unwrap();
    let w = Writer::new(&table, Some("eu-west-1"));
    let pruned = w.prune((LATE, LATE + 3600)).join("\n  AND ");
    // Records that began up to 00:30 sit in folders up to 00:50; none are before 23:30.
    assert_eq!(
        pruned,
        "\"aws_account_id\" IN ('123456789012')\n  AND \"aws_service\" = 'vpcflowlogs'\n  AND \"aws_region\" IN ('eu-west-1')\n  AND ((\"year\" = '2026' AND \"month\" = '11' AND \"day\" = '20' AND \"hour\" IN ('23')) OR (\"year\" = '2026' AND \"month\" = '11' AND \"day\" = '21' AND \"hour\" IN ('00')))"
    );
}

#[test]
fn every_statement_is_pruned_and_within_athenas_limit() {
    // Many hosts: packed into several statements, each under the limit, each pruned.
    let mut spec = String::from("app: big\nhosts:\n");
    for i in 0..4000 {
        spec.push_str(&format!(
            "  h{i}: {{ ip: 10.{}.{}.{} }}\n",
            i / 65536 + 1,
            (i / 256) % 256,
            i % 256
        ));
    }
    spec.push_str("  db: { ip: 10.200.0.1 }\nexpect:\n");
    for i in 0..4000 {
        spec.push_str(&format!(
            "  - {{ name: c{i}, from: h{i}, to: db, port: 5432 }}\n"
        ));
    }
    let p = plan(&spec, MORNING, MORNING + 3600);
    let engine = Athena::new(
        Arc::new(Offline),
        text_table(),
        Some("eu-west-1".into()),
        "primary".into(),
    );
    let planned = aggregate::planned(&engine, &Settings::default(), &p, MORNING + 86_400);
    let texts: Vec<&String> = planned.iter().flat_map(|p| &p.texts).collect();
    assert!(texts.len() > 2, "{} statements", texts.len());
    for t in texts {
        assert!(t.len() <= MAX_SQL, "{}", t.len());
        assert!(
            t.contains("\"day\" IN (") || t.contains("\"day\" = "),
            "{t}"
        );
        assert!(
            t.contains("\"accid\" IN ('123456789012', '210987654321')"),
            "{t}"
        );
    }
}
