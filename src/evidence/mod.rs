//! The evidence model: what a source hands to the verdicts. Sources fill it record by record;
//! verdicts only read it. It sits at the bottom of the pipeline and imports nothing above it:
//! what was seen, and where it came from, but no judgement.
//!
//! Per check, flows are grouped by (client, server) address pair, then by connection (client
//! port, server port) and interface. Each interface keeps a small set of flags rather than the
//! records, and connections are counted by what they looked like (their [`Shape`]), so memory
//! grows with distinct connections while reading, and with distinct shapes after.

pub mod flows;
pub mod provenance;

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use std::fmt;
use std::net::IpAddr;

pub use provenance::{Provenance, QueryCost};

/// The last second of the year 9999: AWS writes epoch seconds, and a time past this one (say,
/// milliseconds) is a broken record, not a date to compute with.
pub const LAST_TIME: u64 = 253_402_300_799;

/// A Unix time in words (RFC 3339, seconds), as every message shows times.
pub fn time(secs: u64) -> String {
    if secs > LAST_TIME {
        return format!("@{secs}");
    }
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Accept,
    Reject,
}

/// One accepted or rejected flow record, as far as verdicts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Why the VPC refused it beyond security groups and network ACLs, when the format has
    /// `reject-reason` and AWS named one.
    pub reject_reason: Option<RejectReason>,
}

/// The `reject-reason` of a refused record (VPC flow logs version 8): a refusal that no security
/// group or network ACL made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// `BPA`: VPC Block Public Access.
    Bpa,
    /// `EC`: VPC encryption controls.
    EncryptionControls,
    /// A value AWS has added since: the refusal is still a refusal.
    Other,
}

impl RejectReason {
    /// The value as AWS writes it; `None` for `-` (no reason beyond the rules).
    pub fn parse(v: &str) -> Option<RejectReason> {
        match v {
            "-" => None,
            "BPA" => Some(RejectReason::Bpa),
            "EC" => Some(RejectReason::EncryptionControls),
            _ => Some(RejectReason::Other),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Bpa => "BPA",
            RejectReason::EncryptionControls => "EC",
            RejectReason::Other => "another reason",
        }
    }

    /// The refusal in words.
    pub fn words(self) -> &'static str {
        match self {
            RejectReason::Bpa => "refused by VPC Block Public Access",
            RejectReason::EncryptionControls => {
                "refused by VPC encryption controls (the traffic was not encrypted)"
            }
            RejectReason::Other => {
                "refused for a reason flowgate does not know (see reject-reason)"
            }
        }
    }

    /// What to do about it, in one sentence.
    pub fn remedy(self) -> &'static str {
        match self {
            RejectReason::Bpa => {
                "VPC Block Public Access refuses traffic through internet gateways in this Region whatever the security groups and network ACLs say: add an exclusion for the VPC or subnet, or change the BPA mode"
            }
            RejectReason::EncryptionControls => {
                "the VPC's encryption controls are in enforce mode and this traffic was not encrypted: encrypt it (TLS, or Nitro instances that encrypt in transit) or exclude the resource"
            }
            RejectReason::Other => {
                "AWS named why it refused the traffic in the reject-reason field of the records below"
            }
        }
    }
}

/// Why a transit gateway dropped packets: the `packets-lost-*` fields of its flow logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TgwDrop {
    NoRoute,
    Blackhole,
    MtuExceeded,
    TtlExpired,
}

impl TgwDrop {
    pub const ALL: [TgwDrop; 4] = [
        TgwDrop::NoRoute,
        TgwDrop::Blackhole,
        TgwDrop::MtuExceeded,
        TgwDrop::TtlExpired,
    ];

    pub fn words(self) -> &'static str {
        match self {
            TgwDrop::NoRoute => "no route",
            TgwDrop::Blackhole => "blackhole route",
            TgwDrop::MtuExceeded => "MTU exceeded",
            TgwDrop::TtlExpired => "TTL expired",
        }
    }

    /// The field AWS counts it in.
    pub fn field(self) -> &'static str {
        match self {
            TgwDrop::NoRoute => "packets-lost-no-route",
            TgwDrop::Blackhole => "packets-lost-blackhole",
            TgwDrop::MtuExceeded => "packets-lost-mtu-exceeded",
            TgwDrop::TtlExpired => "packets-lost-ttl-expired",
        }
    }
}

/// What a Transit Gateway flow-log record says beyond its flow: the gateway, the attachment the
/// flow crossed, and the packets it lost (indexed like `TgwDrop::ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TgwHop {
    pub tgw: IfaceId,
    pub attachment: IfaceId,
    pub lost: [u64; 4],
}

/// What transit gateways saw of one pair: records carried and packets dropped, by gateway,
/// attachment and direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TgwSeen {
    /// Records per (gateway, attachment, role).
    pub carried: BTreeMap<(IfaceId, IfaceId, Role), u64>,
    /// Packets lost per (gateway, attachment, role, reason).
    pub lost: BTreeMap<(IfaceId, IfaceId, Role, TgwDrop), u64>,
}

impl TgwSeen {
    /// `records` records of one hop; `hop.lost` holds the packets all of them lost.
    pub fn observe(&mut self, role: Role, hop: &TgwHop, records: u64) {
        *self
            .carried
            .entry((hop.tgw, hop.attachment, role))
            .or_default() += records;
        for (reason, n) in TgwDrop::ALL.into_iter().zip(hop.lost) {
            if n > 0 {
                *self
                    .lost
                    .entry((hop.tgw, hop.attachment, role, reason))
                    .or_default() += n;
            }
        }
    }

    pub fn merge(&mut self, o: &TgwSeen) {
        for (k, n) in &o.carried {
            *self.carried.entry(*k).or_default() += n;
        }
        for (k, n) in &o.lost {
            *self.lost.entry(*k).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.carried.is_empty()
    }

    /// Records carried in `role`.
    pub fn records(&self, role: Role) -> u64 {
        self.carried
            .iter()
            .filter(|((_, _, r), _)| *r == role)
            .map(|(_, n)| n)
            .sum()
    }
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
    /// Accepted just before the window: not judged, only used to recognise a late packet in the
    /// window as the end of a connection that began before it.
    pub const CTX_REQ_ACCEPT: u8 = 16;
    pub const CTX_REP_ACCEPT: u8 = 32;
    /// The interface logged the connection inside the window (late packets set no other flag).
    pub const SEEN: u8 = 64;
}

const TCP: u8 = 6;
const SYN: u8 = 2;

impl Flow {
    /// The flag this flow sets for `role`. AWS: REJECT also means "packets arrived after the
    /// connection was closed"; where tcp-flags show no SYN, that is what it was.
    pub fn flag(&self, role: Role) -> u8 {
        let late = self.protocol == TCP && self.tcp_flags.is_some_and(|f| f & SYN == 0);
        flag::SEEN
            | match (role, self.action, late) {
                (Role::Request, Action::Accept, _) => flag::REQ_ACCEPT,
                (Role::Reply, Action::Accept, _) => flag::REP_ACCEPT,
                (Role::Request, Action::Reject, false) => flag::REQ_REJECT,
                (Role::Reply, Action::Reject, false) => flag::REP_REJECT,
                (_, Action::Reject, true) => 0,
            }
    }

    /// The flag this flow sets for `role` when it lies just before the window: only acceptances
    /// count, and only to excuse late packets.
    pub fn context_flag(&self, role: Role) -> u8 {
        match (role, self.action) {
            (Role::Request, Action::Accept) => flag::CTX_REQ_ACCEPT,
            (Role::Reply, Action::Accept) => flag::CTX_REP_ACCEPT,
            (_, Action::Reject) => 0,
        }
    }
}

/// Where a record came from, for failure messages: `file:line`, ordered by file then line so
/// that samples are the same whatever order parallel workers finish in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
    pub fn add(&mut self, role: Role, action: Action, n: u64) {
        let slot = match (role, action) {
            (Role::Request, Action::Accept) => &mut self.request_accept,
            (Role::Request, Action::Reject) => &mut self.request_reject,
            (Role::Reply, Action::Accept) => &mut self.reply_accept,
            (Role::Reply, Action::Reject) => &mut self.reply_reject,
        };
        *slot += n;
    }

    pub fn merge(&mut self, o: &RecordCounts) {
        self.request_accept += o.request_accept;
        self.request_reject += o.request_reject;
        self.reply_accept += o.reply_accept;
        self.reply_reject += o.reply_reject;
    }
}

/// Samples kept per pair for each (role, action): enough to show, bounded regardless of volume.
pub const SAMPLES_PER_KIND: usize = 2;

/// What one connection looked like: the flags each interface that logged it set, and whether
/// its server port kept answering new connections from the client until after its request
/// (see [`Answering`]). Verdicts judge shapes; sources only count them.
///
/// Packed: one byte per interface view (the flags, and `KNOWN` when the interface id is in the
/// format), sorted, in a `u64`: at most [`Shape::VIEWS`] views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Shape {
    views: u64,
    /// The server port took new connections (SYN-ACK) from this client until after this
    /// connection's request began: `Answering::answered_throughout`.
    pub answered: bool,
}

impl Shape {
    /// Interface views a shape keeps; a connection seen on more is kept as one unknown view.
    pub const VIEWS: usize = 8;
    /// Set in a view when its interface id is known: the flag bits stay below it.
    const KNOWN: u8 = 0x80;

    /// The shape of a connection from what each interface saw of it (`flags` 0 views are kept:
    /// an interface that logged only a late packet). Beyond `VIEWS` interfaces, the views are
    /// merged into one whose interface is unknown, so that no REJECT is excused.
    pub fn new(seen: &[(IfaceId, u8)], answered: bool) -> Shape {
        let mut bytes: Vec<u8> = if seen.len() > Self::VIEWS {
            vec![seen.iter().fold(0, |acc, (_, f)| acc | f) & !Self::KNOWN]
        } else {
            seen.iter()
                .map(|(iface, f)| {
                    (f & !Self::KNOWN) | if iface.is_unknown() { 0 } else { Self::KNOWN }
                })
                .collect()
        };
        bytes.sort_unstable_by(|a, b| b.cmp(a));
        let mut packed = [0u8; 8];
        packed[..bytes.len()].copy_from_slice(&bytes);
        Shape {
            views: u64::from_le_bytes(packed),
            answered,
        }
    }

    /// What each interface saw: (its id is known, its flags).
    pub fn views(&self) -> impl Iterator<Item = (bool, u8)> + '_ {
        self.views
            .to_le_bytes()
            .into_iter()
            .take_while(|b| *b != 0)
            .map(|b| (b & Self::KNOWN != 0, b & !Self::KNOWN))
    }
}

/// What was seen between one client address and one server address: the records, and the
/// connections counted by shape (see `source::ledger`), not the connections themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairEvidence {
    /// Every interface that logged the pair.
    pub ifaces: Vec<IfaceId>,
    pub records: RecordCounts,
    pub first_seen: Option<u64>,
    pub last_seen: Option<u64>,
    pub samples: Vec<Sample>,
    /// Connections by what they looked like.
    pub connections: BTreeMap<Shape, u64>,
    /// The shape of each connection a sample belongs to, for choosing which samples to show.
    pub sampled: BTreeMap<(u16, u16), Shape>,
    /// The connection counts are Logs Insights' counts of distinct client ports per pair, not
    /// connections judged one by one (the pair was settled by its totals).
    pub estimated: bool,
    /// Refused records by the reason AWS gave beyond the rules (`reject-reason`).
    pub reject_reasons: BTreeMap<RejectReason, u64>,
    /// What transit gateways on the path saw of the pair (Transit Gateway flow logs).
    pub tgw: TgwSeen,
    /// The earliest Transit Gateway records of the pair (drops first), to show.
    pub tgw_samples: Vec<Sample>,
}

/// Whether a server port took new connections from a client during the window, and until when.
/// A connection whose accepted request got no reply is NO_RETURN, unless the same server port
/// answered a *new* connection from the same client (a TCP reply with SYN: a SYN-ACK) after that
/// request began (see `answered_throughout`): then the network path and the service both worked,
/// and the connection is only UNANSWERED (a lost packet, a full backlog). Requests that go on after
/// the last SYN-ACK are a service that stopped taking connections, even while an older pooled
/// connection still gets replies. Without tcp-flags, or for UDP and ICMP, no reply shows a new
/// connection, and nothing is excused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answering {
    /// The latest start of an accepted request record.
    pub last_request: Option<u64>,
    /// The latest end of an accepted reply record with SYN in its tcp-flags.
    pub last_new_answer: Option<u64>,
    /// An accepted record had no times: when the answers stopped cannot be told.
    pub untimed: bool,
}

impl Answering {
    /// Takes in accepted records of one role; `latest_start` is the latest start among them
    /// (a single record's own start).
    pub fn observe(&mut self, role: Role, flow: &Flow, latest_start: Option<u64>) {
        if flow.action != Action::Accept {
            return;
        }
        match role {
            Role::Request => match latest_start {
                Some(t) => self.last_request = max_opt(self.last_request, Some(t)),
                None => self.untimed = true,
            },
            Role::Reply => {
                let syn_ack = flow.protocol == TCP && flow.tcp_flags.is_some_and(|f| f & SYN != 0);
                match (syn_ack, flow.end) {
                    (true, Some(t)) => {
                        self.last_new_answer = max_opt(self.last_new_answer, Some(t))
                    }
                    (true, None) => self.untimed = true,
                    (false, _) => {}
                }
            }
        }
    }

    pub fn merge(&mut self, o: &Answering) {
        self.last_request = max_opt(self.last_request, o.last_request);
        self.last_new_answer = max_opt(self.last_new_answer, o.last_new_answer);
        self.untimed |= o.untimed;
    }

    /// Whether every accepted request began no later than the last SYN-ACK ended.
    pub fn answered_throughout(&self) -> bool {
        !self.untimed
            && self
                .last_new_answer
                .is_some_and(|r| self.last_request.is_none_or(|q| q <= r))
    }
}

/// What one reader counted of a pair, before connections are judged.
#[derive(Debug, Clone, Default)]
pub struct PairTally {
    pub records: RecordCounts,
    pub first_seen: Option<u64>,
    pub last_seen: Option<u64>,
    /// Per server port.
    pub answering: FxHashMap<u16, Answering>,
    pub reject_reasons: BTreeMap<RejectReason, u64>,
    pub tgw: TgwSeen,
}

impl PairTally {
    /// Counts `records` records of one connection in `role`; `latest_start` is the latest start
    /// among them (the record's own for a single one).
    pub fn observe(&mut self, role: Role, flow: &Flow, records: u64, latest_start: Option<u64>) {
        self.records.add(role, flow.action, records);
        if let (Action::Reject, Some(why)) = (flow.action, flow.reject_reason) {
            *self.reject_reasons.entry(why).or_default() += records;
        }
        if let Some(s) = flow.start {
            self.first_seen = Some(self.first_seen.map_or(s, |f| f.min(s)));
        }
        if let Some(e) = flow.end {
            self.last_seen = Some(self.last_seen.map_or(e, |l| l.max(e)));
        }
        if flow.action == Action::Accept {
            let server_port = match role {
                Role::Request => flow.dstport,
                Role::Reply => flow.srcport,
            };
            self.answering
                .entry(server_port)
                .or_default()
                .observe(role, flow, latest_start);
        }
    }

    pub fn merge(&mut self, other: PairTally) {
        self.records.merge(&other.records);
        self.first_seen = min_opt(self.first_seen, other.first_seen);
        self.last_seen = max_opt(self.last_seen, other.last_seen);
        for (port, a) in other.answering {
            self.answering.entry(port).or_default().merge(&a);
        }
        for (why, n) in other.reject_reasons {
            *self.reject_reasons.entry(why).or_default() += n;
        }
        self.tgw.merge(&other.tgw);
    }
}

/// The (role, action) of a record, as an index.
pub fn kind(role: Role, action: Action) -> usize {
    (role == Role::Reply) as usize * 2 + (action == Action::Reject) as usize
}

/// The earliest `SAMPLES_PER_KIND` records of each kind of a pair, whatever order they are
/// offered in.
#[derive(Debug, Clone, Default)]
pub struct SampleSet {
    samples: Vec<Sample>,
}

impl SampleSet {
    /// Keeps `s` if it is among the earliest of its kind. Returns the origin a later offer of that
    /// kind must come before to be kept, once the kind is full.
    pub fn offer(&mut self, s: Sample) -> Option<Origin> {
        let k = kind(s.role, s.action);
        let of_kind =
            |set: &Vec<Sample>| set.iter().filter(|x| kind(x.role, x.action) == k).count();
        if of_kind(&self.samples) == SAMPLES_PER_KIND {
            let latest = self
                .samples
                .iter()
                .enumerate()
                .filter(|(_, x)| kind(x.role, x.action) == k)
                .max_by_key(|(_, x)| x.origin)
                .map(|(i, _)| i)
                .expect("the kind is full");
            if s.origin >= self.samples[latest].origin {
                return Some(self.samples[latest].origin);
            }
            self.samples.swap_remove(latest);
        }
        self.samples.push(s);
        (of_kind(&self.samples) == SAMPLES_PER_KIND).then(|| {
            self.samples
                .iter()
                .filter(|x| kind(x.role, x.action) == k)
                .map(|x| x.origin)
                .max()
                .expect("the kind is full")
        })
    }

    /// The kept samples, in file and line order.
    pub fn into_sorted(mut self) -> Vec<Sample> {
        self.samples
            .sort_by_key(|s| (s.origin, kind(s.role, s.action)));
        self.samples
    }
}

pub fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Everything seen for one check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckEvidence {
    /// (client address, server address) → what was seen between them.
    pub pairs: BTreeMap<(IpAddr, IpAddr), PairEvidence>,
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
    /// Other evidence known to be missing, each in words (a log group with no records in the
    /// window, the last minutes of a window not delivered yet, a flow log created inside it).
    pub missing: Vec<String>,
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
        self.bad_line_samples.sort_by_key(|b| b.origin);
        self.bad_line_samples.truncate(BAD_LINES_KEPT);
        self.bad_files.extend(other.bad_files);
        self.bad_files.sort_by_key(|f| f.file);
        for (iface, n) in other.skipdata {
            *self.skipdata.entry(iface).or_default() += n;
        }
        self.no_records |= other.no_records;
        for m in other.missing {
            if !self.missing.contains(&m) {
                self.missing.push(m);
            }
        }
    }

    /// The gaps that bear on a check whose hosts have the interfaces `ifaces` (`None`: not
    /// known, so every interface may carry its records). SKIPDATA on another interface lost none
    /// of its records; SKIPDATA whose interface is not logged could be on any.
    pub fn bearing_on(&self, ifaces: Option<&BTreeSet<IfaceId>>) -> Gaps {
        let mut g = self.clone();
        if let Some(ifaces) = ifaces {
            g.skipdata
                .retain(|i, _| i.is_unknown() || ifaces.contains(i));
        }
        g
    }

    pub fn skipdata_records(&self) -> u64 {
        self.skipdata.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bad_lines == 0
            && self.bad_files.is_empty()
            && self.skipdata.is_empty()
            && !self.no_records
            && self.missing.is_empty()
    }
}

/// Volume figures for the run summary: what reading records found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of records read (after decompression).
    pub bytes: u64,
    /// VPC flow-log records: what says whether the window's evidence was delivered.
    pub records: u64,
    pub outside_window: u64,
    pub nodata: u64,
    /// Transit Gateway flow-log records, counted apart: they explain a path but never make a
    /// window without VPC records look delivered.
    pub tgw_records: u64,
    /// The earliest start and latest end of the records read: what the evidence spans.
    pub span: Option<(u64, u64)>,
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.bytes += o.bytes;
        self.records += o.records;
        self.outside_window += o.outside_window;
        self.nodata += o.nodata;
        self.tgw_records += o.tgw_records;
        if let Some((start, end)) = o.span {
            self.saw(start, end);
        }
    }

    /// Takes in a record's times.
    pub fn saw(&mut self, start: u64, end: u64) {
        self.span = Some(match self.span {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
    }
}

/// Why a check has no evidence at all (a source failed for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

/// All evidence of a run: one entry per check of the plan, in plan order, and the flows folded
/// for triage and observe.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub checks: Vec<Result<CheckEvidence, Unavailable>>,
    pub flows: flows::Folded,
    pub gaps: Gaps,
    pub stats: Stats,
    /// Names of the places records came from, indexed by `Origin::file`: files, S3 objects,
    /// queries.
    pub origins: Vec<String>,
    /// The field names of each origin's records (its header or format), where one format held
    /// for the whole origin; indexed like `origins` (shorter when unknown).
    pub columns: Vec<Option<String>>,
    /// For files read in parts: the lines before each part, indexed by file, then part.
    pub chunk_lines: Vec<Vec<u64>>,
    /// What each source read, asked and cost.
    pub provenance: Vec<Provenance>,
    /// What the user should know about the evidence that is not a gap, in words.
    pub notes: Vec<String>,
}

impl Evidence {
    /// Takes in the evidence of another reading, whose checks are the checks `ids` of this
    /// one (in that order): its places are numbered after this one's.
    pub fn absorb(&mut self, other: Evidence, ids: &[usize]) {
        let offset = self.origins.len() as u32;
        let shift = |o: &mut Origin| o.file += offset;
        for (i, mut check) in ids.iter().zip(other.checks) {
            if let Ok(c) = &mut check {
                for p in c.pairs.values_mut() {
                    p.samples.iter_mut().for_each(|s| shift(&mut s.origin));
                    p.tgw_samples.iter_mut().for_each(|s| shift(&mut s.origin));
                }
            }
            self.checks[*i] = check;
        }
        let mut gaps = other.gaps;
        gaps.bad_line_samples
            .iter_mut()
            .for_each(|b| shift(&mut b.origin));
        gaps.bad_files.iter_mut().for_each(|f| f.file += offset);
        self.gaps.merge(gaps);
        self.stats.merge(&other.stats);
        self.flows.merge(other.flows);
        // Lines before each part are kept per file: pad to this reading's files first.
        self.chunk_lines.resize(self.origins.len(), Vec::new());
        self.chunk_lines.extend(other.chunk_lines);
        self.columns.resize(self.origins.len(), None);
        let mut columns = other.columns;
        columns.resize(other.origins.len(), None);
        self.columns.extend(columns);
        self.origins.extend(other.origins);
        self.provenance.extend(other.provenance);
        for n in other.notes {
            if !self.notes.contains(&n) {
                self.notes.push(n);
            }
        }
    }

    pub fn origin(&self, o: &Origin) -> String {
        let file = self
            .origins
            .get(o.file as usize)
            .map_or("?", String::as_str);
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

    #[test]
    fn skipdata_bears_only_on_checks_whose_interfaces_it_is_on() {
        let id = |s: &str| IfaceId::new(s).unwrap();
        let mut g = Gaps::default();
        g.skipdata.insert(id("eni-other"), 3);
        let mine: BTreeSet<IfaceId> = [id("eni-web"), id("eni-app")].into_iter().collect();
        assert!(g.bearing_on(Some(&mine)).is_empty());
        assert!(
            !g.bearing_on(None).is_empty(),
            "interfaces unknown: any SKIPDATA counts"
        );
        g.skipdata.insert(id("eni-app"), 1);
        g.skipdata.insert(IfaceId::UNKNOWN, 1);
        let kept = g.bearing_on(Some(&mine));
        assert_eq!(
            kept.skipdata.keys().copied().collect::<Vec<_>>(),
            [IfaceId::UNKNOWN, id("eni-app")]
        );
    }

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
            reject_reason: None,
        }
    }

    #[test]
    fn a_tcp_reject_without_syn_is_late_but_only_for_tcp() {
        let f =
            |action, flags, protocol, role| flow(action, flags, protocol).flag(role) & !flag::SEEN;
        assert_eq!(
            f(Action::Reject, Some(2), 6, Role::Request),
            flag::REQ_REJECT
        );
        assert_eq!(
            f(Action::Reject, Some(18), 6, Role::Reply),
            flag::REP_REJECT
        );
        assert_eq!(f(Action::Reject, Some(1), 6, Role::Request), 0);
        assert_eq!(f(Action::Reject, Some(4), 6, Role::Reply), 0);
        assert_eq!(
            f(Action::Reject, None, 6, Role::Request),
            flag::REQ_REJECT,
            "flags unknown"
        );
        assert_eq!(
            f(Action::Reject, Some(0), 17, Role::Request),
            flag::REQ_REJECT,
            "udp has no SYN"
        );
    }
}
