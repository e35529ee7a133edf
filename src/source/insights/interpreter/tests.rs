use std::collections::BTreeSet;

use super::*;
use crate::evidence::Action;
use crate::evidence::flows::Fold;
use crate::resolve::Ranges;
use crate::source::aggregate::{Ask, unordered};
use crate::source::format::Format;
use crate::source::insights::query::{by_networks, by_pairs};

const ASKS: [Ask; 10] = [
    Ask::Pairs,
    Ask::PairsEdge,
    Ask::Connections,
    Ask::ConnectionsEdge,
    Ask::Records,
    Ask::RecordsEdge,
    Ask::Flows(Fold::Tuple),
    Ask::FlowsEdge(Fold::Tuple),
    Ask::Flows(Fold::Service),
    Ask::FlowsEdge(Fold::Service),
];

fn formats() -> Vec<Format> {
    vec![
        Format::default_v2(),
        Format::parse("${version} ${vpc-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${tcp-flags} ${log-status} ${pkt-srcaddr} ${pkt-dstaddr} ${flow-direction}").unwrap(),
        Format::parse("${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action}").unwrap(),
    ]
}

#[test]
fn every_kind_of_query_flowgate_emits_parses() {
    let nets = Ranges::of(
        &[
            "10.0.1.10/32".parse().unwrap(),
            "10.0.2.0/24".parse().unwrap(),
            "2001:db8::10/128".parse().unwrap(),
        ],
        &[],
    );
    let pairs: BTreeSet<_> = [unordered(
        "10.0.1.10".parse().unwrap(),
        "2001:db8::20".parse().unwrap(),
    )]
    .into_iter()
    .collect();
    let mut n = 0;
    for format in formats() {
        for ask in ASKS {
            for action in [None, Some(Action::Accept), Some(Action::Reject)] {
                for q in by_networks(&format, Some(&nets), ask, action)
                    .into_iter()
                    .chain(by_networks(&format, None, ask, action))
                    .chain(by_pairs(&format, &pairs, ask))
                {
                    parse(&q.text).unwrap_or_else(|e| panic!("{e}:\n{}", q.text));
                    n += 1;
                }
            }
        }
    }
    assert!(n > 200, "{n}");
}

#[test]
fn constructs_outside_the_subset_are_errors() {
    for (text, says) in [
        (
            "filter a = \"x\" | sort @timestamp desc",
            "unsupported command `sort`",
        ),
        (
            "parse @message /(?<a>\\S+)/ | stats count(*) as n",
            "unexpected character",
        ),
        (
            "filter a = \"x\" or b = \"y\" and c = \"z\" | fields @message",
            "mixed",
        ),
        (
            "filter a = \"x\" and b = \"y\" or c = \"z\" | fields @message",
            "mixed",
        ),
        (
            "stats sum(bytes) as b by srcAddr",
            "unsupported aggregation `sum`",
        ),
        ("stats count(*) by srcAddr", "expected `as`"),
        ("stats count(*) as n | limit 5", "after `stats`"),
        (
            "filter a like \"x\" | fields @message",
            "expected a comparison",
        ),
        ("filter a = \"x\"", "must name its `fields`"),
        (
            "filter isIpInSubnet(a, \"10.0.0.1/8\") | fields @message",
            "host bits",
        ),
        ("filter a = \"x\\\"\" | fields @message", "escapes"),
        ("fields @message | limit 10001", "limit takes"),
        (
            "parse @message \"* *\" as a | fields a",
            "1 fields for 2 wildcards",
        ),
        ("fields @log", "unknown system field"),
        ("dedup srcAddr", "unsupported command `dedup`"),
    ] {
        let e = parse(text).unwrap_err();
        assert!(e.contains(says), "{text}: {e}");
    }
}

fn event(ts: u64, message: &str) -> Event {
    Event {
        timestamp: ts,
        stream: "eni-a-all".into(),
        message: message.into(),
    }
}

fn run(text: &str, group: &Group) -> Vec<Row> {
    parse(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .run(&[group], 0, u64::MAX, MAX_ROWS)
        .rows
}

fn get<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.iter().find(|(f, _)| f == name).map(|(_, v)| v.as_str())
}

const V2: &str = "2 123456789012 eni-a 10.0.1.10 10.0.2.20 40000 8080 6 3 180 100 160 ACCEPT OK";
const V2_SKIP: &str = "2 123456789012 eni-a - - - - - - - 100 160 - SKIPDATA";

#[test]
fn default_format_records_have_the_discovered_fields_and_custom_ones_none() {
    let q = "filter srcAddr = \"10.0.1.10\" and startTime = \"100\" and logStatus = \"OK\"\n| fields @message";
    let default = Group {
        events: vec![event(100, V2)],
        default_format: true,
        dashes_absent: false,
    };
    assert_eq!(run(q, &default).len(), 1);
    let custom = Group {
        default_format: false,
        dashes_absent: false,
        ..default.clone()
    };
    assert!(
        run(q, &custom).is_empty(),
        "no discovery for custom formats"
    );
    let parsed = "parse @message \"* * * * * * * * * * * * * *\" as a, b, c, srcAddr, d, e, f, g, h, i, startTime, j, k, logStatus\n| filter srcAddr = \"10.0.1.10\" and startTime = \"100\" and logStatus = \"OK\"\n| fields @message";
    assert_eq!(run(parsed, &custom).len(), 1);
}

#[test]
fn parse_takes_each_wildcard_up_to_the_next_literal_and_the_last_to_the_end() {
    let g = Group {
        events: vec![
            event(1, "eni-a 10.0.1.10 OK"),
            event(2, "eni-b 10.0.1.11"),
            event(3, "eni-c 10.0.1.12 OK extra"),
        ],
        default_format: false,
        dashes_absent: false,
    };
    let rows = run(
        "parse @message \"* * *\" as iface, src, status\n| stats count(*) as n by iface, src, status",
        &g,
    );
    let seen: Vec<(Option<&str>, Option<&str>, Option<&str>)> = rows
        .iter()
        .map(|r| (get(r, "iface"), get(r, "src"), get(r, "status")))
        .collect();
    assert!(seen.contains(&(Some("eni-a"), Some("10.0.1.10"), Some("OK"))));
    assert!(
        seen.contains(&(Some("eni-c"), Some("10.0.1.12"), Some("OK extra"))),
        "{seen:?}"
    );
    // The line with too few words sets none: a group of its own, the fields absent.
    assert!(seen.contains(&(None, None, None)), "{seen:?}");
    assert_eq!(rows.len(), 3);
}

#[test]
fn filters_compare_text_and_subnets_compare_addresses() {
    let g = Group {
        events: vec![
            event(1, "2001:0db8:0000:0000:0000:0000:0000:0010 ACCEPT"),
            event(2, "10.0.1.10 REJECT"),
            event(3, "- ACCEPT"),
        ],
        default_format: false,
        dashes_absent: false,
    };
    let count = |filter: &str| {
        run(
            &format!(
                "parse @message \"* *\" as addr, action\n| filter {filter}\n| fields @message"
            ),
            &g,
        )
        .len()
    };
    assert_eq!(count("addr = \"2001:db8::10\""), 0, "text, not addresses");
    assert_eq!(count("isIpInSubnet(addr, \"2001:db8::10/128\")"), 1);
    assert_eq!(count("isIpInSubnet(addr, \"10.0.0.0/16\")"), 1);
    assert_eq!(count("isIpInSubnet(addr, \"0.0.0.0/0\")"), 1, "not `-`");
    assert_eq!(count("addr in [\"10.0.1.10\", \"10.0.1.11\"]"), 1);
    assert_eq!(count("action != \"ACCEPT\""), 1);
    assert_eq!(count("not action = \"ACCEPT\""), 1);
    assert_eq!(
        count("missing != \"x\""),
        0,
        "a missing field compares false"
    );
    assert_eq!(count("not missing = \"x\""), 3);
    assert_eq!(
        count("action = \"ACCEPT\" and (addr = \"-\" or addr = \"10.0.1.10\")"),
        1
    );
}

#[test]
fn stats_group_by_fields_keeping_missing_ones_as_their_own_group() {
    let g = Group {
        events: vec![
            event(100, V2),
            event(
                90,
                "2 123456789012 eni-a 10.0.1.10 10.0.2.20 40001 8080 6 3 180 90 150 ACCEPT OK",
            ),
            event(
                110,
                "2 123456789012 eni-a 10.0.1.10 10.0.2.20 9 8080 6 3 180 110 170 ACCEPT OK",
            ),
            event(105, V2_SKIP),
            event(120, "something else"),
        ],
        default_format: true,
        dashes_absent: false,
    };
    let rows = run(
        "stats count(*) as records, min(srcPort) as low, max(srcPort) as high, count_distinct(srcPort) as ports, min(startTime) as first, max(endTime) as last, earliest(@message) as sample by interfaceId, srcAddr, logStatus",
        &g,
    );
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let ok = rows
        .iter()
        .find(|r| get(r, "logStatus") == Some("OK"))
        .unwrap();
    assert_eq!(get(ok, "records"), Some("3"));
    assert_eq!(
        (get(ok, "low"), get(ok, "high")),
        (Some("9"), Some("40001")),
        "numbers, not text"
    );
    assert_eq!(get(ok, "ports"), Some("3"), "exact");
    assert_eq!(
        (get(ok, "first"), get(ok, "last")),
        (Some("90"), Some("170"))
    );
    assert!(
        get(ok, "sample").unwrap().contains(" 40001 "),
        "the earliest event"
    );
    let skip = rows
        .iter()
        .find(|r| get(r, "logStatus") == Some("SKIPDATA"))
        .unwrap();
    assert_eq!(get(skip, "srcAddr"), Some("-"), "written, so discovered");
    assert_eq!(get(skip, "low"), None, "no number to take the least of");
    let other = rows.iter().find(|r| get(r, "logStatus").is_none()).unwrap();
    assert_eq!(
        get(other, "records"),
        Some("1"),
        "a line with no discovered fields"
    );
    assert_eq!(get(other, "interfaceId"), None);
}

#[test]
fn events_are_picked_by_timestamp_and_results_cut_at_the_limit() {
    let g = Group {
        events: (0..30)
            .map(|i| event(100 + i, &format!("line {i}")))
            .collect(),
        default_format: false,
        dashes_absent: false,
    };
    let p = parse("fields @message, @logStream, @ptr").unwrap();
    let o = p.run(&[&g], 110, 119, MAX_ROWS);
    assert_eq!((o.scanned, o.rows.len()), (10, 10), "both ends inclusive");
    assert_eq!(get(&o.rows[0], "@message"), Some("line 19"), "newest first");
    assert_eq!(get(&o.rows[0], "@logStream"), Some("eni-a-all"));
    assert_eq!(p.run(&[&g], 0, 1000, 7).rows.len(), 7, "StartQuery's limit");
    let limited = parse("fields @message\n| limit 4").unwrap();
    assert_eq!(limited.run(&[&g], 0, 1000, MAX_ROWS).rows.len(), 4);
    let many = Group {
        events: (0..MAX_ROWS as u64 + 5).map(|i| event(i, "x")).collect(),
        default_format: false,
        dashes_absent: false,
    };
    let stats = parse("stats count(*) as n by @timestamp").unwrap();
    assert_eq!(
        stats.run(&[&many], 0, u64::MAX, MAX_ROWS).rows.len(),
        MAX_ROWS,
        "AWS's cap on rows, for stats too"
    );
}

#[test]
fn discovery_can_leave_out_the_dashes_of_records_without_flows() {
    let q = "stats count(*) as n by interfaceId, srcAddr, logStatus";
    let with = |dashes_absent| Group {
        events: vec![event(100, V2_SKIP)],
        default_format: true,
        dashes_absent,
    };
    let rows = run(q, &with(false));
    assert_eq!(get(&rows[0], "srcAddr"), Some("-"));
    let rows = run(q, &with(true));
    assert_eq!(get(&rows[0], "srcAddr"), None);
    assert_eq!(get(&rows[0], "logStatus"), Some("SKIPDATA"));
}

#[test]
fn a_glob_is_found_anywhere_in_the_text() {
    let g = Group {
        events: vec![event(1, "at 10:00 user=ana, method:GET")],
        ..Group::default()
    };
    let rows = run(
        "parse @message \"user=*, method:*\" as user, method\n| fields user, method",
        &g,
    );
    assert_eq!(
        (get(&rows[0], "user"), get(&rows[0], "method")),
        (Some("ana"), Some("GET"))
    );
}

#[tokio::test]
async fn behind_the_sdk_a_query_runs_over_its_range_and_a_malformed_one_fails() {
    use crate::source::insights::run::tests::{mocked, runner};
    let group = Group {
        events: (0..10).map(|i| event(100 + i, V2)).collect(),
        default_format: true,
        dashes_absent: false,
    };
    let logs = Arc::new(Logs::new([("/g".to_string(), group)]));
    let rules = service(Arc::clone(&logs));
    let r = runner(mocked(
        aws_smithy_mocks::RuleMode::MatchAny,
        &rules.iter().collect::<Vec<_>>(),
    ));
    let groups = vec!["/g".to_string()];
    let a = r
        .run(&groups, 103, 106, "stats count(*) as n by srcAddr")
        .await
        .unwrap();
    assert_eq!(
        a.rows,
        vec![vec![
            ("srcAddr".into(), "10.0.1.10".into()),
            ("n".into(), "4".into())
        ]]
    );
    assert_eq!((a.cost.records_scanned, a.cost.records_matched), (4.0, 4.0));
    let e = r
        .run(
            &groups,
            100,
            200,
            "filter srcAddr like \"10.\" | fields @message",
        )
        .await
        .unwrap_err();
    assert!(e.ends_with("ended Failed"), "{e}");
    assert_eq!(logs.malformed.lock().unwrap().len(), 1);
}
