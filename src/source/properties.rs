//! Properties of the record parser and of the verdicts over generated flow logs (proptest).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::files::scan_with;
use super::format::Format;
use super::ledger;
use super::record::{Layout, Record};
use crate::evidence::{Action, Flow, IfaceId};
use crate::plan::{Plan, Window};
use crate::verdict::{self, NoTraffic, Outcome};

// ---- render → parse ----------------------------------------------------------------------------

/// Fields a format must have, and those it may have, as AWS names them.
const REQUIRED: &[&str] = &[
    "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action",
];
const OPTIONAL: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "packets",
    "bytes",
    "start",
    "end",
    "log-status",
    "tcp-flags",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "vpc-id",
    "flow-direction",
];

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

/// A format: the required fields and some optional ones, in any order.
fn format_names() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(OPTIONAL, 0..=OPTIONAL.len()).prop_flat_map(|optional| {
        let names: Vec<&'static str> = REQUIRED.iter().copied().chain(optional).collect();
        Just(names).prop_shuffle()
    })
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        (ip(), ip(), any::<u16>(), any::<u16>(), any::<u8>()),
        (
            any::<bool>(),
            any::<u8>(),
            0u64..4_000_000_000,
            0u64..100_000,
        ),
        "eni-[0-9a-f]{8,17}",
    )
        .prop_map(
            |((src, dst, srcport, dstport, protocol), (accept, flags, start, length), eni)| Flow {
                iface: IfaceId::new(&eni).expect("a valid id"),
                src,
                dst,
                srcport,
                dstport,
                protocol,
                action: if accept {
                    Action::Accept
                } else {
                    Action::Reject
                },
                tcp_flags: Some(flags),
                start: Some(start),
                end: Some(start + length),
                reject_reason: None,
            },
        )
}

/// The line AWS would write for `flow` in the format `names`.
fn render(flow: &Flow, names: &[&str]) -> String {
    let values: Vec<String> = names
        .iter()
        .map(|n| match *n {
            "srcaddr" | "pkt-srcaddr" => flow.src.to_string(),
            "dstaddr" | "pkt-dstaddr" => flow.dst.to_string(),
            "srcport" => flow.srcport.to_string(),
            "dstport" => flow.dstport.to_string(),
            "protocol" => flow.protocol.to_string(),
            "action" => match flow.action {
                Action::Accept => "ACCEPT".into(),
                Action::Reject => "REJECT".into(),
            },
            "interface-id" => flow.iface.to_string(),
            "tcp-flags" => flow.tcp_flags.unwrap_or(0).to_string(),
            "start" => flow.start.unwrap_or(0).to_string(),
            "end" => flow.end.unwrap_or(0).to_string(),
            "log-status" => "OK".into(),
            "version" => "5".into(),
            "account-id" => "123456789012".into(),
            "packets" => "3".into(),
            "bytes" => "180".into(),
            "vpc-id" => "vpc-0f1e2d3c".into(),
            "flow-direction" => "ingress".into(),
            other => unreachable!("{other}"),
        })
        .collect();
    values.join(" ")
}

/// What the parser can know of `flow` from a line in the format `names`.
fn seen_through(flow: &Flow, names: &[&str]) -> Flow {
    let has = |n: &str| names.contains(&n);
    Flow {
        iface: if has("interface-id") {
            flow.iface
        } else {
            IfaceId::UNKNOWN
        },
        tcp_flags: flow.tcp_flags.filter(|_| has("tcp-flags")),
        start: flow.start.filter(|_| has("start")),
        end: flow.end.filter(|_| has("end")),
        ..*flow
    }
}

proptest! {
    #[test]
    fn a_rendered_record_parses_back_to_itself(names in format_names(), flow in flow()) {
        let header = names.join(" ");
        prop_assert!(Format::is_header(&header), "{header}");
        let layout = Layout::new(&Format::from_header(&header));
        let line = render(&flow, &names);
        match layout.parse(&line) {
            Ok(Record::Flow(parsed)) => prop_assert_eq!(parsed, seen_through(&flow, &names)),
            other => prop_assert!(false, "{line} under {header}: {other:?}"),
        }
    }

    #[test]
    fn a_changed_field_is_never_read_as_the_original(
        names in format_names(),
        flow in flow(),
        junk in "[^ ]{0,3}[a-z:/-][^ ]{0,3}",
        pick in any::<proptest::sample::Index>(),
    ) {
        // Replacing any field a flow is read from with text that is not a value of it must
        // not parse to the same record: a broken value is a bad line (or a record that differs),
        // never the original flow read silently.
        let has = |n: &str| names.contains(&n);
        let read: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| match **n {
                "srcaddr" => !has("pkt-srcaddr"),
                "dstaddr" => !has("pkt-dstaddr"),
                "srcport" | "dstport" | "protocol" | "action" | "interface-id" | "tcp-flags"
                | "start" | "end" | "pkt-srcaddr" | "pkt-dstaddr" => true,
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
        let at = read[pick.index(read.len())];
        let line = render(&flow, &names);
        let layout = Layout::new(&Format::from_header(&names.join(" ")));
        let mut fields: Vec<String> = line.split(' ').map(str::to_string).collect();
        let original = std::mem::replace(&mut fields[at], junk.clone());
        let broken = fields.join(" ");
        if let Ok(Record::Flow(parsed)) = layout.parse(&broken) {
            // `-` in a packet address means "the interface's own": srcaddr/dstaddr, which
            // `render` fills with the same address.
            let falls_back = junk == "-" && names[at].starts_with("pkt-");
            prop_assert!(
                parsed != seen_through(&flow, &names) || junk == original || falls_back,
                "`{junk}` in {} read as the original `{original}`: {broken}",
                names[at]
            );
        }
    }

    #[test]
    fn packet_addresses_win_over_the_interfaces_addresses(
        names in format_names(),
        flow in flow(),
        (outer_src, outer_dst) in (ip(), ip()),
    ) {
        // Through a NAT gateway or a transit interface, srcaddr/dstaddr are the interface's
        // own addresses; pkt-srcaddr/pkt-dstaddr are the packet's, which the hosts are.
        let line: Vec<String> = names
            .iter()
            .zip(render(&flow, &names).split(' '))
            .map(|(n, v)| match *n {
                "srcaddr" if names.contains(&"pkt-srcaddr") => outer_src.to_string(),
                "dstaddr" if names.contains(&"pkt-dstaddr") => outer_dst.to_string(),
                _ => v.to_string(),
            })
            .collect();
        let line = line.join(" ");
        let layout = Layout::new(&Format::from_header(&names.join(" ")));
        match layout.parse(&line) {
            Ok(Record::Flow(parsed)) => {
                prop_assert_eq!(parsed.src, flow.src, "{}", line);
                prop_assert_eq!(parsed.dst, flow.dst, "{}", line);
            }
            other => prop_assert!(false, "{line}: {other:?}"),
        }
    }
}

// ---- verdicts over generated evidence ---------------------------------------------------------

/// Three web hosts, two app hosts, a db; reach, optional-return, ICMP and deny checks.
const SPEC: &str = "\
app: p
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11, '2001:db8:1::10'] }
  app: { ips: [10.0.2.20, 10.0.2.21] }
  db: { ip: 10.0.3.30 }
  outside: { cidr: 203.0.113.0/24 }
expect:
  - { from: web, to: app, port: 8080 }
  - { from: app, to: db, port: 5432 }
  - { from: web, to: app, protocol: udp, port: 514, return: optional }
  - { from: app, to: web, protocol: icmp }
  - { from: outside, to: db, port: 5432, deny: true }
";
const HEADER: &str = "version interface-id srcaddr dstaddr srcport dstport protocol tcp-flags start end action log-status";
const ADDRESSES: &[&str] = &[
    "10.0.1.10",
    "10.0.1.11",
    "2001:db8:1::10",
    "10.0.2.20",
    "10.0.2.21",
    "10.0.3.30",
    "203.0.113.9",
];
/// In no host of the spec: records between these concern no check.
const UNRELATED: &[&str] = &["172.16.0.9", "192.0.2.1", "2001:db8:ff::1", "10.0.9.9"];

/// One connection's records: the request and maybe its reply, on one or both interfaces.
#[derive(Debug, Clone)]
struct Conn {
    client: &'static str,
    server: &'static str,
    cport: u16,
    sport: u16,
    protocol: u8,
    request: bool,
    reply: Option<bool>,
    on_both: bool,
    start: u64,
}

fn conn(addresses: &'static [&'static str]) -> impl Strategy<Value = Conn> {
    (
        (
            proptest::sample::select(addresses),
            proptest::sample::select(addresses),
            prop_oneof![Just(40000u16), Just(40001), 1024u16..65535],
            prop_oneof![Just(8080u16), Just(5432), Just(514), Just(443)],
            prop_oneof![Just(6u8), Just(6), Just(17), Just(1)],
        ),
        (
            any::<bool>(),
            proptest::option::of(any::<bool>()),
            any::<bool>(),
            1000u64..1600,
        ),
    )
        .prop_map(
            |((client, server, cport, sport, protocol), (request, reply, on_both, start))| Conn {
                client,
                server,
                cport,
                sport,
                protocol,
                request,
                reply,
                on_both,
                start,
            },
        )
}

fn lines_of(c: &Conn, out: &mut Vec<String>) {
    let (cport, sport) = if c.protocol == 1 {
        (0, 0)
    } else {
        (c.cport, c.sport)
    };
    let action = |ok: bool| if ok { "ACCEPT" } else { "REJECT" };
    let ifaces: &[&str] = if c.on_both {
        &["eni-c", "eni-s"]
    } else {
        &["eni-s"]
    };
    for eni in ifaces {
        let (flags, rflags) = if c.protocol == 6 { (2, 18) } else { (0, 0) };
        out.push(format!(
            "5 {eni} {} {} {cport} {sport} {} {flags} {} {} {} OK",
            c.client,
            c.server,
            c.protocol,
            c.start,
            c.start + 60,
            action(c.request)
        ));
        if let Some(ok) = c.reply {
            out.push(format!(
                "5 {eni} {} {} {sport} {cport} {} {rflags} {} {} {} OK",
                c.server,
                c.client,
                c.protocol,
                c.start,
                c.start + 60,
                action(ok)
            ));
        }
    }
}

fn plan() -> Plan {
    let spec = crate::spec::parse(Path::new("p.yaml"), SPEC).expect("valid");
    crate::plan::build(&[spec], Window::default()).expect("plans")
}

/// Every check's outcome, and its message without counts when `counts` is false.
fn verdicts(dir: &Path, name: &str, lines: &[String]) -> Vec<String> {
    let mut body = format!("{HEADER}\n");
    for l in lines {
        let _ = writeln!(body, "{l}");
    }
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, body).expect("temp file");
    let plan = plan();
    let scan = |interesting| {
        scan_with(
            std::slice::from_ref(&path),
            &Format::default_v2(),
            &plan,
            u64::MAX,
            interesting,
            ledger::TABLE,
        )
        .expect("scans")
    };
    // Without the prefilter too: unrelated records then reach the ledger, and must still not
    // matter.
    let ev = scan(plan.interesting());
    assert_eq!(
        crate::fuzzing::canonical(&ev),
        crate::fuzzing::canonical(&scan(None)),
        "the prefilter changed the evidence"
    );
    plan.checks
        .iter()
        .zip(&ev.checks)
        .map(|(check, e)| {
            let gaps = ev.gaps.bearing_on(check.interfaces.as_ref());
            match verdict::judge(check, e, &gaps, NoTraffic::Fail).outcome {
                Outcome::Pass => "PASS".to_string(),
                Outcome::Fail(f) => f.label().to_string(),
                Outcome::Error(m) => m.label().to_string(),
                Outcome::Skip => "SKIP".to_string(),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn records_between_unrelated_addresses_never_change_a_verdict(
        conns in proptest::collection::vec(conn(ADDRESSES), 1..30),
        noise in proptest::collection::vec(conn(UNRELATED), 1..30),
        seed in any::<u64>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        conns.iter().for_each(|c| lines_of(c, &mut lines));
        let before = verdicts(dir.path(), "a.log", &lines);
        let mut noisy = lines.clone();
        for (i, c) in noise.iter().enumerate() {
            let mut extra = Vec::new();
            lines_of(c, &mut extra);
            for (j, l) in extra.into_iter().enumerate() {
                let at = (seed as usize).wrapping_add(i * 7 + j) % (noisy.len() + 1);
                noisy.insert(at, l);
            }
        }
        prop_assert_eq!(before, verdicts(dir.path(), "b.log", &noisy));
    }

    #[test]
    fn duplicated_evidence_never_changes_a_verdict(
        conns in proptest::collection::vec(conn(ADDRESSES), 1..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        conns.iter().for_each(|c| lines_of(c, &mut lines));
        let before = verdicts(dir.path(), "a.log", &lines);
        let twice: Vec<String> = lines.iter().chain(&lines).cloned().collect();
        prop_assert_eq!(&before, &verdicts(dir.path(), "b.log", &twice));
        let each_twice: Vec<String> = lines.iter().flat_map(|l| [l.clone(), l.clone()]).collect();
        prop_assert_eq!(&before, &verdicts(dir.path(), "c.log", &each_twice));
    }

    #[test]
    fn the_order_of_records_never_changes_a_verdict(
        conns in proptest::collection::vec(conn(ADDRESSES), 1..30),
        seed in any::<u64>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        conns.iter().for_each(|c| lines_of(c, &mut lines));
        let before = verdicts(dir.path(), "a.log", &lines);
        let mut reversed = lines.clone();
        reversed.reverse();
        prop_assert_eq!(&before, &verdicts(dir.path(), "b.log", &reversed));
        // Shuffled, and interleaved as two readers would deliver them.
        let mut rng = seed;
        let mut shuffled = lines.clone();
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(&before, &verdicts(dir.path(), "c.log", &shuffled));
        let (odd, even): (Vec<_>, Vec<_>) = lines.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 1);
        let interleaved: Vec<String> = even.into_iter().chain(odd).map(|(_, l)| l).collect();
        prop_assert_eq!(&before, &verdicts(dir.path(), "d.log", &interleaved));
    }
}
