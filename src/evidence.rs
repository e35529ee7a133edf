//! The evidence model: what a source hands to the verdicts. Sources fill it record by record;
//! verdicts only read it.
//!
//! Per check, flows are grouped by (client, server) address pair, then by connection (client
//! port, server port) and interface. Each interface keeps a small set of flags rather than the
//! records, so memory grows with distinct connections, not with records.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::fmt;
use std::net::IpAddr;

/// A network interface id (`eni-0123456789abcdef0`), stored inline so that recording a flow never
/// allocates. The empty id stands for "not in the format".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceId {
    len: u8,
    bytes: [u8; IfaceId::MAX],
}

impl IfaceId {
    pub const MAX: usize = 31;
    pub const UNKNOWN: IfaceId = IfaceId {
        len: 0,
        bytes: [0; IfaceId::MAX],
    };

    /// `None` if the id is too long or not printable ASCII.
    pub fn new(id: &str) -> Option<IfaceId> {
        let b = id.as_bytes();
        if b.len() > Self::MAX || !b.iter().all(u8::is_ascii_graphic) {
            return None;
        }
        let mut bytes = [0; Self::MAX];
        bytes[..b.len()].copy_from_slice(b);
        Some(IfaceId {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }

    pub fn is_unknown(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for IfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unknown() {
            f.write_str("(interface not logged)")
        } else {
            f.write_str(self.as_str())
        }
    }
}

impl fmt::Debug for IfaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Accept,
    Reject,
}

/// One accepted or rejected flow record, as far as verdicts care.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub iface: IfaceId,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub srcport: u16,
    pub dstport: u16,
    pub protocol: u8,
    pub action: Action,
    /// The OR of TCP flags seen, when the format has `tcp-flags`.
    pub tcp_flags: Option<u8>,
    pub start: Option<u64>,
    pub end: Option<u64>,
}

/// Which way a flow runs relative to the check: client → server, or the mirrored reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Request,
    Reply,
}

/// Flags kept per (connection, interface).
pub mod flag {
    pub const REQ_ACCEPT: u8 = 1;
    pub const REP_ACCEPT: u8 = 2;
    /// A rejected request that can be a block (a SYN, or flags unknown, or not TCP). A rejected
    /// TCP packet without SYN sets no flag: it came after the connection closed.
    pub const REQ_REJECT: u8 = 4;
    pub const REP_REJECT: u8 = 8;
}

const TCP: u8 = 6;
const SYN: u8 = 2;

impl Flow {
    /// The flag this flow sets for `role`. AWS: REJECT also means "packets arrived after the
    /// connection was closed"; where tcp-flags show no SYN, that is what it was.
    pub fn flag(&self, role: Role) -> u8 {
        let late = self.protocol == TCP && self.tcp_flags.is_some_and(|f| f & SYN == 0);
        match (role, self.action, late) {
            (Role::Request, Action::Accept, _) => flag::REQ_ACCEPT,
            (Role::Reply, Action::Accept, _) => flag::REP_ACCEPT,
            (Role::Request, Action::Reject, false) => flag::REQ_REJECT,
            (Role::Reply, Action::Reject, false) => flag::REP_REJECT,
            (_, Action::Reject, true) => 0,
        }
    }
}

/// Where a record came from, for failure messages: `file:line`, ordered by file then line so
/// that samples are the same whatever order parallel workers finish in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: u32,
    /// The part of a large file read on its own; `line` counts from the part's start.
    pub chunk: u32,
    pub line: u64,
}

/// A raw record kept to show in a failure message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub origin: Origin,
    pub role: Role,
    pub action: Action,
    /// Client and server port of the connection it belongs to.
    pub conn: (u16, u16),
    pub text: String,
}

/// Records per direction and action for one pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub request_accept: u64,
    pub request_reject: u64,
    pub reply_accept: u64,
    pub reply_reject: u64,
}

impl RecordCounts {
    fn add(&mut self, role: Role, action: Action) {
        let slot = match (role, action) {
            (Role::Request, Action::Accept) => &mut self.request_accept,
            (Role::Request, Action::Reject) => &mut self.request_reject,
            (Role::Reply, Action::Accept) => &mut self.reply_accept,
            (Role::Reply, Action::Reject) => &mut self.reply_reject,
        };
        *slot += 1;
    }

    fn merge(&mut self, o: &RecordCounts) {
        self.request_accept += o.request_accept;
        self.request_reject += o.request_reject;
        self.reply_accept += o.reply_accept;
        self.reply_reject += o.reply_reject;
    }
}

/// Samples kept per pair for each (role, action): enough to show, bounded regardless of volume.
pub const SAMPLES_PER_KIND: usize = 4;

/// Interfaces a pair keeps packed, 4 flag bits each in a `u16`. A connection crosses one or two
/// interfaces (client and server); a pair seen on more (NAT, load balancers) switches to a list
/// per connection, so every interface always keeps its own view, whatever the reading order.
pub const PACKED: usize = 4;

/// Per connection (keyed by `client port << 16 | server port`), what each interface saw.
#[derive(Debug, Clone)]
pub enum Conns {
    /// 4 flag bits per interface index, for pairs seen on at most `PACKED` interfaces.
    Packed(FxHashMap<u32, u16>),
    /// (interface index, flags) per interface, for the rest.
    Listed(FxHashMap<u32, Vec<(u16, u8)>>),
}

impl Default for Conns {
    fn default() -> Self {
        Conns::Packed(FxHashMap::default())
    }
}

impl Conns {
    pub fn len(&self) -> usize {
        match self {
            Conns::Packed(m) => m.len(),
            Conns::Listed(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// ORs `flags` into what interface `iface` saw of connection `key`.
    fn set(&mut self, key: u32, iface: usize, flags: u8) {
        if iface >= PACKED
            && let Conns::Packed(m) = self
        {
            let listed = std::mem::take(m)
                .into_iter()
                .map(|(k, bits)| (k, unpack(bits).collect()))
                .collect();
            *self = Conns::Listed(listed);
        }
        match self {
            Conns::Packed(m) => *m.entry(key).or_default() |= u16::from(flags) << (4 * iface),
            Conns::Listed(m) => {
                let list = m.entry(key).or_default();
                match list.iter_mut().find(|(i, _)| usize::from(*i) == iface) {
                    Some((_, f)) => *f |= flags,
                    None if flags != 0 => list.push((iface as u16, flags)),
                    None => {}
                }
            }
        }
    }

    /// Every connection with (interface index, flags) for each interface that saw it.
    pub fn each(&self, mut f: impl FnMut(u32, &[(u16, u8)])) {
        let mut buf = Vec::with_capacity(PACKED);
        match self {
            Conns::Packed(m) => {
                for (&k, &bits) in m {
                    buf.clear();
                    buf.extend(unpack(bits));
                    f(k, &buf);
                }
            }
            Conns::Listed(m) => {
                for (&k, list) in m {
                    f(k, list);
                }
            }
        }
    }
}

fn unpack(bits: u16) -> impl Iterator<Item = (u16, u8)> {
    (0..PACKED as u16).filter_map(move |i| {
        let f = (bits >> (4 * i)) as u8 & 0xF;
        (f != 0).then_some((i, f))
    })
}

/// Everything seen between one client address and one server address: per connection, a few
/// flag bits per interface, whatever the number of records.
#[derive(Debug, Clone, Default)]
pub struct PairEvidence {
    /// Every interface that logged the pair, in order of first sight: the indexes in `conns`.
    pub ifaces: Vec<IfaceId>,
    pub conns: Conns,
    pub records: RecordCounts,
    pub first_seen: Option<u64>,
    pub last_seen: Option<u64>,
    pub samples: Vec<Sample>,
}

/// `(client port, server port)` ↔ the connection key.
pub fn conn_key(cport: u16, sport: u16) -> u32 {
    u32::from(cport) << 16 | u32::from(sport)
}

pub fn conn_ports(key: u32) -> (u16, u16) {
    ((key >> 16) as u16, key as u16)
}

impl PairEvidence {
    fn index(&mut self, iface: IfaceId) -> usize {
        match self.ifaces.iter().position(|i| *i == iface) {
            Some(i) => i,
            None => {
                self.ifaces.push(iface);
                self.ifaces.len() - 1
            }
        }
    }

    /// Every connection, as (client port, server port) and what each interface saw of it.
    pub fn each_conn(&self, mut f: impl FnMut((u16, u16), &[(IfaceId, u8)])) {
        let mut seen = Vec::with_capacity(PACKED);
        self.conns.each(|key, list| {
            seen.clear();
            seen.extend(list.iter().map(|&(i, flags)| (self.ifaces[usize::from(i)], flags)));
            f(conn_ports(key), &seen);
        });
    }

    fn observe(&mut self, role: Role, flow: &Flow, origin: impl FnOnce() -> (Origin, String)) {
        let conn = match role {
            Role::Request => (flow.srcport, flow.dstport),
            Role::Reply => (flow.dstport, flow.srcport),
        };
        let index = self.index(flow.iface);
        self.conns.set(conn_key(conn.0, conn.1), index, flow.flag(role));
        self.records.add(role, flow.action);
        if let Some(s) = flow.start {
            self.first_seen = Some(self.first_seen.map_or(s, |f| f.min(s)));
        }
        if let Some(e) = flow.end {
            self.last_seen = Some(self.last_seen.map_or(e, |l| l.max(e)));
        }
        if self.room_for(role, flow.action) {
            let (origin, text) = origin();
            self.samples.push(Sample {
                origin,
                role,
                action: flow.action,
                conn,
                text,
            });
        }
    }

    fn merge(&mut self, other: PairEvidence) {
        let moves: Vec<usize> = other.ifaces.iter().map(|i| self.index(*i)).collect();
        other.conns.each(|key, list| {
            if list.is_empty() {
                // A connection with only late packets still counts, as "not judged".
                self.conns.set(key, 0, 0);
            }
            for &(i, flags) in list {
                self.conns.set(key, moves[usize::from(i)], flags);
            }
        });
        self.records.merge(&other.records);
        self.first_seen = min_opt(self.first_seen, other.first_seen);
        self.last_seen = max_opt(self.last_seen, other.last_seen);
        let mut all = std::mem::take(&mut self.samples);
        all.extend(other.samples);
        all.sort_by(|a, b| a.origin.cmp(&b.origin));
        for s in all {
            if self.room_for(s.role, s.action) {
                self.samples.push(s);
            }
        }
    }

    fn room_for(&self, role: Role, action: Action) -> bool {
        let kept = self.samples.iter().filter(|s| s.role == role && s.action == action);
        kept.count() < SAMPLES_PER_KIND
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Everything seen for one check.
#[derive(Debug, Clone, Default)]
pub struct CheckEvidence {
    /// (client address, server address) → what was seen between them.
    pub pairs: FxHashMap<(IpAddr, IpAddr), PairEvidence>,
}

impl CheckEvidence {
    /// Records one flow in `role`; `origin` is only called when the record is kept as a sample.
    pub fn observe(&mut self, role: Role, flow: &Flow, origin: impl FnOnce() -> (Origin, String)) {
        let pair = match role {
            Role::Request => (flow.src, flow.dst),
            Role::Reply => (flow.dst, flow.src),
        };
        self.pairs
            .entry(pair)
            .or_default()
            .observe(role, flow, origin);
    }

    pub fn merge(&mut self, other: CheckEvidence) {
        for (k, p) in other.pairs {
            match self.pairs.entry(k) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(p);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => o.get_mut().merge(p),
            }
        }
    }
}

/// A line that could not be read as a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub origin: Origin,
    pub reason: String,
}

/// A file that could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFile {
    pub file: u32,
    pub reason: String,
}

/// How many bad lines are kept by name; all are counted.
pub const BAD_LINES_KEPT: usize = 20;

/// Evidence known to be missing. Any of it turns a would-be pass into an error: the missing part
/// could have held the record that fails the check.
#[derive(Debug, Clone, Default)]
pub struct Gaps {
    pub bad_lines: u64,
    /// The first few bad lines, in file and line order.
    pub bad_line_samples: Vec<BadLine>,
    pub bad_files: Vec<BadFile>,
    /// SKIPDATA records in the window, by interface: AWS skipped records there.
    pub skipdata: BTreeMap<IfaceId, u64>,
    /// Not one record (not even NODATA) falls in the window: the logs for it are not there, or
    /// not delivered yet.
    pub no_records: bool,
}

impl Gaps {
    pub fn bad_line(&mut self, origin: Origin, reason: String) {
        self.bad_lines += 1;
        if self.bad_line_samples.len() < BAD_LINES_KEPT {
            self.bad_line_samples.push(BadLine { origin, reason });
        }
    }

    pub fn merge(&mut self, other: Gaps) {
        self.bad_lines += other.bad_lines;
        self.bad_line_samples.extend(other.bad_line_samples);
        self.bad_line_samples
            .sort_by(|a, b| a.origin.cmp(&b.origin));
        self.bad_line_samples.truncate(BAD_LINES_KEPT);
        self.bad_files.extend(other.bad_files);
        self.bad_files.sort_by_key(|f| f.file);
        for (iface, n) in other.skipdata {
            *self.skipdata.entry(iface).or_default() += n;
        }
    }

    pub fn skipdata_records(&self) -> u64 {
        self.skipdata.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bad_lines == 0
            && self.bad_files.is_empty()
            && self.skipdata.is_empty()
            && !self.no_records
    }
}

/// Volume figures for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub records: u64,
    pub outside_window: u64,
    pub nodata: u64,
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.records += o.records;
        self.outside_window += o.outside_window;
        self.nodata += o.nodata;
    }
}

/// Why a check has no evidence at all (a source failed for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

/// All evidence of a run, one entry per check of the plan, in plan order.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub checks: Vec<Result<CheckEvidence, Unavailable>>,
    pub gaps: Gaps,
    pub stats: Stats,
    /// Names of the evidence files, indexed by `Origin::file`.
    pub files: Vec<String>,
    /// For files read in parts: the lines before each part, indexed by file, then part.
    pub chunk_lines: Vec<Vec<u64>>,
}

impl Evidence {
    pub fn origin(&self, o: &Origin) -> String {
        let file = self.files.get(o.file as usize).map_or("?", String::as_str);
        let before = self
            .chunk_lines
            .get(o.file as usize)
            .and_then(|c| c.get(o.chunk as usize))
            .copied()
            .unwrap_or(0);
        format!("{file}:{}", before + o.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(action: Action, flags: Option<u8>, protocol: u8) -> Flow {
        Flow {
            iface: IfaceId::new("eni-1").unwrap(),
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            srcport: 40000,
            dstport: 443,
            protocol,
            action,
            tcp_flags: flags,
            start: Some(10),
            end: Some(20),
        }
    }

    #[test]
    fn a_tcp_reject_without_syn_is_late_but_only_for_tcp() {
        assert_eq!(
            flow(Action::Reject, Some(2), 6).flag(Role::Request),
            flag::REQ_REJECT
        );
        assert_eq!(
            flow(Action::Reject, Some(18), 6).flag(Role::Reply),
            flag::REP_REJECT
        );
        assert_eq!(flow(Action::Reject, Some(1), 6).flag(Role::Request), 0);
        assert_eq!(flow(Action::Reject, Some(4), 6).flag(Role::Reply), 0);
        assert_eq!(
            flow(Action::Reject, None, 6).flag(Role::Request),
            flag::REQ_REJECT,
            "flags unknown"
        );
        assert_eq!(
            flow(Action::Reject, Some(0), 17).flag(Role::Request),
            flag::REQ_REJECT,
            "udp has no SYN"
        );
    }

    #[test]
    fn replies_are_filed_under_the_connection_they_answer() {
        let mut ev = CheckEvidence::default();
        let req = flow(Action::Accept, None, 6);
        let rep = Flow {
            src: req.dst,
            dst: req.src,
            srcport: req.dstport,
            dstport: req.srcport,
            ..req
        };
        ev.observe(Role::Request, &req, || {
            (Origin { file: 0, chunk: 0, line: 1 }, "a".into())
        });
        ev.observe(Role::Reply, &rep, || {
            (Origin { file: 0, chunk: 0, line: 2 }, "b".into())
        });
        let pair = &ev.pairs[&(req.src, req.dst)];
        assert_eq!(pair.conns.len(), 1);
        let mut seen = Vec::new();
        pair.each_conn(|_, s| seen.extend_from_slice(s));
        assert_eq!(seen, [(IfaceId::new("eni-1").unwrap(), flag::REQ_ACCEPT | flag::REP_ACCEPT)]);
        assert_eq!(pair.samples.len(), 2);
    }

    fn on(iface: &str, role: Role, action: Action) -> (Flow, Role) {
        let mut f = flow(action, None, 6);
        f.iface = IfaceId::new(iface).unwrap();
        if role == Role::Reply {
            (f.src, f.dst, f.srcport, f.dstport) = (f.dst, f.src, f.dstport, f.srcport);
        }
        (f, role)
    }

    fn seen_of(ev: &CheckEvidence) -> Vec<(String, u8)> {
        let pair = ev.pairs.values().next().unwrap();
        let mut out = Vec::new();
        pair.each_conn(|_, seen| out.extend(seen.iter().map(|(i, f)| (i.to_string(), *f))));
        out.sort();
        out
    }

    #[test]
    fn each_interface_keeps_its_own_view_of_a_connection_across_merges() {
        let mut a = CheckEvidence::default();
        let mut b = CheckEvidence::default();
        // The two workers meet the interfaces in opposite orders.
        for (ev, records) in [
            (&mut a, [on("eni-c", Role::Request, Action::Accept), on("eni-s", Role::Request, Action::Reject)]),
            (&mut b, [on("eni-s", Role::Reply, Action::Accept), on("eni-c", Role::Reply, Action::Accept)]),
        ] {
            for (f, role) in records {
                ev.observe(role, &f, || (Origin { file: 0, chunk: 0, line: 1 }, String::new()));
            }
        }
        a.merge(b);
        use flag::*;
        assert_eq!(
            seen_of(&a),
            [("eni-c".into(), REQ_ACCEPT | REP_ACCEPT), ("eni-s".into(), REQ_REJECT | REP_ACCEPT)]
        );
    }

    #[test]
    fn a_pair_on_many_interfaces_keeps_each_ones_view() {
        let mut packed = CheckEvidence::default();
        let mut listed = CheckEvidence::default();
        for i in 0..PACKED + 2 {
            let action = if i % 2 == 0 { Action::Accept } else { Action::Reject };
            let (f, role) = on(&format!("eni-{i}"), Role::Request, action);
            listed.observe(role, &f, || (Origin { file: 0, chunk: 0, line: 1 }, String::new()));
            if i < PACKED {
                packed.observe(role, &f, || (Origin { file: 0, chunk: 0, line: 1 }, String::new()));
            }
        }
        assert!(matches!(packed.pairs.values().next().unwrap().conns, Conns::Packed(_)));
        assert!(matches!(listed.pairs.values().next().unwrap().conns, Conns::Listed(_)));
        let seen = seen_of(&listed);
        assert_eq!(seen.len(), PACKED + 2);
        assert_eq!(seen[PACKED + 1], (format!("eni-{}", PACKED + 1), flag::REQ_REJECT));
        // Merging a packed pair into a listed one, and the other way round, loses nothing.
        let mut a = packed.clone();
        a.merge(listed.clone());
        let mut b = listed.clone();
        b.merge(packed);
        assert_eq!(seen_of(&a), seen);
        assert_eq!(seen_of(&b), seen);
    }

    #[test]
    fn merging_keeps_the_earliest_samples_whatever_the_order() {
        let mk = |lines: std::ops::Range<u64>| {
            let mut ev = CheckEvidence::default();
            for line in lines {
                ev.observe(Role::Request, &flow(Action::Accept, None, 6), || {
                    (Origin { file: 0, chunk: 0, line }, line.to_string())
                });
            }
            ev
        };
        let mut a = mk(10..20);
        a.merge(mk(0..10));
        let mut b = mk(0..10);
        b.merge(mk(10..20));
        let lines = |ev: &CheckEvidence| -> Vec<u64> {
            ev.pairs
                .values()
                .next()
                .unwrap()
                .samples
                .iter()
                .map(|s| s.origin.line)
                .collect()
        };
        assert_eq!(lines(&a), vec![0, 1, 2, 3]);
        assert_eq!(lines(&a), lines(&b));
        assert_eq!(a.pairs.values().next().unwrap().records.request_accept, 20);
    }
}
