//! Logs Insights query text for the checks of a plan.
//!
//! Evidence is asked for in two steps. First, one query per family of log groups (one record
//! format) and batch of networks keeps the records with an address some check can match (the
//! narrower side of each check, as in the file source's prefilter) and collapses them to one row
//! per interface, address pair, protocol and action, with record counts, times and the span of
//! ports on each side (`Ask::Pairs`). Most pairs are settled by those totals (see `settle`);
//! the others, where accepts and rejects mix or the check fails, are asked again connection by
//! connection, for just those pairs (`Ask::Connections`, with the earliest record of each row
//! to show), and judged by the same ledger as the file source. Each query has a twin over the ten
//! minutes before the window, for records that began there and overlap it (see `Ask`). The number of queries therefore follows the distinct host networks and the
//! troubled pairs, not the expectations; a query is split only where it would pass AWS's
//! 10,000-character limit.
//!
//! Constructs used, each as AWS's Logs Insights syntax reference documents it
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/>):
//! - `parse @message "* * ..." as a, b, ...` (glob mode), for custom formats:
//!   CWL_QuerySyntax-Parse.html
//! - `filter` with `and`, `or`, `=`, and `in [..]` for set membership: CWL_QuerySyntax-Filter.html,
//!   CWL_QuerySyntax-operations-functions.html ("Boolean operators", "Comparison operators")
//! - `isIpInSubnet(field, "cidr")`: CWL_QuerySyntax-operations-functions.html ("IP address
//!   string functions")
//! - `stats count(*) as n, count_distinct(f) as d, min(f) as a, max(f) as b,
//!   earliest(@message) as m by f1, f2, ...`: CWL_QuerySyntax-Stats.html,
//!   CWL_QuerySyntax-operations-functions.html ("Aggregation functions in the stats command",
//!   "Non-aggregation functions in the stats command")
//! - `fields @ptr, @message, @logStream` and `limit`: CWL_QuerySyntax-Fields.html,
//!   CWL_QuerySyntax-Limit.html
//! - the fields Logs Insights discovers for the default flow-log format (srcAddr, dstAddr,
//!   srcPort, dstPort, protocol, startTime, endTime, action, logStatus, interfaceId):
//!   CWL_AnalyzeLogData-discoverable-fields.html

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::evidence::Action;
use crate::evidence::flows::Fold;
use crate::resolve::Ranges;
use crate::source::aggregate::{Ask, Job, Target, unordered};
use crate::source::format::{Field, Format};

/// AWS's limit on a query string.
pub const MAX_QUERY: usize = 10_000;

/// Rows one query returns at most; a result this long may have been cut.
pub const MAX_ROWS: usize = 10_000;

/// The field names a query uses for a format: those Logs Insights discovers for the default
/// format, and the same names, given by `parse`, for a custom one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// `parse` clause for a custom format; `None` for the default format.
    parse: Option<String>,
    /// The field holding each flowgate field, if the format has it.
    pub src: &'static str,
    pub dst: &'static str,
    pub pkt_src: Option<&'static str>,
    pub pkt_dst: Option<&'static str>,
    pub tcp_flags: Option<&'static str>,
    /// `interfaceId`, or `@logStream` (one stream per interface) when the format has no
    /// interface-id.
    pub iface: &'static str,
    pub has_log_status: bool,
    /// Transit Gateway records: the gateway's fields the format has (tgw-id,
    /// tgw-attachment-id) and its packets-lost fields, by `LOST`'s order.
    pub tgw: Option<TgwFields>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgwFields {
    pub tgw_id: Option<&'static str>,
    pub attachment: Option<&'static str>,
    pub lost: [Option<&'static str>; 4],
}

/// The name a query gives a flow-log field: the discovered name where Logs Insights has one.
fn query_name(f: Field) -> Option<&'static str> {
    Some(match f {
        Field::Version => "version",
        Field::InterfaceId => "interfaceId",
        Field::SrcAddr => "srcAddr",
        Field::DstAddr => "dstAddr",
        Field::SrcPort => "srcPort",
        Field::DstPort => "dstPort",
        Field::Protocol => "protocol",
        Field::Packets => "packets",
        Field::Bytes => "bytes",
        Field::Start => "startTime",
        Field::End => "endTime",
        Field::Action => "action",
        Field::LogStatus => "logStatus",
        Field::TcpFlags => "tcpFlags",
        Field::PktSrcAddr => "pktSrcAddr",
        Field::PktDstAddr => "pktDstAddr",
        Field::RejectReason => "rejectReason",
        Field::TgwId => "tgwId",
        Field::TgwAttachmentId => "tgwAttachmentId",
        Field::LostNoRoute => "packetsLostNoRoute",
        Field::LostBlackhole => "packetsLostBlackhole",
        Field::LostMtu => "packetsLostMtuExceeded",
        Field::LostTtl => "packetsLostTtlExpired",
        Field::TgwOther | Field::Other => return None,
    })
}

/// The packets-lost fields of Transit Gateway records, in the order of `TgwDrop::ALL`.
pub const LOST: [Field; 4] = [
    Field::LostNoRoute,
    Field::LostBlackhole,
    Field::LostMtu,
    Field::LostTtl,
];

impl Fields {
    pub fn of(format: &Format) -> Fields {
        let has = |f| format.has(f);
        let parse = (format != &Format::default_v2()).then(|| {
            let stars = vec!["*"; format.columns.len()].join(" ");
            let names: Vec<String> = format
                .columns
                .iter()
                .enumerate()
                .map(|(i, f)| query_name(*f).map_or_else(|| format!("other{i}"), str::to_string))
                .collect();
            format!("parse @message \"{stars}\" as {}", names.join(", "))
        });
        Fields {
            parse,
            src: "srcAddr",
            dst: "dstAddr",
            pkt_src: has(Field::PktSrcAddr).then_some("pktSrcAddr"),
            pkt_dst: has(Field::PktDstAddr).then_some("pktDstAddr"),
            tcp_flags: has(Field::TcpFlags).then_some("tcpFlags"),
            iface: if has(Field::InterfaceId) {
                "interfaceId"
            } else {
                "@logStream"
            },
            has_log_status: has(Field::LogStatus),
            tgw: format.is_tgw().then(|| {
                let named = |f: Field| has(f).then(|| query_name(f).expect("named"));
                TgwFields {
                    tgw_id: named(Field::TgwId),
                    attachment: named(Field::TgwAttachmentId),
                    lost: LOST.map(named),
                }
            }),
        }
    }

    /// The fields a row of Transit Gateway records is grouped by, in order: the gateway and
    /// attachment, the connection, and the packets lost (a row's records lost as many each, so
    /// no field is summed).
    pub fn hop_group(&self) -> Vec<&'static str> {
        let Some(t) = &self.tgw else {
            return Vec::new();
        };
        let mut by: Vec<&'static str> = [t.tgw_id, t.attachment].into_iter().flatten().collect();
        by.extend([self.src, self.dst, "srcPort", "dstPort", "protocol"]);
        by.extend(t.lost.iter().flatten());
        by
    }

    /// The address fields of a record, own and packet-level.
    fn addresses(&self) -> impl Iterator<Item = &'static str> {
        [Some(self.src), Some(self.dst), self.pkt_src, self.pkt_dst]
            .into_iter()
            .flatten()
    }

    /// The fields a pair row is grouped by, in order.
    pub fn pair_group(&self) -> Vec<&'static str> {
        let mut by = vec![self.iface];
        by.extend(self.addresses());
        by.extend(["protocol", "action"]);
        by.extend(self.tcp_flags);
        if self.has_log_status {
            by.push("logStatus");
        }
        by
    }

    /// The fields a row of folded flows is grouped by, in order (see `evidence::flows`). Where
    /// the format has the packet's own addresses, those are what a row is about.
    pub fn flow_group(&self, fold: Fold) -> Vec<&'static str> {
        let mut by = Vec::new();
        if self.has_log_status {
            by.push("logStatus");
        }
        by.extend(self.addresses());
        if fold == Fold::Tuple {
            by.push("srcPort");
        }
        by.extend(["dstPort", "protocol", "action"]);
        // Under either fold: triage tells late packets (no SYN among a flow's flags) from blocks.
        by.extend(self.tcp_flags);
        by
    }

    /// The fields a connection row is grouped by, in order.
    pub fn connection_group(&self) -> Vec<&'static str> {
        let mut by = vec![self.iface];
        by.extend(self.addresses());
        by.extend(["srcPort", "dstPort", "protocol", "action"]);
        by.extend(self.tcp_flags);
        if self.has_log_status {
            by.push("logStatus");
        }
        by
    }
}

/// The text of an address in a query: flow logs write IPv4 addresses in one form, so text
/// comparison works; IPv6 ones are written in full, so they are compared as networks
/// (`2001:db8::10` and `2001:0db8:0000:...:0010` are the same address).
pub fn is_single_v4(n: &IpNet) -> bool {
    matches!(n, IpNet::V4(v) if v.prefix_len() == 32)
}

/// `f in ["10.0.1.10", ...]` for single IPv4 addresses, `isIpInSubnet(f, "...")` for networks
/// and IPv6 addresses.
fn terms(field: &str, nets: &[IpNet]) -> Vec<String> {
    let singles: Vec<String> = nets
        .iter()
        .filter(|n| is_single_v4(n))
        .map(|n| format!("\"{}\"", n.addr()))
        .collect();
    let mut out = Vec::new();
    if !singles.is_empty() {
        out.push(format!("{field} in [{}]", singles.join(", ")));
    }
    out.extend(
        nets.iter()
            .filter(|n| !is_single_v4(n))
            .map(|n| format!("isIpInSubnet({field}, \"{n}\")")),
    );
    out
}

/// `srcAddr = "10.0.1.10"`, or with packet-level addresses, either of them.
fn is_addr(own: &str, pkt: Option<&str>, addr: IpAddr) -> String {
    let net = IpNet::from(addr);
    let one = |f: &str| {
        if is_single_v4(&net) {
            format!("{f} = \"{addr}\"")
        } else {
            format!("isIpInSubnet({f}, \"{net}\")")
        }
    };
    match pkt {
        None => one(own),
        Some(p) => format!("({} or {})", one(own), one(p)),
    }
}

/// The filter for records between the two addresses of `pair`, either way.
fn pair_filter(fields: &Fields, (a, b): (IpAddr, IpAddr)) -> String {
    let way = |x, y| {
        format!(
            "({} and {})",
            is_addr(fields.src, fields.pkt_src, x),
            is_addr(fields.dst, fields.pkt_dst, y)
        )
    };
    if a == b {
        way(a, b)
    } else {
        format!("{} or {}", way(a, b), way(b, a))
    }
}

/// `skipdata`: whether a query of records also returns the SKIPDATA records (the first queries
/// over networks do; the drill-down into pairs does not, as they have been counted). Queries of
/// totals never do: `Ask::SkipData` counts those.
fn render(fields: &Fields, ask: Ask, filter: &str, skipdata: bool) -> String {
    let mut q = String::new();
    if let Some(parse) = &fields.parse {
        let _ = writeln!(q, "{parse}");
        q.push_str("| ");
    }
    let filter = if skipdata && fields.has_log_status && ask.is_records() {
        format!("logStatus = \"SKIPDATA\" or {filter}")
    } else {
        filter.to_string()
    };
    let _ = writeln!(q, "filter {filter}");
    let times = "min(startTime) as first, max(startTime) as lastStart, max(endTime) as last";
    let by = |mut by: Vec<&'static str>| {
        if ask.is_edge() {
            by.push("endTime");
        }
        by.join(", ")
    };
    match ask {
        Ask::Pairs | Ask::PairsEdge => {
            let _ = write!(
                q,
                "| stats count(*) as records, {times}, \
                 min(srcPort) as srcPortLow, max(srcPort) as srcPortHigh, count_distinct(srcPort) as srcPorts, \
                 min(dstPort) as dstPortLow, max(dstPort) as dstPortHigh, count_distinct(dstPort) as dstPorts \
                 by {}",
                by(fields.pair_group())
            );
        }
        Ask::Connections | Ask::ConnectionsEdge => {
            let _ = write!(
                q,
                "| stats count(*) as records, {times}, earliest(@message) as sample by {}",
                by(fields.connection_group())
            );
        }
        Ask::Flows(fold) | Ask::FlowsEdge(fold) => {
            let _ = write!(
                q,
                "| stats count(*) as records, min(startTime) as first, max(endTime) as last, min(srcPort) as srcPortLow, max(srcPort) as srcPortHigh by {}",
                by(fields.flow_group(fold))
            );
        }
        Ask::Hops | Ask::HopsEdge => {
            let _ = write!(
                q,
                "| stats count(*) as records, {times}, earliest(@message) as sample by {}",
                by(fields.hop_group())
            );
        }
        Ask::Records | Ask::RecordsEdge => {
            let _ = write!(q, "| fields @ptr, @message, @logStream\n| limit {MAX_ROWS}");
        }
        Ask::SkipData | Ask::SkipDataEdge => {
            let _ = write!(
                q,
                "| stats count(*) as records, max(endTime) as last by {}",
                by(vec![fields.iface])
            );
        }
    }
    q
}

/// The query of the SKIPDATA records of a format, per interface: none when the format has no
/// log-status (then a SKIPDATA record cannot be told from NODATA; the records say so).
pub fn skipdata(format: &Format, ask: Ask) -> Vec<Query> {
    let fields = Fields::of(format);
    if !fields.has_log_status {
        return Vec::new();
    }
    vec![Query {
        ask,
        text: render(&fields, ask, "logStatus = \"SKIPDATA\"", false),
        scope: Scope::All,
    }]
}

/// The records a query reports: which of the records it returns it is the one to count, when
/// queries overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every record.
    All,
    /// Records with an address in these networks, at either end.
    Nets(Ranges),
    /// Records between the two addresses of one of these pairs (each written low address first).
    Pairs(BTreeSet<(IpAddr, IpAddr)>),
}

/// One query, and the records it is there for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub ask: Ask,
    pub text: String,
    pub scope: Scope,
}

/// Packs items into as few queries as the length limit `max` allows, in order (Athena's
/// limit is not Logs Insights').
pub fn pack<T: Clone>(items: &[T], max: usize, query: impl Fn(&[T]) -> Query) -> Vec<Query> {
    let mut out = Vec::new();
    let mut batch: Vec<T> = Vec::new();
    for item in items {
        batch.push(item.clone());
        if query(&batch).text.len() > max && batch.len() > 1 {
            let last = batch.pop().expect("two at least");
            out.push(query(&batch));
            batch = vec![last];
        }
    }
    if !batch.is_empty() {
        out.push(query(&batch));
    }
    debug_assert!(out.iter().all(|q| q.text.len() <= max));
    out
}

/// The queries a job becomes.
pub fn for_job(format: &Format, job: &Job) -> Vec<Query> {
    if matches!(job.ask, Ask::SkipData | Ask::SkipDataEdge) {
        return skipdata(format, job.ask);
    }
    match &job.target {
        Target::Networks { nets, action } => by_networks(format, nets.as_ref(), job.ask, *action),
        Target::Pairs(pairs) => by_pairs(format, pairs, job.ask),
    }
}

/// The queries for one format over networks: the interesting networks packed into as few
/// queries as the length limit allows, each matching the records that have one of its networks
/// at either end (and `action`, when given). `None` (every address can matter) gives one query
/// without an address filter.
pub fn by_networks(
    format: &Format,
    interesting: Option<&Ranges>,
    ask: Ask,
    action: Option<Action>,
) -> Vec<Query> {
    let fields = Fields::of(format);
    let with_action = |filter: String| match action {
        None => filter,
        Some(a) => format!("(action = \"{}\" and ({filter}))", action_name(a)),
    };
    let Some(interesting) = interesting else {
        let all = match (action, fields.has_log_status) {
            (Some(a), _) => format!("action = \"{}\"", action_name(a)),
            (None, true) => "logStatus = \"OK\"".to_string(),
            // A transit gateway's records have no action; those without a flow have `-`.
            (None, false) if fields.tgw.is_some() => format!("{} != \"-\"", fields.src),
            (None, false) => "action = \"ACCEPT\" or action = \"REJECT\"".to_string(),
        };
        let text = render(&fields, ask, &all, true);
        return vec![Query {
            ask,
            text,
            scope: Scope::All,
        }];
    };
    let filter = |nets: &[IpNet]| -> String {
        let mut clauses = Vec::new();
        for f in fields.addresses() {
            clauses.extend(terms(f, nets));
        }
        with_action(clauses.join(" or "))
    };
    pack(&interesting.networks(), MAX_QUERY, |batch| Query {
        ask,
        text: render(&fields, ask, &filter(batch), true),
        scope: Scope::Nets(Ranges::of(batch, &[])),
    })
}

/// The queries for one format about a set of address pairs, each matching the records between
/// the two addresses of one of its pairs, either way.
pub fn by_pairs(format: &Format, pairs: &BTreeSet<(IpAddr, IpAddr)>, ask: Ask) -> Vec<Query> {
    let fields = Fields::of(format);
    let pairs: Vec<(IpAddr, IpAddr)> = pairs.iter().copied().collect();
    pack(&pairs, MAX_QUERY, |batch| {
        let clauses: Vec<String> = batch.iter().map(|p| pair_filter(&fields, *p)).collect();
        Query {
            ask,
            text: render(&fields, ask, &clauses.join(" or "), false),
            scope: Scope::Pairs(batch.iter().copied().collect()),
        }
    })
}

/// Whether query `batch` of `batches` (queries of one format and kind) is the one to report a
/// record, so that every record counts once however many queries return it. `own` is its
/// (source, destination) as judged: the packet-level addresses where the format has them. A
/// query returns every record with one of these in its scope, so the first such query reports
/// it; one returned only for another address matters to no check. Records without addresses
/// (SKIPDATA) come from every query; the first reports them.
pub fn reports(batches: &[Query], batch: usize, own: Option<(IpAddr, IpAddr)>) -> bool {
    let Some((s, d)) = own else {
        return batch == 0;
    };
    let first = batches.iter().position(|q| match &q.scope {
        Scope::All => true,
        Scope::Nets(n) => n.contains(s) || n.contains(d),
        Scope::Pairs(p) => p.contains(&unordered(s, d)),
    });
    first == Some(batch)
}

pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Accept => "ACCEPT",
        Action::Reject => "REJECT",
    }
}

#[cfg(test)]
mod tests;
