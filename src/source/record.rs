//! One flow-log line → one record, or the reason it is not one.

use std::net::IpAddr;
use std::str::FromStr;

use super::format::{Field, Format};
use crate::evidence::{Action, Flow, IfaceId};

/// What a line says.
#[derive(Debug, Clone, Copy)]
pub enum Record {
    /// log-status OK: a flow.
    Flow(Flow),
    /// NODATA: the interface had no traffic in the interval.
    NoData {
        start: Option<u64>,
        end: Option<u64>,
    },
    /// SKIPDATA: AWS skipped records for the interface in the interval.
    SkipData {
        iface: IfaceId,
        start: Option<u64>,
        end: Option<u64>,
    },
}

impl Record {
    pub fn times(&self) -> (Option<u64>, Option<u64>) {
        match *self {
            Record::Flow(f) => (f.start, f.end),
            Record::NoData { start, end } | Record::SkipData { start, end, .. } => (start, end),
        }
    }
}

/// Column positions of the fields a record is built from, worked out once per format.
#[derive(Debug, Clone)]
pub struct Layout {
    columns: usize,
    at: [Option<usize>; FIELDS],
    /// Columns whose values are only checked, not used (version, packets, bytes).
    numeric: Vec<(usize, &'static str)>,
}

const FIELDS: usize = 15;

fn slot(f: Field) -> usize {
    match f {
        Field::InterfaceId => 0,
        Field::SrcAddr => 1,
        Field::DstAddr => 2,
        Field::SrcPort => 3,
        Field::DstPort => 4,
        Field::Protocol => 5,
        Field::Start => 6,
        Field::End => 7,
        Field::Action => 8,
        Field::LogStatus => 9,
        Field::TcpFlags => 10,
        Field::PktSrcAddr => 11,
        Field::PktDstAddr => 12,
        Field::Version => 13,
        Field::Packets | Field::Bytes => 14,
        Field::Other => usize::MAX,
    }
}

/// Most columns a line may have: every field AWS defines, with room to spare.
const MAX_COLUMNS: usize = 64;

impl Layout {
    pub fn new(format: &Format) -> Layout {
        let mut at = [None; FIELDS];
        let mut numeric = Vec::new();
        for (i, f) in format.columns.iter().enumerate() {
            match f {
                Field::Version => numeric.push((i, "version")),
                Field::Packets => numeric.push((i, "packets")),
                Field::Bytes => numeric.push((i, "bytes")),
                Field::Other => {}
                f => at[slot(*f)] = Some(i),
            }
        }
        Layout {
            columns: format.columns.len(),
            at,
            numeric,
        }
    }

    /// Parses one line (no line terminator).
    pub fn parse(&self, line: &str) -> Result<Record, String> {
        let mut cols = [""; MAX_COLUMNS];
        let mut n = 0;
        for word in line.split_ascii_whitespace() {
            if n == MAX_COLUMNS {
                return Err(format!("more than {MAX_COLUMNS} fields"));
            }
            cols[n] = word;
            n += 1;
        }
        if n != self.columns {
            return Err(format!("{n} fields where the format has {}", self.columns));
        }
        let get =
            |f: Field| -> Option<&str> { self.at[slot(f)].map(|i| cols[i]).filter(|v| *v != "-") };

        for &(i, name) in &self.numeric {
            if cols[i] != "-" && cols[i].parse::<u64>().is_err() {
                return Err(format!("{name} `{}` is not a number", cols[i]));
            }
        }
        let start = get(Field::Start)
            .map(|v| num::<u64>(v, "start"))
            .transpose()?;
        let end = get(Field::End).map(|v| num::<u64>(v, "end")).transpose()?;
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            return Err(format!("end {e} is before start {s}"));
        }
        let iface = match get(Field::InterfaceId) {
            None => IfaceId::UNKNOWN,
            Some(id) => IfaceId::new(id)
                .ok_or_else(|| format!("interface-id `{id}` is not an interface id"))?,
        };
        let action = match get(Field::Action) {
            None => None,
            Some("ACCEPT") => Some(Action::Accept),
            Some("REJECT") => Some(Action::Reject),
            Some(other) => return Err(format!("action `{other}` is neither ACCEPT nor REJECT")),
        };
        match get(Field::LogStatus) {
            Some("OK") => {}
            Some("NODATA") => return Ok(Record::NoData { start, end }),
            Some("SKIPDATA") => return Ok(Record::SkipData { iface, start, end }),
            Some(other) => {
                return Err(format!(
                    "log-status `{other}` is not OK, NODATA or SKIPDATA"
                ));
            }
            None if self.at[slot(Field::LogStatus)].is_some() => {
                return Err("log-status is `-`".into());
            }
            // Without log-status, a line with no action is NODATA or SKIPDATA, and which one
            // matters: SKIPDATA means records were lost.
            None if action.is_none() => {
                return Err("action is `-` and the format has no log-status, so NODATA cannot be told from SKIPDATA".into());
            }
            None => {}
        }
        let required =
            |f: Field, name: &str| get(f).ok_or_else(|| format!("{name} is `-` in an OK record"));
        // The packet's own addresses, where logged, are the ones a spec names (secondary IPs,
        // NAT); srcaddr/dstaddr may be the interface's primary address instead.
        let src = match get(Field::PktSrcAddr) {
            Some(v) => addr(v, "pkt-srcaddr")?,
            None => addr(required(Field::SrcAddr, "srcaddr")?, "srcaddr")?,
        };
        let dst = match get(Field::PktDstAddr) {
            Some(v) => addr(v, "pkt-dstaddr")?,
            None => addr(required(Field::DstAddr, "dstaddr")?, "dstaddr")?,
        };
        let flow = Flow {
            iface,
            src,
            dst,
            srcport: num(required(Field::SrcPort, "srcport")?, "srcport")?,
            dstport: num(required(Field::DstPort, "dstport")?, "dstport")?,
            protocol: num(required(Field::Protocol, "protocol")?, "protocol")?,
            action: action.ok_or("action is `-` in an OK record")?,
            tcp_flags: get(Field::TcpFlags)
                .map(|v| num(v, "tcp-flags"))
                .transpose()?,
            start,
            end,
        };
        Ok(Record::Flow(flow))
    }
}

fn num<T: FromStr>(v: &str, name: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{name} `{v}` is not a number in range"))
}

fn addr(v: &str, name: &str) -> Result<IpAddr, String> {
    v.parse()
        .map_err(|_| format!("{name} `{v}` is not an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2() -> Layout {
        Layout::new(&Format::default_v2())
    }

    fn flow(layout: &Layout, line: &str) -> Flow {
        match layout.parse(line) {
            Ok(Record::Flow(f)) => f,
            other => panic!("{other:?}"),
        }
    }

    const LINE: &str = "2 123456789012 eni-0a1b2c3d 10.0.1.10 10.0.2.20 40000 8080 6 3 180 1700000000 1700000060 ACCEPT OK";

    #[test]
    fn reads_a_default_format_record() {
        let f = flow(&v2(), LINE);
        assert_eq!(f.iface.as_str(), "eni-0a1b2c3d");
        assert_eq!((f.srcport, f.dstport, f.protocol), (40000, 8080, 6));
        assert_eq!(f.src.to_string(), "10.0.1.10");
        assert_eq!(f.action, Action::Accept);
        assert_eq!((f.start, f.end), (Some(1700000000), Some(1700000060)));
        assert_eq!(f.tcp_flags, None);
    }

    #[test]
    fn reads_custom_orders_ipv6_and_tcp_flags() {
        let layout = Layout::new(
            &Format::parse("action dstport srcport dstaddr srcaddr protocol tcp-flags log-status")
                .unwrap(),
        );
        let f = flow(&layout, "REJECT 443 51000 2001:db8::20 2001:db8::10 6 2 OK");
        assert_eq!(f.src.to_string(), "2001:db8::10");
        assert_eq!(f.dstport, 443);
        assert_eq!(f.tcp_flags, Some(2));
        assert!(f.iface.is_unknown());
    }

    #[test]
    fn packet_addresses_win_over_interface_addresses() {
        let layout = Layout::new(
            &Format::parse(
                "srcaddr dstaddr srcport dstport protocol action pkt-srcaddr pkt-dstaddr",
            )
            .unwrap(),
        );
        let f = flow(&layout, "10.0.0.5 10.0.2.20 40000 443 6 ACCEPT 10.0.0.99 -");
        assert_eq!(f.src.to_string(), "10.0.0.99");
        assert_eq!(f.dst.to_string(), "10.0.2.20", "`-` falls back to dstaddr");
    }

    #[test]
    fn nodata_and_skipdata_lines_carry_no_flow() {
        let l = v2();
        assert!(matches!(
            l.parse("2 123456789012 eni-1 - - - - - - - 1700000000 1700000060 - NODATA"),
            Ok(Record::NoData { .. })
        ));
        match l.parse("2 123456789012 eni-1 - - - - - - - 1700000000 1700000060 - SKIPDATA") {
            Ok(Record::SkipData { iface, start, .. }) => {
                assert_eq!(iface.as_str(), "eni-1");
                assert_eq!(start, Some(1700000000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_log_status_a_line_with_no_action_is_not_guessed_to_be_nodata() {
        let l = Layout::new(
            &Format::parse("interface-id srcaddr dstaddr srcport dstport protocol action").unwrap(),
        );
        assert!(
            l.parse("eni-1 - - - - - -")
                .unwrap_err()
                .contains("NODATA cannot be told from SKIPDATA")
        );
        assert!(matches!(
            l.parse("eni-1 10.0.0.1 10.0.0.2 1 2 6 ACCEPT"),
            Ok(Record::Flow(_))
        ));
    }

    #[test]
    fn broken_lines_say_what_is_wrong() {
        let l = v2();
        let err = |line: &str| l.parse(line).unwrap_err();
        assert_eq!(
            err("2 123 eni-1 10.0.0.1"),
            "4 fields where the format has 14"
        );
        assert_eq!(
            err(&LINE.replace(" 8080 ", " 80800 ")),
            "dstport `80800` is not a number in range"
        );
        assert_eq!(
            err(&LINE.replace("10.0.2.20", "10.0.2.300")),
            "dstaddr `10.0.2.300` is not an IP address"
        );
        assert_eq!(
            err(&LINE.replace("ACCEPT", "ALLOW")),
            "action `ALLOW` is neither ACCEPT nor REJECT"
        );
        assert_eq!(
            err(&LINE.replace(" OK", " FINE")),
            "log-status `FINE` is not OK, NODATA or SKIPDATA"
        );
        assert_eq!(
            err(&LINE.replace(" 6 3 ", " 6 x ")),
            "packets `x` is not a number"
        );
        assert_eq!(
            err(&LINE.replace("1700000060", "1699999999")),
            "end 1699999999 is before start 1700000000"
        );
        assert_eq!(
            err(&LINE.replace(" 40000 ", " - ")),
            "srcport is `-` in an OK record"
        );
        assert_eq!(
            err(&LINE.replace(" 6 3", " 256 3")),
            "protocol `256` is not a number in range"
        );
    }
}
