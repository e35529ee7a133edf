//! Where VPC Flow Logs lie in S3, as AWS documents it ("Flow log files"), worked out without
//! any I/O: the location a user names, the prefixes of a time window, and the time an object's
//! name gives.
//!
//! - default: `prefix/AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{mm}/{dd}/`
//! - hourly: the same, then `{hh}/`
//! - Hive-compatible: `prefix/AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/
//!   aws-region={region}/year={yyyy}/month={mm}/day={dd}/`, hourly `hour={hh}/`
//!
//! Objects are named `{account}_vpcflowlogs_{region}_{flow-log-id}_{yyyymmdd}T{hhmm}Z_{hash}`
//! with `.log.gz` (text) or `.log.parquet`; each holds records of the five minutes before the
//! name's time, give or take delivery.

use std::collections::BTreeSet;

use time::{Date, OffsetDateTime};

use crate::plan::Window;

/// `s3://bucket/prefix`, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Without a leading `/`; empty, or ending in `/`.
    pub prefix: String,
    /// Set by discovery, which knows the flow logs that deliver here: only their region is
    /// listed and only their objects read (a central bucket holds every account's).
    pub narrow: Option<Narrow>,
}

/// The flow logs discovery found delivering to a location, and their region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrow {
    pub region: String,
    /// Flow-log ids (`fl-...`), as object names carry them.
    pub flow_logs: BTreeSet<String>,
    /// The account whose flow logs they are, when a host named one: a central bucket is read
    /// under that account's `AWSLogs/{account}/` only (`None`: under every account's).
    pub account: Option<String>,
    /// Transit gateways' flow logs read beside them: their objects are read, but they never show
    /// a window delivered, nor is a window without one of theirs a gap (a gateway's records only
    /// explain).
    pub gateways: BTreeSet<String>,
}

impl Narrow {
    /// Which of these flow logs, the gateways' among them, an object key is of
    /// (`..._{region}_{fl-id}_{time}_...`).
    pub fn flow_log_of(&self, key: &str) -> Option<&str> {
        let name = key.rsplit('/').next().unwrap_or(key);
        self.flow_logs
            .iter()
            .chain(&self.gateways)
            .find(|id| name.contains(&format!("_{}_{id}_", self.region)))
            .map(String::as_str)
    }

    /// Whether an object key is a transit gateway's flow log's.
    pub fn is_gateways(&self, key: &str) -> bool {
        self.flow_log_of(key)
            .is_some_and(|id| self.gateways.contains(id))
    }

    /// Whether an object key is one of these flow logs'.
    pub fn keeps(&self, key: &str) -> bool {
        self.flow_log_of(key).is_some()
    }
}

impl Location {
    /// Parses `s3://bucket[/prefix]`; `None` for anything that is not an S3 URL.
    pub fn parse(s: &str) -> Option<Result<Location, String>> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid {
            return Some(Err(format!(
                "{s}: `{bucket}` is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)"
            )));
        }
        let mut prefix = prefix.trim_start_matches('/').to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Some(Ok(Location {
            bucket: bucket.to_string(),
            prefix,
            narrow: None,
        }))
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The `AWSLogs/` folder the location is in or above, and what the rest of the location
    /// already fixes (`AWSLogs/123456789012/` fixes the account, say).
    pub fn awslogs(&self) -> (String, Vec<String>) {
        match self.prefix.find("AWSLogs/") {
            Some(i) => {
                let base = self.prefix[..i + "AWSLogs/".len()].to_string();
                let fixed = self.prefix[i + "AWSLogs/".len()..]
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
                (base, fixed)
            }
            None => (format!("{}AWSLogs/", self.prefix), Vec::new()),
        }
    }
}

/// The two folder layouts AWS writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Plain,
    Hive,
}

impl Naming {
    /// The folder of one account's flow logs of one region, under `AWSLogs/`.
    pub fn region_folder(self, account: &str, region: &str) -> String {
        match self {
            Naming::Plain => format!("{account}/vpcflowlogs/{region}/"),
            Naming::Hive => {
                format!("aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/")
            }
        }
    }

    /// The folder of one day under a region's folder.
    pub fn day_folder(self, d: Date) -> String {
        let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
        match self {
            Naming::Plain => format!("{y:04}/{m:02}/{day:02}/"),
            Naming::Hive => format!("year={y:04}/month={m:02}/day={day:02}/"),
        }
    }

    /// The folder of one hour under a day's folder (per-hour partitions).
    pub fn hour_folder(self, hour: u8) -> String {
        match self {
            Naming::Plain => format!("{hour:02}/"),
            Naming::Hive => format!("hour={hour:02}/"),
        }
    }

    /// The account a folder name under `AWSLogs/` names, and the layout it is in.
    pub fn account_of(folder: &str) -> Option<(Naming, String)> {
        let name = folder.trim_end_matches('/');
        if let Some(a) = name.strip_prefix("aws-account-id=") {
            return Some((Naming::Hive, a.to_string()));
        }
        (name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit()))
            .then(|| (Naming::Plain, name.to_string()))
    }

    /// The region a folder name under an account's service folder names.
    pub fn region_of(self, folder: &str) -> String {
        let name = folder.trim_end_matches('/');
        match self {
            Naming::Plain => name.to_string(),
            Naming::Hive => name.trim_start_matches("aws-region=").to_string(),
        }
    }

    /// The folder under an account's folder that holds its VPC flow logs, by region.
    pub fn service_folder(self, account: &str) -> String {
        match self {
            Naming::Plain => format!("{account}/vpcflowlogs/"),
            Naming::Hive => format!("aws-account-id={account}/aws-service=vpcflowlogs/"),
        }
    }

    /// Whether a folder name under a day's folder is an hour's (per-hour partitions).
    pub fn hour_of(self, folder: &str) -> Option<u8> {
        let name = folder.trim_end_matches('/');
        let digits = match self {
            Naming::Plain => name,
            Naming::Hive => name.strip_prefix("hour=")?,
        };
        (digits.len() == 2)
            .then(|| digits.parse().ok())
            .flatten()
            .filter(|h| *h < 24)
    }
}

/// How far outside the window an object's name time may lie and still hold a record of it: a
/// file holds about the five minutes before its time, records last up to ten minutes, delivery
/// can lag, and the ten minutes before the window are read to recognise late packets. Reading
/// an object too many is cheap; skipping one that holds a record of the window is not.
pub const BEFORE: u64 = Window::CONTEXT + 600;
pub const AFTER: u64 = 1200;

/// The range of name times of the objects a window needs.
pub fn wanted(window: (u64, u64)) -> (u64, u64) {
    (
        window.0.saturating_sub(BEFORE),
        window.1.saturating_add(AFTER),
    )
}

/// The days (UTC) whose folders can hold objects named in `range`.
pub fn days(range: (u64, u64)) -> Vec<Date> {
    let day = |t: u64| {
        OffsetDateTime::from_unix_timestamp(t.min(crate::evidence::LAST_TIME) as i64)
            .map(|d| d.date())
            .ok()
    };
    let (Some(mut d), Some(last)) = (day(range.0), day(range.1)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while d <= last {
        out.push(d);
        match d.next_day() {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

/// The hours of `date` that can hold objects named in `range`.
pub fn hours(date: Date, range: (u64, u64)) -> Vec<u8> {
    let midnight = date.midnight().assume_utc().unix_timestamp().max(0) as u64;
    (0..24u8)
        .filter(|h| {
            let start = midnight + u64::from(*h) * 3600;
            start <= range.1 && start + 3599 >= range.0
        })
        .collect()
}

/// The time an object's name gives (`..._20261120T0905Z_hash.log.gz`), if it follows AWS's
/// naming; `None` for any other name (such an object is read, never skipped on a guess).
pub fn name_time(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(|part| {
        let b = part.as_bytes();
        if b.len() != 14 || b[8] != b'T' || b[13] != b'Z' {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = std::str::from_utf8(&b[r]).ok()?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let (y, mo, d, h, mi) = (
            digits(0..4)?,
            digits(4..6)?,
            digits(6..8)?,
            digits(9..11)?,
            digits(11..13)?,
        );
        let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
        let date =
            Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
        let t = date
            .with_hms(u8::try_from(h).ok()?, u8::try_from(mi).ok()?, 0)
            .ok()?
            .assume_utc()
            .unix_timestamp();
        u64::try_from(t).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_find_their_awslogs_folder() {
        let l = Location::parse("s3://central-logs/org/AWSLogs/123456789012")
            .unwrap()
            .unwrap();
        assert_eq!(l.prefix, "org/AWSLogs/123456789012/");
        assert_eq!(
            l.awslogs(),
            ("org/AWSLogs/".to_string(), vec!["123456789012".to_string()])
        );
        let root = Location::parse("s3://central-logs").unwrap().unwrap();
        assert_eq!(root.awslogs(), ("AWSLogs/".to_string(), Vec::new()));
        assert!(Location::parse("examples/after-fixes").is_none());
        assert!(Location::parse("s3://Bad_Bucket/x").unwrap().is_err());
    }

    #[test]
    fn a_narrowed_location_keeps_only_its_flow_logs_objects() {
        let n = Narrow {
            region: "eu-west-1".into(),
            flow_logs: ["fl-0a1".to_string()].into(),
            account: None,
            gateways: Default::default(),
        };
        let day = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20/";
        assert!(n.keeps(&format!(
            "{day}123456789012_vpcflowlogs_eu-west-1_fl-0a1_20261120T0905Z_ab12.log.gz"
        )));
        // Another flow log in the same folder, and one whose id only starts the same.
        assert!(!n.keeps(&format!(
            "{day}123456789012_vpcflowlogs_eu-west-1_fl-0b2_20261120T0905Z_ab12.log.gz"
        )));
        assert!(!n.keeps(&format!(
            "{day}123456789012_vpcflowlogs_eu-west-1_fl-0a1f_20261120T0905Z_ab12.log.gz"
        )));
    }

    #[test]
    fn folders_follow_the_documented_layouts() {
        let d = Date::from_calendar_date(2026, time::Month::November, 20).unwrap();
        let plain = Naming::Plain;
        assert_eq!(
            format!(
                "{}{}{}",
                plain.region_folder("123456789012", "eu-west-1"),
                plain.day_folder(d),
                plain.hour_folder(9)
            ),
            "123456789012/vpcflowlogs/eu-west-1/2026/11/20/09/"
        );
        let hive = Naming::Hive;
        assert_eq!(
            format!(
                "{}{}{}",
                hive.region_folder("123456789012", "eu-west-1"),
                hive.day_folder(d),
                hive.hour_folder(9)
            ),
            "aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=11/day=20/hour=09/"
        );
        assert_eq!(
            Naming::account_of("aws-account-id=123456789012/"),
            Some((Naming::Hive, "123456789012".into()))
        );
        assert_eq!(
            Naming::account_of("123456789012/"),
            Some((Naming::Plain, "123456789012".into()))
        );
        assert_eq!(Naming::account_of("elasticloadbalancing/"), None);
        assert_eq!(hive.hour_of("hour=07/"), Some(7));
        assert_eq!(plain.hour_of("24/"), None);
    }

    #[test]
    fn a_window_crossing_midnight_lists_both_days_and_only_the_hours_it_needs() {
        // 2026-11-20T23:50Z .. 2026-11-21T00:20Z
        let window = (1_795_218_600, 1_795_220_400);
        let range = wanted(window);
        let days = days(range);
        assert_eq!(days.len(), 2);
        assert_eq!(hours(days[0], range), [23]);
        assert_eq!(hours(days[1], range), [0]);
    }

    #[test]
    fn object_names_give_their_time_and_other_names_none() {
        let key = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20/123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20261120T0905Z_ba349876.log.gz";
        assert_eq!(name_time(key), Some(1_795_165_500));
        assert_eq!(
            name_time("x/20261120T0905Z.log.gz"),
            None,
            "not the documented shape"
        );
        assert_eq!(name_time("x/README.txt"), None);
        assert_eq!(name_time("a_20261340T0905Z_b.log.gz"), None, "month 13");
    }
}
