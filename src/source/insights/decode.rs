//! Logs Insights result rows → what the ledger records.

use std::net::IpAddr;

use super::query::Fields;
use super::run::Row;
use crate::evidence::flows::FlowSeen;
use crate::evidence::{Action, Flow, IfaceId, TgwHop};
use crate::source::aggregate::{Decoded, PairRow, Span};
use crate::source::record::{Layout, Record, parse_ip};

fn field<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.iter()
        .find(|(f, _)| f == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty() && *v != "-")
}

/// Numbers may come back as `12` or `12.0`.
fn number(row: &Row, name: &str) -> Result<Option<f64>, String> {
    field(row, name)
        .map(|v| {
            v.parse::<f64>()
                .map_err(|_| format!("{name} `{v}` is not a number"))
        })
        .transpose()
}

/// Epoch seconds. Anything else (negative, fractional, infinite, past the year 9999) is a
/// broken answer, not a time to compute with.
fn time(row: &Row, name: &str) -> Result<Option<u64>, String> {
    match number(row, name)? {
        None => Ok(None),
        Some(v)
            if v.is_finite()
                && v >= 0.0
                && v.fract() == 0.0
                && v <= crate::source::record::LAST_TIME as f64 =>
        {
            Ok(Some(v as u64))
        }
        Some(v) => Err(format!("{name} `{v}` is not a time in epoch seconds")),
    }
}

fn required<'a>(row: &'a Row, name: &str) -> Result<&'a str, String> {
    field(row, name).ok_or_else(|| format!("the row has no {name}"))
}

fn int<T: TryFrom<u64>>(row: &Row, name: &str) -> Result<T, String> {
    let v = required(row, name)?;
    v.parse::<f64>()
        .ok()
        .filter(|n| n.fract() == 0.0 && *n >= 0.0)
        .and_then(|n| T::try_from(n as u64).ok())
        .ok_or_else(|| format!("{name} `{v}` is not a number in range"))
}

/// Whether the rows have the shape an aggregated query asks for. An endpoint that does not run
/// `stats` (an emulator) returns records instead; those rows must not be read as counts.
pub fn is_aggregated(rows: &[Row]) -> bool {
    rows.iter().all(|r| r.iter().any(|(f, _)| f == "records"))
}

/// The interface a log stream holds: flow logs name each stream after its interface and the
/// traffic type (`eni-0abc-all`, `-accept`, `-reject`), and the interface id is what the rest
/// of flowgate (SKIPDATA per interface, samples) compares.
fn stream_iface(stream: &str) -> &str {
    ["-all", "-accept", "-reject"]
        .iter()
        .find_map(|s| stream.strip_suffix(s))
        .filter(|id| id.starts_with("eni-"))
        .unwrap_or(stream)
}

fn iface_of(row: &Row, name: &str) -> Result<IfaceId, String> {
    match field(row, name) {
        None => Ok(IfaceId::UNKNOWN),
        Some(v) => {
            let id = if name == "@logStream" {
                stream_iface(v)
            } else {
                v
            };
            IfaceId::new(id).ok_or_else(|| format!("{name} `{v}` is not an interface id"))
        }
    }
}

/// What every aggregated row has: its interface, status, addresses and action. `Err(decoded)`
/// for a row that is not a flow (SKIPDATA, NODATA).
struct Common {
    iface: IfaceId,
    records: u64,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    action: Action,
}

fn common(row: &Row, fields: &Fields) -> Result<Result<Common, Decoded>, String> {
    let records = int::<u64>(row, "records")?;
    if records == 0 {
        return Err("records `0`: a group of no records".into());
    }
    let iface = iface_of(row, fields.iface)?;
    if fields.has_log_status {
        match required(row, "logStatus")? {
            "OK" => {}
            "SKIPDATA" => {
                let end = time(row, "last")?;
                return Ok(Err(Decoded::SkipData {
                    iface,
                    records,
                    end,
                }));
            }
            "NODATA" => return Ok(Err(Decoded::Nothing)),
            other => return Err(format!("logStatus `{other}` is not OK, NODATA or SKIPDATA")),
        }
    }
    let addr = |pkt: Option<&str>, own: &str| -> Result<IpAddr, String> {
        let (name, v) = match pkt.and_then(|p| field(row, p).map(|v| (p, v))) {
            Some(found) => found,
            None => (own, required(row, own)?),
        };
        parse_ip(v).ok_or_else(|| format!("{name} `{v}` is not an IP address"))
    };
    let action = match required(row, "action")? {
        "ACCEPT" => Action::Accept,
        "REJECT" => Action::Reject,
        other => return Err(format!("action `{other}` is neither ACCEPT nor REJECT")),
    };
    Ok(Ok(Common {
        iface,
        records,
        src: addr(fields.pkt_src, fields.src)?,
        dst: addr(fields.pkt_dst, fields.dst)?,
        protocol: int(row, "protocol")?,
        action,
    }))
}

fn tcp_flags(row: &Row, fields: &Fields) -> Result<Option<u8>, String> {
    match fields.tcp_flags.and_then(|f| field(row, f)) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("tcpFlags `{v}` is not a number in range")),
    }
}

/// Reads a row of a connection query (`Ask::Connections`, `Ask::ConnectionsEdge`).
pub fn aggregated(row: &Row, fields: &Fields) -> Result<Decoded, String> {
    let c = match common(row, fields)? {
        Ok(c) => c,
        Err(other) => return Ok(other),
    };
    let flow = Flow {
        iface: c.iface,
        src: c.src,
        dst: c.dst,
        srcport: int(row, "srcPort")?,
        dstport: int(row, "dstPort")?,
        protocol: c.protocol,
        action: c.action,
        tcp_flags: tcp_flags(row, fields)?,
        start: time(row, "first")?,
        end: time(row, "last")?,
        reject_reason: None,
    };
    Ok(Decoded::Flow {
        flow,
        records: c.records,
        latest_start: time(row, "lastStart")?,
        sample: field(row, "sample").map(|m| m.trim_end_matches(['\n', '\r']).to_string()),
    })
}

/// The ends of a span of ports, low first. For a custom format, `parse` yields text and `min` and
/// `max` compare text: ports 9999 and 10000 come back as min "10000", max "9999". The ends then
/// do not bound the ports, but they still tell one port (equal ends) from several, which is all
/// a span is used for (see `Span::single`); so they are put in order rather than refused.
fn text_ordered(low: u16, high: u16) -> (u16, u16) {
    (low.min(high), low.max(high))
}

/// Reads a row of the SKIPDATA query (`Ask::SkipData`): the records of one interface. A transit
/// gateway's SKIPDATA is no interface's (as the file source reads it).
pub fn skipdata(row: &Row, fields: &Fields) -> Result<Decoded, String> {
    let records = int::<u64>(row, "records")?;
    if records == 0 {
        return Err("records `0`: a group of no records".into());
    }
    Ok(Decoded::SkipData {
        iface: match fields.tgw {
            Some(_) => IfaceId::UNKNOWN,
            None => iface_of(row, fields.iface)?,
        },
        records,
        end: time(row, "last")?,
    })
}

/// Reads a row of Transit Gateway records (`Ask::Hops`): one connection through one attachment,
/// whose records each lost the packets the row is grouped by.
pub fn hop(row: &Row, fields: &Fields) -> Result<Decoded, String> {
    let Some(t) = &fields.tgw else {
        return Err("a Transit Gateway row from a log group of VPC flow logs".into());
    };
    let records = int::<u64>(row, "records")?;
    if records == 0 {
        return Err("records `0`: a group of no records".into());
    }
    let addr = |name: &str| {
        let v = required(row, name)?;
        parse_ip(v).ok_or_else(|| format!("{name} `{v}` is not an IP address"))
    };
    let id = |name: Option<&str>| match name.and_then(|n| field(row, n).map(|v| (n, v))) {
        None => Ok(IfaceId::UNKNOWN),
        Some((n, v)) => IfaceId::new(v).ok_or_else(|| format!("{n} `{v}` is not an id")),
    };
    let mut lost = [0u64; 4];
    for (n, name) in lost.iter_mut().zip(t.lost) {
        // `-` where the record lost nothing of that kind, as in a file.
        if let Some(name) = name.filter(|name| field(row, name).is_some()) {
            *n = int::<u64>(row, name)?
                .checked_mul(records)
                .ok_or_else(|| format!("{name} times records is out of range"))?;
        }
    }
    let flow = Flow {
        iface: IfaceId::UNKNOWN,
        src: addr(fields.src)?,
        dst: addr(fields.dst)?,
        srcport: int(row, "srcPort")?,
        dstport: int(row, "dstPort")?,
        protocol: int(row, "protocol")?,
        // What a gateway carried stands as accepted (see `Record::Tgw`).
        action: Action::Accept,
        tcp_flags: None,
        start: time(row, "first")?,
        end: time(row, "last")?,
        reject_reason: None,
    };
    Ok(Decoded::Hop {
        flow,
        hop: TgwHop {
            tgw: id(t.tgw_id)?,
            attachment: id(t.attachment)?,
            lost,
        },
        records,
        sample: field(row, "sample").map(|m| m.trim_end_matches(['\n', '\r']).to_string()),
    })
}

/// Reads a row of folded flows (`Ask::Flows`): grouped by the addresses, destination port,
/// protocol, action and tcp-flags (and source port when folded by 5-tuple), with the span
/// of source ports.
pub fn folded(row: &Row, fields: &Fields) -> Result<Decoded, String> {
    let c = match common(row, fields)? {
        Ok(c) => c,
        Err(other) => return Ok(other),
    };
    let (low, high) = text_ordered(int(row, "srcPortLow")?, int(row, "srcPortHigh")?);
    let (first, last) = (time(row, "first")?, time(row, "last")?);
    let tcp_flags = tcp_flags(row, fields)?;
    let flow = Flow {
        iface: c.iface,
        src: c.src,
        dst: c.dst,
        srcport: low,
        dstport: int(row, "dstPort")?,
        protocol: c.protocol,
        action: c.action,
        tcp_flags,
        start: first,
        end: last,
        reject_reason: None,
    };
    Ok(Decoded::Folded {
        flow,
        seen: FlowSeen {
            records: c.records,
            first,
            last,
            tcp_flags,
            src_ports: (low, high),
        },
    })
}

/// Reads a row of a pair query (`Ask::Pairs`, `Ask::PairsEdge`).
pub fn pair(row: &Row, fields: &Fields) -> Result<Decoded, String> {
    let c = match common(row, fields)? {
        Ok(c) => c,
        Err(other) => return Ok(other),
    };
    let span = |side: &str| -> Result<Span, String> {
        let (low, high) = text_ordered(
            int(row, &format!("{side}Low"))?,
            int(row, &format!("{side}High"))?,
        );
        let distinct: u64 = int(row, &format!("{side}s"))?;
        if distinct == 0 || (low == high) != (distinct == 1) {
            return Err(format!(
                "{side}Low {low}, {side}High {high} and {side}s {distinct} do not describe ports"
            ));
        }
        Ok(Span {
            low,
            high,
            distinct,
        })
    };
    Ok(Decoded::Pair(PairRow {
        iface: c.iface,
        src: c.src,
        dst: c.dst,
        protocol: c.protocol,
        action: c.action,
        tcp_flags: tcp_flags(row, fields)?,
        records: c.records,
        first: time(row, "first")?,
        last_start: time(row, "lastStart")?,
        last: time(row, "last")?,
        src_ports: span("srcPort")?,
        dst_ports: span("dstPort")?,
    }))
}

/// Reads a row of a raw query: the record in `@message`, read as the file source reads a line.
/// The interface comes from the log stream when the format has no interface-id (flow logs write
/// one stream per interface).
pub fn raw(row: &Row, layout: &Layout) -> Result<(Decoded, String), String> {
    let message = field(row, "@message").ok_or("the row has no @message")?;
    let text = message.trim_end_matches(['\n', '\r']).to_string();
    let decoded = match layout.parse(&text)? {
        Record::Flow(mut flow) => {
            if flow.iface.is_unknown() {
                flow.iface = iface_of(row, "@logStream")?;
            }
            Decoded::Flow {
                flow,
                records: 1,
                latest_start: flow.start,
                sample: None,
            }
        }
        Record::SkipData { iface, end, .. } => Decoded::SkipData {
            end,
            // A transit gateway's log streams are not interfaces.
            iface: if iface.is_unknown() && !layout.is_tgw() {
                iface_of(row, "@logStream")?
            } else {
                iface
            },
            records: 1,
        },
        Record::NoData { .. } => Decoded::Nothing,
        Record::Tgw(flow, hop) => Decoded::Hop {
            flow,
            hop,
            records: 1,
            sample: None,
        },
    };
    Ok((decoded, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::format::Format;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_aggregated_row_becomes_a_weighted_flow() {
        let fields = Fields::of(&Format::default_v2());
        let r = row(&[
            ("interfaceId", "eni-0abc"),
            ("srcAddr", "10.0.1.10"),
            ("dstAddr", "10.0.2.20"),
            ("srcPort", "40000"),
            ("dstPort", "8080"),
            ("protocol", "6"),
            ("action", "REJECT"),
            ("logStatus", "OK"),
            ("records", "3"),
            ("first", "1795165200"),
            ("lastStart", "1795165230"),
            ("last", "1795165260.0"),
            (
                "sample",
                "2 123456789012 eni-0abc 10.0.1.10 10.0.2.20 40000 8080 6 1 40 1795165200 1795165260 REJECT OK\n",
            ),
        ]);
        match aggregated(&r, &fields).unwrap() {
            Decoded::Flow {
                flow,
                records,
                latest_start,
                sample,
            } => {
                assert_eq!(records, 3);
                assert_eq!(latest_start, Some(1795165230));
                assert!(
                    sample.unwrap().ends_with("REJECT OK"),
                    "kept without its newline"
                );
                assert_eq!(flow.iface.as_str(), "eni-0abc");
                assert_eq!(
                    (flow.srcport, flow.dstport, flow.protocol),
                    (40000, 8080, 6)
                );
                assert_eq!(flow.action, Action::Reject);
                assert_eq!((flow.start, flow.end), (Some(1795165200), Some(1795165260)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pair_row_keeps_the_span_of_ports_on_each_side() {
        let fields = Fields::of(&Format::default_v2());
        let r = row(&[
            ("interfaceId", "eni-0abc"),
            ("srcAddr", "10.0.1.10"),
            ("dstAddr", "10.0.2.20"),
            ("protocol", "6"),
            ("action", "ACCEPT"),
            ("logStatus", "OK"),
            ("records", "40"),
            ("first", "1795165200"),
            ("lastStart", "1795168200"),
            ("last", "1795168260"),
            ("srcPortLow", "32768"),
            ("srcPortHigh", "60999"),
            ("srcPorts", "37"),
            ("dstPortLow", "8080"),
            ("dstPortHigh", "8080.0"),
            ("dstPorts", "1"),
        ]);
        match pair(&r, &fields).unwrap() {
            Decoded::Pair(p) => {
                assert_eq!((p.records, p.last_start), (40, Some(1795168200)));
                assert_eq!(
                    p.src_ports,
                    Span {
                        low: 32768,
                        high: 60999,
                        distinct: 37
                    }
                );
                assert_eq!(p.dst_ports.single(), Some(8080));
            }
            other => panic!("{other:?}"),
        }
        let mut bad = r.clone();
        bad.retain(|(f, _)| f != "dstPortHigh");
        assert_eq!(
            pair(&bad, &fields).unwrap_err(),
            "the row has no dstPortHigh"
        );
    }

    #[test]
    fn skipdata_and_broken_rows() {
        let fields = Fields::of(&Format::default_v2());
        let skip = row(&[
            ("interfaceId", "eni-9"),
            ("logStatus", "SKIPDATA"),
            ("records", "2"),
        ]);
        assert_eq!(
            aggregated(&skip, &fields).unwrap(),
            Decoded::SkipData {
                iface: IfaceId::new("eni-9").unwrap(),
                records: 2,
                end: None,
            }
        );
        let broken = row(&[
            ("logStatus", "OK"),
            ("records", "1"),
            ("srcAddr", "10.0.0.1"),
            ("action", "ACCEPT"),
        ]);
        assert_eq!(
            aggregated(&broken, &fields).unwrap_err(),
            "the row has no dstAddr"
        );
        let raw_rows = [row(&[("@ptr", "1"), ("@message", "x")])];
        assert!(!is_aggregated(&raw_rows), "an endpoint that ignored stats");
    }

    #[test]
    fn a_transit_gateway_row_counts_the_packets_all_its_records_lost() {
        let fields = Fields::of(
            &Format::parse("${tgw-id} ${tgw-attachment-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${log-status} ${packets-lost-no-route} ${packets-lost-blackhole}").unwrap(),
        );
        let r = row(&[
            ("tgwId", "tgw-1"),
            ("tgwAttachmentId", "tgw-attach-2"),
            ("srcAddr", "10.0.2.20"),
            ("dstAddr", "192.168.50.10"),
            ("srcPort", "40001"),
            ("dstPort", "5432"),
            ("protocol", "6"),
            ("packetsLostNoRoute", "3"),
            ("packetsLostBlackhole", "-"),
            ("records", "2"),
            ("first", "1795165200"),
            ("last", "1795165320"),
            (
                "sample",
                "tgw-1 tgw-attach-2 10.0.2.20 192.168.50.10 40001 5432 6 1795165200 1795165260 OK 3 -\n",
            ),
        ]);
        match hop(&r, &fields).unwrap() {
            Decoded::Hop {
                flow,
                hop,
                records,
                sample,
            } => {
                assert_eq!(records, 2);
                assert_eq!(hop.lost, [6, 0, 0, 0], "3 packets each, two records");
                assert_eq!(
                    (hop.tgw.as_str(), hop.attachment.as_str()),
                    ("tgw-1", "tgw-attach-2")
                );
                assert_eq!((flow.srcport, flow.dstport), (40001, 5432));
                assert_eq!((flow.start, flow.end), (Some(1795165200), Some(1795165320)));
                assert!(sample.unwrap().ends_with("OK 3 -"));
            }
            other => panic!("{other:?}"),
        }
        let skip = row(&[("@logStream", "tgw-attach-2"), ("records", "1")]);
        assert_eq!(
            skipdata(&skip, &fields).unwrap(),
            Decoded::SkipData {
                iface: IfaceId::UNKNOWN,
                records: 1,
                end: None
            },
            "a gateway's stream is no interface"
        );
        let vpc = Fields::of(&Format::default_v2());
        assert!(hop(&r, &vpc).is_err(), "a VPC log group gives no hops");
    }

    #[test]
    fn a_raw_row_is_read_like_a_file_line_with_the_stream_as_interface() {
        let layout = Layout::new(
            &Format::parse("srcaddr dstaddr srcport dstport protocol action log-status").unwrap(),
        );
        let r = row(&[
            ("@message", "10.0.1.10 10.0.2.20 40000 8080 6 ACCEPT OK"),
            ("@logStream", "eni-0abc-all"),
        ]);
        match raw(&r, &layout).unwrap() {
            (
                Decoded::Flow {
                    flow, records: 1, ..
                },
                text,
            ) => {
                assert_eq!(
                    flow.iface.as_str(),
                    "eni-0abc",
                    "the stream's traffic type is not part of the id"
                );
                assert_eq!(text, "10.0.1.10 10.0.2.20 40000 8080 6 ACCEPT OK");
            }
            other => panic!("{other:?}"),
        }
    }
}
