//! An Athena table of flow logs as athena:GetTableMetadata describes it: the column that holds
//! each field, and the partition keys that prune a time range. A table flowgate cannot prune,
//! or that lacks a column every record needs, is refused before any query.

use crate::source::format::{Field, Format};

/// A table, checked: every query over it can be pruned by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub database: String,
    pub name: String,
    /// The record columns in table order (partition keys apart), as the table names them.
    pub columns: Vec<String>,
    /// The fields of those columns, in the same order.
    pub format: Format,
    pub keys: Vec<Key>,
}

/// A partition key and what flowgate puts in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub part: Part,
    /// An integer column (Hive layouts sometimes type `month`, `day`, `hour` so): values
    /// without quotes.
    pub numeric: bool,
    /// The values partition projection enumerates for it (`projection.KEY.values` of an `enum`
    /// key): every account or region the table can read.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Account,
    Region,
    /// `aws-service` of the Hive layout: always `vpcflowlogs`.
    Service,
    /// A whole date in one key (`day` of AWS's text DDL, `date` of its Parquet one).
    Date(DateKey),
    /// The Hive layout's `year`, `month` and `day`.
    Year,
    Month,
    DayOfMonth,
    Hour,
}

/// How a date key holds its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateKey {
    /// A `date` column: `DATE '2026-11-20'`.
    Typed,
    /// Text in a Java date pattern (`yyyy/MM/dd`), as `projection.KEY.format` gives it.
    Pattern(String),
}

impl DateKey {
    /// The key's value for a day.
    pub fn render(&self, d: time::Date) -> String {
        let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
        match self {
            DateKey::Typed => format!("DATE '{y:04}-{m:02}-{day:02}'"),
            DateKey::Pattern(p) => format!(
                "'{}'",
                p.replace("yyyy", &format!("{y:04}"))
                    .replace("MM", &format!("{m:02}"))
                    .replace("dd", &format!("{day:02}"))
            ),
        }
    }
}

/// A `DATABASE.TABLE` name as `--athena-table` gives it.
pub fn parse_name(s: &str) -> Result<(String, String), String> {
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match s.split_once('.') {
        Some((db, t)) if ok(db) && ok(t) => Ok((db.to_string(), t.to_string())),
        _ => Err(format!(
            "--athena-table `{s}`: give it as DATABASE.TABLE (letters, digits, `_`), e.g. flowlogs.vpc_flow_logs"
        )),
    }
}

/// What GetTableMetadata said of a table.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub columns: Vec<(String, String)>,
    pub partitions: Vec<(String, String)>,
    pub parameters: std::collections::BTreeMap<String, String>,
}

fn is_integer(ty: &str) -> bool {
    matches!(
        ty.to_ascii_lowercase().as_str(),
        "int" | "integer" | "bigint" | "smallint" | "tinyint"
    )
}

impl Table {
    /// The table `database.name` as its metadata describes it, or why flowgate cannot use it.
    pub fn new(database: &str, name: &str, meta: &Metadata) -> Result<Table, String> {
        let full = format!("{database}.{name}");
        let columns: Vec<String> = meta.columns.iter().map(|(c, _)| c.to_lowercase()).collect();
        let header: Vec<String> = columns.iter().map(|c| c.replace('_', "-")).collect();
        let format = Format::from_header(&header.join(" "));
        if let Some(field) = format.tgw_field() {
            return Err(format!(
                "Athena table {full} holds Transit Gateway flow logs (it has a {field} column), which flowgate does not read through Athena\n  help: give a table of VPC flow logs; read the Transit Gateway flow logs from S3 with --flow-logs, or from CloudWatch Logs with --log-group"
            ));
        }
        let mut missing = format.missing(false);
        if !format.has(Field::Start) {
            missing.push("start");
        }
        if !missing.is_empty() {
            return Err(format!(
                "Athena table {full} has no column {}, which every record needs to be judged\n  help: the table's columns are the flow log's fields with `_` for `-` (`flowgate athena-ddl` prints a table for AWS's layouts)",
                missing.join(", ")
            ));
        }
        let hive = meta
            .partitions
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("year"));
        let mut keys = Vec::new();
        for (key, ty) in &meta.partitions {
            let norm = key.to_lowercase().replace('-', "_");
            let pattern = || {
                let p = meta
                    .parameters
                    .get(&format!("projection.{key}.format"))
                    .cloned()
                    .unwrap_or_else(|| "yyyy/MM/dd".to_string());
                let rest = p.replace("yyyy", "").replace("MM", "").replace("dd", "");
                if rest.chars().any(|c| c.is_ascii_alphanumeric()) || !p.contains("dd") {
                    return Err(format!(
                        "Athena table {full}: partition key `{key}` has the date format `{p}`, which flowgate cannot write (it writes yyyy, MM and dd with separators)"
                    ));
                }
                Ok(DateKey::Pattern(p))
            };
            let part = match norm.as_str() {
                "accid" | "account_id" | "aws_account_id" | "account" | "accountid" => {
                    Part::Account
                }
                "region" | "aws_region" => Part::Region,
                "aws_service" | "service" => Part::Service,
                "year" => Part::Year,
                "month" => Part::Month,
                "day" if hive => Part::DayOfMonth,
                "day" | "date" | "dt" if ty.eq_ignore_ascii_case("date") => {
                    Part::Date(DateKey::Typed)
                }
                "day" | "date" | "dt" => Part::Date(pattern()?),
                "hour" => Part::Hour,
                _ => {
                    return Err(format!(
                        "Athena table {full}: partition key `{key}` is not one flowgate can prune by (account: accid or aws-account-id; region; day, date or year/month/day; hour)\n  help: a table with AWS's layout (`flowgate athena-ddl`) has only these"
                    ));
                }
            };
            let param = |p: &str| meta.parameters.get(&format!("projection.{key}.{p}"));
            let projected = meta
                .parameters
                .get("projection.enabled")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            if projected
                && param("type").is_some_and(|t| t.eq_ignore_ascii_case("injected"))
                && matches!(part, Part::Account | Part::Region)
            {
                return Err(format!(
                    "Athena table {full}: partition key `{key}` is projected as `injected`, which needs one value in every query; flowgate reads every account a table lists\n  help: project it as an `enum` of the accounts and regions the table holds (`flowgate athena-ddl`)"
                ));
            }
            let values = match (
                projected,
                param("type").map(String::as_str),
                param("values"),
            ) {
                (true, Some("enum"), Some(v)) => v
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect(),
                _ => Vec::new(),
            };
            keys.push(Key {
                name: key.clone(),
                part,
                numeric: is_integer(ty),
                values,
            });
        }
        let has = |p: fn(&Part) -> bool| keys.iter().any(|k| p(&k.part));
        let dated = has(|p| matches!(p, Part::Date(_)))
            || (has(|p| *p == Part::Year)
                && has(|p| *p == Part::Month)
                && has(|p| *p == Part::DayOfMonth));
        if !dated {
            return Err(format!(
                "Athena table {full} is not partitioned by day: every query would scan all of it\n  help: create it with partition projection (`flowgate athena-ddl --location s3://BUCKET/PREFIX/`)"
            ));
        }
        Ok(Table {
            database: database.to_string(),
            name: name.to_string(),
            columns,
            format,
            keys,
        })
    }

    /// `"database"."table"`.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote(&self.database), quote(&self.name))
    }

    /// The column of a field, quoted, if the table has one.
    pub fn column(&self, f: Field) -> Option<String> {
        self.format
            .columns
            .iter()
            .position(|c| *c == f)
            .map(|i| quote(&self.columns[i]))
    }

    pub fn hourly(&self) -> bool {
        self.keys.iter().any(|k| k.part == Part::Hour)
    }

    /// The keys that place a record in time: the day's (date, or Hive's year, month and day)
    /// in table order, then the hour's.
    pub fn time_keys(&self) -> impl Iterator<Item = &Key> {
        let day = self.keys.iter().filter(|k| {
            matches!(
                k.part,
                Part::Date(_) | Part::Year | Part::Month | Part::DayOfMonth
            )
        });
        day.chain(self.keys.iter().filter(|k| k.part == Part::Hour))
    }
}

/// An identifier as Trino quotes it (`end`, `date` and `hour` are reserved words).
pub fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(partitions: &[(&str, &str)], parameters: &[(&str, &str)]) -> Metadata {
        let cols = "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status";
        Metadata {
            columns: cols
                .split(' ')
                .map(|c| (c.to_string(), "string".to_string()))
                .collect(),
            partitions: partitions
                .iter()
                .map(|(k, t)| (k.to_string(), t.to_string()))
                .collect(),
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn recognises_aws_and_hive_partition_keys() {
        let t = Table::new(
            "db",
            "t",
            &meta(
                &[("accid", "string"), ("region", "string"), ("day", "string")],
                &[],
            ),
        )
        .unwrap();
        let parts: Vec<&Part> = t.keys.iter().map(|k| &k.part).collect();
        assert_eq!(
            parts,
            [
                &Part::Account,
                &Part::Region,
                &Part::Date(DateKey::Pattern("yyyy/MM/dd".into()))
            ]
        );
        let hive = Table::new(
            "db",
            "t",
            &meta(
                &[
                    ("aws-account-id", "string"),
                    ("aws-service", "string"),
                    ("aws-region", "string"),
                    ("year", "string"),
                    ("month", "int"),
                    ("day", "int"),
                    ("hour", "int"),
                ],
                &[],
            ),
        )
        .unwrap();
        assert_eq!(hive.keys[5].part, Part::DayOfMonth);
        assert!(hive.keys[5].numeric && hive.hourly());
        let injected = Table::new(
            "db",
            "t",
            &meta(
                &[("accid", "string"), ("day", "string")],
                &[
                    ("projection.enabled", "true"),
                    ("projection.accid.type", "injected"),
                ],
            ),
        )
        .unwrap_err();
        assert!(
            injected.contains("`injected`") && injected.contains("enum"),
            "{injected}"
        );
        let typed = Table::new("db", "t", &meta(&[("date", "date")], &[])).unwrap();
        assert_eq!(typed.keys[0].part, Part::Date(DateKey::Typed));
    }

    #[test]
    fn refuses_tables_it_cannot_prune_or_read() {
        let e = Table::new("db", "t", &meta(&[], &[])).unwrap_err();
        assert!(e.contains("not partitioned by day"), "{e}");
        let e = Table::new(
            "db",
            "t",
            &meta(&[("team", "string"), ("day", "string")], &[]),
        )
        .unwrap_err();
        assert!(e.contains("`team`"), "{e}");
        let e = Table::new(
            "db",
            "t",
            &meta(
                &[("day", "string")],
                &[("projection.day.format", "yyyyMMddHH")],
            ),
        )
        .unwrap_err();
        assert!(e.contains("yyyyMMddHH"), "{e}");
        let mut m = meta(&[("day", "string")], &[]);
        m.columns.retain(|(c, _)| c != "dstport");
        let e = Table::new("db", "t", &m).unwrap_err();
        assert!(e.contains("no column dstport"), "{e}");
        let mut m = meta(&[("day", "string")], &[]);
        m.columns
            .push(("tgw_attachment_id".into(), "string".into()));
        let e = Table::new("db", "t", &m).unwrap_err();
        assert!(
            e.contains("Transit Gateway") && e.contains("tgw-attachment-id"),
            "{e}"
        );
    }

    #[test]
    fn writes_dates_as_the_key_holds_them() {
        let d = time::Date::from_calendar_date(2026, time::Month::November, 2).unwrap();
        assert_eq!(DateKey::Typed.render(d), "DATE '2026-11-02'");
        assert_eq!(
            DateKey::Pattern("yyyy/MM/dd".into()).render(d),
            "'2026/11/02'"
        );
        assert_eq!(
            DateKey::Pattern("yyyy-MM-dd".into()).render(d),
            "'2026-11-02'"
        );
    }
}
