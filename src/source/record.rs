//! One flow-log line → one record, or the reason it is not one.

use std::net::IpAddr;
use std::str::FromStr;

use super::format::{Field, Format};
use crate::evidence::{Action, Flow, IfaceId, RejectReason, TgwHop};

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
    /// A Transit Gateway flow-log record: a flow the gateway carried (its `action` stands for
    /// nothing: the gateway neither accepts nor rejects) and the packets it lost.
    Tgw(Flow, TgwHop),
}

impl Record {
    pub fn times(&self) -> (Option<u64>, Option<u64>) {
        match *self {
            Record::Flow(f) | Record::Tgw(f, _) => (f.start, f.end),
            Record::NoData { start, end } | Record::SkipData { start, end, .. } => (start, end),
        }
    }
}

/// A line split into fields, as spans of the line.
pub struct Fields<'a> {
    line: &'a str,
    spans: &'a [(u32, u32)],
}

impl<'a> Fields<'a> {
    /// The whole line.
    pub fn text(&self) -> &'a str {
        self.line
    }

    #[inline]
    fn col(&self, i: usize) -> &'a str {
        let (a, b) = self.spans[i];
        &self.line[a as usize..b as usize]
    }
}

/// Column positions of the fields a record is built from, worked out once per format.
#[derive(Debug, Clone)]
pub struct Layout {
    columns: usize,
    at: [Option<usize>; FIELDS],
    /// Columns whose values are only checked, not used (version, packets, bytes).
    numeric: Vec<(usize, &'static str)>,
    /// Transit Gateway records (see `Format::is_tgw`).
    tgw: bool,
}

const FIELDS: usize = 22;

#[inline]
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
        Field::RejectReason => 15,
        Field::TgwId => 16,
        Field::TgwAttachmentId => 17,
        Field::LostNoRoute => 18,
        Field::LostBlackhole => 19,
        Field::LostMtu => 20,
        Field::LostTtl => 21,
        Field::Other | Field::TgwOther => usize::MAX,
    }
}

impl Layout {
    pub fn new(format: &Format) -> Layout {
        let mut at = [None; FIELDS];
        let mut numeric = Vec::new();
        for (i, f) in format.columns.iter().enumerate() {
            match f {
                Field::Version => numeric.push((i, "version")),
                Field::Packets => numeric.push((i, "packets")),
                Field::Bytes => numeric.push((i, "bytes")),
                Field::Other | Field::TgwOther => {}
                f => at[slot(*f)] = Some(i),
            }
        }
        Layout {
            columns: format.columns.len(),
            at,
            numeric,
            tgw: format.is_tgw(),
        }
    }

    /// Whether these are a Transit Gateway flow log's records.
    pub fn is_tgw(&self) -> bool {
        self.tgw
    }

    /// Parses one line (no line terminator).
    pub fn parse(&self, line: &str) -> Result<Record, String> {
        let mut spans = Vec::new();
        let fields = self.split(line.as_bytes(), &mut spans)?;
        self.record(&fields)
    }

    /// Splits a line into its fields, checking their number against the format; a line that is
    /// not text is an error.
    pub fn split<'a>(
        &self,
        line: &'a [u8],
        spans: &'a mut Vec<(u32, u32)>,
    ) -> Result<Fields<'a>, String> {
        // AWS writes ASCII fields separated by single spaces; anything else takes the careful way.
        let ascii = split_spaces(line, spans);
        let tidy =
            spans.iter().all(|(a, b)| a < b) && memchr::memchr2(b'\t', b'\x0c', line).is_none();
        if ascii {
            // SAFETY: every byte is below 0x80 (checked by `split_spaces`), so this is UTF-8.
            let text = unsafe { std::str::from_utf8_unchecked(line) };
            debug_assert!(std::str::from_utf8(line).is_ok());
            if tidy {
                return self.counted(text, spans);
            }
            return self.split_whitespace(text, spans);
        }
        let text = std::str::from_utf8(line).map_err(|_| "not UTF-8 text".to_string())?;
        self.split_whitespace(text, spans)
    }

    fn split_whitespace<'a>(
        &self,
        line: &'a str,
        spans: &'a mut Vec<(u32, u32)>,
    ) -> Result<Fields<'a>, String> {
        spans.clear();
        let bytes = line.as_bytes();
        let mut start = None;
        for (i, b) in bytes.iter().enumerate() {
            match (b.is_ascii_whitespace(), start) {
                (true, Some(s)) => {
                    spans.push((s, i as u32));
                    start = None;
                }
                (false, None) => start = Some(i as u32),
                _ => {}
            }
        }
        if let Some(s) = start {
            spans.push((s, bytes.len() as u32));
        }
        self.counted(line, spans)
    }

    fn counted<'a>(&self, line: &'a str, spans: &'a [(u32, u32)]) -> Result<Fields<'a>, String> {
        if spans.len() != self.columns {
            return Err(format!(
                "{} fields where the format has {}",
                spans.len(),
                self.columns
            ));
        }
        Ok(Fields { line, spans })
    }

    #[inline]
    fn get<'a>(&self, f: &Fields<'a>, field: Field) -> Option<&'a str> {
        self.at[slot(field)].map(|i| f.col(i)).filter(|v| *v != "-")
    }

    /// The addresses of a line that is an OK flow with valid addresses, for the prefilter; `None`
    /// for anything else (NODATA, SKIPDATA, a broken value), which the full parse handles.
    pub fn flow_addresses(&self, f: &Fields<'_>) -> Option<(IpAddr, IpAddr)> {
        match self.get(f, Field::LogStatus) {
            Some("OK") => {}
            None if self.at[slot(Field::LogStatus)].is_none()
                && self.get(f, Field::Action).is_some() => {}
            _ => return None,
        }
        let pick =
            |pkt: Field, own: Field| parse_ip(self.get(f, pkt).or_else(|| self.get(f, own))?);
        Some((
            pick(Field::PktSrcAddr, Field::SrcAddr)?,
            pick(Field::PktDstAddr, Field::DstAddr)?,
        ))
    }

    /// A line's start and end, when both are there and valid.
    pub fn times(&self, f: &Fields<'_>) -> Option<(u64, u64)> {
        let start: u64 = self.get(f, Field::Start)?.parse().ok()?;
        let end: u64 = self.get(f, Field::End)?.parse().ok()?;
        (end >= start).then_some((start, end))
    }

    /// Reads every field of a split line into a record, or says what is wrong with it.
    pub fn record(&self, f: &Fields<'_>) -> Result<Record, String> {
        self.record_with(f, None)
    }

    /// `record`, given the addresses `flow_addresses` already read from the same fields (the
    /// prefilter's), so that they are not parsed twice.
    pub fn record_with(
        &self,
        f: &Fields<'_>,
        addresses: Option<(IpAddr, IpAddr)>,
    ) -> Result<Record, String> {
        let get = |field: Field| self.get(f, field);
        for &(i, name) in &self.numeric {
            let v = f.col(i);
            if digits(v).is_none() && v != "-" && v.parse::<u64>().is_err() {
                return Err(format!("{name} `{v}` is not a number"));
            }
        }
        let start = get(Field::Start).map(|v| epoch(v, "start")).transpose()?;
        let end = get(Field::End).map(|v| epoch(v, "end")).transpose()?;
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
            // Without log-status, a line with no flow is NODATA or SKIPDATA, and which one
            // matters: SKIPDATA means records were lost.
            None if self.tgw && get(Field::SrcAddr).is_none() => {
                return Err("srcaddr is `-` and the format has no log-status, so NODATA cannot be told from SKIPDATA".into());
            }
            None if action.is_none() && !self.tgw => {
                return Err("action is `-` and the format has no log-status, so NODATA cannot be told from SKIPDATA".into());
            }
            None => {}
        }
        let required =
            |f: Field, name: &str| get(f).ok_or_else(|| format!("{name} is `-` in an OK record"));
        // The packet's own addresses, where logged, are the ones a spec names (secondary IPs,
        // NAT); srcaddr/dstaddr may be the interface's primary address instead.
        let (src, dst) = match addresses {
            // The same fields, picked the same way (see `flow_addresses`), and valid.
            Some(known) => known,
            None => (
                match get(Field::PktSrcAddr) {
                    Some(v) => addr(v, "pkt-srcaddr")?,
                    None => addr(required(Field::SrcAddr, "srcaddr")?, "srcaddr")?,
                },
                match get(Field::PktDstAddr) {
                    Some(v) => addr(v, "pkt-dstaddr")?,
                    None => addr(required(Field::DstAddr, "dstaddr")?, "dstaddr")?,
                },
            ),
        };
        let flow = Flow {
            iface,
            src,
            dst,
            srcport: num(required(Field::SrcPort, "srcport")?, "srcport")?,
            dstport: num(required(Field::DstPort, "dstport")?, "dstport")?,
            protocol: num(required(Field::Protocol, "protocol")?, "protocol")?,
            // A transit gateway does not accept or reject: what it carried stands as accepted,
            // and only ever counts as a transit gateway's record (see `Record::Tgw`).
            action: match (action, self.tgw) {
                (Some(a), _) => a,
                (None, true) => Action::Accept,
                (None, false) => return Err("action is `-` in an OK record".into()),
            },
            tcp_flags: get(Field::TcpFlags)
                .map(|v| num(v, "tcp-flags"))
                .transpose()?,
            start,
            end,
            reject_reason: get(Field::RejectReason).and_then(RejectReason::parse),
        };
        if self.tgw {
            let id = |field: Field, name: &str| match get(field) {
                None => Ok(IfaceId::UNKNOWN),
                Some(v) => IfaceId::new(v).ok_or_else(|| format!("{name} `{v}` is not an id")),
            };
            let mut lost = [0u64; 4];
            for (n, (field, name)) in lost.iter_mut().zip([
                (Field::LostNoRoute, "packets-lost-no-route"),
                (Field::LostBlackhole, "packets-lost-blackhole"),
                (Field::LostMtu, "packets-lost-mtu-exceeded"),
                (Field::LostTtl, "packets-lost-ttl-expired"),
            ]) {
                if let Some(v) = get(field) {
                    *n = num(v, name)?;
                }
            }
            let hop = TgwHop {
                tgw: id(Field::TgwId, "tgw-id")?,
                attachment: id(Field::TgwAttachmentId, "tgw-attachment-id")?,
                lost,
            };
            return Ok(Record::Tgw(flow, hop));
        }
        Ok(Record::Flow(flow))
    }
}

pub use crate::evidence::LAST_TIME;

fn epoch(v: &str, name: &str) -> Result<u64, String> {
    match num::<u64>(v, name)? {
        t if t <= LAST_TIME => Ok(t),
        _ => Err(format!("{name} `{v}` is not a time in epoch seconds")),
    }
}

fn num<T: FromStr + TryFrom<u64>>(v: &str, name: &str) -> Result<T, String> {
    let fast = digits(v).map(T::try_from);
    match fast {
        Some(Ok(n)) => Ok(n),
        // A sign, more than 19 digits, or not a number at all: what `FromStr` says, exactly.
        _ => v
            .parse()
            .map_err(|_| format!("{name} `{v}` is not a number in range")),
    }
}

/// Up to 19 decimal digits (always within a u64) as a number: the fields of nearly every record,
/// read without the general parser's overhead. `None` for anything else, which takes `FromStr`.
#[inline]
fn digits(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

/// Splits `line` at each space into `spans`, a word (8 bytes) at a time; returns whether every
/// byte is ASCII.
fn split_spaces(line: &[u8], spans: &mut Vec<(u32, u32)>) -> bool {
    const LOW: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const SPACES: u64 = 0x2020_2020_2020_2020;
    spans.clear();
    let mut from = 0u32;
    let mut high = 0u64;
    let words = line.chunks_exact(8);
    let tail = words.remainder();
    for (w, word) in words.enumerate() {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        high |= x;
        // The high bit of each byte that equals a space, exactly (no borrow between bytes).
        let y = x ^ SPACES;
        let mut found = !((((y & LOW) + LOW) | y) | LOW);
        while found != 0 {
            let at = (w * 8) as u32 + found.trailing_zeros() / 8;
            spans.push((from, at));
            from = at + 1;
            found &= found - 1;
        }
    }
    let base = (line.len() - tail.len()) as u32;
    for (i, &b) in tail.iter().enumerate() {
        high |= u64::from(b);
        if b == b' ' {
            spans.push((from, base + i as u32));
            from = base + i as u32 + 1;
        }
    }
    spans.push((from, line.len() as u32));
    high & !LOW == 0
}

/// Parses an address; dotted IPv4 (the bulk of flow logs) without the general parser's overhead,
/// accepting exactly what `Ipv4Addr::from_str` accepts.
pub fn parse_ip(v: &str) -> Option<IpAddr> {
    let b = v.as_bytes();
    if b.len() > 15 {
        return v.parse().ok();
    }
    // One pass: each octet's digits, then a dot (or the end). Std rejects empty parts, more than
    // 3 digits, values over 255 and leading zeros ("01").
    let mut octets = [0u8; 4];
    let mut n = 0;
    let mut value = 0u16;
    let mut len = 0;
    for &c in b {
        if c == b'.' {
            if len == 0 || n == 3 {
                return None;
            }
            octets[n] = u8::try_from(value).ok()?;
            n += 1;
            (value, len) = (0, 0);
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            // Not dotted IPv4: IPv6 short enough to get here, or no address (std says which).
            return v.parse().ok();
        }
        if len == 3 || (len == 1 && value == 0) {
            // Too many digits, or a leading zero, for IPv4; an IPv6 group ("2001:", "01::") may.
            return v.parse().ok();
        }
        value = value * 10 + u16::from(d);
        len += 1;
    }
    if len == 0 || n != 3 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(IpAddr::from(octets))
}

fn addr(v: &str, name: &str) -> Result<IpAddr, String> {
    parse_ip(v).ok_or_else(|| format!("{name} `{v}` is not an IP address"))
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
    fn reject_reasons_are_read_and_a_reason_aws_adds_later_is_still_a_refusal() {
        let l = Layout::new(
            &Format::parse("srcaddr dstaddr srcport dstport protocol action reject-reason")
                .unwrap(),
        );
        let f = flow(&l, "198.51.100.7 10.0.1.10 50432 443 6 REJECT BPA");
        assert_eq!(f.reject_reason, Some(RejectReason::Bpa));
        let f = flow(&l, "198.51.100.7 10.0.1.10 50432 443 6 REJECT EC");
        assert_eq!(f.reject_reason, Some(RejectReason::EncryptionControls));
        let f = flow(&l, "198.51.100.7 10.0.1.10 50432 443 6 REJECT XYZ");
        assert_eq!(f.reject_reason, Some(RejectReason::Other));
        let f = flow(&l, "198.51.100.7 10.0.1.10 50432 443 6 REJECT -");
        assert_eq!(f.reject_reason, None);
    }

    #[test]
    fn transit_gateway_records_carry_the_gateway_and_what_it_lost() {
        let l = Layout::new(&Format::parse("version resource-type tgw-id tgw-attachment-id srcaddr dstaddr srcport dstport protocol start end log-status packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired").unwrap());
        let line = "6 TransitGateway tgw-1 tgw-attach-2 10.0.2.20 192.168.50.10 40001 5432 6 1700000000 1700000060 OK 3 0 1 0";
        match l.parse(line) {
            Ok(Record::Tgw(f, hop)) => {
                assert_eq!((f.srcport, f.dstport), (40001, 5432));
                assert_eq!(hop.tgw.as_str(), "tgw-1");
                assert_eq!(hop.attachment.as_str(), "tgw-attach-2");
                assert_eq!(hop.lost, [3, 0, 1, 0]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            l.parse("6 TransitGateway tgw-1 - - - - - - 1700000000 1700000060 NODATA - - - -"),
            Ok(Record::NoData { .. })
        ));
        assert_eq!(
            l.parse(&line.replace(" 3 0 1 0", " x 0 1 0")).unwrap_err(),
            "packets-lost-no-route `x` is not a number in range"
        );
    }

    #[test]
    fn the_fast_address_parser_agrees_with_std() {
        let cases = [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "a.b.c.d",
            "1.2.3.-4",
            "+1.2.3.4",
            "1234.1.1.1",
            "",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "-",
            "999.999.999.999",
            "1.2.3.0400",
        ];
        for c in cases {
            assert_eq!(parse_ip(c), c.parse().ok(), "{c:?}");
        }
        // And every octet value, in every position.
        for v in 0..=300u32 {
            for pos in 0..4 {
                let mut parts = ["1", "2", "3", "4"].map(String::from);
                parts[pos] = v.to_string();
                let text = parts.join(".");
                assert_eq!(parse_ip(&text), text.parse().ok(), "{text}");
            }
        }
    }

    proptest::proptest! {
        /// The fast parsers accept exactly what std accepts, with the same values.
        #[test]
        fn fast_numbers_and_addresses_agree_with_std(
            v in "[0-9.:+a-f -]{0,22}|[0-9]{0,22}|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,4}"
        ) {
            proptest::prop_assert_eq!(parse_ip(&v), v.parse().ok());
            proptest::prop_assert_eq!(num::<u8>(&v, "x").ok(), v.parse::<u8>().ok());
            proptest::prop_assert_eq!(num::<u16>(&v, "x").ok(), v.parse::<u16>().ok());
            proptest::prop_assert_eq!(num::<u64>(&v, "x").ok(), v.parse::<u64>().ok());
        }
    }

    #[test]
    fn the_word_splitter_agrees_with_a_plain_split() {
        let mut spans = Vec::new();
        for line in [
            LINE,
            "",
            "a",
            " ",
            "  a  b ",
            "abcdefg h",
            "abcdefgh i",
            "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
        ] {
            assert!(split_spaces(line.as_bytes(), &mut spans));
            let got: Vec<&str> = spans
                .iter()
                .map(|(a, b)| &line[*a as usize..*b as usize])
                .collect();
            assert_eq!(got, line.split(' ').collect::<Vec<_>>(), "{line:?}");
        }
        assert!(!split_spaces("10.0.0.1 caf\u{e9} x".as_bytes(), &mut spans));
        assert!(!split_spaces(b"\xff", &mut spans));
    }

    #[test]
    fn a_line_that_is_not_text_is_an_error() {
        let mut spans = Vec::new();
        let mut line = LINE.as_bytes().to_vec();
        line[5] = 0xff;
        assert_eq!(
            v2().split(&line, &mut spans).err().as_deref(),
            Some("not UTF-8 text")
        );
    }

    #[test]
    fn fields_split_on_any_whitespace_run() {
        let l = v2();
        let tabs = LINE.replacen(' ', "\t", 3).replacen(' ', "   ", 2);
        assert_eq!(
            format!("{:?}", flow(&l, &tabs)),
            format!("{:?}", flow(&l, LINE))
        );
        assert_eq!(l.parse(&format!(" {LINE}  ")).map(|_| ()), Ok(()));
        assert_eq!(
            l.parse(&format!("{LINE} x")).unwrap_err(),
            "15 fields where the format has 14"
        );
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
