//! Athena (Trino) SQL for the jobs of the shared protocol (see `source::aggregate`): the same
//! questions as the Logs Insights queries, with the same result column names, so that one
//! decoder reads both engines' rows.
//!
//! Every statement is pruned by partition first: the table's account and region keys hold the
//! accounts and region of the run, its date (and hour) keys the days (and hours) whose folders
//! can hold records of the range: S3 files sit under the time they were written, up to
//! `layout::AFTER` after their records began. Then the records' own start time, the addresses
//! (exact IPv4 addresses as lists, networks and IPv6 addresses through Trino's `contains(cidr,
//! ipaddress)`), and the action. Only values flowgate produced reach the text: addresses and
//! networks it parsed, numbers, partition values it formatted, and the table's identifiers,
//! quoted.
//!
//! Constructs, each as Trino documents them (<https://trino.io/docs/current/>): `IN`, `BETWEEN`,
//! `count(*)`, `count(DISTINCT x)`, `min`, `max`, `min_by(x, y)` (functions/aggregate.html),
//! `contains(varchar, ipaddress)` and `TRY_CAST(x AS IPADDRESS)` (functions/ip.html,
//! functions/conversion.html), `concat_ws` and `coalesce` (functions/string.html,
//! functions/conditional.html), `DATE '...'` literals (language/types.html).

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;

use super::table::{Part, Table, quote};
use crate::evidence::Action;
use crate::resolve::Ranges;
use crate::source::aggregate::{Ask, Job, Target};
use crate::source::format::Field;
use crate::source::insights::query::{Fields, Query, Scope, action_name, is_single_v4, pack};
use crate::source::s3::layout;

/// Athena's limit on a query string (262,144 bytes), less room for what a client adds.
pub const MAX_SQL: usize = 260_000;

/// Writes the statements of jobs over one table, for a run in `region`.
pub struct Writer<'t> {
    pub table: &'t Table,
    region: Option<&'t str>,
    fields: Fields,
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn list(values: &[String]) -> String {
    values.join(", ")
}

/// A number as a key holds it: an integer, or text of `width` digits.
fn number(numeric: bool, n: u32, width: usize) -> String {
    if numeric {
        n.to_string()
    } else {
        format!("'{n:0width$}'")
    }
}

/// A day's value of one of its keys, as SQL.
fn day_value(k: &super::table::Key, d: time::Date) -> String {
    match &k.part {
        Part::Date(key) => key.render(d),
        Part::Year => number(k.numeric, d.year() as u32, 4),
        Part::Month => number(k.numeric, u8::from(d.month()).into(), 2),
        Part::DayOfMonth => number(k.numeric, d.day().into(), 2),
        _ => unreachable!("a day's key"),
    }
}

/// A value as Trino casts it to text: what the coverage query's `partition` column holds.
fn as_text(sql: &str) -> String {
    let s = sql.strip_prefix("DATE ").unwrap_or(sql);
    s.trim_matches('\'').to_string()
}

impl<'t> Writer<'t> {
    pub fn new(table: &'t Table, region: Option<&'t str>) -> Writer<'t> {
        Writer {
            table,
            region,
            fields: Fields::of(&table.format),
        }
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    fn col(&self, f: Field) -> String {
        self.table.column(f).unwrap_or_else(|| "NULL".to_string())
    }

    /// The expression behind a result column the decoder reads (Logs Insights' names).
    fn expr(&self, name: &str) -> String {
        match name {
            "interfaceId" => self.col(Field::InterfaceId),
            // No interface-id column: the interface is unknown, as `-` in a record says.
            "@logStream" => "'-'".to_string(),
            "srcAddr" => self.col(Field::SrcAddr),
            "dstAddr" => self.col(Field::DstAddr),
            "pktSrcAddr" => self.col(Field::PktSrcAddr),
            "pktDstAddr" => self.col(Field::PktDstAddr),
            "srcPort" => self.col(Field::SrcPort),
            "dstPort" => self.col(Field::DstPort),
            "protocol" => self.col(Field::Protocol),
            "action" => self.col(Field::Action),
            "tcpFlags" => self.col(Field::TcpFlags),
            "logStatus" => self.col(Field::LogStatus),
            "endTime" => self.col(Field::End),
            other => unreachable!("no column behind {other}"),
        }
    }

    /// The record as a flow-log line, its fields in the table's order and `-` for none: what
    /// samples show and what a raw query's rows are read as.
    fn record_text(&self) -> String {
        let parts: Vec<String> = self
            .table
            .columns
            .iter()
            .map(|c| format!("coalesce(CAST({} AS varchar), '-')", quote(c)))
            .collect();
        format!("concat_ws(' ', {})", parts.join(", "))
    }

    /// The partition predicates for records that began in `range`. The region is the run's
    /// (where the hosts were resolved); accounts are every one the table's projection lists:
    /// the folder of a host's records is its flow log's owner's (a shared VPC's owner logs its
    /// participants' interfaces; a host given by address names no account), so no host narrows
    /// them.
    pub fn prune(&self, range: (u64, u64)) -> Vec<String> {
        let folders = (range.0, range.1.saturating_add(layout::AFTER));
        let days = layout::days(folders);
        let mut out = Vec::new();
        for k in &self.table.keys {
            match k.part {
                Part::Account if !k.values.is_empty() => {
                    let vs: Vec<String> = k.values.iter().map(|v| literal(v)).collect();
                    out.push(format!("{} IN ({})", quote(&k.name), list(&vs)));
                }
                Part::Region => {
                    if let Some(r) = self.region {
                        out.push(format!("{} IN ({})", quote(&k.name), literal(r)));
                    }
                }
                Part::Service => out.push(format!("{} = 'vpcflowlogs'", quote(&k.name))),
                _ => {}
            }
        }
        // One day's own keys: a date key, or the Hive layout's year, month and day.
        let day_terms = |d: time::Date| -> Vec<String> {
            self.table
                .time_keys()
                .filter(|k| k.part != Part::Hour)
                .map(|k| format!("{} = {}", quote(&k.name), day_value(k, d)))
                .collect()
        };
        let hour = self.table.keys.iter().find(|k| k.part == Part::Hour);
        let single_date = self
            .table
            .keys
            .iter()
            .filter(|k| matches!(k.part, Part::Date(_)))
            .count()
            == 1
            && !self
                .table
                .keys
                .iter()
                .any(|k| matches!(k.part, Part::Year | Part::Month | Part::DayOfMonth));
        match (hour, single_date) {
            (None, true) => {
                let k = self
                    .table
                    .keys
                    .iter()
                    .find(|k| matches!(k.part, Part::Date(_)))
                    .expect("a date key");
                let Part::Date(key) = &k.part else {
                    unreachable!()
                };
                let vs: Vec<String> = days.iter().map(|d| key.render(*d)).collect();
                out.push(format!("{} IN ({})", quote(&k.name), list(&vs)));
            }
            _ => {
                let each: Vec<String> = days
                    .iter()
                    .map(|d| {
                        let mut terms = day_terms(*d);
                        if let Some(h) = hour {
                            let hs: Vec<String> = layout::hours(*d, folders)
                                .into_iter()
                                .map(|n| number(h.numeric, n.into(), 2))
                                .collect();
                            terms.push(format!("{} IN ({})", quote(&h.name), list(&hs)));
                        }
                        format!("({})", terms.join(" AND "))
                    })
                    .collect();
                out.push(match each.as_slice() {
                    [one] => one.clone(),
                    _ => format!("({})", each.join(" OR ")),
                });
            }
        }
        out
    }

    /// `col IN ('10.0.1.10', ...)` for single IPv4 addresses (flow logs write them in one
    /// form), `contains('net', TRY_CAST(col AS IPADDRESS))` for networks and IPv6 addresses
    /// (written in full or short, the same address). TRY_CAST: SKIPDATA and NODATA records
    /// hold `-`.
    fn terms(&self, col: &str, nets: &[IpNet]) -> Vec<String> {
        let singles: Vec<String> = nets
            .iter()
            .filter(|n| is_single_v4(n))
            .map(|n| literal(&n.addr().to_string()))
            .collect();
        let mut out = Vec::new();
        if !singles.is_empty() {
            out.push(format!("{col} IN ({})", list(&singles)));
        }
        out.extend(nets.iter().filter(|n| !is_single_v4(n)).map(|n| {
            format!(
                "contains({}, TRY_CAST({col} AS IPADDRESS))",
                literal(&n.to_string())
            )
        }));
        out
    }

    fn address_columns(&self) -> Vec<(String, Option<String>)> {
        vec![
            (
                self.col(Field::SrcAddr),
                self.table.column(Field::PktSrcAddr),
            ),
            (
                self.col(Field::DstAddr),
                self.table.column(Field::PktDstAddr),
            ),
        ]
    }

    fn is_addr(&self, own: &str, pkt: Option<&str>, addr: IpAddr) -> String {
        let one = |c: &str| self.terms(c, &[IpNet::from(addr)]).join(" OR ");
        match pkt {
            None => one(own),
            Some(p) => format!("({} OR {})", one(own), one(p)),
        }
    }

    fn pair_filter(&self, (a, b): (IpAddr, IpAddr)) -> String {
        let cols = self.address_columns();
        let (src, dst) = (&cols[0], &cols[1]);
        let way = |x, y| {
            format!(
                "({} AND {})",
                self.is_addr(&src.0, src.1.as_deref(), x),
                self.is_addr(&dst.0, dst.1.as_deref(), y)
            )
        };
        if a == b {
            way(a, b)
        } else {
            format!("{} OR {}", way(a, b), way(b, a))
        }
    }

    /// The days a window's records must be in when its flow logs are delivered, as the
    /// coverage query's `partition` column begins: those that lie, at least in part, between
    /// 20 minutes after its start (a record that began at the start sits in a folder up to
    /// `layout::AFTER` later) and its end. Days, not hours: a quiet hour is no gap, a day of a
    /// window without one record in a flow-logged VPC is (a partition not registered, or lost).
    pub fn expected_days(&self, (start, end): (u64, u64)) -> Vec<String> {
        let span = (start.saturating_add(layout::AFTER), end);
        if span.0 > span.1 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for d in layout::days(span) {
            let day: Vec<String> = self
                .table
                .time_keys()
                .filter(|k| k.part != Part::Hour)
                .map(|k| as_text(&day_value(k, d)))
                .collect();
            out.push(day.join("/"));
        }
        out
    }

    /// The names of the day's keys, as the `partition` column begins.
    pub fn day_names(&self) -> String {
        self.table
            .time_keys()
            .filter(|k| k.part != Part::Hour)
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The query that counts every record of the range per status and partition, with the
    /// SKIPDATA records per interface (others are not told apart by interface, so that the
    /// answer stays small at any number of interfaces), and the records whose source address is
    /// no address (a table whose columns do not line up with its records).
    fn coverage(&self, ask: Ask, range: (u64, u64)) -> String {
        let status = self.table.column(Field::LogStatus);
        let src = self.col(Field::SrcAddr);
        let iface = self
            .table
            .column(Field::InterfaceId)
            .unwrap_or_else(|| "'-'".to_string());
        let mut select = Vec::new();
        match &status {
            Some(s) => {
                select.push(format!(
                    "CASE WHEN {s} = 'SKIPDATA' THEN {iface} END AS \"interfaceId\""
                ));
                select.push(format!("{s} AS \"logStatus\""));
            }
            None => select.push("CAST(NULL AS varchar) AS \"interfaceId\"".to_string()),
        }
        let times: Vec<String> = self
            .table
            .time_keys()
            .map(|k| format!("CAST({} AS varchar)", quote(&k.name)))
            .collect();
        select.push(format!(
            "concat_ws('/', {}) AS \"partition\"",
            times.join(", ")
        ));
        if ask.is_edge() {
            let end = self.col(Field::End);
            select.push(match &status {
                Some(s) => format!("CASE WHEN {s} = 'SKIPDATA' THEN {end} END AS \"endTime\""),
                None => "CAST(NULL AS bigint) AS \"endTime\"".to_string(),
            });
        }
        let groups = select.len();
        let unreadable = match &status {
            Some(s) => format!("{s} = 'OK' AND TRY_CAST({src} AS IPADDRESS) IS NULL"),
            None => format!("{src} <> '-' AND TRY_CAST({src} AS IPADDRESS) IS NULL"),
        };
        select.push("count(*) AS \"records\"".to_string());
        select.push(format!("max({}) AS \"last\"", self.col(Field::End)));
        select.push(format!(
            "sum(CASE WHEN {unreadable} THEN 1 ELSE 0 END) AS \"unreadable\""
        ));
        let mut wheres = self.prune(range);
        wheres.push(format!(
            "{} BETWEEN {} AND {}",
            self.col(Field::Start),
            range.0,
            range.1
        ));
        let n: Vec<String> = (1..=groups).map(|i| i.to_string()).collect();
        format!(
            "SELECT {}\nFROM {}\nWHERE {}\nGROUP BY {}",
            select.join(",\n       "),
            self.table.quoted(),
            wheres.join("\n  AND "),
            n.join(", ")
        )
    }

    /// One statement: `filter` picks the records. SKIPDATA records come from the coverage
    /// query, never with records.
    pub fn render(&self, ask: Ask, range: (u64, u64), filter: Option<&str>) -> String {
        if matches!(ask, Ask::SkipData | Ask::SkipDataEdge) {
            return self.coverage(ask, range);
        }
        let f = &self.fields;
        let start = self.col(Field::Start);
        let end = self.col(Field::End);
        let by: Vec<&str> = match ask {
            Ask::Pairs | Ask::PairsEdge => f.pair_group(),
            Ask::Connections | Ask::ConnectionsEdge => f.connection_group(),
            Ask::Flows(fold) | Ask::FlowsEdge(fold) => f.flow_group(fold),
            Ask::SkipData
            | Ask::SkipDataEdge
            | Ask::Records
            | Ask::RecordsEdge
            | Ask::Hops
            | Ask::HopsEdge => Vec::new(),
        };
        let mut by = by;
        if ask.is_edge() && !ask.is_records() {
            by.push("endTime");
        }
        let mut select: Vec<String> = by
            .iter()
            .map(|n| format!("{} AS {}", self.expr(n), quote(n)))
            .collect();
        let times = [
            format!("min({start}) AS \"first\""),
            format!("max({start}) AS \"lastStart\""),
            format!("max({end}) AS \"last\""),
        ];
        let ports = |side: &str, col: String| {
            [
                format!("min({col}) AS \"{side}Low\""),
                format!("max({col}) AS \"{side}High\""),
            ]
        };
        select.push("count(*) AS \"records\"".to_string());
        match ask {
            Ask::Pairs | Ask::PairsEdge => {
                select.extend(times);
                for (side, c) in [("srcPort", Field::SrcPort), ("dstPort", Field::DstPort)] {
                    select.extend(ports(side, self.col(c)));
                    select.push(format!("count(DISTINCT {}) AS \"{side}s\"", self.col(c)));
                }
            }
            Ask::Connections | Ask::ConnectionsEdge => {
                select.extend(times);
                select.push(format!(
                    "min_by({}, {start}) AS \"sample\"",
                    self.record_text()
                ));
            }
            Ask::Flows(_) | Ask::FlowsEdge(_) => {
                select.push(format!("min({start}) AS \"first\""));
                select.push(format!("max({end}) AS \"last\""));
                select.extend(ports("srcPort", self.col(Field::SrcPort)));
            }
            Ask::SkipData | Ask::SkipDataEdge => unreachable!("the coverage query"),
            Ask::Hops | Ask::HopsEdge => {
                unreachable!("a table of Transit Gateway records is refused (`Table::new`)")
            }
            Ask::Records | Ask::RecordsEdge => {
                select = vec![format!("{} AS \"@message\"", self.record_text())];
            }
        }
        let mut wheres = self.prune(range);
        wheres.push(format!("{start} BETWEEN {} AND {}", range.0, range.1));
        if let Some(filter) = filter {
            wheres.push(format!("({filter})"));
        }
        let mut q = String::new();
        let _ = writeln!(q, "SELECT {}", select.join(",\n       "));
        let _ = writeln!(q, "FROM {}", self.table.quoted());
        let _ = write!(q, "WHERE {}", wheres.join("\n  AND "));
        if !by.is_empty() {
            let n: Vec<String> = (1..=by.len()).map(|i| i.to_string()).collect();
            let _ = write!(q, "\nGROUP BY {}", n.join(", "));
        }
        q
    }

    /// The statements a job becomes.
    pub fn for_job(&self, job: &Job) -> Vec<Query> {
        let range = job.range;
        // A table of Transit Gateway records is refused (`Table::new`): no family asks for hops.
        if matches!(job.ask, Ask::Hops | Ask::HopsEdge) {
            return Vec::new();
        }
        if matches!(job.ask, Ask::SkipData | Ask::SkipDataEdge) {
            return vec![Query {
                ask: job.ask,
                text: self.coverage(job.ask, range),
                scope: Scope::All,
            }];
        }
        match &job.target {
            Target::Networks { nets, action } => {
                self.by_networks(nets.as_ref(), job.ask, *action, range)
            }
            Target::Pairs(pairs) => self.by_pairs(pairs, job.ask, range),
        }
    }

    fn by_networks(
        &self,
        interesting: Option<&Ranges>,
        ask: Ask,
        action: Option<Action>,
        range: (u64, u64),
    ) -> Vec<Query> {
        let action_col = self.col(Field::Action);
        let with_action = |filter: String| match action {
            None => filter,
            Some(a) => format!("{action_col} = '{}' AND ({filter})", action_name(a)),
        };
        let Some(interesting) = interesting else {
            let all = match (action, self.table.column(Field::LogStatus)) {
                (Some(a), _) => format!("{action_col} = '{}'", action_name(a)),
                (None, Some(s)) => format!("{s} = 'OK'"),
                (None, None) => format!("{action_col} IN ('ACCEPT', 'REJECT')"),
            };
            return vec![Query {
                ask,
                text: self.render(ask, range, Some(&all)),
                scope: Scope::All,
            }];
        };
        let filter = |nets: &[IpNet]| -> String {
            let mut clauses = Vec::new();
            for (own, pkt) in self.address_columns() {
                clauses.extend(self.terms(&own, nets));
                if let Some(p) = pkt {
                    clauses.extend(self.terms(&p, nets));
                }
            }
            with_action(clauses.join(" OR "))
        };
        pack(&interesting.networks(), MAX_SQL, |batch| Query {
            ask,
            text: self.render(ask, range, Some(&filter(batch))),
            scope: Scope::Nets(Ranges::of(batch, &[])),
        })
    }

    fn by_pairs(
        &self,
        pairs: &BTreeSet<(IpAddr, IpAddr)>,
        ask: Ask,
        range: (u64, u64),
    ) -> Vec<Query> {
        let pairs: Vec<(IpAddr, IpAddr)> = pairs.iter().copied().collect();
        pack(&pairs, MAX_SQL, |batch| {
            let clauses: Vec<String> = batch.iter().map(|p| self.pair_filter(*p)).collect();
            Query {
                ask,
                text: self.render(ask, range, Some(&clauses.join(" OR "))),
                scope: Scope::Pairs(batch.iter().copied().collect()),
            }
        })
    }
}

#[cfg(test)]
mod tests;
