//! The connection ledger: every connection's flags, per interface, in bounded memory.
//!
//! Verdicts are per connection (a pair takes its worst), and a connection's records can be
//! anywhere in the input, so every connection must be remembered until the input ends: for a busy
//! day that is millions. Each reader keeps its connections in a fixed-size table; when it fills,
//! the table is sorted and written to a temporary file (a run), and reading goes on. At the end,
//! the runs are merged in key order, so each connection's flags come together once; its shape
//! (see `evidence::Shape`) is counted then, and only the counts per pair are kept. Judging the
//! shapes is the verdicts' business. Memory stays flat whatever the volume; below the
//! table size nothing touches the disk.
//!
//! Pairs and their interfaces are numbered in a table shared by the readers, so that the same
//! connection has the same key and the same interface slots in every reader's table and run.

use std::collections::binary_heap::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use crate::evidence::{
    Action, Answering, CheckEvidence, Flow, IfaceId, Origin, PairEvidence, PairTally, Role, Sample,
    SampleSet, Shape, TgwHop, flag, kind,
};
use crate::plan::Plan;

/// Interface slots per pair in a connection's flags: a byte each in a `u64`. A pair's connections
/// cross one or two interfaces (client and server), a few more behind NAT or load balancers; a
/// pair seen on more than this is judged as if no interface were known (no REJECT is excused).
pub const SLOTS: usize = Shape::VIEWS;

/// Connections a reader keeps in memory before writing a run (a table of about 2 MiB).
pub const TABLE: usize = 1 << 16;

#[derive(Debug)]
struct PairInfo {
    check: u32,
    client: IpAddr,
    server: IpAddr,
    ifaces: Vec<IfaceId>,
    /// Kept here, once for all readers: the earliest records of each kind.
    samples: SampleSet,
    /// The earliest Transit Gateway records, those with drops kept as their own kind.
    tgw_samples: SampleSet,
}

/// The pairs of all checks, numbered; shared by the readers.
#[derive(Debug, Default)]
struct Pairs {
    ids: FxHashMap<(u32, IpAddr, IpAddr), u32>,
    info: Vec<PairInfo>,
}

#[derive(Debug)]
pub struct Ledger {
    /// Connections per reader table (`TABLE`, smaller in tests to make runs).
    table: usize,
    pairs: Mutex<Pairs>,
    /// The first failure to write or read a run: the evidence is then incomplete.
    failure: Mutex<Option<String>>,
}

/// A reader's view of one pair: its number, the slots of the interfaces it met, its tally, and
/// per kind of record, the origin a sample must come before to be worth offering.
#[derive(Default)]
struct Local {
    id: u32,
    slots: Vec<(IfaceId, u32)>,
    tally: PairTally,
    bars: [Option<Origin>; 4],
}

/// One reader's part of the ledger.
pub struct Book<'l> {
    ledger: &'l Ledger,
    /// (check, client, server) → this reader's view of the pair: one lookup per record.
    local: FxHashMap<(u32, IpAddr, IpAddr), Local>,
    /// `pair << 32 | client port << 16 | server port` → a flag byte per interface slot.
    conns: FxHashMap<u64, u64>,
    runs: Vec<File>,
}

fn key(pair: u32, cport: u16, sport: u16) -> u64 {
    u64::from(pair) << 32 | u64::from(cport) << 16 | u64::from(sport)
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::with_table(TABLE)
    }
}

impl Ledger {
    pub fn with_table(table: usize) -> Ledger {
        Ledger {
            table: table.max(1),
            pairs: Mutex::default(),
            failure: Mutex::default(),
        }
    }

    pub fn book(&self) -> Book<'_> {
        Book {
            ledger: self,
            local: FxHashMap::default(),
            conns: FxHashMap::with_capacity_and_hasher(self.table, Default::default()),
            runs: Vec::new(),
        }
    }

    fn fail(&self, why: String) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(why);
    }

    /// Merges the readers' books, counts every connection once by its shape, and returns each
    /// check's evidence, in plan order; `Err` when a run could not be written or read back.
    pub fn close(&self, checks: usize, books: Vec<Book<'_>>) -> Result<Vec<CheckEvidence>, String> {
        let mut tallies: FxHashMap<u32, PairTally> = FxHashMap::default();
        let mut tables = Vec::new();
        let mut runs = Vec::new();
        for b in books {
            for (_, l) in b.local {
                tallies.entry(l.id).or_default().merge(l.tally);
            }
            tables.push(b.conns);
            runs.extend(b.runs);
        }
        if let Some(why) = self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(why);
        }
        let pairs = std::mem::take(&mut *self.pairs.lock().unwrap_or_else(|e| e.into_inner()));
        let mut pairs = pairs;
        let mut answering = Vec::with_capacity(pairs.info.len());
        let mut folded: Vec<PairEvidence> = pairs
            .info
            .iter_mut()
            .enumerate()
            .map(|(id, p)| {
                let mut t = tallies.remove(&(id as u32)).unwrap_or_default();
                answering.push(std::mem::take(&mut t.answering));
                let mut ifaces = p.ifaces.clone();
                ifaces.sort();
                PairEvidence {
                    ifaces,
                    records: t.records,
                    first_seen: t.first_seen,
                    last_seen: t.last_seen,
                    samples: std::mem::take(&mut p.samples).into_sorted(),
                    reject_reasons: t.reject_reasons,
                    tgw: t.tgw,
                    tgw_samples: std::mem::take(&mut p.tgw_samples).into_sorted(),
                    ..Default::default()
                }
            })
            .collect();
        let mut count = |k: u64, bits: u64| {
            let pair = (k >> 32) as usize;
            let ports = ((k >> 16) as u16, k as u16);
            let info = &pairs.info[pair];
            let seen = seen(&info.ifaces, bits);
            // Seen only before the window: not this window's connection.
            if !seen.iter().any(|(_, f)| f & flag::SEEN != 0) {
                return;
            }
            let answered = answering[pair]
                .get(&ports.1)
                .is_some_and(Answering::answered_throughout);
            let shape = Shape::new(&seen, answered);
            let p = &mut folded[pair];
            *p.connections.entry(shape).or_default() += 1;
            if p.samples.iter().any(|s| s.conn == ports) {
                p.sampled.insert(ports, shape);
            }
        };
        if runs.is_empty() {
            // Everything fit in memory: OR the readers' tables together.
            let mut all = tables.pop().unwrap_or_default();
            for t in tables {
                for (k, bits) in t {
                    *all.entry(k).or_default() |= bits;
                }
            }
            for (k, bits) in all {
                count(k, bits);
            }
        } else {
            for t in tables {
                runs.push(write_run(t).map_err(|e| {
                    format!("cannot write connection state to a temporary file: {e}")
                })?);
            }
            merge_runs(runs, &mut count)
                .map_err(|e| format!("cannot read back connection state: {e}"))?;
        }
        let mut checks = vec![CheckEvidence::default(); checks];
        for (info, p) in pairs.info.into_iter().zip(folded) {
            checks[info.check as usize]
                .pairs
                .insert((info.client, info.server), p);
        }
        Ok(checks)
    }
}

/// What each interface saw of a connection, from its packed flags.
fn seen(ifaces: &[IfaceId], bits: u64) -> Vec<(IfaceId, u8)> {
    if ifaces.len() > SLOTS {
        let all = (0..SLOTS).fold(0u8, |acc, s| acc | (bits >> (8 * s)) as u8);
        return if all == 0 {
            Vec::new()
        } else {
            vec![(IfaceId::UNKNOWN, all)]
        };
    }
    (0..ifaces.len())
        .filter_map(|s| {
            let f = (bits >> (8 * s)) as u8;
            (f != 0).then(|| (ifaces[s], f))
        })
        .collect()
}

impl Ledger {
    fn pair_id(&self, check: u32, client: IpAddr, server: IpAddr) -> u32 {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let next = pairs.info.len() as u32;
        let id = *pairs.ids.entry((check, client, server)).or_insert(next);
        if id == next {
            pairs.info.push(PairInfo {
                check,
                client,
                server,
                ifaces: Vec::new(),
                samples: SampleSet::default(),
                tgw_samples: SampleSet::default(),
            });
        }
        id
    }

    /// Offers a sample to a pair; returns the origin later samples of its kind must beat.
    fn offer(&self, pair: u32, sample: Sample) -> Option<Origin> {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs.info[pair as usize].samples.offer(sample)
    }

    fn slot(&self, pair: u32, iface: IfaceId) -> u32 {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let ifaces = &mut pairs.info[pair as usize].ifaces;
        let index = match ifaces.iter().position(|i| *i == iface) {
            Some(i) => i,
            None => {
                ifaces.push(iface);
                ifaces.len() - 1
            }
        };
        // Beyond the slots, flags share the last one; `seen` then treats the pair as unknown.
        index.min(SLOTS - 1) as u32
    }
}

impl Book<'_> {
    /// Records one flow in `role` for check number `check`, found at `origin`; `text` is only
    /// called when the record may be kept as a sample.
    pub fn observe(
        &mut self,
        check: usize,
        role: Role,
        flow: &Flow,
        origin: Origin,
        text: impl FnOnce() -> String,
    ) {
        let tally = (1, flow.start);
        self.mark(
            check,
            role,
            flow,
            flow.flag(role),
            Some((origin, text)),
            tally,
        );
    }

    /// Records `records` records of one connection at once (a row of an aggregated query, whose
    /// `flow.start` is the earliest start and `latest_start` the latest); there is no record text
    /// to keep as a sample.
    pub fn observe_many(
        &mut self,
        check: usize,
        role: Role,
        flow: &Flow,
        records: u64,
        latest_start: Option<u64>,
    ) {
        let none = None::<(Origin, fn() -> String)>;
        self.mark(
            check,
            role,
            flow,
            flow.flag(role),
            none,
            (records, latest_start),
        );
    }

    /// Records what a transit gateway carried (and dropped) of a flow in `role` for check
    /// number `check`, `records` records that lost `hop.lost` packets in all (one record read
    /// from a file, or an engine's row): evidence about the path, not a connection (no flags are
    /// set). `sample` is a record to show, where it came from and its text.
    pub fn observe_tgw(
        &mut self,
        check: usize,
        role: Role,
        flow: &Flow,
        (hop, records): (&TgwHop, u64),
        sample: Option<(Origin, String)>,
    ) {
        let ledger = self.ledger;
        let (local, cport, sport) = self.local_of(check, role, flow);
        local.tally.tgw.observe(role, hop, records);
        let Some((origin, text)) = sample else { return };
        // Records with drops are kept as their own kind (`Reject`), so that they are shown.
        let dropped = hop.lost.iter().any(|n| *n > 0);
        let sample = Sample {
            origin,
            role,
            action: if dropped {
                Action::Reject
            } else {
                Action::Accept
            },
            conn: (cport, sport),
            text,
        };
        let mut pairs = ledger.pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs.info[local.id as usize].tgw_samples.offer(sample);
    }

    /// Records a flow from just before the window, only to recognise late packets in it.
    pub fn observe_context(&mut self, check: usize, role: Role, flow: &Flow) {
        let flags = flow.context_flag(role);
        if flags != 0 {
            let none = None::<(Origin, fn() -> String)>;
            self.mark(check, role, flow, flags, none, (0, None));
        }
    }

    /// Offers a record as a sample of its pair without counting it (its connection was counted
    /// from an aggregated row).
    pub fn sample(&mut self, check: usize, role: Role, flow: &Flow, origin: Origin, text: String) {
        self.mark(check, role, flow, 0, Some((origin, || text)), (0, None));
    }

    /// This reader's view of the pair a flow in `role` is of, with the client's and the
    /// server's port.
    fn local_of(&mut self, check: usize, role: Role, flow: &Flow) -> (&mut Local, u16, u16) {
        let (client, server, cport, sport) = match role {
            Role::Request => (flow.src, flow.dst, flow.srcport, flow.dstport),
            Role::Reply => (flow.dst, flow.src, flow.dstport, flow.srcport),
        };
        let ledger = self.ledger;
        let check = check as u32;
        let local = self
            .local
            .entry((check, client, server))
            .or_insert_with(|| Local {
                id: ledger.pair_id(check, client, server),
                ..Local::default()
            });
        (local, cport, sport)
    }

    fn mark(
        &mut self,
        check: usize,
        role: Role,
        flow: &Flow,
        flags: u8,
        sample: Option<(Origin, impl FnOnce() -> String)>,
        (records, latest_start): (u64, Option<u64>),
    ) {
        let ledger = self.ledger;
        let (local, cport, sport) = self.local_of(check, role, flow);
        let id = local.id;
        let slot = match local.slots.iter().find(|(i, _)| *i == flow.iface) {
            Some((_, s)) => *s,
            None => {
                let s = ledger.slot(local.id, flow.iface);
                local.slots.push((flow.iface, s));
                s
            }
        };
        if records > 0 {
            local.tally.observe(role, flow, records, latest_start);
        }
        if let Some((origin, text)) = sample {
            let k = kind(role, flow.action);
            if local.bars[k].is_none_or(|bar| origin < bar) {
                let s = Sample {
                    origin,
                    role,
                    action: flow.action,
                    conn: (cport, sport),
                    text: text(),
                };
                local.bars[k] = ledger.offer(local.id, s);
            }
        }
        if flags == 0 {
            return;
        }
        *self.conns.entry(key(id, cport, sport)).or_default() |= u64::from(flags) << (8 * slot);
        if self.conns.len() >= ledger.table {
            // The full table goes to disk before its successor is allocated: one at a time.
            match write_run(std::mem::take(&mut self.conns)) {
                Ok(run) => self.runs.push(run),
                Err(e) => ledger.fail(format!(
                    "cannot write connection state to a temporary file: {e}"
                )),
            }
            self.conns.reserve(ledger.table);
        }
    }
}

const ENTRY: usize = 16;

/// Writes a table sorted by key to an unnamed temporary file.
fn write_run(table: FxHashMap<u64, u64>) -> std::io::Result<File> {
    let mut entries: Vec<(u64, u64)> = table.into_iter().collect();
    entries.sort_unstable_by_key(|e| e.0);
    let mut out = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
    for (k, bits) in entries {
        out.write_all(&k.to_le_bytes())?;
        out.write_all(&bits.to_le_bytes())?;
    }
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

fn next_entry(r: &mut BufReader<File>) -> std::io::Result<Option<(u64, u64)>> {
    let mut buf = [0u8; ENTRY];
    match r.read_exact(&mut buf) {
        Ok(()) => Ok(Some((
            u64::from_le_bytes(buf[..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(buf[8..].try_into().expect("8 bytes")),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Merges sorted runs, calling `each` once per key with the OR of its flags.
fn merge_runs(runs: Vec<File>, each: &mut impl FnMut(u64, u64)) -> std::io::Result<()> {
    let mut readers: Vec<BufReader<File>> = runs
        .into_iter()
        .map(|f| BufReader::with_capacity(1 << 14, f))
        .collect();
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some((k, bits)) = next_entry(r)? {
            heap.push(std::cmp::Reverse((k, bits, i)));
        }
    }
    let mut current: Option<(u64, u64)> = None;
    while let Some(std::cmp::Reverse((k, bits, i))) = heap.pop() {
        match &mut current {
            Some((ck, cbits)) if *ck == k => *cbits |= bits,
            _ => {
                if let Some((ck, cbits)) = current.take() {
                    each(ck, cbits);
                }
                current = Some((k, bits));
            }
        }
        if let Some((k, bits)) = next_entry(&mut readers[i])? {
            heap.push(std::cmp::Reverse((k, bits, i)));
        }
    }
    if let Some((k, bits)) = current {
        each(k, bits);
    }
    Ok(())
}

/// The evidence of `flows` for `plan`, read in order by one reader: for tests and small inputs.
pub fn collect(plan: &Plan, flows: &[(Flow, Origin, String)]) -> Vec<CheckEvidence> {
    collect_in(&Ledger::default(), plan, &[flows])
}

/// The evidence of each slice of flows read by its own reader.
fn collect_in(
    ledger: &Ledger,
    plan: &Plan,
    readers: &[&[(Flow, Origin, String)]],
) -> Vec<CheckEvidence> {
    let books = readers
        .iter()
        .map(|flows| {
            let mut book = ledger.book();
            for (flow, origin, text) in flows.iter() {
                for (i, check) in plan.checks.iter().enumerate() {
                    for role in check.roles_of(flow) {
                        book.observe(i, role, flow, *origin, || text.clone());
                    }
                }
            }
            book
        })
        .collect();
    ledger
        .close(plan.checks.len(), books)
        .expect("runs on a local temporary directory")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::evidence::Action;
    use crate::verdict::ConnVerdict;

    /// The connections of a pair by verdict, as the reach check of `plan()` judges them.
    fn verdicts(p: &PairEvidence) -> BTreeMap<ConnVerdict, u64> {
        crate::verdict::connections(plan().checks[0].kind, p).0
    }

    const SPEC: &str = "app: t\nhosts:\n  c: {cidr: 10.0.1.0/24}\n  s: {ip: 10.0.2.20}\nexpect:\n  - {from: c, to: s, port: 443}\n  - {from: c, to: s, port: 443, deny: true, name: deny}\n";

    fn plan() -> Plan {
        let spec = crate::spec::parse(std::path::Path::new("t.yaml"), SPEC).unwrap();
        crate::plan::build(&[spec], Default::default()).unwrap()
    }

    fn flow(
        iface: &str,
        client: u8,
        cport: u16,
        reply: bool,
        action: Action,
    ) -> (Flow, Origin, String) {
        let (c, s) = (
            IpAddr::from([10, 0, 1, client]),
            IpAddr::from([10, 0, 2, 20]),
        );
        let mut f = Flow {
            iface: IfaceId::new(iface).unwrap(),
            src: c,
            dst: s,
            srcport: cport,
            dstport: 443,
            protocol: 6,
            action,
            tcp_flags: None,
            start: Some(100),
            end: Some(160),
            reject_reason: None,
        };
        if reply {
            (f.src, f.dst, f.srcport, f.dstport) = (s, c, 443, cport);
        }
        let line = u64::from(cport) * 4 + u64::from(reply);
        (
            f,
            Origin {
                file: 0,
                chunk: 0,
                line,
            },
            format!("{iface} {client} {cport} {reply}"),
        )
    }

    /// Many connections over many pairs: established, refused at the server, unanswered.
    fn traffic(n: u16) -> Vec<(Flow, Origin, String)> {
        let mut out = Vec::new();
        for i in 0..n {
            let client = (i % 7) as u8 + 1;
            let port = 30000 + i;
            match i % 3 {
                0 => {
                    out.push(flow("eni-c", client, port, false, Action::Accept));
                    out.push(flow("eni-s", client, port, false, Action::Accept));
                    out.push(flow("eni-s", client, port, true, Action::Accept));
                    out.push(flow("eni-c", client, port, true, Action::Accept));
                }
                1 => {
                    out.push(flow("eni-c", client, port, false, Action::Accept));
                    out.push(flow("eni-s", client, port, false, Action::Reject));
                }
                _ => out.push(flow("eni-c", client, port, false, Action::Accept)),
            }
        }
        // Each record on its own line, as in a file.
        for (i, r) in out.iter_mut().enumerate() {
            r.1.line = i as u64 + 1;
        }
        out
    }

    #[test]
    fn a_connection_without_reply_is_no_return_unless_new_connections_were_answered_after_it() {
        let plan = plan();
        let at = |(mut f, o, t): (Flow, Origin, String), start: u64, flags: u8| {
            f.start = Some(start);
            f.end = Some(start + 60);
            f.tcp_flags = Some(flags);
            (f, o, t)
        };
        let verdicts = |reply_flags: u8, extra: u64| {
            let flows = vec![
                at(flow("eni-s", 1, 30000, false, Action::Accept), 100, 2),
                at(
                    flow("eni-s", 1, 30000, true, Action::Accept),
                    100,
                    reply_flags,
                ),
                at(flow("eni-s", 1, 30001, false, Action::Accept), extra, 2),
            ];
            let pair = (IpAddr::from([10, 0, 1, 1]), IpAddr::from([10, 0, 2, 20]));
            verdicts(&collect(&plan, &flows)[0].pairs[&pair])
        };
        // A SYN while the server was answering new connections (SYN-ACK): a lost packet.
        let during = verdicts(18, 130);
        assert_eq!(during.get(&ConnVerdict::Unanswered), Some(&1), "{during:?}");
        assert!(!during.keys().any(|v| v.is_broken()));
        // A SYN after the last SYN-ACK: the service stopped taking connections.
        let after = verdicts(18, 400);
        assert_eq!(after.get(&ConnVerdict::NoReturn), Some(&1), "{after:?}");
        // Replies on an old connection (no SYN) show nothing about new ones.
        let pooled = verdicts(16, 130);
        assert_eq!(pooled.get(&ConnVerdict::NoReturn), Some(&1), "{pooled:?}");
    }

    #[test]
    fn runs_on_disk_give_what_memory_gives() {
        let plan = plan();
        let flows = traffic(3000);
        let in_memory = collect(&plan, &flows);
        // Tiny tables: many runs per reader, and the connections split across readers.
        let (a, b) = flows.split_at(flows.len() / 3);
        let spilled = collect_in(&Ledger::with_table(50), &plan, &[b, a]);
        assert!(in_memory == spilled, "the runs changed the evidence");
        let pair =
            &in_memory[0].pairs[&(IpAddr::from([10, 0, 1, 1]), IpAddr::from([10, 0, 2, 20]))];
        assert_eq!(pair.connections.values().sum::<u64>(), 429);
        assert_eq!(verdicts(pair)[&ConnVerdict::Rejected], 143);
    }

    /// Memory stays flat whatever the input: a reader never holds more connections than its
    /// table; the rest waits on disk in sorted runs.
    #[test]
    fn connection_state_in_memory_never_exceeds_the_table() {
        let plan = plan();
        let flows = traffic(3000);
        let ledger = Ledger::with_table(64);
        let mut book = ledger.book();
        let mut most = 0;
        for (flow, origin, text) in &flows {
            for (i, check) in plan.checks.iter().enumerate() {
                for role in check.roles_of(flow) {
                    book.observe(i, role, flow, *origin, || text.clone());
                }
            }
            most = most.max(book.conns.len());
        }
        assert!(most < 64, "held {most} connections with a table of 64");
        assert!(
            book.runs.len() >= 3000 / 64,
            "spilled {} runs",
            book.runs.len()
        );
        let evidence = ledger.close(plan.checks.len(), vec![book]).unwrap();
        assert!(
            evidence == collect(&plan, &flows),
            "the runs changed the evidence"
        );
    }

    #[test]
    fn a_connection_split_across_readers_is_judged_whole() {
        let plan = plan();
        let req = flow("eni-c", 1, 40000, false, Action::Accept);
        let rep = flow("eni-c", 1, 40000, true, Action::Accept);
        for table in [1, TABLE] {
            let ev = collect_in(
                &Ledger::with_table(table),
                &plan,
                &[std::slice::from_ref(&req), std::slice::from_ref(&rep)],
            );
            let pair = ev[0].pairs.values().next().unwrap();
            assert_eq!(verdicts(pair), [(ConnVerdict::Established, 1)].into());
            assert_eq!(pair.records.request_accept + pair.records.reply_accept, 2);
            let sampled = pair.sampled[&(40000, 443)];
            assert_eq!(
                crate::verdict::connection(plan.checks[0].kind, &sampled),
                Some(ConnVerdict::Established)
            );
        }
    }

    #[test]
    fn each_interface_keeps_its_own_view_whatever_the_readers_saw_first() {
        let plan = plan();
        let a = [
            flow("eni-c", 1, 40000, false, Action::Accept),
            flow("eni-s", 1, 40000, false, Action::Reject),
        ];
        let b = [
            flow("eni-s", 1, 40000, true, Action::Accept),
            flow("eni-c", 1, 40000, true, Action::Reject),
        ];
        let one = collect_in(&Ledger::default(), &plan, &[&a, &b]);
        let other = collect_in(&Ledger::default(), &plan, &[&b, &a]);
        assert!(one == other, "{one:?}\n!=\n{other:?}");
    }

    #[test]
    fn a_pair_on_more_interfaces_than_slots_is_judged_as_if_none_were_known() {
        let ifaces: Vec<IfaceId> = (0..=SLOTS)
            .map(|i| IfaceId::new(&format!("eni-{i}")).unwrap())
            .collect();
        let bits =
            u64::from(flag::REQ_ACCEPT | flag::REP_ACCEPT) | u64::from(flag::REQ_REJECT) << 8;
        assert_eq!(
            seen(&ifaces, bits),
            [(
                IfaceId::UNKNOWN,
                flag::REQ_ACCEPT | flag::REP_ACCEPT | flag::REQ_REJECT
            )]
        );
        assert_eq!(
            seen(&ifaces[..2], bits),
            [
                (ifaces[0], flag::REQ_ACCEPT | flag::REP_ACCEPT),
                (ifaces[1], flag::REQ_REJECT)
            ]
        );
    }
}
