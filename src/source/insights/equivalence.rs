//! Both sources, same records, same verdicts: the file source reads generated records from a
//! file; the Logs Insights source (its real code: first questions, pair totals, settling,
//! drill-down, the minutes before the window, deduplication) asks a stand-in that answers each
//! query the way Logs Insights would, from the same records: picked by start time, filtered by
//! the query's scope, and totalled by its `stats`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::query::{Fields, Query, Scope};
use super::run::{Answer, Asker, Cost, Row};
use super::{InsightsSource, LogSource};
use crate::evidence::{Action, Evidence, Flow, IfaceId};
use crate::plan::{Plan, Window};
use crate::source::Question;
use crate::source::aggregate::{Ask, Rows, unordered};
use crate::source::files::FileSource;
use crate::source::format::{Field, Format};
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

fn plan() -> Plan {
    let spec = crate::spec::parse(Path::new("eq.yaml"), SPEC).unwrap();
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

    /// The record as a line of `format`.
    fn text(&self, flags: bool) -> String {
        let tail = |f: Option<u8>| {
            if flags {
                format!(" {}", f.map_or("-".into(), |x| x.to_string()))
            } else {
                String::new()
            }
        };
        match self {
            Rec::Flow(f) => format!(
                "{} {} {} {} {} {} 3 180 {} {} {} OK{}",
                f.iface,
                f.src,
                f.dst,
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
                tail(f.tcp_flags)
            ),
            Rec::Status {
                iface,
                status,
                start,
                end,
            } => {
                format!(
                    "{iface} - - - - - - - {start} {end} - {status}{}",
                    tail(None)
                )
            }
        }
    }
}

fn format(flags: bool) -> Format {
    let base = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    Format::from_header(&if flags {
        format!("{base} tcp-flags")
    } else {
        base.to_string()
    })
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

/// Answers queries the way Logs Insights would, from the records.
struct Fake {
    records: Vec<Rec>,
    flags: bool,
}

fn put(row: &mut Row, field: &str, value: impl ToString) {
    row.push((field.to_string(), value.to_string()));
}

impl Fake {
    fn in_scope(q: &Query, r: &Rec) -> bool {
        match (r, &q.scope) {
            (Rec::Status { status, .. }, Scope::All | Scope::Nets(_)) => *status == "SKIPDATA",
            (Rec::Status { .. }, Scope::Pairs(_)) => false,
            (Rec::Flow(_), Scope::All) => true,
            (Rec::Flow(f), Scope::Nets(n)) => n.contains(f.src) || n.contains(f.dst),
            (Rec::Flow(f), Scope::Pairs(p)) => p.contains(&unordered(f.src, f.dst)),
        }
    }

    fn answer(&self, start: u64, end: u64, q: &Query) -> Answer {
        let picked: Vec<&Rec> = self
            .records
            .iter()
            .filter(|r| (start..=end).contains(&r.start()))
            .collect();
        let scanned = picked.len() as f64;
        let kept: Vec<&Rec> = picked
            .into_iter()
            .filter(|r| Self::in_scope(q, r))
            .collect();
        let rows = match q.ask {
            Ask::Records | Ask::RecordsEdge => kept
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut row = Row::new();
                    put(&mut row, "@ptr", i);
                    put(&mut row, "@message", r.text(self.flags));
                    put(&mut row, "@logStream", format!("{}-all", r.iface()));
                    row
                })
                .collect(),
            _ => self.stats(q.ask, &kept),
        };
        Answer {
            rows,
            cost: Cost {
                queries: 1,
                records_scanned: scanned,
                records_matched: 0.0,
                bytes_scanned: 0.0,
                unreported: 0,
            },
        }
    }

    /// `stats ... by ...` as the query asks: pair rows or connection rows, with `endTime` in
    /// the grouping for the minutes before the window.
    fn stats(&self, ask: Ask, kept: &[&Rec]) -> Vec<Row> {
        let pairs = matches!(ask, Ask::Pairs | Ask::PairsEdge);
        let mut groups: BTreeMap<String, Vec<&Rec>> = BTreeMap::new();
        for r in kept {
            let key = match r {
                Rec::Status { iface, end, .. } => {
                    format!("{iface} SKIPDATA {}", if ask.is_edge() { *end } else { 0 })
                }
                Rec::Flow(f) => {
                    let ports = if pairs {
                        String::new()
                    } else {
                        format!("{} {}", f.srcport, f.dstport)
                    };
                    let flags = if pairs && !self.flags {
                        None
                    } else {
                        f.tcp_flags
                    };
                    let end = if ask.is_edge() { f.end.unwrap() } else { 0 };
                    format!(
                        "{} {} {} {ports} {} {:?} {flags:?} {end}",
                        f.iface, f.src, f.dst, f.protocol, f.action
                    )
                }
            };
            groups.entry(key).or_default().push(r);
        }
        groups
            .into_values()
            .map(|rs| {
                let mut row = Row::new();
                let starts: Vec<u64> = rs.iter().map(|r| r.start()).collect();
                let ends: Vec<u64> = rs
                    .iter()
                    .map(|r| match r {
                        Rec::Flow(f) => f.end.unwrap(),
                        Rec::Status { end, .. } => *end,
                    })
                    .collect();
                put(&mut row, "interfaceId", rs[0].iface());
                put(&mut row, "records", rs.len());
                put(&mut row, "first", starts.iter().min().unwrap());
                put(&mut row, "lastStart", starts.iter().max().unwrap());
                put(&mut row, "last", ends.iter().max().unwrap());
                match rs[0] {
                    Rec::Status { .. } => put(&mut row, "logStatus", "SKIPDATA"),
                    Rec::Flow(f) => {
                        put(&mut row, "logStatus", "OK");
                        put(&mut row, "srcAddr", f.src);
                        put(&mut row, "dstAddr", f.dst);
                        put(&mut row, "protocol", f.protocol);
                        put(
                            &mut row,
                            "action",
                            if f.action == Action::Accept {
                                "ACCEPT"
                            } else {
                                "REJECT"
                            },
                        );
                        if let Some(flags) = f.tcp_flags.filter(|_| self.flags) {
                            put(&mut row, "tcpFlags", flags);
                        }
                        let flows: Vec<&Flow> = rs
                            .iter()
                            .filter_map(|r| if let Rec::Flow(f) = r { Some(f) } else { None })
                            .collect();
                        if pairs {
                            for (side, ports) in [
                                (
                                    "srcPort",
                                    flows.iter().map(|f| f.srcport).collect::<Vec<_>>(),
                                ),
                                ("dstPort", flows.iter().map(|f| f.dstport).collect()),
                            ] {
                                put(&mut row, &format!("{side}Low"), ports.iter().min().unwrap());
                                put(
                                    &mut row,
                                    &format!("{side}High"),
                                    ports.iter().max().unwrap(),
                                );
                                put(
                                    &mut row,
                                    &format!("{side}s"),
                                    ports.iter().collect::<BTreeSet<_>>().len(),
                                );
                            }
                        } else {
                            put(&mut row, "srcPort", f.srcport);
                            put(&mut row, "dstPort", f.dstport);
                            let earliest = rs.iter().min_by_key(|r| r.start()).unwrap();
                            put(&mut row, "sample", earliest.text(self.flags));
                        }
                    }
                }
                row
            })
            .collect()
    }
}

impl Asker for Fake {
    async fn ask(
        &self,
        _groups: Vec<String>,
        start: i64,
        end: i64,
        query: Query,
    ) -> Result<Answer, String> {
        Ok(self.answer(start as u64, end as u64, &query))
    }
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

async fn from_files(plan: &Arc<Plan>, recs: &[Rec], flags: bool) -> Evidence {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.log");
    let f = format(flags);
    let mut text = format!("{}\n", f);
    for r in recs {
        text.push_str(&r.text(flags));
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    FileSource::open(&[path], Format::default_v2(), &Default::default())
        .unwrap()
        .gather(&Question::Checks(Arc::clone(plan)))
        .await
        .unwrap()
}

async fn from_insights(plan: &Arc<Plan>, recs: &[Rec], flags: bool, rows: Rows) -> Evidence {
    let source = InsightsSource::new(
        Arc::new(Fake {
            records: recs.to_vec(),
            flags,
        }),
        vec![LogSource {
            groups: vec!["/flows".into()],
            format: format(flags),
            created: None,
            assumed: false,
        }],
        BTreeMap::new(),
        rows,
        None,
    );
    source.collect(Arc::clone(plan)).await.unwrap()
}

#[tokio::test]
async fn logs_insights_gives_the_file_sources_verdicts_on_the_same_records() {
    let plan = Arc::new(plan());
    assert!(Fields::of(&format(true)).tcp_flags.is_some() && format(true).has(Field::TcpFlags));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut settled, mut drilled, mut failing) = (0, 0, 0);
    for case in 0..1500 {
        let flags = case % 3 != 0;
        let recs = records(&mut rng, flags);
        let files = verdicts(&plan, &from_files(&plan, &recs, flags).await);
        for rows in [Rows::Aggregated, Rows::Raw] {
            let ev = from_insights(&plan, &recs, flags, rows).await;
            assert_eq!(
                verdicts(&plan, &ev),
                files,
                "case {case}, {rows:?}, tcp-flags {flags}: {recs:#?}"
            );
            if rows == Rows::Aggregated {
                let pairs = || ev.checks.iter().flatten().flat_map(|c| c.pairs.values());
                settled += usize::from(pairs().any(|p| p.estimated));
                drilled += usize::from(pairs().any(|p| !p.estimated));
            }
        }
        failing += usize::from(files.iter().any(|(o, _)| matches!(o, Outcome::Fail(_))));
    }
    // Every path was taken often: the comparison is not all one kind of case.
    assert!(
        settled > 200 && drilled > 200 && failing > 200,
        "{settled} {drilled} {failing}"
    );
}
