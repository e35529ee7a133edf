//! Flow-log record formats: which field sits in which column.

use std::fmt;

/// The fields flowgate reads. Other AWS fields are kept as columns it skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Version,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
    PktSrcAddr,
    PktDstAddr,
    /// Why a VPC refused traffic that no security group or network ACL refused (v8: BPA, EC).
    RejectReason,
    /// Transit Gateway flow logs (version 6): the gateway and the attachment the flow crossed.
    TgwId,
    TgwAttachmentId,
    /// Packets a transit gateway dropped, by reason.
    LostNoRoute,
    LostBlackhole,
    LostMtu,
    LostTtl,
    /// A field only Transit Gateway flow logs have (`resource-type`, `tgw-src-vpc-id`, ...).
    TgwOther,
    /// A field AWS defines that verdicts do not need (account-id, vpc-id, ...).
    Other,
}

impl Field {
    /// A field only Transit Gateway flow logs have.
    pub fn is_tgw(self) -> bool {
        matches!(
            self,
            Field::TgwId
                | Field::TgwAttachmentId
                | Field::LostNoRoute
                | Field::LostBlackhole
                | Field::LostMtu
                | Field::LostTtl
                | Field::TgwOther
        )
    }
}

/// Every field name AWS documents for VPC flow logs (versions 2 to 11, from the "Flow log
/// records" page of the Amazon VPC User Guide) and for Transit Gateway flow logs (version 6, from
/// the "Transit Gateway Flow Log records" page), and what flowgate makes of it.
const NAMES: &[(&str, Field)] = &[
    ("version", Field::Version),
    ("account-id", Field::Other),
    ("interface-id", Field::InterfaceId),
    ("srcaddr", Field::SrcAddr),
    ("dstaddr", Field::DstAddr),
    ("srcport", Field::SrcPort),
    ("dstport", Field::DstPort),
    ("protocol", Field::Protocol),
    ("packets", Field::Packets),
    ("bytes", Field::Bytes),
    ("start", Field::Start),
    ("end", Field::End),
    ("action", Field::Action),
    ("log-status", Field::LogStatus),
    // v3
    ("vpc-id", Field::Other),
    ("subnet-id", Field::Other),
    ("instance-id", Field::Other),
    ("tcp-flags", Field::TcpFlags),
    ("type", Field::Other),
    ("pkt-srcaddr", Field::PktSrcAddr),
    ("pkt-dstaddr", Field::PktDstAddr),
    // v4
    ("region", Field::Other),
    ("az-id", Field::Other),
    ("sublocation-type", Field::Other),
    ("sublocation-id", Field::Other),
    // v5
    ("pkt-src-aws-service", Field::Other),
    ("pkt-dst-aws-service", Field::Other),
    ("flow-direction", Field::Other),
    ("traffic-path", Field::Other),
    // v7: Amazon ECS
    ("ecs-cluster-arn", Field::Other),
    ("ecs-cluster-name", Field::Other),
    ("ecs-container-instance-arn", Field::Other),
    ("ecs-container-instance-id", Field::Other),
    ("ecs-container-id", Field::Other),
    ("ecs-second-container-id", Field::Other),
    ("ecs-service-name", Field::Other),
    ("ecs-task-definition-arn", Field::Other),
    ("ecs-task-arn", Field::Other),
    ("ecs-task-id", Field::Other),
    // v8
    ("reject-reason", Field::RejectReason),
    // v9: the resource (a regional NAT gateway) when interface-id is `-`
    ("resource-id", Field::Other),
    // v10
    ("encryption-status", Field::Other),
    // v11: tags, interface types, next hop
    ("instance-tag", Field::Other),
    ("instance-tag-2", Field::Other),
    ("interface-tag", Field::Other),
    ("interface-tag-2", Field::Other),
    ("asg-tag", Field::Other),
    ("asg-tag-2", Field::Other),
    ("interface-type", Field::Other),
    ("next-hop-interface-id", Field::Other),
    ("next-hop-subnet-id", Field::Other),
    ("next-hop-az-id", Field::Other),
    ("next-hop-vpc-id", Field::Other),
    ("next-hop-interface-type", Field::Other),
    // Transit Gateway flow logs, v6
    ("resource-type", Field::TgwOther),
    ("tgw-id", Field::TgwId),
    ("tgw-attachment-id", Field::TgwAttachmentId),
    ("tgw-src-vpc-account-id", Field::TgwOther),
    ("tgw-dst-vpc-account-id", Field::TgwOther),
    ("tgw-src-vpc-id", Field::TgwOther),
    ("tgw-dst-vpc-id", Field::TgwOther),
    ("tgw-src-subnet-id", Field::TgwOther),
    ("tgw-dst-subnet-id", Field::TgwOther),
    ("tgw-src-eni", Field::TgwOther),
    ("tgw-dst-eni", Field::TgwOther),
    ("tgw-src-az-id", Field::TgwOther),
    ("tgw-dst-az-id", Field::TgwOther),
    ("tgw-pair-attachment-id", Field::TgwOther),
    ("packets-lost-no-route", Field::LostNoRoute),
    ("packets-lost-blackhole", Field::LostBlackhole),
    ("packets-lost-mtu-exceeded", Field::LostMtu),
    ("packets-lost-ttl-expired", Field::LostTtl),
];

fn lookup(name: &str) -> Option<Field> {
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The default (version 2) format, used for files without a header.
pub const DEFAULT: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// The default format of Transit Gateway flow logs (every field of versions 2 to 6, the "Transit
/// Gateway Flow Log records" page's order): what a flow log on a transit gateway or attachment
/// writes when it names no format.
pub const TGW_DEFAULT: &str = "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service";

/// Fields without which a record cannot be judged.
const REQUIRED: &[Field] = &[
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Action,
];

/// A record layout: the field in each column, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub columns: Vec<Field>,
    names: Vec<String>,
}

impl Format {
    pub fn default_v2() -> Format {
        Format::parse(DEFAULT).expect("the default format is valid")
    }

    /// Parses a format as AWS writes it (`${srcaddr} ${dstaddr} ...`) or as an S3 header writes
    /// it (`srcaddr dstaddr ...`). Names AWS does not document are an error: a typo would
    /// otherwise shift every column after it.
    pub fn parse(text: &str) -> Result<Format, String> {
        let mut columns = Vec::new();
        let mut names = Vec::new();
        for token in text.split_ascii_whitespace() {
            let name = token
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or(token);
            let field = lookup(name).ok_or_else(|| format!("unknown field `{name}`"))?;
            columns.push(field);
            names.push(name.to_string());
        }
        if columns.is_empty() {
            return Err("the format names no fields".into());
        }
        Ok(Format { columns, names })
    }

    /// Reads an S3 header line. Unlike `parse`, names AWS may have added since are kept as columns
    /// to skip: the header comes from AWS itself, so the column count is right.
    pub fn from_header(line: &str) -> Format {
        let names: Vec<String> = line.split_ascii_whitespace().map(str::to_string).collect();
        let columns = names
            .iter()
            .map(|n| lookup(n).unwrap_or(Field::Other))
            .collect();
        Format { columns, names }
    }

    /// A name in a header that AWS does not document but is a slip away from one that it does
    /// (`logstatus`, `dstadr`), with that field: a typo in a hand-made header, not a field AWS
    /// added since (those are kept as columns to skip).
    pub fn typo(&self) -> Option<(&str, &'static str)> {
        let squash = |s: &str| s.replace(['-', '_'], "");
        self.names.iter().find_map(|name| {
            if lookup(name).is_some() {
                return None;
            }
            NAMES
                .iter()
                .map(|(n, _)| *n)
                .find(|known| {
                    squash(known) == squash(name)
                        || (name.len() >= 5 && strsim::levenshtein(known, name) <= 2)
                })
                .map(|known| (name.as_str(), known))
        })
    }

    /// Whether a line is a header (`version account-id ...`) rather than a record: every word is
    /// a lower-case name, at least one is a field AWS documents, and a word with digits in it is
    /// one AWS documents (`instance-tag-2`): records always carry digits (addresses, ports, ids),
    /// names AWS may add later are told from values by having none.
    pub fn is_header(line: &str) -> bool {
        let mut known = false;
        for word in line.split_ascii_whitespace() {
            if !word.starts_with(|c: char| c.is_ascii_lowercase())
                || !word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return false;
            }
            match lookup(word) {
                Some(_) => known = true,
                None if word.bytes().any(|b| b.is_ascii_digit()) => return false,
                None => {}
            }
        }
        known
    }

    /// Whether a word is a field name AWS documents: a line whose first word is one may be a
    /// header even when that word has digits in it.
    pub fn is_name(word: &[u8]) -> bool {
        std::str::from_utf8(word).is_ok_and(|w| lookup(w).is_some())
    }

    /// Whether the records are Transit Gateway flow-log records: they name a transit gateway
    /// field, and have no action (a transit gateway does not accept or reject; it drops, and
    /// counts the packets it lost).
    pub fn is_tgw(&self) -> bool {
        self.tgw_field().is_some()
    }

    /// The first field only Transit Gateway flow logs have, by the name the format gives it.
    pub fn tgw_field(&self) -> Option<&str> {
        self.columns
            .iter()
            .zip(&self.names)
            .find(|(f, _)| f.is_tgw())
            .map(|(_, n)| n.as_str())
    }

    /// What is missing for flows to be judged; `needs_time` when a window must place records.
    pub fn missing(&self, needs_time: bool) -> Vec<&'static str> {
        let tgw = self.is_tgw();
        let mut missing: Vec<&'static str> = REQUIRED
            .iter()
            // Transit Gateway records have no action: a record is traffic the gateway carried.
            .filter(|f| !(tgw && **f == Field::Action))
            .filter(|f| !self.columns.contains(f))
            .map(|f| field_name(*f))
            .collect();
        if needs_time {
            missing.extend(
                [Field::Start, Field::End]
                    .into_iter()
                    .filter(|f| !self.columns.contains(f))
                    .map(field_name),
            );
        }
        missing
    }

    pub fn has(&self, field: Field) -> bool {
        self.columns.contains(&field)
    }
}

fn field_name(f: Field) -> &'static str {
    NAMES.iter().find(|(_, g)| *g == f).map_or("?", |(n, _)| n)
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_in_aws_and_header_spelling() {
        let a = Format::parse("${srcaddr} ${dstaddr} ${srcport}").unwrap();
        let b = Format::parse("srcaddr dstaddr srcport").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.columns, [Field::SrcAddr, Field::DstAddr, Field::SrcPort]);
        assert_eq!(
            Format::parse("srcaddr dstadr").unwrap_err(),
            "unknown field `dstadr`"
        );
        let h = Format::from_header("srcaddr some-future-field dstaddr");
        assert_eq!(h.columns, [Field::SrcAddr, Field::Other, Field::DstAddr]);
    }

    #[test]
    fn a_slip_in_a_header_is_told_from_a_field_aws_added_since() {
        let f = Format::from_header("version srcaddr dstaddr logstatus");
        assert_eq!(f.typo(), Some(("logstatus", "log-status")));
        let f = Format::from_header("version srcaddr dstadr");
        assert_eq!(f.typo(), Some(("dstadr", "dstaddr")));
        let f = Format::from_header("version srcaddr dstaddr some-new-field");
        assert_eq!(f.typo(), None);
    }

    #[test]
    fn headers_are_told_from_records() {
        assert!(Format::is_header(DEFAULT));
        assert!(Format::is_header(
            "interface-id srcaddr tcp-flags flow-direction"
        ));
        assert!(!Format::is_header(
            "2 123456789012 eni-0a1b2c3d 10.0.1.10 10.0.2.20 40000 8080 6 3 180 1700000000 1700000060 ACCEPT OK"
        ));
        assert!(
            !Format::is_header("ingress egress"),
            "words that are values, not field names"
        );
        assert!(!Format::is_header(""));
    }

    #[test]
    fn a_header_is_a_header_whatever_documented_names_it_holds() {
        // Every VPC field of versions 2 to 11: `instance-tag-2` has a digit in its name.
        let v11 = NAMES
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| {
                !n.starts_with("tgw-") && !n.starts_with("packets-lost") && *n != "resource-type"
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert!(Format::is_header(&v11), "{v11}");
        assert!(Format::is_header("instance-tag-2 srcaddr dstaddr"));
        assert!(Format::is_name(b"instance-tag-2"));
        // Digits in a name AWS does not document: a value, not a header.
        assert!(!Format::is_header("eni-0a1b2c3d srcaddr"));
        assert!(!Format::is_name(b"eni-0a1b2c3d"));
        let f = Format::from_header(&v11);
        assert_eq!(f.typo(), None);
        assert!(!f.is_tgw());
        assert!(f.has(Field::RejectReason));
    }

    #[test]
    fn transit_gateway_formats_are_told_apart_and_need_no_action() {
        let tgw = Format::parse("version resource-type account-id tgw-id tgw-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status packets-lost-no-route").unwrap();
        assert!(tgw.is_tgw());
        assert!(tgw.missing(true).is_empty());
        assert!(Format::is_header(&tgw.to_string()));
        let vpc = Format::parse("srcaddr dstaddr srcport dstport protocol").unwrap();
        assert!(!vpc.is_tgw());
        assert_eq!(vpc.missing(false), ["action"]);
    }

    #[test]
    fn formats_know_what_they_lack() {
        assert!(Format::default_v2().missing(true).is_empty());
        let f = Format::parse("interface-id srcaddr dstaddr action").unwrap();
        assert_eq!(f.missing(false), ["srcport", "dstport", "protocol"]);
        assert_eq!(
            f.missing(true),
            ["srcport", "dstport", "protocol", "start", "end"]
        );
    }
}
