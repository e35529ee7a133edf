//! The fuzz targets' bodies (`fuzz/fuzz_targets/`, run with `cargo fuzz`), here so that the
//! stored corpora replay as ordinary tests without a fuzzer. Each takes arbitrary bytes and
//! panics only on a bug: a crash, or a broken promise that the assertions state.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::evidence::{Evidence, Gaps};
use crate::plan::{Plan, Window};
use crate::source::aggregate::Decoded;
use crate::source::format::Format;
use crate::source::insights::decode;
use crate::source::insights::query::Fields;
use crate::source::insights::run::Row;
use crate::source::record::Layout;
use crate::source::{files, ledger};
use crate::verdict::{self, NoTraffic, Outcome};

/// The spec loader: never a panic; every problem has a position inside the text and a message;
/// a spec it accepts plans into checks.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.yaml");
    match crate::spec::parse(file, text) {
        Ok(spec) => {
            assert!(!spec.expectations.is_empty(), "a spec without expectations");
            let _ = crate::plan::build(&[spec], Window::default());
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "rejected without a reason");
            // YAML breaks lines at \n, \r\n and a lone \r, as editors do.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
            for p in &problems {
                assert!(!p.message.trim().is_empty(), "a problem without a message");
                if let Some(at) = p.at {
                    assert!(
                        at.line >= 1 && at.line <= lines && at.col >= 1,
                        "{p} points outside the file ({lines} lines)"
                    );
                }
            }
        }
    }
}

/// Hosts and expectations wide enough that most records concern some check: IPv4 and IPv6,
/// CIDRs with holes, port ranges, every protocol kind, a deny.
pub(crate) const WIDE_SPEC: &str = "\
app: t
hosts:
  web: { cidrs: [10.0.1.0/28, '2001:db8:1::/64'] }
  app: { ips: [10.0.2.20, 10.0.2.21, '2001:db8:2::20'] }
  db: { cidr: 10.0.3.0/24, except: [10.0.3.128/25] }
  internet: { cidrs: [0.0.0.0/0, '::/0'], except: [10.0.0.0/8, '2001:db8::/32'] }
expect:
  - { from: web, to: app, port: [8080, '9000-9010'] }
  - { from: app, to: db, port: 5432 }
  - { from: any, to: web, port: 443 }
  - { from: web, to: any, protocol: udp, port: 53, return: optional }
  - { from: any, to: app, protocol: icmp }
  - { from: internet, to: db, port: '1-65535', deny: true }
";

fn wide_plan(window: Window) -> Plan {
    let spec = crate::spec::parse(Path::new("t.yaml"), WIDE_SPEC).expect("the fuzz spec is valid");
    crate::plan::build(&[spec], window).expect("the fuzz spec plans")
}

thread_local! {
    static SCRATCH: tempfile::TempDir = tempfile::tempdir().expect("a scratch directory");
}

/// A flow-log file as the file source reads it (header lines, custom orders, gzip): never a
/// panic; the fast path (prefilter, parts, spilled connection state) finds exactly what the plain
/// reading does; gzip reads as plain text does; and no check passes on evidence with gaps.
pub fn flow_log(data: &[u8]) {
    let path: PathBuf = SCRATCH.with(|d| d.path().join("flow.log"));
    let format = Format::default_v2();
    for window in [
        Window::default(),
        Window {
            start: Some(1200),
            end: Some(1300),
            ..Window::default()
        },
    ] {
        let plan = wide_plan(window);
        std::fs::write(&path, data).expect("scratch file");
        let files = std::slice::from_ref(&path);
        let plain = files::scan_with(files, &format, &plan, u64::MAX, None, ledger::TABLE)
            .expect("a scan without I/O trouble");
        let fast = files::scan_with(files, &format, &plan, 64, plan.interesting(), 8)
            .expect("a scan without I/O trouble");
        assert_eq!(canonical(&plain), canonical(&fast), "fast path vs plain");
        // Sniffing looks at a file's own first bytes: gzip inside gzip, or a Parquet header
        // under gzip, are read differently from the plain file by design.
        if !data.starts_with(&[0x1f, 0x8b]) && !data.starts_with(b"PAR1") {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).expect("in memory");
            std::fs::write(&path, gz.finish().expect("in memory")).expect("scratch file");
            let zipped = files::scan_with(files, &format, &plan, u64::MAX, None, ledger::TABLE)
                .expect("a scan without I/O trouble");
            assert_eq!(canonical(&plain), canonical(&zipped), "gzip vs plain");
        }
        fails_closed(&plan, &plain);
    }
}

/// Bytes read as choices; past the end every choice is 0.
struct Draw<'a>(&'a [u8]);

impl Draw<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    fn below(&mut self, n: u16) -> u16 {
        (u16::from(self.byte()) << 8 | u16::from(self.byte())) % n
    }

    /// An address in a small space (10.0.0.0/20 or 2001:db8::/116), so that hosts overlap.
    fn addr(&mut self, v6: bool) -> std::net::IpAddr {
        let h = self.below(4096);
        if v6 {
            let base = u128::from(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0));
            std::net::Ipv6Addr::from(base + u128::from(h)).into()
        } else {
            std::net::Ipv4Addr::from(0x0a00_0000 + u32::from(h)).into()
        }
    }

    fn net(&mut self, v6: bool, longest: u8) -> ipnet::IpNet {
        let a = self.addr(v6);
        let (low, high) = if v6 { (116, 128) } else { (20, 32) };
        let len = (low + self.byte() % (high - low + 1)).max(longest.min(high));
        ipnet::IpNet::new(a, len).expect("a valid length").trunc()
    }

    fn port(&mut self) -> u16 {
        const PORTS: [u16; 8] = [22, 53, 80, 443, 5432, 8080, 9999, 10000];
        match self.byte() % 4 {
            0 => 40000 + self.below(8),
            _ => PORTS[usize::from(self.byte() % 8)],
        }
    }
}

/// A spec of overlapping hosts (CIDRs with exceptions, addresses, IPv6, any) and expectations
/// (port ranges, protocols, denies) between them.
fn random_spec(d: &mut Draw<'_>, v6: bool, edges: &mut Vec<std::net::IpAddr>) -> String {
    let mut spec = String::from("app: fuzz\nhosts:\n");
    for h in 0..4 {
        let host = match d.byte() % 3 {
            0 => {
                let ips: Vec<String> = (0..1 + d.byte() % 3)
                    .map(|_| {
                        let a = d.addr(v6);
                        edges.push(a);
                        format!("'{a}'")
                    })
                    .collect();
                format!("{{ ips: [{}] }}", ips.join(", "))
            }
            1 => {
                let net = d.net(v6, 0);
                edges.extend(net_edges(net));
                format!("{{ cidr: '{net}' }}")
            }
            _ => {
                let net = d.net(v6, 0);
                edges.extend(net_edges(net));
                let inner = ipnet::IpNet::new(
                    d.addr(v6),
                    (net.prefix_len() + 1 + d.byte() % 4).min(net.max_prefix_len()),
                )
                .expect("a valid length")
                .trunc();
                if net.contains(&inner) && net != inner {
                    edges.extend(net_edges(inner));
                    format!("{{ cidr: '{net}', except: ['{inner}'] }}")
                } else {
                    format!("{{ cidr: '{net}' }}")
                }
            }
        };
        spec.push_str(&format!("  h{h}: {host}\n"));
    }
    spec.push_str("expect:\n");
    for _ in 0..1 + d.byte() % 6 {
        let pick = |d: &mut Draw<'_>| match d.byte() % 5 {
            4 => "any".to_string(),
            h => format!("h{h}"),
        };
        let (from, to) = (pick(d), pick(d));
        let what = match d.byte() % 5 {
            0 => "protocol: icmp".to_string(),
            1 => format!("protocol: udp, port: {}", d.port()),
            2 => {
                let (a, b) = (d.port(), d.port());
                format!("port: '{}-{}'", a.min(b), a.max(b))
            }
            _ => format!("port: {}", d.port()),
        };
        let deny = if d.byte().is_multiple_of(4) {
            ", deny: true"
        } else {
            ""
        };
        spec.push_str(&format!("  - {{ from: {from}, to: {to}, {what}{deny} }}\n"));
    }
    spec
}

/// A network's first and last addresses and their neighbours outside it: where an index of
/// ranges can be off by one.
fn net_edges(net: ipnet::IpNet) -> Vec<std::net::IpAddr> {
    use std::net::IpAddr;
    let (first, last) = (net.network(), net.broadcast());
    let step = |a: IpAddr, up: bool| -> Option<IpAddr> {
        match a {
            IpAddr::V4(a) => {
                let n = u32::from(a);
                Some(
                    std::net::Ipv4Addr::from(if up {
                        n.checked_add(1)?
                    } else {
                        n.checked_sub(1)?
                    })
                    .into(),
                )
            }
            IpAddr::V6(a) => {
                let n = u128::from(a);
                Some(
                    std::net::Ipv6Addr::from(if up {
                        n.checked_add(1)?
                    } else {
                        n.checked_sub(1)?
                    })
                    .into(),
                )
            }
        }
    };
    [
        Some(first),
        Some(last),
        step(first, false),
        step(last, true),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Records between the spec's address space (often at its hosts' edges), both directions, both
/// actions, around the window.
fn random_records(d: &mut Draw<'_>, family: bool, edges: &[std::net::IpAddr]) -> String {
    let mut out = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for _ in 0..d.byte() % 48 {
        let v6 = family != d.byte().is_multiple_of(8);
        let pick = |d: &mut Draw<'_>| match d.byte() % 2 {
            0 if !edges.is_empty() => edges[usize::from(d.byte()) % edges.len()],
            _ => d.addr(v6),
        };
        let (src, dst) = (pick(d), pick(d));
        let protocol = [6, 6, 17, 1][usize::from(d.byte() % 4)];
        let (sport, dport) = if protocol == 1 {
            (0, 0)
        } else {
            (d.port(), d.port())
        };
        let start = 1000 + u64::from(d.below(400));
        let end = start + u64::from(d.byte() % 60);
        let action = if d.byte().is_multiple_of(3) {
            "REJECT"
        } else {
            "ACCEPT"
        };
        let eni = d.byte() % 3;
        out.push_str(&format!(
            "2 123456789012 eni-0000000{eni} {src} {dst} {sport} {dport} {protocol} 1 40 {start} {end} {action} OK\n"
        ));
    }
    out
}

/// The check index changes nothing: on random specs of overlapping hosts and random records,
/// the evidence (and so every verdict and message) read through the index and the prefilter is
/// the evidence of asking every check about every record.
pub fn index(data: &[u8]) {
    let mut d = Draw(data);
    // One family for the hosts (a check between families is a spec error), records of both.
    let v6 = d.byte() % 4 == 0;
    let mut edges = Vec::new();
    let spec_text = random_spec(&mut d, v6, &mut edges);
    let window = if d.byte() % 2 == 0 {
        Window::default()
    } else {
        Window {
            start: Some(1200),
            end: Some(1300),
            ..Window::default()
        }
    };
    let records = random_records(&mut d, v6, &edges);
    // Hosts of one family on one side and the other on the other are a spec error: no plan.
    let Ok(spec) = crate::spec::parse(Path::new("fuzz.yaml"), &spec_text) else {
        return;
    };
    let Ok(plan) = crate::plan::build(&[spec], window) else {
        return;
    };
    let path: PathBuf = SCRATCH.with(|d| d.path().join("index.log"));
    std::fs::write(&path, &records).expect("scratch file");
    let files = std::slice::from_ref(&path);
    let format = Format::default_v2();
    let plain = files::scan_every_check(files, &format, &plan).expect("a scan without I/O trouble");
    let indexed = files::scan_with(files, &format, &plan, 64, plan.interesting(), 8)
        .expect("a scan without I/O trouble");
    assert_eq!(
        canonical(&plain),
        canonical(&indexed),
        "the index vs asking every check, for\n{spec_text}\n{records}"
    );
    for (i, check) in plan.checks.iter().enumerate() {
        let judge = |ev: &Evidence| {
            let gaps = ev.gaps.bearing_on(check.interfaces.as_ref());
            verdict::judge(check, &ev.checks[i], &gaps, NoTraffic::Skip).outcome
        };
        assert_eq!(judge(&plain), judge(&indexed), "{}", check.trial_name());
    }
}

/// Judges every check and renders its message; evidence with gaps never passes.
fn fails_closed(plan: &Plan, ev: &Evidence) {
    for (check, evidence) in plan.checks.iter().zip(&ev.checks) {
        let gaps = ev.gaps.bearing_on(check.interfaces.as_ref());
        let j = verdict::judge(check, evidence, &gaps, NoTraffic::Skip);
        let _ = crate::report::text::details(check, &j, ev);
        if !gaps.is_empty() {
            assert!(
                !matches!(j.outcome, Outcome::Pass | Outcome::Skip),
                "{} passed on evidence with gaps: {gaps:?}",
                check.trial_name()
            );
        }
    }
}

/// Everything verdicts and messages use, in a form that does not depend on reading order.
pub fn canonical(ev: &Evidence) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in ev.checks.iter().enumerate() {
        let Ok(c) = c else {
            out.push(format!("check {i} unavailable"));
            continue;
        };
        let mut pairs: Vec<_> = c.pairs.iter().collect();
        pairs.sort_by_key(|(k, _)| **k);
        for ((client, server), p) in pairs {
            let mut ifaces: Vec<String> = p.ifaces.iter().map(ToString::to_string).collect();
            ifaces.sort();
            let samples: Vec<String> = p
                .samples
                .iter()
                .map(|s| format!("{} {}", ev.origin(&s.origin), s.text))
                .collect();
            out.push(format!(
                "check {i} {client} -> {server}: {:?} {:?}..{:?}\n  {:?} sampled {:?} on {ifaces:?}\n  {}",
                p.records,
                p.first_seen,
                p.last_seen,
                p.connections,
                p.sampled,
                samples.join("\n  ")
            ));
        }
    }
    out.push(gaps_line(&ev.gaps, ev));
    out.push(format!("stats: {:?}", ev.stats));
    out
}

fn gaps_line(g: &Gaps, ev: &Evidence) -> String {
    let bad: Vec<String> = g
        .bad_line_samples
        .iter()
        .map(|b| format!("{} {}", ev.origin(&b.origin), b.reason))
        .collect();
    format!(
        "gaps: {} bad lines {bad:?} {:?} {:?} {}",
        g.bad_lines, g.bad_files, g.skipdata, g.no_records
    )
}

/// Logs Insights result rows (one per line, `field=value` separated by tabs), read by every
/// decoder as each kind of query's answer: never a panic, and what a decoder accepts is
/// consistent (port spans in order, counts of at least one).
pub fn insights_rows(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let rows: Vec<Row> = text
        .split('\n')
        .map(|line| {
            line.split('\t')
                .map(|f| match f.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (f.to_string(), String::new()),
                })
                .collect()
        })
        .collect();
    let custom = Format::parse(
        "${interface-id} ${pkt-srcaddr} ${srcaddr} ${dstaddr} ${pkt-dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${start} ${end} ${action} ${log-status}",
    )
    .expect("a valid format");
    let _ = decode::is_aggregated(&rows);
    for format in [Format::default_v2(), custom] {
        let fields = Fields::of(&format);
        let layout = Layout::new(&format);
        for row in &rows {
            if let Ok(Decoded::Pair(p)) = decode::pair(row, &fields) {
                for span in [p.src_ports, p.dst_ports] {
                    assert!(span.low <= span.high, "{span:?}");
                    assert!(span.distinct >= 1, "{span:?}");
                }
                assert!(p.records >= 1, "a pair row of no records");
            }
            if let Ok(Decoded::Flow { records, .. }) = decode::aggregated(row, &fields) {
                assert!(records >= 1, "a connection row of no records");
            }
            let _ = decode::raw(row, &layout);
        }
    }
}

/// Replays the stored corpora (`fuzz/corpus/<target>/`) through the targets.
#[cfg(test)]
mod replay {
    use std::fmt::Write as _;

    use super::*;

    fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                let path = e.unwrap().path();
                (path.display().to_string(), std::fs::read(&path).unwrap())
            })
            .collect();
        inputs.sort();
        assert!(
            inputs.len() >= 10,
            "{}: the corpus is missing",
            dir.display()
        );
        inputs
    }

    fn replay(target: &str, body: fn(&[u8])) {
        let mut failed = String::new();
        for (name, data) in corpus(target) {
            if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let _ = writeln!(failed, "{name}: {why}");
            }
        }
        assert!(failed.is_empty(), "corpus inputs that fail:\n{failed}");
    }

    #[test]
    fn the_spec_corpus_replays_clean() {
        replay("spec", spec);
    }

    #[test]
    fn the_flow_log_corpus_replays_clean() {
        replay("flow_log", flow_log);
    }

    #[test]
    fn the_index_corpus_replays_clean() {
        replay("index", index);
    }

    #[test]
    fn the_insights_rows_corpus_replays_clean() {
        replay("insights_rows", insights_rows);
    }
}
