//! Realistic synthetic VPC flow logs, for the benchmark (`ci/bench`) and for trying flowgate at
//! volume.
//!
//!     cargo run --release --example gen_flowlogs -- --records 1000000 --out target/bench/1m [--gzip] [--format v2|custom]
//!
//! writes the logs under `<out>/logs/`, as S3 would name them.
//!
//! The VPC: 244 instances in eight subnets (a web shop's web, app, db, cache and file tiers, and
//! 160 instances of other applications), 400 office clients on premises, a resolver on premises,
//! 300 internet scanners. Traffic is a day of connections between them, each logged as AWS does:
//! on every VPC interface it crosses (egress at the client, ingress at the server, replies
//! likewise), with late packets refused after close, a few percent of REJECTs, NODATA lines, and
//! SKIPDATA lines in the first half hour.
//!
//! Next to the logs it writes `spec.yaml` (the shop's expectations, with the addresses used) and
//! `expected.txt` (the verdict each expectation must get when judged from 01:00 on), which is
//! what the benchmark's correctness check compares against. Planted problems: one app instance is
//! refused by the db (REJECTED), one cache subnet's NACL drops replies (RETURN_REJECTED), the file
//! service does not answer (NO_RETURN), monitoring never pings (NO_TRAFFIC).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

const DAY_START: u64 = 1_795_132_800; // 2026-11-20T00:00:00Z
const ACCOUNT: &str = "123456789012";

/// SplitMix64: small, fast and deterministic; the data only needs to look random.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(10_000) < percent * 100
    }
}

#[derive(Clone, Copy)]
struct Host {
    addr: [u8; 4],
    /// Index into the interface table; None for hosts outside the VPC.
    eni: Option<u32>,
}

impl Host {
    fn ip(&self) -> String {
        let [a, b, c, d] = self.addr;
        format!("{a}.{b}.{c}.{d}")
    }
}

struct Vpc {
    web: Vec<Host>,
    app: Vec<Host>,
    db: Vec<Host>,
    cache: Vec<Host>,
    files: Vec<Host>,
    other: Vec<Host>,
    users: Vec<Host>,
    scanners: Vec<Host>,
    dns: Host,
    monitoring: Host,
    /// Every VPC interface, for NODATA/SKIPDATA lines.
    enis: Vec<Host>,
}

fn vpc() -> Vpc {
    let mut enis = Vec::new();
    let mut tier = |subnet: u8, n: u8, first: u8| -> Vec<Host> {
        (0..n)
            .map(|i| {
                let h = Host {
                    addr: [10, 1, subnet, first + i],
                    eni: Some(enis.len() as u32),
                };
                enis.push(h);
                h
            })
            .collect()
    };
    let web = tier(1, 20, 10);
    let app = tier(2, 40, 10);
    let db = tier(3, 6, 10);
    let cache = tier(4, 6, 10);
    let files = tier(5, 4, 10);
    let mut other = tier(6, 80, 10);
    other.extend(tier(7, 80, 10));
    let users = (0..400u32)
        .map(|i| Host {
            addr: [192, 168, 10 + (i / 200) as u8, 10 + (i % 200) as u8],
            eni: None,
        })
        .collect();
    let scanners = (0..300u32)
        .map(|i| Host {
            addr: [198, 51, 100 + (i / 250) as u8, (i % 250) as u8 + 1],
            eni: None,
        })
        .collect();
    Vpc {
        web,
        app,
        db,
        cache,
        files,
        other,
        users,
        scanners,
        dns: Host {
            addr: [192, 168, 0, 53],
            eni: None,
        },
        monitoring: Host {
            addr: [192, 168, 30, 5],
            eni: None,
        },
        enis,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    V2,
    Custom,
}

const V2_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const CUSTOM_HEADER: &str = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction";

struct Writer {
    format: Format,
    line: String,
    out: Box<dyn Write>,
    records: u64,
}

struct Rec<'a> {
    eni: u32,
    src: &'a Host,
    dst: &'a Host,
    sport: u16,
    dport: u16,
    proto: u8,
    action: &'a str,
    flags: u8,
    start: u64,
    egress: bool,
}

impl Writer {
    fn flow(&mut self, r: Rec<'_>, rng: &mut Rng) {
        let packets = if r.action == "ACCEPT" {
            2 + rng.below(60)
        } else {
            1 + rng.below(3)
        };
        let bytes = packets * (60 + rng.below(1400));
        let (src, dst) = (r.src.ip(), r.dst.ip());
        let l = &mut self.line;
        l.clear();
        let end = r.start + 60;
        let eni = r.eni;
        match self.format {
            Format::V2 => {
                let _ = write!(
                    l,
                    "2 {ACCOUNT} eni-0{eni:016x} {src} {dst} {} {} {} {packets} {bytes} {} {end} {} OK",
                    r.sport, r.dport, r.proto, r.start, r.action
                );
            }
            Format::Custom => {
                let flags = if r.proto == 6 { r.flags } else { 0 };
                let dir = if r.egress { "egress" } else { "ingress" };
                let subnet = eni / 20;
                let _ = write!(
                    l,
                    "5 vpc-0a1b2c3d4e5f60718 subnet-0{subnet:016x} i-0{eni:016x} eni-0{eni:016x} {ACCOUNT} IPv4 {src} {dst} {} {} {src} {dst} {} {bytes} {packets} {} {end} {} {flags} OK {dir}",
                    r.sport, r.dport, r.proto, r.start, r.action
                );
            }
        }
        self.emit();
    }

    fn status(&mut self, eni: u32, start: u64, status: &str) {
        let l = &mut self.line;
        l.clear();
        match self.format {
            Format::V2 => {
                let _ = write!(
                    l,
                    "2 {ACCOUNT} eni-0{eni:016x} - - - - - - - {start} {} - {status}",
                    start + 60
                );
            }
            Format::Custom => {
                let _ = write!(
                    l,
                    "5 vpc-0a1b2c3d4e5f60718 subnet-0{:016x} i-0{eni:016x} eni-0{eni:016x} {ACCOUNT} - - - - - - - - - - {start} {} - - {status} -",
                    eni / 20,
                    start + 60
                );
            }
        }
        self.emit();
    }

    fn emit(&mut self) {
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes()).expect("write");
        self.records += 1;
    }
}

/// Reply status of a connection.
#[derive(Clone, Copy, PartialEq)]
enum Reply {
    Accepted,
    /// Refused as it enters the client (a stateless NACL on the client's side).
    RefusedAtClient,
    /// Refused as it leaves the server (a NACL on the server's subnet).
    RefusedAtServer,
    None,
}

struct Conn {
    client: Host,
    server: Host,
    dport: u16,
    proto: u8,
    /// Refused as it enters the server (its security group).
    refused: bool,
    reply: Reply,
    start: u64,
}

const SYN: u8 = 2;
const SYN_FIN: u8 = 3;
const SYNACK: u8 = 18;
const SYNACK_FIN: u8 = 19;

/// Logs one connection on every VPC interface it crosses.
fn connection(w: &mut Writer, rng: &mut Rng, c: Conn) {
    let sport = if c.proto == 1 {
        0
    } else {
        32768 + rng.below(28232) as u16
    };
    let dport = if c.proto == 1 { 0 } else { c.dport };
    let answered = !c.refused && c.reply == Reply::Accepted;
    let (req_flags, rep_flags) = if answered {
        (SYN_FIN, SYNACK_FIN)
    } else {
        (SYN, SYNACK)
    };
    let (client, server) = (&c.client, &c.server);
    let rec = |eni, src, dst, sport, dport, action, flags, egress| Rec {
        eni,
        src,
        dst,
        sport,
        dport,
        proto: c.proto,
        action,
        flags,
        start: c.start,
        egress,
    };
    if let Some(e) = c.client.eni {
        w.flow(
            rec(e, client, server, sport, dport, "ACCEPT", req_flags, true),
            rng,
        );
    }
    if let Some(e) = c.server.eni {
        let action = if c.refused { "REJECT" } else { "ACCEPT" };
        w.flow(
            rec(e, client, server, sport, dport, action, req_flags, false),
            rng,
        );
    }
    if c.refused || c.reply == Reply::None {
        return;
    }
    if let Some(e) = c.server.eni {
        let action = if c.reply == Reply::RefusedAtServer {
            "REJECT"
        } else {
            "ACCEPT"
        };
        w.flow(
            rec(e, server, client, dport, sport, action, rep_flags, true),
            rng,
        );
    }
    if c.reply == Reply::RefusedAtServer {
        return;
    }
    if let Some(e) = c.client.eni {
        let action = if c.reply == Reply::RefusedAtClient {
            "REJECT"
        } else {
            "ACCEPT"
        };
        w.flow(
            rec(e, server, client, dport, sport, action, rep_flags, false),
            rng,
        );
    }
    // Now and then a packet after close, refused on the server's interface: not a block.
    if answered
        && c.proto == 6
        && rng.chance(2)
        && let Some(e) = c.server.eni
    {
        let late = Rec {
            start: c.start + 60,
            ..rec(e, client, server, sport, dport, "REJECT", 1, false)
        };
        w.flow(late, rng);
    }
}

struct Args {
    records: u64,
    out: PathBuf,
    gzip: bool,
    format: Format,
    per_file: u64,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        records: 1_000_000,
        out: PathBuf::from("target/bench/1m"),
        gzip: false,
        format: Format::V2,
        per_file: 0,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => a.records = value().parse().expect("--records N"),
            "--out" => a.out = value().into(),
            "--gzip" => a.gzip = true,
            "--format" => {
                a.format = match value().as_str() {
                    "v2" => Format::V2,
                    "custom" => Format::Custom,
                    other => panic!("--format v2|custom, not {other}"),
                }
            }
            "--records-per-file" => a.per_file = value().parse().expect("--records-per-file N"),
            "--seed" => a.seed = value().parse().expect("--seed N"),
            other => {
                panic!("unknown option {other}; see the doc comment of examples/gen_flowlogs.rs")
            }
        }
    }
    if a.per_file == 0 {
        // S3 delivers many small gzip files; a plain copy is tested as one big file.
        a.per_file = if a.gzip { 100_000 } else { a.records };
    }
    a
}

fn open(args: &Args, index: u64) -> Box<dyn Write> {
    let ext = if args.gzip { "log.gz" } else { "log" };
    let path = args.out.join("logs").join(format!(
        "{ACCOUNT}_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_{index:05}.{ext}"
    ));
    let file = BufWriter::with_capacity(1 << 20, File::create(&path).expect("create output file"));
    if args.gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(file)
    }
}

fn main() {
    let args = args();
    std::fs::create_dir_all(args.out.join("logs")).expect("create --out");
    let v = vpc();
    let mut rng = Rng(args.seed);
    let header = if args.format == Format::V2 {
        V2_HEADER
    } else {
        CUSTOM_HEADER
    };
    let mut file_index = 0;
    let mut w = Writer {
        format: args.format,
        line: String::with_capacity(256),
        out: open(&args, file_index),
        records: 0,
    };
    writeln!(w.out, "{header}").unwrap();
    let mut in_file = 0;
    // Spread the day evenly; each connection starts in its minute.
    let seconds_per_record = 86_400.0 / args.records as f64;
    let refused_app = v.app[7];
    let nacl_subnet_cache = v.cache[0].addr[3]; // replies from cache[0] are refused
    while w.records < args.records {
        let before = w.records;
        let start = DAY_START + ((w.records as f64 * seconds_per_record) as u64 / 60) * 60;
        let roll = rng.below(1000);
        let conn = |client: &Host, server: &Host, dport, proto| Conn {
            client: *client,
            server: *server,
            dport,
            proto,
            refused: false,
            reply: Reply::Accepted,
            start,
        };
        match roll {
            0..=149 => {
                let c = conn(rng.pick(&v.users), rng.pick(&v.web), 443, 6);
                connection(&mut w, &mut rng, c);
            }
            150..=299 => {
                let c = conn(rng.pick(&v.web), rng.pick(&v.app), 8080, 6);
                connection(&mut w, &mut rng, c);
            }
            300..=379 => {
                let client = *rng.pick(&v.app);
                let mut c = conn(&client, rng.pick(&v.db), 5432, 6);
                c.refused = client.addr == refused_app.addr;
                connection(&mut w, &mut rng, c);
            }
            380..=459 => {
                let server = *rng.pick(&v.cache);
                let mut c = conn(rng.pick(&v.app), &server, 6379, 6);
                if server.addr[3] == nacl_subnet_cache {
                    c.reply = Reply::RefusedAtServer;
                }
                connection(&mut w, &mut rng, c);
            }
            460..=479 => {
                let mut c = conn(rng.pick(&v.app), rng.pick(&v.files), 445, 6);
                c.reply = Reply::None;
                connection(&mut w, &mut rng, c);
            }
            480..=519 => {
                let c = conn(rng.pick(&v.web), &v.dns, 53, 17);
                connection(&mut w, &mut rng, c);
            }
            520..=559 => {
                // Scanners knock on everything; security groups refuse them.
                let target = if rng.chance(30) {
                    *rng.pick(&v.db)
                } else {
                    *rng.pick(&v.other)
                };
                let port = *rng.pick(&[22u16, 23, 445, 1433, 3389, 5432, 6379, 8080]);
                let mut c = conn(rng.pick(&v.scanners), &target, port, 6);
                c.refused = true;
                connection(&mut w, &mut rng, c);
            }
            560..=569 => {
                let eni = rng.below(v.enis.len() as u64) as u32;
                let status = if start < DAY_START + 1800 && rng.chance(20) {
                    "SKIPDATA"
                } else {
                    "NODATA"
                };
                w.status(eni, start, status);
            }
            _ => {
                // Other applications talking among themselves, some refused, some via UDP.
                let port = *rng.pick(&[80u16, 443, 3306, 8443, 9092, 9200, 11211, 27017]);
                let proto = if rng.chance(10) { 17 } else { 6 };
                let mut c = conn(rng.pick(&v.other), rng.pick(&v.other), port, proto);
                c.refused = rng.chance(3);
                if !c.refused && rng.chance(1) {
                    c.reply = Reply::RefusedAtClient;
                }
                connection(&mut w, &mut rng, c);
            }
        }
        in_file += w.records - before;
        if in_file >= args.per_file && w.records < args.records {
            w.out.flush().unwrap();
            file_index += 1;
            in_file = 0;
            w.out = open(&args, file_index);
            writeln!(w.out, "{header}").unwrap();
        }
    }
    w.out.flush().unwrap();
    drop(w.out);
    write_spec(&args, &v);
    eprintln!(
        "{} records in {} files under {}",
        w.records,
        file_index + 1,
        args.out.display()
    );
}

fn ips(hosts: &[Host]) -> String {
    hosts.iter().map(Host::ip).collect::<Vec<_>>().join(", ")
}

fn write_spec(args: &Args, v: &Vpc) {
    let spec = format!(
        "# Written by examples/gen_flowlogs.rs for the synthetic VPC.\n\
         app: bench\n\
         hosts:\n  \
           users: {{ cidr: 192.168.10.0/23 }}\n  \
           web: {{ ips: [{}] }}\n  \
           app: {{ cidr: 10.1.2.0/24 }}\n  \
           db: {{ ips: [{}] }}\n  \
           cache: {{ ips: [{}] }}\n  \
           files: {{ ips: [{}] }}\n  \
           dns: {{ ip: {} }}\n  \
           monitoring: {{ ip: {} }}\n  \
           other: {{ cidrs: [10.1.6.0/24, 10.1.7.0/24] }}\n  \
           internet: {{ cidr: 0.0.0.0/0, except: [10.0.0.0/8, 192.168.0.0/16] }}\n\
         expect:\n  \
           - {{ name: users reach web, from: users, to: web, port: 443 }}\n  \
           - {{ name: web reaches app, from: web, to: app, port: 8080 }}\n  \
           - {{ name: app reaches db, from: app, to: db, port: 5432 }}\n  \
           - {{ name: app reaches cache, from: app, to: cache, port: 6379 }}\n  \
           - {{ name: app reaches files, from: app, to: files, port: 445 }}\n  \
           - {{ name: web resolves names, from: web, to: dns, port: 53, protocol: udp }}\n  \
           - {{ name: monitoring pings app, from: monitoring, to: app, protocol: icmp }}\n  \
           - {{ name: internet cannot reach db, from: internet, to: db, port: [1433, 5432], deny: true }}\n  \
           - {{ name: other apps cannot reach db, from: other, to: db, port: 5432, deny: true }}\n",
        ips(&v.web),
        ips(&v.db),
        ips(&v.cache),
        ips(&v.files),
        v.dns.ip(),
        v.monitoring.ip(),
    );
    std::fs::write(args.out.join("spec.yaml"), spec).expect("write spec.yaml");
    let expected = "\
bench::users reach web ok
bench::web reaches app ok
bench::app reaches db REJECTED
bench::app reaches cache RETURN_REJECTED
bench::app reaches files NO_RETURN
bench::web resolves names ok
bench::monitoring pings app NO_TRAFFIC
bench::internet cannot reach db ok
bench::other apps cannot reach db ok
";
    std::fs::write(args.out.join("expected.txt"), expected).expect("write expected.txt");
}
