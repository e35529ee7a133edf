//! The aggregated path end to end against mocked Logs Insights: pair totals, drill-down,
//! and what a user sees when a step fails. (The local emulator does not run `stats`.)

use std::path::Path;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryOutput;
use aws_sdk_cloudwatchlogs::types::{QueryStatistics, QueryStatus, ResultField};
use aws_smithy_mocks::{Rule, RuleMode, mock};

use super::interpreter::{self, Event, Group, Logs};
use super::run::tests::{mocked, runner};
use super::*;
use crate::evidence::{Gaps, IfaceId, Unavailable};
use crate::plan::Window;
use crate::source::aggregate::Rows;
use crate::source::format::Format;
use crate::verdict::{self, ConnVerdict, Failure, NoTraffic, Outcome};

const START: u64 = 1_795_165_200;

fn plan() -> Plan {
    let spec = crate::spec::parse(
        Path::new("shop.yaml"),
        "app: shop\nhosts:\n  web: { ips: [10.0.1.10, 10.0.1.11] }\n  app: { ip: 10.0.2.20 }\nexpect:\n  - { from: web, to: app, port: 8080 }\n",
    )
    .unwrap();
    let window = Window {
        start: Some(START),
        end: Some(START + 3600),
        ..Window::default()
    };
    crate::plan::build(&[spec], window).unwrap()
}

type Fields<'a> = &'a [(&'a str, &'a str)];

fn complete(rows: &[Fields<'_>]) -> GetQueryResultsOutput {
    let rows = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|(f, v)| ResultField::builder().field(*f).value(*v).build())
                .collect()
        })
        .collect();
    GetQueryResultsOutput::builder()
        .status(QueryStatus::Complete)
        .set_results(Some(rows))
        .statistics(
            QueryStatistics::builder()
                .records_scanned(5000.0)
                .records_matched(40.0)
                .bytes_scanned(1e6)
                .build(),
        )
        .build()
}

/// What a query text asks for: `pairs`, `connections`, and `-edge` for the minutes before the
/// window.
fn kind(q: &str) -> String {
    let base = if q.contains("filter logStatus = \"SKIPDATA\"\n") {
        "skipdata"
    } else if q.contains("count_distinct") {
        "pairs"
    } else if q.contains("earliest(@message)") {
        "connections"
    } else {
        "records"
    };
    if q.ends_with(", endTime") {
        format!("{base}-edge")
    } else {
        base.to_string()
    }
}

/// Each kind of query gets its own id, and its results by that id.
fn started(id: &'static str) -> Rule {
    mock!(Client::start_query)
        .match_requests(move |r| r.query_string().is_some_and(|q| kind(q) == id))
        .then_output(move || StartQueryOutput::builder().query_id(id).build())
}

fn answered(
    id: &'static str,
    out: impl Fn() -> GetQueryResultsOutput + Send + Sync + 'static,
) -> Rule {
    mock!(Client::get_query_results)
        .match_requests(move |r| r.query_id() == Some(id))
        .then_output(out)
}

/// Every kind of query, answered: `rows` by kind, nothing for the others.
fn rules(rows: &[(&'static str, &'static [Fields<'static>])]) -> Vec<Rule> {
    let mut out = Vec::new();
    for id in [
        "pairs",
        "pairs-edge",
        "connections",
        "connections-edge",
        "records",
        "records-edge",
        "skipdata",
        "skipdata-edge",
    ] {
        let found: &'static [Fields<'static>] =
            rows.iter().find(|(k, _)| *k == id).map_or(&[], |(_, r)| r);
        out.push(started(id));
        out.push(answered(id, move || complete(found)));
    }
    out
}

const PAIRS: &[Fields<'static>] = &[
    // 10.0.1.10: accepted both ways, new connections answered throughout: settled from the totals.
    &[
        ("interfaceId", "eni-web"),
        ("srcAddr", "10.0.1.10"),
        ("dstAddr", "10.0.2.20"),
        ("protocol", "6"),
        ("action", "ACCEPT"),
        ("tcpFlags", "2"),
        ("logStatus", "OK"),
        ("records", "20"),
        ("first", "1795165260"),
        ("lastStart", "1795166000"),
        ("last", "1795166060"),
        ("srcPortLow", "40000"),
        ("srcPortHigh", "40100"),
        ("srcPorts", "5"),
        ("dstPortLow", "8080"),
        ("dstPortHigh", "8080"),
        ("dstPorts", "1"),
    ],
    &[
        ("interfaceId", "eni-app"),
        ("srcAddr", "10.0.2.20"),
        ("dstAddr", "10.0.1.10"),
        ("protocol", "6"),
        ("action", "ACCEPT"),
        ("tcpFlags", "18"),
        ("logStatus", "OK"),
        ("records", "20"),
        ("first", "1795165260"),
        ("lastStart", "1795166000"),
        ("last", "1795166060"),
        ("srcPortLow", "8080"),
        ("srcPortHigh", "8080"),
        ("srcPorts", "1"),
        ("dstPortLow", "40000"),
        ("dstPortHigh", "40100"),
        ("dstPorts", "5"),
    ],
    // 10.0.1.11: let out by its own interface, refused at the app's: asked about again.
    &[
        ("interfaceId", "eni-web2"),
        ("srcAddr", "10.0.1.11"),
        ("dstAddr", "10.0.2.20"),
        ("protocol", "6"),
        ("action", "ACCEPT"),
        ("tcpFlags", "2"),
        ("logStatus", "OK"),
        ("records", "2"),
        ("first", "1795165300"),
        ("lastStart", "1795165300"),
        ("last", "1795165360"),
        ("srcPortLow", "50000"),
        ("srcPortHigh", "50000"),
        ("srcPorts", "1"),
        ("dstPortLow", "8080"),
        ("dstPortHigh", "8080"),
        ("dstPorts", "1"),
    ],
    &[
        ("interfaceId", "eni-app"),
        ("srcAddr", "10.0.1.11"),
        ("dstAddr", "10.0.2.20"),
        ("protocol", "6"),
        ("action", "REJECT"),
        ("tcpFlags", "2"),
        ("logStatus", "OK"),
        ("records", "2"),
        ("first", "1795165300"),
        ("lastStart", "1795165300"),
        ("last", "1795165360"),
        ("srcPortLow", "50000"),
        ("srcPortHigh", "50000"),
        ("srcPorts", "1"),
        ("dstPortLow", "8080"),
        ("dstPortHigh", "8080"),
        ("dstPorts", "1"),
    ],
];

const REJECTED: &str = "2 123456789012 eni-app 10.0.1.11 10.0.2.20 50000 8080 6 2 120 1795165300 1795165360 REJECT OK 2";

const CONNECTIONS: &[Fields<'static>] = &[
    &[
        ("interfaceId", "eni-web2"),
        ("srcAddr", "10.0.1.11"),
        ("dstAddr", "10.0.2.20"),
        ("srcPort", "50000"),
        ("dstPort", "8080"),
        ("protocol", "6"),
        ("action", "ACCEPT"),
        ("tcpFlags", "2"),
        ("logStatus", "OK"),
        ("records", "2"),
        ("first", "1795165300"),
        ("lastStart", "1795165300"),
        ("last", "1795165360"),
        (
            "sample",
            "2 123456789012 eni-web2 10.0.1.11 10.0.2.20 50000 8080 6 2 120 1795165300 1795165360 ACCEPT OK 2",
        ),
    ],
    &[
        ("interfaceId", "eni-app"),
        ("srcAddr", "10.0.1.11"),
        ("dstAddr", "10.0.2.20"),
        ("srcPort", "50000"),
        ("dstPort", "8080"),
        ("protocol", "6"),
        ("action", "REJECT"),
        ("tcpFlags", "2"),
        ("logStatus", "OK"),
        ("records", "2"),
        ("first", "1795165300"),
        ("lastStart", "1795165300"),
        ("last", "1795165360"),
        ("sample", REJECTED),
    ],
];

/// A custom format with tcp-flags: pair totals can settle reach checks.
fn with_flags() -> Format {
    Format::parse("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${tcp-flags}").unwrap()
}

fn source(client: Client, format: Format) -> InsightsSource {
    InsightsSource::new(
        Arc::new(runner(client)),
        vec![LogSource {
            groups: vec!["/vpc/flow".into()],
            format,
            created: None,
            assumed: false,
        }],
        Default::default(),
        Rows::Aggregated,
        None,
    )
}

/// The queries a run made, from its provenance.
fn queries(ev: &Evidence) -> u64 {
    ev.provenance
        .iter()
        .map(|p| match p {
            Provenance::Insights(read) => read.cost.queries,
            _ => 0,
        })
        .sum()
}

fn outcome(plan: &Plan, ev: &Evidence) -> Outcome {
    verdict::judge(
        &plan.checks[0],
        &ev.checks[0],
        &Gaps::default(),
        NoTraffic::Fail,
    )
    .outcome
}

async fn collect(rules: &[Rule], format: Format, plan: &Arc<Plan>) -> Evidence {
    let client = mocked(RuleMode::MatchAny, &rules.iter().collect::<Vec<_>>());
    source(client, format)
        .collect(Arc::clone(plan))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_drill_down_makes_the_checks_unavailable_not_passed() {
    let rules = rules(&[("pairs", PAIRS)]);
    let failed = [
        started("connections"),
        answered("connections", || {
            GetQueryResultsOutput::builder()
                .status(QueryStatus::Failed)
                .build()
        }),
    ];
    let all: Vec<Rule> = failed.into_iter().chain(rules).collect();
    let plan = Arc::new(plan());
    let ev = collect(&all, with_flags(), &plan).await;
    match &ev.checks[0] {
        Err(Unavailable(why)) => assert!(
            why.starts_with("query connections ended Failed (log groups /vpc/flow, 2026-11-20T09:00:00Z .. 2026-11-20T10:00:00Z;"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(outcome(&plan, &ev), Outcome::Error(_)));
}

#[tokio::test]
async fn records_where_counts_were_asked_for_are_not_read_as_counts() {
    // An emulator that ignores `stats` returns the records themselves.
    static RAW: &[Fields<'static>] = &[&[
        ("@ptr", "p1"),
        ("@message", REJECTED),
        ("@logStream", "eni-app-all"),
    ]];
    let plan = Arc::new(plan());
    let ev = collect(&rules(&[("pairs", RAW)]), with_flags(), &plan).await;
    match &ev.checks[0] {
        Err(Unavailable(why)) => assert!(why.contains("--insights-rows raw"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// Every way a query can fail, at the first query a check needs: none may yield a pass, and
/// each check says which query, log groups and time range are missing and why.
#[tokio::test]
async fn a_broken_row_makes_the_checks_that_would_pass_incomplete() {
    // Pair totals that settle a pass, and one row without its destination: the answer is not
    // all there, so the pass is an INCOMPLETE error naming the row, as the README says.
    static ROWS: &[Fields<'static>] = &[
        PAIRS[0],
        PAIRS[1],
        &[
            ("interfaceId", "eni-web"),
            ("srcAddr", "10.0.1.10"),
            ("protocol", "6"),
            ("action", "ACCEPT"),
            ("tcpFlags", "2"),
            ("logStatus", "OK"),
            ("records", "1"),
        ],
    ];
    let plan = Arc::new(plan());
    let ev = collect(&rules(&[("pairs", ROWS)]), with_flags(), &plan).await;
    assert_eq!(ev.gaps.bad_lines, 1);
    let named = &ev.gaps.bad_line_samples[0];
    assert!(
        named.reason.contains("result row: the row has no dstAddr"),
        "{named:?}"
    );
    let j = verdict::judge(&plan.checks[0], &ev.checks[0], &ev.gaps, NoTraffic::Fail);
    assert!(
        matches!(j.outcome, Outcome::Error(verdict::Missing::Incomplete)),
        "{:?}",
        j.outcome
    );
    // Without the broken row, the same totals pass.
    let whole = collect(&rules(&[("pairs", &ROWS[..2])]), with_flags(), &plan).await;
    assert!(whole.gaps.is_empty(), "{:?}", whole.gaps);
    assert_eq!(outcome(&plan, &whole), Outcome::Pass);
}

#[tokio::test]
async fn every_way_a_query_can_fail_leaves_its_checks_unavailable_never_passed() {
    use super::run::tests::{complete as rows_of, throttled};
    type Answer = Box<dyn Fn() -> Rule>;
    let results = |out: fn() -> GetQueryResultsOutput| -> Answer {
        Box::new(move || {
            mock!(Client::get_query_results)
                .match_requests(|r| r.query_id() == Some("connections"))
                .then_output(out)
        })
    };
    let modes: Vec<(&str, Vec<Answer>, &str)> = vec![
        (
            "Failed",
            vec![results(|| {
                GetQueryResultsOutput::builder()
                    .status(QueryStatus::Failed)
                    .build()
            })],
            "query connections ended Failed",
        ),
        (
            "Timeout",
            vec![results(|| {
                GetQueryResultsOutput::builder()
                    .status(QueryStatus::Timeout)
                    .build()
            })],
            "query connections ended Timeout",
        ),
        (
            "Cancelled",
            vec![results(|| {
                GetQueryResultsOutput::builder()
                    .status(QueryStatus::Cancelled)
                    .build()
            })],
            "query connections ended Cancelled",
        ),
        (
            "row cap",
            // A full page for every part of the window, down to single minutes.
            vec![results(|| rows_of(super::query::MAX_ROWS))],
            "more than 10000 result rows within one minute",
        ),
        (
            "throttling",
            vec![Box::new(|| {
                mock!(Client::start_query)
                    .match_requests(|r| r.query_string().is_some_and(|q| kind(q) == "connections"))
                    .then_http_response(throttled)
            })],
            "ThrottlingException: Rate exceeded",
        ),
    ];
    for (mode, failing, says) in modes {
        let mut all: Vec<Rule> = failing.iter().map(|f| f()).collect();
        all.extend(rules(&[]));
        let plan = Arc::new(plan());
        let ev = collect(&all, Format::default_v2(), &plan).await;
        match &ev.checks[0] {
            Err(Unavailable(why)) => {
                assert!(why.contains(says), "{mode}: {why}");
                assert!(
                    why.contains("log groups /vpc/flow, 2026-11-20T"),
                    "{mode}: names the evidence: {why}"
                );
            }
            other => panic!("{mode}: {other:?}"),
        }
        assert!(matches!(outcome(&plan, &ev), Outcome::Error(_)), "{mode}");
    }
}

/// Ctrl-C: the run stops asking, and the checks whose queries did not finish are errors.
#[tokio::test]
async fn a_cancelled_run_leaves_its_checks_unavailable_never_passed() {
    let client = mocked(
        RuleMode::MatchAny,
        &rules(&[("connections", CONNECTIONS)])
            .iter()
            .collect::<Vec<_>>(),
    );
    let source = source(client, Format::default_v2());
    source.engine.runner.cancel().await;
    let plan = Arc::new(plan());
    let ev = source.collect(Arc::clone(&plan)).await.unwrap();
    match &ev.checks[0] {
        Err(Unavailable(why)) => assert!(why.contains("cancelled (Ctrl-C)"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(outcome(&plan, &ev), Outcome::Error(_)));
}

/// Logs Insights behind the SDK, answering from `events` by running each query's text (see
/// `interpreter::service`): the runner's splitting of full pages is what is tested.
fn served(events: Vec<Event>, format: Format, rows: Rows) -> (InsightsSource, Arc<Logs>) {
    let group = Group {
        events,
        default_format: format == Format::default_v2(),
        dashes_absent: false,
    };
    let logs = Arc::new(Logs::new([("/vpc/flow".to_string(), group)]));
    let rules = interpreter::service(Arc::clone(&logs));
    let client = mocked(RuleMode::MatchAny, &rules.iter().collect::<Vec<_>>());
    let mut source = source(client, format);
    source.settings.rows = rows;
    (source, logs)
}

/// `n` accepted connections from web to app on 8080, each from its own port, one every
/// `every` seconds from `from` on, in the default format.
fn connections(n: u64, from: u64, every: f64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let t = from + (i as f64 * every) as u64;
            Event {
                timestamp: t,
                stream: "eni-web-all".into(),
                message: format!(
                    "2 123456789012 eni-web 10.0.1.10 10.0.2.20 {} 8080 6 1 60 {t} {} ACCEPT OK",
                    20000 + i,
                    t + 30
                ),
            }
        })
        .collect()
}

#[tokio::test]
async fn more_rows_than_a_page_are_read_whole_by_halving_the_window() {
    let plan = Arc::new(plan());
    for rows in [Rows::Raw, Rows::Aggregated] {
        let (source, logs) = served(
            connections(25_000, START, 3600.0 / 25_000.0),
            Format::default_v2(),
            rows,
        );
        let ev = source.collect(Arc::clone(&plan)).await.unwrap();
        logs.assert_well_formed();
        let pair = &ev.checks[0].as_ref().unwrap().pairs
            [&("10.0.1.10".parse().unwrap(), "10.0.2.20".parse().unwrap())];
        assert_eq!(
            pair.records.request_accept, 25_000,
            "{rows:?}: every record, none twice"
        );
        assert!(
            queries(&ev) >= 7,
            "{rows:?}: the window, its halves and quarters, and the minutes before: {}",
            queries(&ev)
        );
    }
}

#[tokio::test]
async fn a_minute_with_more_rows_than_a_page_leaves_its_checks_unavailable() {
    let plan = Arc::new(plan());
    for rows in [Rows::Raw, Rows::Aggregated] {
        let (source, logs) = served(
            connections(super::query::MAX_ROWS as u64 + 1, START + 600, 0.0),
            Format::default_v2(),
            rows,
        );
        let ev = source.collect(Arc::clone(&plan)).await.unwrap();
        logs.assert_well_formed();
        match &ev.checks[0] {
            Err(Unavailable(why)) => assert!(
                why.contains("more than 10000 result rows within one minute"),
                "{rows:?}: {why}"
            ),
            other => panic!("{rows:?}: {other:?}"),
        }
        assert!(matches!(outcome(&plan, &ev), Outcome::Error(_)));
    }
}

/// A record in `with_flags()`'s format, as CloudWatch Logs holds it.
fn rec(
    iface: &str,
    (src, dst): (&str, &str),
    (sport, dport): (u16, u16),
    action: &str,
    flags: u8,
    (start, end): (u64, u64),
) -> Event {
    Event {
        timestamp: start,
        stream: format!("{iface}-all"),
        message: format!(
            "2 123456789012 {iface} {src} {dst} {sport} {dport} 6 2 120 {start} {end} {action} OK {flags}"
        ),
    }
}

/// The same record in the default format, which has no tcp-flags.
fn plain(e: &Event) -> Event {
    let words: Vec<&str> = e.message.split(' ').collect();
    Event {
        message: words[..words.len() - 1].join(" "),
        ..e.clone()
    }
}

/// 10.0.1.10: five connections to the app, accepted both ways, each answered with a SYN-ACK.
fn healthy() -> Vec<Event> {
    let mut out = Vec::new();
    for i in 0..5u16 {
        let t = 1_795_165_260 + u64::from(i) * 185;
        let port = 40000 + i * 25;
        out.push(rec(
            "eni-web",
            ("10.0.1.10", "10.0.2.20"),
            (port, 8080),
            "ACCEPT",
            2,
            (t, t + 60),
        ));
        out.push(rec(
            "eni-app",
            ("10.0.2.20", "10.0.1.10"),
            (8080, port),
            "ACCEPT",
            18,
            (t, t + 60),
        ));
    }
    out
}

/// 10.0.1.11: let out by its own interface, refused at the app's.
fn refused(times: (u64, u64)) -> Vec<Event> {
    let pair = ("10.0.1.11", "10.0.2.20");
    vec![
        rec("eni-web2", pair, (50000, 8080), "ACCEPT", 2, times),
        rec("eni-app", pair, (50000, 8080), "REJECT", 2, times),
    ]
}

const REFUSED_AT: (u64, u64) = (1_795_165_300, 1_795_165_360);

async fn judged(events: Vec<Event>, format: Format, plan: &Arc<Plan>) -> Evidence {
    let (source, logs) = served(events, format, Rows::Aggregated);
    let ev = source.collect(Arc::clone(plan)).await.unwrap();
    logs.assert_well_formed();
    ev
}

#[tokio::test]
async fn healthy_pairs_are_settled_by_their_totals_and_only_the_troubled_one_is_asked_again() {
    let plan = Arc::new(plan());
    let events = [healthy(), refused(REFUSED_AT)].concat();
    let ev = judged(events, with_flags(), &plan).await;
    assert_eq!(
        queries(&ev),
        6,
        "pair totals and SKIPDATA, then connections of one pair; each also for the minutes before the window"
    );
    let pairs = &ev.checks[0].as_ref().unwrap().pairs;
    let healthy = &pairs[&("10.0.1.10".parse().unwrap(), "10.0.2.20".parse().unwrap())];
    assert!(healthy.estimated);
    let judged = |p| verdict::connections(plan.checks[0].kind, p).0;
    assert_eq!(judged(healthy).get(&ConnVerdict::Established), Some(&5));
    let refused = &pairs[&("10.0.1.11".parse().unwrap(), "10.0.2.20".parse().unwrap())];
    assert!(!refused.estimated);
    assert_eq!(judged(refused).get(&ConnVerdict::Rejected), Some(&1));
    assert!(
        refused.samples.iter().any(|s| s.text == REJECTED),
        "{:?}",
        refused.samples
    );
    assert_eq!(outcome(&plan, &ev), Outcome::Fail(Failure::Rejected));
}

#[tokio::test]
async fn without_tcp_flags_connections_are_asked_for_at_once() {
    // Pair totals cannot show that new connections were answered without tcp-flags: no point
    // asking for them first.
    let plan = Arc::new(plan());
    let events: Vec<Event> = [healthy(), refused(REFUSED_AT)]
        .concat()
        .iter()
        .map(plain)
        .collect();
    let ev = judged(events, Format::default_v2(), &plan).await;
    assert_eq!(
        queries(&ev),
        4,
        "connections and SKIPDATA, and the minutes before the window"
    );
    let pairs = &ev.checks[0].as_ref().unwrap().pairs;
    assert_eq!(pairs.len(), 2);
    assert!(pairs.values().all(|p| !p.estimated));
    assert_eq!(outcome(&plan, &ev), Outcome::Fail(Failure::Rejected));
}

#[tokio::test]
async fn skipdata_in_the_pair_totals_is_a_gap() {
    let skipped = Event {
        timestamp: 1_795_165_400,
        stream: "eni-app-all".into(),
        message: "2 123456789012 eni-app - - - - - - - 1795165400 1795165460 - SKIPDATA -".into(),
    };
    let plan = Arc::new(plan());
    let events = [healthy(), vec![skipped.clone(), skipped.clone(), skipped]].concat();
    let ev = judged(events, with_flags(), &plan).await;
    assert_eq!(ev.gaps.skipdata.values().sum::<u64>(), 3);
    let j = verdict::judge(&plan.checks[0], &ev.checks[0], &ev.gaps, NoTraffic::Fail);
    assert!(
        matches!(j.outcome, Outcome::Error(verdict::Missing::Incomplete)),
        "{:?}",
        j.outcome
    );
}

#[tokio::test]
async fn a_record_that_began_before_the_window_and_ends_in_it_counts() {
    // Logs Insights picks records by their start: one that began before the window's start and
    // overlaps it comes from the query over the minutes before, placed by its end.
    let plan = Arc::new(plan());
    let events = [healthy(), refused((1_795_165_100, 1_795_165_400))].concat();
    let ev = judged(events, with_flags(), &plan).await;
    assert_eq!(
        outcome(&plan, &ev),
        Outcome::Fail(Failure::Rejected),
        "{:?}",
        ev.checks[0]
    );
    // One that ended before the window is only context.
    let events = [healthy(), refused((1_795_165_100, 1_795_165_160))].concat();
    let ev = judged(events, with_flags(), &plan).await;
    assert_eq!(outcome(&plan, &ev), Outcome::Pass, "{:?}", ev.checks[0]);
}

#[tokio::test]
async fn the_number_of_queries_stays_flat_as_expectations_grow() {
    for n in [1, 50, 500] {
        let expect: String = (0..n)
            .map(|i| format!("  - {{ from: web, to: app, port: {} }}\n", 8080 + i))
            .collect();
        let spec = crate::spec::parse(
            Path::new("many.yaml"),
            &format!("app: many\nhosts:\n  web: {{ ips: [10.0.1.10, 10.0.1.11] }}\n  app: {{ ip: 10.0.2.20 }}\nexpect:\n{expect}"),
        )
        .unwrap();
        let window = Window {
            start: Some(START),
            end: Some(START + 3600),
            ..Window::default()
        };
        let plan = Arc::new(crate::plan::build(&[spec], window).unwrap());
        let ev = judged(healthy(), with_flags(), &plan).await;
        assert_eq!(
            queries(&ev),
            4,
            "{n} expectations: pair totals and SKIPDATA, and the minutes before the window"
        );
        assert_eq!(
            outcome(&plan, &ev),
            Outcome::Pass,
            "the first expectation, on 8080, is settled"
        );
    }
}

#[test]
fn more_log_groups_than_a_query_takes_are_spread_over_queries_and_all_asked() {
    let groups: Vec<String> = (0..120).map(|i| format!("/vpc/flow-logs-{i:03}")).collect();
    let engine = Insights::new(
        Arc::new(super::run::Offline),
        vec![LogSource {
            groups: groups.clone(),
            format: Format::default_v2(),
            created: None,
            assumed: false,
        }],
    );
    let asked: Vec<&String> = engine.sources.iter().flat_map(|s| &s.groups).collect();
    assert_eq!(asked.len(), 120, "every group is asked");
    assert_eq!(asked, groups.iter().collect::<Vec<_>>());
    assert!(
        engine
            .sources
            .iter()
            .all(|s| s.groups.len() <= super::MAX_GROUPS)
    );
    assert_eq!(engine.sources.len(), 3);
}

/// Records the log groups of every query it is asked, and answers with no rows.
#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<Vec<String>>>);

impl super::run::Asker for Recording {
    async fn ask(
        &self,
        groups: Vec<String>,
        _: i64,
        _: i64,
        _: super::query::Query,
    ) -> Result<super::run::Answer, String> {
        self.0.lock().unwrap().push(groups);
        Ok(super::run::Answer {
            rows: Vec::new(),
            cost: Default::default(),
        })
    }
}

#[tokio::test]
async fn a_run_over_120_log_groups_names_at_most_50_in_each_query_and_every_one_in_some() {
    let groups: Vec<String> = (0..120).map(|i| format!("/vpc/flow-logs-{i:03}")).collect();
    let asker = Arc::new(Recording::default());
    let source = InsightsSource::new(
        Arc::clone(&asker),
        vec![LogSource {
            groups: groups.clone(),
            format: with_flags(),
            created: None,
            assumed: false,
        }],
        Default::default(),
        Rows::Aggregated,
        None,
    );
    let plan = Arc::new(plan());
    let _ = source.collect(Arc::clone(&plan)).await;
    let asked = asker.0.lock().unwrap();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|g| g.len() <= 50),
        "{:?}",
        asked.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let mut all: Vec<&String> = asked.iter().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 120, "every group asked");
}

/// A custom format: `parse` gives text, and `min`/`max` of text put "10000" before "9999". Client
/// ports straddling 9999/10000 must give the verdicts they give in a file, not a bad row.
#[tokio::test]
async fn client_ports_straddling_9999_and_10000_in_a_custom_format_are_not_a_bad_row() {
    let plan = Arc::new(plan());
    let mut events = Vec::new();
    for (i, port) in [9998u16, 9999, 10000, 10001].into_iter().enumerate() {
        let t = 1_795_165_260 + i as u64 * 185;
        events.push(rec(
            "eni-web",
            ("10.0.1.10", "10.0.2.20"),
            (port, 8080),
            "ACCEPT",
            2,
            (t, t + 60),
        ));
        events.push(rec(
            "eni-app",
            ("10.0.2.20", "10.0.1.10"),
            (8080, port),
            "ACCEPT",
            18,
            (t, t + 60),
        ));
    }
    let ev = judged(events, with_flags(), &plan).await;
    assert!(ev.gaps.is_empty(), "{:?}", ev.gaps);
    let pair = &ev.checks[0].as_ref().unwrap().pairs
        [&("10.0.1.10".parse().unwrap(), "10.0.2.20".parse().unwrap())];
    assert_eq!(
        verdict::connections(plan.checks[0].kind, pair)
            .0
            .get(&ConnVerdict::Established),
        Some(&4)
    );
    assert_eq!(outcome(&plan, &ev), Outcome::Pass);
}

/// SKIPDATA is read by its own query: the totals group by fields a SKIPDATA record lacks, so
/// they may well return no row for it (AWS does not say), and it still counts.
#[tokio::test]
async fn skipdata_counts_when_the_totals_query_returns_no_row_for_it() {
    const SKIPPED: &[Fields<'static>] = &[&[
        ("interfaceId", "eni-app"),
        ("records", "3"),
        ("last", "1795165460"),
    ]];
    let healthy: &'static [Fields<'static>] = PAIRS.split_at(2).0;
    let plan = Arc::new(plan());
    let ev = collect(
        &rules(&[("pairs", healthy), ("skipdata", SKIPPED)]),
        with_flags(),
        &plan,
    )
    .await;
    assert_eq!(
        ev.gaps.skipdata.get(&IfaceId::new("eni-app").unwrap()),
        Some(&3)
    );
    let j = verdict::judge(&plan.checks[0], &ev.checks[0], &ev.gaps, NoTraffic::Fail);
    assert_eq!(j.outcome, Outcome::Error(verdict::Missing::Incomplete));
    // Without it, the same totals pass: the SKIPDATA query is what stops the pass.
    let ev = collect(&rules(&[("pairs", healthy)]), with_flags(), &plan).await;
    assert!(ev.gaps.skipdata.is_empty());
    let j = verdict::judge(&plan.checks[0], &ev.checks[0], &ev.gaps, NoTraffic::Fail);
    assert_eq!(j.outcome, Outcome::Pass);
}

#[tokio::test]
async fn a_window_without_one_record_is_not_judged_and_wait_asks_again() {
    let plan = Arc::new(plan());
    let (source, _) = served(Vec::new(), Format::default_v2(), Rows::Aggregated);
    let ev = source.collect(Arc::clone(&plan)).await.unwrap();
    let once = queries(&ev);
    for c in &ev.checks {
        let why = &c.as_ref().unwrap_err().0;
        assert!(
            why.contains("no record to judge") && why.contains("/vpc/flow"),
            "{why}"
        );
    }
    // With --wait, nothing delivered yet is a reason to ask again, not to stop.
    let (mut waiting, _) = served(Vec::new(), Format::default_v2(), Rows::Aggregated);
    waiting.settings.wait = Some(std::time::Duration::from_millis(1500));
    let ev = waiting.collect(Arc::clone(&plan)).await.unwrap();
    assert!(
        queries(&ev) >= 2 * once,
        "{} queries, {once} a try",
        queries(&ev)
    );
    assert!(ev.checks.iter().all(Result::is_err));
}
