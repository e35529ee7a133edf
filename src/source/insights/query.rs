//! Logs Insights query text for the checks of a plan.
//!
//! One query serves every check that reads the same log groups: it keeps the records with an
//! address some check can match (the narrower side of each check, as in the file source's
//! prefilter), then, in the aggregated form, collapses them to one row per connection, interface
//! and action, with counts and times. The exact matching and judging happen locally, on those
//! rows, with the same ledger as the file source, so both sources give the same verdicts for the
//! same records. The query therefore grows with the number of distinct host networks, not with
//! the number of expectations; it is split only when it would pass AWS's 10,000-character limit.
//!
//! Constructs used, each as AWS's Logs Insights syntax reference documents it
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/>):
//! - `parse @message "* * ..." as a, b, ...` (glob mode), for custom formats:
//!   CWL_QuerySyntax-Parse.html
//! - `filter` with `or`, `=`, and `in [..]` for set membership: CWL_QuerySyntax-Filter.html,
//!   CWL_QuerySyntax-operations-functions.html ("Boolean operators", "Comparison operators")
//! - `isIpInSubnet(field, "cidr")`: CWL_QuerySyntax-operations-functions.html ("IP address
//!   string functions")
//! - `stats count(*) as n, min(f) as a, max(f) as b by f1, f2, ...`: CWL_QuerySyntax-Stats.html
//! - `fields @ptr, @message, @logStream` and `limit`: CWL_QuerySyntax-Fields.html,
//!   CWL_QuerySyntax-Limit.html
//! - the fields Logs Insights discovers for the default flow-log format (srcAddr, dstAddr,
//!   srcPort, dstPort, protocol, startTime, endTime, action, logStatus, interfaceId):
//!   CWL_AnalyzeLogData-discoverable-fields.html

use std::fmt::Write;

use ipnet::IpNet;

use crate::resolve::Ranges;
use crate::source::format::{Field, Format};

/// AWS's limit on a query string.
pub const MAX_QUERY: usize = 10_000;

/// Rows one query returns at most; a result this long may have been cut.
pub const MAX_ROWS: usize = 10_000;

/// What the rows of a query hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// One row per connection, interface and action: `stats` on the server.
    Aggregated,
    /// One row per record (`@message`), judged locally as the file source does: for low volumes,
    /// and for emulators that do not run `stats`.
    Raw,
}

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
        Field::Other => return None,
    })
}

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
            iface: if has(Field::InterfaceId) { "interfaceId" } else { "@logStream" },
            has_log_status: has(Field::LogStatus),
        }
    }

    /// The fields an aggregated row is grouped by, in order.
    pub fn group_by(&self) -> Vec<&'static str> {
        let mut by = vec![self.iface, self.src, self.dst];
        by.extend(self.pkt_src);
        by.extend(self.pkt_dst);
        by.extend(["srcPort", "dstPort", "protocol", "action"]);
        by.extend(self.tcp_flags);
        if self.has_log_status {
            by.push("logStatus");
        }
        by
    }
}

/// `f in ["10.0.1.10", ...]` for single IPv4 addresses (their text has one form),
/// `isIpInSubnet(f, "...")` for networks and for IPv6 addresses (flow logs write them in full,
/// so comparing text would miss `2001:db8::10` written as `2001:0db8:0000:...:0010`).
fn terms(field: &str, nets: &[IpNet]) -> Vec<String> {
    let single_v4 = |n: &&IpNet| matches!(n, IpNet::V4(v) if v.prefix_len() == 32);
    let singles: Vec<String> = nets.iter().filter(single_v4).map(|n| format!("\"{}\"", n.addr())).collect();
    let mut out = Vec::new();
    if !singles.is_empty() {
        out.push(format!("{field} in [{}]", singles.join(", ")));
    }
    out.extend(
        nets.iter()
            .filter(|n| !single_v4(n))
            .map(|n| format!("isIpInSubnet({field}, \"{n}\")")),
    );
    out
}

/// The address filter for `nets`, on every address field the format has.
fn address_filter(fields: &Fields, nets: &[IpNet]) -> String {
    let mut clauses = Vec::new();
    for f in [Some(fields.src), Some(fields.dst), fields.pkt_src, fields.pkt_dst]
        .into_iter()
        .flatten()
    {
        clauses.extend(terms(f, nets));
    }
    clauses.join(" or ")
}

/// What a query asks for besides the address filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The records of the window, and its SKIPDATA records.
    Evidence,
    /// Accepted records just before the window, only to excuse late packets.
    Context,
}

fn render(fields: &Fields, rows: Rows, purpose: Purpose, filter: &str) -> String {
    let mut q = String::new();
    if let Some(parse) = &fields.parse {
        let _ = writeln!(q, "{parse}");
        q.push_str("| ");
    }
    let filter = match (purpose, fields.has_log_status) {
        (Purpose::Evidence, true) => format!("logStatus = \"SKIPDATA\" or {filter}"),
        (Purpose::Evidence, false) => filter.to_string(),
        (Purpose::Context, _) => format!("action = \"ACCEPT\" and ({filter})"),
    };
    let _ = writeln!(q, "filter {filter}");
    match rows {
        Rows::Aggregated => {
            let _ = write!(
                q,
                "| stats count(*) as records, min(startTime) as first, max(endTime) as last by {}",
                fields.group_by().join(", ")
            );
        }
        Rows::Raw => {
            let _ = write!(q, "| fields @ptr, @message, @logStream\n| limit {MAX_ROWS}");
        }
    }
    q
}

/// One query, and the networks its filter keeps (every address when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub text: String,
    pub nets: Option<Ranges>,
}

/// The queries for one format: the interesting networks packed into as few queries as the length
/// limit allows. Each query matches the records that have one of its networks at either end;
/// `None` (every address can matter) gives one query without an address filter.
pub fn queries(format: &Format, interesting: Option<&Ranges>, rows: Rows, purpose: Purpose) -> Vec<Query> {
    let fields = Fields::of(format);
    let Some(interesting) = interesting else {
        let all = if fields.has_log_status {
            "logStatus = \"OK\""
        } else {
            "action = \"ACCEPT\" or action = \"REJECT\""
        };
        let text = render(&fields, rows, purpose, all);
        return vec![Query { text, nets: None }];
    };
    let query = |batch: &[IpNet]| Query {
        text: render(&fields, rows, purpose, &address_filter(&fields, batch)),
        nets: Some(Ranges::of(batch, &[])),
    };
    let mut out = Vec::new();
    let mut batch: Vec<IpNet> = Vec::new();
    for net in interesting.networks() {
        batch.push(net);
        if query(&batch).text.len() > MAX_QUERY && batch.len() > 1 {
            let last = batch.pop().expect("two at least");
            out.push(query(&batch));
            batch = vec![last];
        }
    }
    if !batch.is_empty() {
        out.push(query(&batch));
    }
    debug_assert!(out.iter().all(|q| q.text.len() <= MAX_QUERY));
    out
}

#[cfg(test)]
mod tests;
