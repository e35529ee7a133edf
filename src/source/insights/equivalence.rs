//! Both sources, same records, same verdicts: the file source reads generated records from a
//! file; the Logs Insights source (its real code: first questions, pair totals, settling,
//! drill-down, the minutes before the window, deduplication) sends its query text to the test
//! interpreter (`interpreter`), which runs it over the same records as CloudWatch Logs holds
//! them: the default format with the fields Logs Insights discovers, custom ones through
//! `parse @message`. A wrong filter, field name, `by` clause or a missing SKIPDATA clause in the
//! text changes what comes back, and so the verdicts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::interpreter::{Event, Group, Logs};
use super::query::Fields;
use super::{InsightsSource, LogSource};
use crate::evidence::flows::{FlowKey, FlowSeen, Fold};
use crate::evidence::{Action, Evidence, Flow, IfaceId};
use crate::plan::{Plan, Window};
use crate::source::Question;
use crate::source::aggregate::{FlowQuestion, Rows};
use crate::source::files::FileSource;
use crate::source::format::Format;
use crate::spec::Kind;
use crate::verdict::{self, ConnVerdict, NoTraffic, Outcome};

const S: u64 = 1_795_160_000;
const E: u64 = S + 4000;

const SPEC: &str = "app: eq
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11] }
  app: { ip: 10.0.2.20 }
  cluster: { cidr: 10.0.5.0/29 }
  v6web: { ip: '2001:db8::10' }
  v6app: { ip: '2001:db8::20' }
  internet: { cidr: 0.0.0.0/0, except: [10.0.0.0/8] }
expect:
  - { name: a, from: web, to: app, port: 8080 }
  - { name: b, from: web, to: app, port: 22, return: optional }
  - { name: c, from: app, to: web, port: 22, deny: true }
  - { name: d, from: web, to: app, port: [8080, 9090] }
  - { name: e, from: cluster, to: cluster, port: 7000-7100 }
  - { name: f, from: any, to: app, protocol: icmp }
  - { name: g, from: v6web, to: v6app, port: 443 }
  - { name: h, from: internet, to: app, port: 8080, deny: true }
  - { name: i, from: cluster, to: cluster, port: 7000-7100, deny: true }
";

/// Checks between any two addresses: no address narrows the queries (`Scope::All`).
const WIDE: &str = "app: wide
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11] }
  app: { ip: 10.0.2.20 }
  everywhere: { cidrs: [0.0.0.0/0, '::/0'] }
expect:
  - { name: a, from: web, to: app, port: 8080 }
  - { name: w, from: everywhere, to: any, port: 22, deny: true }
  - { name: x, from: any, to: everywhere, protocol: icmp }
";

fn plan() -> Plan {
    plan_of(SPEC)
}

fn plan_of(text: &str) -> Plan {
    let spec = crate::spec::parse(Path::new("eq.yaml"), text).unwrap();
    let window = Window {
        start: Some(S),
        end: Some(E),
        ..Window::default()
    };
    crate::plan::build(&[spec], window).unwrap()
}

/// A generated record: a flow, or SKIPDATA/NODATA on an interface.
#[derive(Debug, Clone)]
enum Rec {
    Flow(Flow),
    Status {
        iface: IfaceId,
        status: &'static str,
        start: u64,
        end: u64,
    },
}

impl Rec {
    fn start(&self) -> u64 {
        match self {
            Rec::Flow(f) => f.start.unwrap(),
            Rec::Status { start, .. } => *start,
        }
    }

    fn iface(&self) -> IfaceId {
        match self {
            Rec::Flow(f) => f.iface,
            Rec::Status { iface, .. } => *iface,
        }
    }

    /// The record as a line of `shape`'s format, addresses as flow logs write them (IPv6 in
    /// full, so that a query comparing IPv6 addresses as text would miss them).
    fn text(&self, shape: Shape) -> String {
        let (head, tail) = match shape {
            Shape::Default | Shape::Bare => ("2 123456789012 ", ""),
            Shape::Plain => ("", ""),
            Shape::Flags => ("", " -"),
        };
        match self {
            Rec::Flow(f) => format!(
                "{head}{} {} {} {} {} {} 3 180 {} {} {} OK{}",
                f.iface,
                written(f.src),
                written(f.dst),
                f.srcport,
                f.dstport,
                f.protocol,
                f.start.unwrap(),
                f.end.unwrap(),
                if f.action == Action::Accept {
                    "ACCEPT"
                } else {
                    "REJECT"
                },
                match (shape, f.tcp_flags) {
                    (Shape::Flags, Some(x)) => format!(" {x}"),
                    (Shape::Flags, None) => " -".to_string(),
                    _ => String::new(),
                }
            ),
            Rec::Status {
                iface,
                status,
                start,
                end,
            } => format!("{head}{iface} - - - - - - - {start} {end} - {status}{tail}"),
        }
    }

    /// The record as CloudWatch Logs holds it: stamped with its start, in its interface's
    /// stream.
    fn event(&self, shape: Shape) -> Event {
        Event {
            timestamp: self.start(),
            stream: format!("{}-all", self.iface()),
            message: self.text(shape),
        }
    }
}

fn written(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6
            .segments()
            .iter()
            .map(|s| format!("{s:04x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

/// The record formats the cases use: the default one (fields discovered by Logs Insights) and
/// two custom ones (read with `parse`), with and without tcp-flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Default,
    /// The default format, with the `-` of SKIPDATA and NODATA records not discovered at all.
    Bare,
    Plain,
    Flags,
}

impl Shape {
    fn of(case: usize) -> Shape {
        [
            Shape::Flags,
            Shape::Default,
            Shape::Flags,
            Shape::Plain,
            Shape::Flags,
            Shape::Bare,
        ][case % 6]
    }

    fn flags(self) -> bool {
        self == Shape::Flags
    }

    fn format(self) -> Format {
        let base = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        match self {
            Shape::Default | Shape::Bare => Format::default_v2(),
            Shape::Plain => Format::from_header(base),
            Shape::Flags => Format::from_header(&format!("{base} tcp-flags")),
        }
    }
}

/// A small deterministic generator (xorshift), so that failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Records of every shape the spec's checks care about: both directions on both interfaces,
/// accepts and rejects, with and without SYN, before, across and after the window's edges.
fn records(rng: &mut Rng, flags: bool) -> Vec<Rec> {
    let n = 1 + rng.next() % 14;
    let mut out: Vec<Rec> = (0..n)
        .map(|_| {
            let iface = IfaceId::new(rng.pick(&["eni-a", "eni-b"])).unwrap();
            let start = rng.pick(&[
                S - 1300,
                S - 1000,
                S - 700,
                S - 600,
                S - 300,
                S - 60,
                S,
                S + 60,
                S + 2000,
                E - 30,
                E,
                E + 100,
            ]);
            let end = start + rng.pick(&[60, 600]);
            if rng.next().is_multiple_of(30) {
                return Rec::Status {
                    iface,
                    status: "SKIPDATA",
                    start,
                    end,
                };
            }
            let (client, server, cport, sport, protocol) = match rng.next() % 5 {
                0 => (
                    rng.pick(&["10.0.1.10", "10.0.1.11"]),
                    "10.0.2.20",
                    rng.pick(&[40000, 40001]),
                    rng.pick(&[8080, 22, 9090]),
                    6,
                ),
                1 => {
                    let (c, s) = if rng.next().is_multiple_of(2) {
                        ("10.0.5.1", "10.0.5.2")
                    } else {
                        ("10.0.5.2", "10.0.5.1")
                    };
                    (c, s, rng.pick(&[40000, 7001]), rng.pick(&[7000, 7050]), 6)
                }
                2 => (
                    rng.pick(&["10.0.1.10", "203.0.113.5"]),
                    "10.0.2.20",
                    0,
                    0,
                    1,
                ),
                3 => (
                    "2001:db8::10",
                    "2001:db8::20",
                    rng.pick(&[50000, 50001]),
                    443,
                    6,
                ),
                _ => (
                    "203.0.113.5",
                    "10.0.2.20",
                    rng.pick(&[40000, 40001]),
                    8080,
                    6,
                ),
            };
            let reply = rng.next().is_multiple_of(2);
            let (src, dst, srcport, dstport) = if reply {
                (ip(server), ip(client), sport, cport)
            } else {
                (ip(client), ip(server), cport, sport)
            };
            Rec::Flow(Flow {
                iface,
                src,
                dst,
                srcport,
                dstport,
                protocol,
                action: if rng.next().is_multiple_of(4) {
                    Action::Reject
                } else {
                    Action::Accept
                },
                tcp_flags: flags.then(|| {
                    if protocol == 6 {
                        rng.pick(&[2, 18, 16, 1, 19, 4, 3])
                    } else {
                        0
                    }
                }),
                start: Some(start),
                end: Some(end),
                reject_reason: None,
            })
        })
        .collect();
    // Something is always in the window (a busy VPC): NODATA on an interface.
    out.push(Rec::Status {
        iface: IfaceId::new("eni-z").unwrap(),
        status: "NODATA",
        start: S + 100,
        end: S + 160,
    });
    out
}

/// A check's outcome and its broken pairs with their headline: what a user reads.
type Verdicts = Vec<(Outcome, Vec<(IpAddr, IpAddr, Option<ConnVerdict>)>)>;

fn verdicts(plan: &Plan, ev: &Evidence) -> Verdicts {
    plan.checks
        .iter()
        .zip(&ev.checks)
        .map(|(c, e)| {
            let gaps = ev.gaps.bearing_on(c.interfaces.as_ref());
            let j = verdict::judge(c, e, &gaps, NoTraffic::Fail);
            let broken = j
                .broken_pairs()
                .map(|p| (p.client, p.server, p.headline))
                .collect();
            (j.outcome, broken)
        })
        .collect()
}

/// The records each check counted per pair: what the messages and the JUnit report quote.
fn counts(ev: &Evidence) -> Vec<Vec<((IpAddr, IpAddr), crate::evidence::RecordCounts)>> {
    ev.checks
        .iter()
        .map(|c| {
            c.iter()
                .flat_map(|c| c.pairs.iter().map(|(k, p)| (*k, p.records)))
                // The files keep a pair seen only before the window (context), with no records.
                .filter(|(_, r)| *r != crate::evidence::RecordCounts::default())
                .collect()
        })
        .collect()
}

async fn from_files(plan: &Arc<Plan>, recs: &[Rec], shape: Shape) -> Evidence {
    from_files_asking(&Question::Checks(Arc::clone(plan)), recs, shape).await
}

async fn from_files_asking(question: &Question, recs: &[Rec], shape: Shape) -> Evidence {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.log");
    let mut text = format!("{}\n", shape.format());
    for r in recs {
        text.push_str(&r.text(shape));
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    FileSource::open(&[path], Format::default_v2(), &Default::default())
        .unwrap()
        .gather(question)
        .await
        .unwrap()
}

/// The Logs Insights source over one log group holding `recs`, each query's text run by the
/// interpreter.
fn insights(recs: &[Rec], shape: Shape, rows: Rows) -> (InsightsSource<Logs>, Arc<Logs>) {
    let group = Group {
        events: recs.iter().map(|r| r.event(shape)).collect(),
        default_format: matches!(shape, Shape::Default | Shape::Bare),
        dashes_absent: shape == Shape::Bare,
    };
    let logs = Arc::new(Logs::new([("/flows".to_string(), group)]));
    let source = InsightsSource::new(
        Arc::clone(&logs),
        vec![LogSource {
            groups: vec!["/flows".into()],
            format: shape.format(),
            created: None,
            assumed: false,
        }],
        BTreeMap::new(),
        rows,
        None,
    );
    (source, logs)
}

async fn from_insights(plan: &Arc<Plan>, recs: &[Rec], shape: Shape, rows: Rows) -> Evidence {
    let (source, logs) = insights(recs, shape, rows);
    let ev = source.collect(Arc::clone(plan)).await.unwrap();
    logs.assert_well_formed();
    ev
}

#[tokio::test]
async fn logs_insights_gives_the_file_sources_verdicts_on_the_same_records() {
    let plan = Arc::new(plan());
    assert!(Fields::of(&Shape::Flags.format()).tcp_flags.is_some());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut settled, mut drilled, mut failing, mut incomplete) = (0, 0, 0, 0);
    let mut answered = 0;
    for case in 0..1500 {
        let shape = Shape::of(case);
        let recs = records(&mut rng, shape.flags());
        let file_ev = from_files(&plan, &recs, shape).await;
        let files = verdicts(&plan, &file_ev);
        for rows in [Rows::Aggregated, Rows::Raw] {
            let ev = from_insights(&plan, &recs, shape, rows).await;
            assert_eq!(
                verdicts(&plan, &ev),
                files,
                "case {case}, {rows:?}, {shape:?}: {recs:#?}"
            );
            assert_eq!(
                counts(&ev),
                counts(&file_ev),
                "records per pair, case {case}, {rows:?}, {shape:?}: {recs:#?}"
            );
            if rows == Rows::Aggregated {
                let pairs = || ev.checks.iter().flatten().flat_map(|c| c.pairs.values());
                settled += usize::from(pairs().any(|p| p.estimated));
                drilled += usize::from(pairs().any(|p| !p.estimated));
                // Settling a reach check that needs replies takes the tcp-flags of pair rows
                // (SYN-ACKs answered): it must happen, or the pair queries lost them.
                answered += usize::from(plan.checks.iter().zip(&ev.checks).any(|(c, e)| {
                    c.kind
                        == (Kind::Reach {
                            return_required: true,
                        })
                        && e.iter()
                            .flat_map(|e| e.pairs.values())
                            .any(|p| p.estimated && p.records.request_accept > 0)
                }));
            }
        }
        failing += usize::from(files.iter().any(|(o, _)| matches!(o, Outcome::Fail(_))));
        incomplete += usize::from(files.iter().any(|(o, _)| matches!(o, Outcome::Error(_))));
    }
    // Every path was taken often: the comparison is not all one kind of case.
    assert!(
        settled > 200 && drilled > 200 && failing > 200 && incomplete > 20 && answered > 10,
        "{settled} {drilled} {failing} {incomplete} {answered}"
    );
}

#[tokio::test]
async fn checks_between_any_addresses_read_every_record_and_agree_too() {
    let plan = Arc::new(plan_of(WIDE));
    assert_eq!(plan.interesting(), None);
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut failing = 0;
    for case in 0..400 {
        let shape = Shape::of(case);
        let recs = records(&mut rng, shape.flags());
        let file_ev = from_files(&plan, &recs, shape).await;
        for rows in [Rows::Aggregated, Rows::Raw] {
            let (source, logs) = insights(&recs, shape, rows);
            let ev = source.collect(Arc::clone(&plan)).await.unwrap();
            logs.assert_well_formed();
            // SKIPDATA is asked for by a query of its own beside totals, and along with records.
            let asked = logs.asked.lock().unwrap().clone();
            match rows {
                Rows::Raw => assert!(
                    asked[0].contains("filter logStatus = \"SKIPDATA\" or logStatus = \"OK\"\n"),
                    "{asked:?}"
                ),
                Rows::Aggregated => assert!(
                    asked.iter().any(|q| q.contains(
                        "filter logStatus = \"SKIPDATA\"\n| stats count(*) as records, max(endTime) as last by "
                    )),
                    "{asked:?}"
                ),
            }
            assert_eq!(
                verdicts(&plan, &ev),
                verdicts(&plan, &file_ev),
                "case {case}, {rows:?}, {shape:?}: {recs:#?}"
            );
            assert_eq!(
                counts(&ev),
                counts(&file_ev),
                "case {case}, {rows:?}, {shape:?}"
            );
        }
        failing += usize::from(
            verdicts(&plan, &file_ev)
                .iter()
                .any(|(o, _)| matches!(o, Outcome::Fail(_))),
        );
    }
    assert!(failing > 100, "{failing}");
}

/// The flows `triage` (refused, by service) and `observe` (accepted, by 5-tuple) list: the
/// same from Logs Insights as from the files, in both modes.
#[tokio::test]
async fn logs_insights_gives_the_file_sources_flows_for_triage_and_observe() {
    let plan = Arc::new(plan());
    let touching = crate::resolve::Ranges::of(
        &[
            "10.0.1.10/32".parse().unwrap(),
            "10.0.2.0/24".parse().unwrap(),
            "2001:db8::20/128".parse().unwrap(),
        ],
        &[],
    );
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut listed = 0;
    for case in 0..600 {
        let shape = Shape::of(case);
        let recs = records(&mut rng, shape.flags());
        for (action, fold) in [
            (Action::Reject, Fold::Service),
            (Action::Accept, Fold::Tuple),
        ] {
            let question = Question::Flows {
                plan: Arc::clone(&plan),
                ask: FlowQuestion {
                    action,
                    touching: touching.clone(),
                    fold,
                },
            };
            let files = from_files_asking(&question, &recs, shape).await;
            for rows in [Rows::Aggregated, Rows::Raw] {
                let (source, logs) = insights(&recs, shape, rows);
                let ev = source.gather(&question).await.unwrap();
                logs.assert_well_formed();
                assert_eq!(
                    flows(&ev),
                    flows(&files),
                    "case {case}, {action:?} {fold:?}, {rows:?}, {shape:?}: {recs:#?}"
                );
                // The flow queries do not group by interface, so their SKIPDATA is counted
                // without one: the same records, not the same names.
                let skipped = |e: &Evidence| e.gaps.skipdata.values().sum::<u64>();
                assert_eq!(
                    skipped(&ev),
                    skipped(&files),
                    "case {case}, {rows:?}, {shape:?}"
                );
            }
            listed += usize::from(!files.flows.flows.is_empty());
        }
    }
    assert!(listed > 300, "{listed}");
}

/// What the listings show of each flow. Flags are not part of a service's totals in Logs
/// Insights (the query does not ask for them), so they are compared only by 5-tuple.
fn flows(ev: &Evidence) -> Vec<(FlowKey, FlowSeen)> {
    ev.flows
        .flows
        .iter()
        .map(|(k, s)| {
            let mut s = *s;
            if ev.flows.fold == Fold::Service {
                s.tcp_flags = None;
            }
            (*k, s)
        })
        .collect()
}

/// The fixture of a VPC flow log with every field and a Transit Gateway flow log beside it
/// (tests/data/records, see its SOURCES.md), each file's records in a log group of its own as
/// CloudWatch Logs would hold them: the gateway's drops and what it carried give the same
/// verdicts, and the same evidence per pair, from Logs Insights as from the files.
#[tokio::test]
async fn transit_gateway_log_groups_give_the_file_sources_verdicts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec_path = root.join("tests/data/records/records.yaml");
    let spec =
        crate::spec::parse(&spec_path, &std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    let window = Window {
        start: Some(1_795_165_200),
        end: Some(1_795_165_200 + 3600),
        ..Window::default()
    };
    let plan = Arc::new(crate::plan::build(&[spec], window).unwrap());
    let day =
        root.join("tests/data/records/mixed/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let file_ev = FileSource::open(&files, Format::default_v2(), &Default::default())
        .unwrap()
        .gather(&Question::Checks(Arc::clone(&plan)))
        .await
        .unwrap();
    // Each file a log group: its header is the flow log's format.
    let mut groups = Vec::new();
    let mut sources = Vec::new();
    for (n, path) in files.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let format = Format::from_header(lines.next().unwrap());
        let layout = crate::source::record::Layout::new(&format);
        let events = lines
            .map(|line| {
                let stream = match layout.parse(line) {
                    Ok(crate::source::record::Record::Flow(f)) => format!("{}-all", f.iface),
                    _ => "tgw-attach-0aa1bb2cc3dd4ee51".to_string(),
                };
                let start: u64 = line
                    .split(' ')
                    .find(|w| w.len() == 10 && w.starts_with("17"))
                    .unwrap()
                    .parse()
                    .unwrap();
                Event {
                    timestamp: start,
                    stream,
                    message: line.to_string(),
                }
            })
            .collect();
        let name = format!("/flows/{n}");
        groups.push((
            name.clone(),
            Group {
                events,
                ..Group::default()
            },
        ));
        sources.push(LogSource {
            groups: vec![name],
            format,
            created: None,
            assumed: false,
        });
    }
    assert!(sources.iter().any(|s| s.format.is_tgw()));
    let files_verdicts = verdicts(&plan, &file_ev);
    let dropped = files_verdicts
        .iter()
        .filter(|(o, _)| *o == Outcome::Fail(verdict::Failure::TgwDropped))
        .count();
    assert_eq!(dropped, 2, "{files_verdicts:#?}");
    for rows in [Rows::Aggregated, Rows::Raw] {
        let logs = Arc::new(Logs::new(groups.clone()));
        let source = InsightsSource::new(
            Arc::clone(&logs),
            sources.clone(),
            BTreeMap::new(),
            rows,
            None,
        );
        let ev = source.collect(Arc::clone(&plan)).await.unwrap();
        logs.assert_well_formed();
        assert_eq!(verdicts(&plan, &ev), files_verdicts, "{rows:?}");
        assert_eq!(counts(&ev), counts(&file_ev), "{rows:?}");
        assert_eq!(gateways(&ev), gateways(&file_ev), "{rows:?}");
        // The drops are shown by a record of the gateway's, as from the files.
        let shown = |ev: &Evidence| {
            ev.checks
                .iter()
                .flatten()
                .flat_map(|c| c.pairs.values())
                .filter(|p| !p.tgw.lost.is_empty())
                .all(|p| p.tgw_samples.iter().any(|s| s.action == Action::Reject))
        };
        assert!(shown(&ev) && shown(&file_ev), "{rows:?}");
    }
}

/// The Transit Gateway flow log of the generated cases: no action, no interface.
const TGW_FORMAT: &str = "version resource-type account-id tgw-id tgw-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired";

/// Transit Gateway records of the checks' traffic: the same connection again and again (so a
/// row stands for several records), drops of every kind or none, before, across and after the
/// window's edges, and now and then SKIPDATA.
fn tgw_records(rng: &mut Rng) -> Vec<(u64, String)> {
    let n = rng.next() % 8;
    let mut out: Vec<(u64, String)> = (0..n)
        .map(|_| {
            let start = rng.pick(&[S - 900, S - 300, S - 60, S, S + 60, E - 30, E + 100]);
            let end = start + rng.pick(&[60, 600]);
            let attach = rng.pick(&["tgw-attach-1", "tgw-attach-2"]);
            if rng.next().is_multiple_of(12) {
                return (
                    start,
                    format!("6 TransitGateway 123456789012 tgw-1 {attach} - - - - - - - {start} {end} SKIPDATA - - - -"),
                );
            }
            let (mut src, mut dst, mut sport, mut dport) =
                match rng.next() % 3 {
                    0 => ("10.0.1.10", "10.0.2.20", 40000, 8080),
                    1 => ("10.0.1.11", "10.0.2.20", 40001, 22),
                    _ => ("10.0.2.20", "10.0.1.10", 40002, 22),
                };
            if rng.next().is_multiple_of(2) {
                (src, dst, sport, dport) = (dst, src, dport, sport);
            }
            let mut lost = ["0"; 4];
            if rng.next().is_multiple_of(2) {
                lost[(rng.next() % 4) as usize] = rng.pick(&["1", "3"]);
            }
            (
                start,
                format!(
                    "6 TransitGateway 123456789012 tgw-1 {attach} {src} {dst} {sport} {dport} 6 4 240 {start} {end} OK {}",
                    lost.join(" ")
                ),
            )
        })
        .collect();
    // The same connection's next interval, with the same losses: one row, two records.
    if let Some((start, line)) = out.first().cloned()
        && rng.next().is_multiple_of(2)
    {
        let later = start + 60;
        out.push((later, line.replace(&start.to_string(), &later.to_string())));
    }
    out
}

/// Generated VPC and Transit Gateway records, each flow log in a file and a log group of its own:
/// the same verdicts, record counts and gateway evidence per pair from Logs Insights, aggregated
/// (rows that stand for several records) and raw, as from the files.
#[tokio::test]
async fn generated_transit_gateway_records_agree_too() {
    let plan = Arc::new(plan());
    let mut rng = Rng(0x6a09_e667_f3bc_c908);
    let (mut dropped, mut several) = (0, 0);
    for case in 0..400 {
        let shape = Shape::of(case);
        let recs = records(&mut rng, shape.flags());
        let hops = tgw_records(&mut rng);
        let dir = tempfile::tempdir().unwrap();
        let (vpc, tgw) = (dir.path().join("vpc.log"), dir.path().join("tgw.log"));
        let mut text = format!("{}\n", shape.format());
        for r in &recs {
            text.push_str(&r.text(shape));
            text.push('\n');
        }
        std::fs::write(&vpc, text).unwrap();
        let mut text = format!("{TGW_FORMAT}\n");
        for (_, line) in &hops {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&tgw, text).unwrap();
        let file_ev = FileSource::open(&[vpc, tgw], Format::default_v2(), &Default::default())
            .unwrap()
            .gather(&Question::Checks(Arc::clone(&plan)))
            .await
            .unwrap();
        let files = verdicts(&plan, &file_ev);
        for rows in [Rows::Aggregated, Rows::Raw] {
            let (source, logs) = beside_a_gateway(&recs, shape, &hops, rows, None);
            let ev = source.collect(Arc::clone(&plan)).await.unwrap();
            logs.assert_well_formed();
            let what = || {
                format!(
                    "case {case}, {rows:?}, {shape:?}: {recs:#?}\n{hops:#?}\n{:#?}",
                    logs.asked.lock().unwrap()
                )
            };
            assert_eq!(verdicts(&plan, &ev), files, "{}", what());
            assert_eq!(counts(&ev), counts(&file_ev), "{}", what());
            assert_eq!(gateways(&ev), gateways(&file_ev), "{}", what());
            assert_eq!(
                ev.gaps.skipdata,
                file_ev.gaps.skipdata,
                "SKIPDATA, {}",
                what()
            );
        }
        dropped += usize::from(
            files
                .iter()
                .any(|(o, _)| *o == Outcome::Fail(verdict::Failure::TgwDropped)),
        );
        several += usize::from(
            gateways(&file_ev)
                .iter()
                .any(|(_, _, t)| t.lost.values().any(|n| *n > 3)),
        );
    }
    // Drops summed over several records of a row happen often.
    assert!(dropped > 50 && several > 20, "{dropped} {several}");
}

/// What transit gateways saw of each pair of each check.
fn gateways(ev: &Evidence) -> Vec<(usize, (IpAddr, IpAddr), crate::evidence::TgwSeen)> {
    ev.checks
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            c.iter()
                .flat_map(move |c| c.pairs.iter().map(move |(k, p)| (i, *k, p.tgw.clone())))
        })
        .filter(|(_, _, t)| !t.is_empty())
        .collect()
}

/// With `--wait`, a reach check whose pair only a transit gateway has seen so far has no record
/// of the hosts yet: it is asked about again, not settled on the gateway's word.
#[tokio::test]
async fn wait_asks_again_while_only_a_transit_gateway_saw_the_pair() {
    let plan = Arc::new(plan_of(
        "app: w\nhosts:\n  web: { ip: 10.0.1.10 }\n  app: { ip: 10.0.2.20 }\nexpect:\n  - { from: web, to: app, port: 8080 }\n",
    ));
    let quiet = [Rec::Status {
        iface: IfaceId::new("eni-z").unwrap(),
        status: "NODATA",
        start: S + 100,
        end: S + 160,
    }];
    let hop = format!(
        "6 TransitGateway 123456789012 tgw-1 tgw-attach-1 10.0.1.10 10.0.2.20 40000 8080 6 4 240 {} {} OK 0 0 0 0",
        S + 100,
        S + 160
    );
    let hops = [(S + 100, hop)];
    let asked = |wait: Option<std::time::Duration>| {
        let (source, logs) = beside_a_gateway(&quiet, Shape::Flags, &hops, Rows::Aggregated, wait);
        let plan = Arc::clone(&plan);
        async move {
            let ev = source.collect(plan).await.unwrap();
            let pairs = ev.checks[0].as_ref().unwrap().pairs.len();
            (logs.asked.lock().unwrap().len(), pairs)
        }
    };
    let (once, pairs) = asked(None).await;
    assert_eq!(pairs, 1, "the gateway's pair is in the evidence");
    let (waited, _) = asked(Some(std::time::Duration::from_millis(1500))).await;
    assert!(waited >= 2 * once, "{waited} queries, {once} a try");
}

/// The Logs Insights source over two log groups: `/flows` holding `recs` in `shape`'s format,
/// and `/tgw` holding the Transit Gateway records `hops` (start, line) in `TGW_FORMAT`.
fn beside_a_gateway(
    recs: &[Rec],
    shape: Shape,
    hops: &[(u64, String)],
    rows: Rows,
    wait: Option<std::time::Duration>,
) -> (InsightsSource<Logs>, Arc<Logs>) {
    let vpc = Group {
        events: recs.iter().map(|r| r.event(shape)).collect(),
        default_format: matches!(shape, Shape::Default | Shape::Bare),
        dashes_absent: shape == Shape::Bare,
    };
    let tgw = Group {
        events: hops
            .iter()
            .map(|(start, line)| Event {
                timestamp: *start,
                stream: "tgw-attach-1".into(),
                message: line.clone(),
            })
            .collect(),
        ..Group::default()
    };
    let logs = Arc::new(Logs::new([
        ("/flows".to_string(), vpc),
        ("/tgw".to_string(), tgw),
    ]));
    let source = |group: &str, format: Format| LogSource {
        groups: vec![group.into()],
        format,
        created: None,
        assumed: false,
    };
    let source = InsightsSource::new(
        Arc::clone(&logs),
        vec![
            source("/flows", shape.format()),
            source("/tgw", Format::from_header(TGW_FORMAT)),
        ],
        BTreeMap::new(),
        rows,
        wait,
    );
    (source, logs)
}
