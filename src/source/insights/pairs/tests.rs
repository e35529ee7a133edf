use std::path::Path;

use super::*;
use crate::evidence::{CheckEvidence, Flow, Gaps, Origin};
use crate::plan::Window;
use crate::source::ledger::Ledger;
use crate::verdict::{self, NoTraffic, Outcome};

const SPEC: &str = "app: t
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11] }
  app: { ip: 10.0.2.20 }
expect:
  - { name: web reaches app, from: web, to: app, port: 8080 }
  - { name: web reaches app ssh, from: web, to: app, port: 22, return: optional }
  - { name: app never reaches web, from: app, to: web, port: 22, deny: true }
  - { name: web reaches app on two ports, from: web, to: app, port: [8080, 9090] }
";

fn plan() -> Plan {
    let spec = crate::spec::parse(Path::new("t.yaml"), SPEC).unwrap();
    crate::plan::build(&[spec], Window::default()).unwrap()
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

/// Records between web and app on a few ports, both ways, on both ends' interfaces.
fn records(rng: &mut Rng, with_flags: bool) -> Vec<Flow> {
    let n = 1 + rng.next() % 12;
    (0..n)
        .map(|_| {
            let client = rng.pick(&[ip("10.0.1.10"), ip("10.0.1.11")]);
            let server = ip("10.0.2.20");
            let (cport, sport) = (
                rng.pick(&[40000, 40001, 40002]),
                rng.pick(&[8080, 22, 9090]),
            );
            let reply = rng.next().is_multiple_of(2);
            let (src, dst, srcport, dstport) = if reply {
                (server, client, sport, cport)
            } else {
                (client, server, cport, sport)
            };
            let start = rng.pick(&[1000, 1060, 1120, 1180]);
            Flow {
                iface: IfaceId::new(rng.pick(&["eni-client", "eni-server"])).unwrap(),
                src,
                dst,
                srcport,
                dstport,
                protocol: 6,
                action: if rng.next().is_multiple_of(4) {
                    Action::Reject
                } else {
                    Action::Accept
                },
                tcp_flags: with_flags.then(|| rng.pick(&[2, 18, 1, 19, 4])),
                start: Some(start),
                end: Some(start + 60),
            }
        })
        .collect()
}

/// What the file source makes of the records: every record into the ledger.
fn from_files(plan: &Plan, flows: &[Flow]) -> Vec<CheckEvidence> {
    let ledger = Ledger::default();
    let mut book = ledger.book();
    for (n, f) in flows.iter().enumerate() {
        for (i, c) in plan.checks.iter().enumerate() {
            for role in c.roles_of(f) {
                let origin = Origin {
                    file: 0,
                    chunk: 0,
                    line: n as u64 + 1,
                };
                book.observe(i, role, f, origin, || format!("record {n}"));
            }
        }
    }
    ledger.close(plan, vec![book]).unwrap()
}

/// Logs Insights' `stats` for a pair query, done here.
fn pair_rows(flows: &[Flow]) -> Vec<PairRow> {
    let mut groups: BTreeMap<(IfaceId, IpAddr, IpAddr, u8, Action), Vec<&Flow>> = BTreeMap::new();
    for f in flows {
        groups
            .entry((f.iface, f.src, f.dst, f.protocol, f.action))
            .or_default()
            .push(f);
    }
    let span = |ports: Vec<u16>| Span {
        low: *ports.iter().min().unwrap(),
        high: *ports.iter().max().unwrap(),
        distinct: ports.iter().collect::<BTreeSet<_>>().len() as u64,
    };
    groups
        .into_iter()
        .map(|((iface, src, dst, protocol, action), fs)| PairRow {
            iface,
            src,
            dst,
            protocol,
            action,
            records: fs.len() as u64,
            first: fs.iter().filter_map(|f| f.start).min(),
            last_start: fs.iter().filter_map(|f| f.start).max(),
            last: fs.iter().filter_map(|f| f.end).max(),
            src_ports: span(fs.iter().map(|f| f.srcport).collect()),
            dst_ports: span(fs.iter().map(|f| f.dstport).collect()),
        })
        .collect()
}

/// What the Logs Insights source makes of the same records: pair totals, settled where they
/// decide, and connection rows (Logs Insights' `stats` done here) for the pairs drilled into.
fn from_insights(plan: &Plan, flows: &[Flow]) -> (Vec<CheckEvidence>, usize) {
    let ids: Vec<usize> = (0..plan.checks.len()).collect();
    let mut settled = settle(plan, &ids, &pair_rows(flows));
    type Key = (IfaceId, IpAddr, IpAddr, u16, u16, u8, Action, Option<u8>);
    let mut conns: BTreeMap<Key, Vec<&Flow>> = BTreeMap::new();
    for f in flows
        .iter()
        .filter(|f| settled.drill.contains(&unordered(f.src, f.dst)))
    {
        let key = (
            f.iface,
            f.src,
            f.dst,
            f.srcport,
            f.dstport,
            f.protocol,
            f.action,
            f.tcp_flags,
        );
        conns.entry(key).or_default().push(f);
    }
    let ledger = Ledger::default();
    let mut book = ledger.book();
    for fs in conns.values() {
        let mut row = *fs[0];
        row.start = fs.iter().filter_map(|f| f.start).min();
        row.end = fs.iter().filter_map(|f| f.end).max();
        let latest_start = fs.iter().filter_map(|f| f.start).max();
        for (i, c) in plan.checks.iter().enumerate() {
            for role in c.roles_of(&row) {
                book.observe_many(i, role, &row, fs.len() as u64, latest_start);
            }
        }
    }
    let mut all = ledger.close(plan, vec![book]).unwrap();
    for (i, ev) in all.iter_mut().enumerate() {
        if let Some(p) = settled.pairs.remove(&i) {
            ev.pairs.extend(p);
        }
    }
    (all, settled.drill.len())
}

/// A check's outcome and its broken pairs with their headline: what a user reads.
type Verdicts = Vec<(Outcome, Vec<(IpAddr, IpAddr, Option<ConnVerdict>)>)>;

fn verdicts(plan: &Plan, evidence: &[CheckEvidence]) -> Verdicts {
    let gaps = Gaps::default();
    plan.checks
        .iter()
        .zip(evidence)
        .map(|(c, ev)| {
            let ev = Ok(ev.clone());
            let j = verdict::judge(c, &ev, &gaps, NoTraffic::Fail);
            let broken = j
                .broken_pairs()
                .map(|p| (p.client, p.server, p.headline))
                .collect();
            (j.outcome, broken)
        })
        .collect()
}

#[test]
fn pair_totals_and_drill_down_give_the_verdicts_the_file_source_gives() {
    let plan = plan();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut settled_somewhere, mut drilled_somewhere) = (0, 0);
    for case in 0..3000 {
        let flows = records(&mut rng, case % 2 == 0);
        let (insights, drilled) = from_insights(&plan, &flows);
        let files = verdicts(&plan, &from_files(&plan, &flows));
        assert_eq!(verdicts(&plan, &insights), files, "case {case}: {flows:#?}");
        settled_somewhere += usize::from(
            insights
                .iter()
                .any(|e| e.pairs.values().any(|p| p.estimated)),
        );
        drilled_somewhere += usize::from(drilled > 0);
    }
    // Both paths were taken often: the comparison is not all one or the other.
    assert!(
        settled_somewhere > 300 && drilled_somewhere > 300,
        "{settled_somewhere} {drilled_somewhere}"
    );
}

fn row(src: &str, dst: &str, action: Action, sports: (u16, u16), dports: (u16, u16)) -> PairRow {
    PairRow {
        iface: IfaceId::new("eni-server").unwrap(),
        src: ip(src),
        dst: ip(dst),
        protocol: 6,
        action,
        records: 10,
        first: Some(1000),
        last_start: Some(1600),
        last: Some(1660),
        src_ports: Span {
            low: sports.0,
            high: sports.1,
            distinct: 5,
        },
        dst_ports: Span {
            low: dports.0,
            high: dports.1,
            distinct: 1,
        },
    }
}

#[test]
fn a_healthy_pair_is_settled_from_its_totals_without_asking_again() {
    let plan = plan();
    let rows = [
        row(
            "10.0.1.10",
            "10.0.2.20",
            Action::Accept,
            (40000, 40100),
            (8080, 8080),
        ),
        PairRow {
            dst_ports: Span {
                low: 40000,
                high: 40100,
                distinct: 5,
            },
            src_ports: Span {
                low: 8080,
                high: 8080,
                distinct: 1,
            },
            ..row("10.0.2.20", "10.0.1.10", Action::Accept, (0, 0), (0, 0))
        },
    ];
    let s = settle(&plan, &[0], &rows);
    assert!(s.drill.is_empty(), "{s:?}");
    let ev = &s.pairs[&0][&(ip("10.0.1.10"), ip("10.0.2.20"))];
    assert_eq!(ev.connections.get(&ConnVerdict::Established), Some(&5));
    assert!(ev.estimated);
}

#[test]
fn rejects_a_stopped_server_and_mixed_ports_are_asked_about_per_connection() {
    let plan = plan();
    let pair = unordered(ip("10.0.1.10"), ip("10.0.2.20"));
    let reject = [row(
        "10.0.1.10",
        "10.0.2.20",
        Action::Reject,
        (40000, 40100),
        (8080, 8080),
    )];
    assert!(
        settle(&plan, &[0], &reject).drill.contains(&pair),
        "a reject in a reach check"
    );
    let unanswered = [row(
        "10.0.1.10",
        "10.0.2.20",
        Action::Accept,
        (40000, 40100),
        (8080, 8080),
    )];
    assert!(
        settle(&plan, &[0], &unanswered).drill.contains(&pair),
        "requests without replies fail NO_RETURN"
    );
    let mixed = [row(
        "10.0.1.10",
        "10.0.2.20",
        Action::Accept,
        (40000, 40100),
        (22, 8080),
    )];
    assert!(
        settle(&plan, &[0], &mixed).drill.contains(&pair),
        "two server ports in one row"
    );
    let refused = [row(
        "10.0.2.20",
        "10.0.1.10",
        Action::Reject,
        (40000, 40100),
        (22, 22),
    )];
    let s = settle(&plan, &[2], &refused);
    assert!(
        s.drill.is_empty(),
        "a deny check's refused pair is settled: {s:?}"
    );
}
