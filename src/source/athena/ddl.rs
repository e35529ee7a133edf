//! `CREATE EXTERNAL TABLE` statements with partition projection for the layouts S3 delivers
//! flow logs in, so that no MSCK REPAIR TABLE or crawler is ever needed and every flowgate query
//! prunes by partition.
//!
//! Two are AWS's own, from the Athena User Guide: text files by account, region and day
//! ("Create and query a table for Amazon VPC flow logs using partition projection"), and Parquet
//! files by region, date and hour ("Create tables for flow logs in Apache Parquet format using
//! partition projection"). The others flowgate derived from the folder layouts of the VPC User
//! Guide ("Flow log files: S3 path"): text files by hour (one more `hour` key), Parquet by day
//! (no `hour`), Parquet of several accounts (an `accid` key), and the Hive-compatible prefixes
//! (`aws-account-id=…/aws-service=vpcflowlogs/aws-region=…/year=…/month=…/day=…[/hour=…]`).

use crate::source::format::Format;

/// What `flowgate athena-ddl` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `s3://BUCKET/PREFIX/`: where the flow logs' `AWSLogs/` folder is.
    pub location: String,
    pub table: String,
    pub parquet: bool,
    pub hive: bool,
    pub hourly: bool,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// The flow log's format: for text files, the columns in the order the records hold them.
    pub format: Option<Format>,
}

/// The columns of AWS's DDLs (versions 2 to 5), in AWS's order: `region` is left out, as in
/// AWS's partition projection DDLs, where `region` is a partition key.
const AWS_COLUMNS: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";

/// The Athena type AWS's DDLs give a field.
fn column_type(field: &str) -> &'static str {
    match field {
        "version" | "srcport" | "dstport" | "tcp-flags" | "traffic-path" => "int",
        "protocol" | "packets" | "bytes" | "start" | "end" => "bigint",
        _ => "string",
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.contains('-')
}

/// The statement, or what to give instead.
pub fn create_table(l: &Layout) -> Result<String, String> {
    let Some(rest) = l.location.strip_prefix("s3://") else {
        return Err(format!(
            "--location `{}`: give the S3 location the flow logs are delivered to, s3://BUCKET/PREFIX/ (the folder that holds AWSLogs/)",
            l.location
        ));
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest
        .strip_suffix("/AWSLogs")
        .or(rest.strip_suffix("AWSLogs"))
        .unwrap_or(rest);
    let base = format!(
        "s3://{}AWSLogs",
        if rest.is_empty() {
            String::new()
        } else {
            format!("{}/", rest.trim_end_matches('/'))
        }
    );
    if l.accounts.is_empty() || l.regions.is_empty() {
        return Err(
            "--accounts and --regions: partition projection enumerates the accounts and regions whose flow logs the table holds\n  help: e.g. --accounts 111111111111,222222222222 --regions eu-west-1,us-east-1"
                .into(),
        );
    }
    if let Some(a) = l.accounts.iter().find(|a| !is_account(a)) {
        return Err(format!(
            "--accounts: `{a}` is not an account id (12 digits)"
        ));
    }
    if let Some(r) = l.regions.iter().find(|r| !is_region(r)) {
        return Err(format!("--regions: `{r}` is not a region name (eu-west-1)"));
    }
    if !l
        .table
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || l.table.is_empty()
    {
        return Err(format!(
            "--table `{}`: letters, digits and `_` only",
            l.table
        ));
    }
    let fields: Vec<String> = match &l.format {
        Some(f) => f.to_string().split(' ').map(str::to_string).collect(),
        None => AWS_COLUMNS.split(' ').map(str::to_string).collect(),
    };
    // A partition key may not share a column's name: the `region` field stays a column under
    // another name.
    let columns: Vec<String> = fields
        .iter()
        .map(|f| {
            let name = match f.as_str() {
                "region" => "flow_region".to_string(),
                other => other.replace('-', "_"),
            };
            format!("  `{name}` {}", column_type(f))
        })
        .collect();
    let mut keys: Vec<Key> = Vec::new();
    let enumerate = |values: &[String]| {
        vec![
            ("type".to_string(), "enum".to_string()),
            ("values".to_string(), values.join(",")),
        ]
    };
    let date = |format: &str| {
        vec![
            ("type".to_string(), "date".to_string()),
            (
                "range".to_string(),
                format!(
                    "{},NOW",
                    format
                        .replace("yyyy", "2020")
                        .replace("MM", "01")
                        .replace("dd", "01")
                ),
            ),
            ("format".to_string(), format.to_string()),
            ("interval".to_string(), "1".to_string()),
            ("interval.unit".to_string(), "DAYS".to_string()),
        ]
    };
    let integer = |range: &str| {
        vec![
            ("type".to_string(), "integer".to_string()),
            ("range".to_string(), range.to_string()),
            ("digits".to_string(), "2".to_string()),
        ]
    };
    let location;
    if l.hive {
        location = format!("{base}/");
        keys.push((
            "aws_account_id",
            enumerate(&l.accounts),
            "aws-account-id=${aws_account_id}".into(),
        ));
        keys.push((
            "aws_region",
            enumerate(&l.regions),
            "aws-service=vpcflowlogs/aws-region=${aws_region}".into(),
        ));
        keys.push(("year", integer_year(), "year=${year}".into()));
        keys.push(("month", integer("1,12"), "month=${month}".into()));
        keys.push(("day", integer("1,31"), "day=${day}".into()));
        if l.hourly {
            keys.push(("hour", integer("0,23"), "hour=${hour}".into()));
        }
    } else if l.parquet && l.accounts.len() == 1 {
        // AWS's Parquet DDL: one account, in the location.
        location = format!("{base}/{}/vpcflowlogs/", l.accounts[0]);
        keys.push(("region", enumerate(&l.regions), "${region}".into()));
        keys.push(("date", date("yyyy/MM/dd"), "${date}".into()));
        if l.hourly {
            keys.push(("hour", integer("0,23"), "${hour}".into()));
        }
    } else {
        // AWS's text DDL: several accounts, by account, region and day.
        location = format!("{base}/");
        keys.push((
            "accid",
            enumerate(&l.accounts),
            "${accid}/vpcflowlogs".into(),
        ));
        keys.push(("region", enumerate(&l.regions), "${region}".into()));
        keys.push(("day", date("yyyy/MM/dd"), "${day}".into()));
        if l.hourly {
            keys.push(("hour", integer("0,23"), "${hour}".into()));
        }
    }
    let template: Vec<&str> = keys.iter().map(|(_, _, t)| t.as_str()).collect();
    let template = format!("{location}{}", template.join("/"));
    let mut props: Vec<(String, String)> = Vec::new();
    if !l.parquet {
        props.push(("skip.header.line.count".into(), "1".into()));
    }
    props.push(("projection.enabled".into(), "true".into()));
    for (key, projection, _) in &keys {
        for (k, v) in projection {
            props.push((format!("projection.{key}.{k}"), v.clone()));
        }
    }
    props.push(("storage.location.template".into(), template));
    let partitions: Vec<String> = keys
        .iter()
        .map(|(k, _, _)| format!("  `{k}` string"))
        .collect();
    let storage = if l.parquet {
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\nSTORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'\nOUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'"
    } else {
        "ROW FORMAT DELIMITED\nFIELDS TERMINATED BY ' '"
    };
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("  '{k}'='{v}'"))
        .collect();
    Ok(format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n{}\n)\nPARTITIONED BY (\n{}\n)\n{storage}\nLOCATION '{location}'\nTBLPROPERTIES (\n{}\n);\n",
        l.table,
        columns.join(",\n"),
        partitions.join(",\n"),
        props.join(",\n")
    ))
}

/// A partition key: its name, its projection properties, and its part of the folder template.
type Key = (&'static str, Vec<(String, String)>, String);

fn integer_year() -> Vec<(String, String)> {
    vec![
        ("type".to_string(), "integer".to_string()),
        ("range".to_string(), "2020,2100".to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            location: "s3://flow-logs-bucket/org/".into(),
            table: "vpc_flow_logs".into(),
            accounts: vec!["111111111111".into(), "222222222222".into()],
            regions: vec!["eu-west-1".into()],
            ..Layout::default()
        }
    }

    #[test]
    fn text_by_account_region_and_day_as_aws_documents() {
        let ddl = create_table(&layout()).unwrap();
        insta::assert_snapshot!(ddl);
    }

    #[test]
    fn parquet_of_one_account_by_region_date_and_hour_as_aws_documents() {
        let l = Layout {
            parquet: true,
            hourly: true,
            accounts: vec!["111111111111".into()],
            ..layout()
        };
        insta::assert_snapshot!(create_table(&l).unwrap());
    }

    #[test]
    fn hive_prefixes_by_hour() {
        let l = Layout {
            hive: true,
            hourly: true,
            ..layout()
        };
        insta::assert_snapshot!(create_table(&l).unwrap());
    }

    #[test]
    fn a_custom_format_gives_its_columns_in_order_and_region_another_name() {
        let l = Layout {
            format: Some(Format::parse("${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${region}").unwrap()),
            ..layout()
        };
        let ddl = create_table(&l).unwrap();
        assert!(
            ddl.contains("  `srcaddr` string,\n  `dstaddr` string,\n  `srcport` int"),
            "{ddl}"
        );
        assert!(ddl.contains("`flow_region` string\n)"), "{ddl}");
    }

    #[test]
    fn asks_for_what_projection_needs() {
        let e = create_table(&Layout {
            accounts: vec![],
            ..layout()
        })
        .unwrap_err();
        assert!(e.contains("--accounts"), "{e}");
        let e = create_table(&Layout {
            location: "flow-logs-bucket".into(),
            ..layout()
        })
        .unwrap_err();
        assert!(e.contains("s3://BUCKET/PREFIX/"), "{e}");
        let e = create_table(&Layout {
            accounts: vec!["1234".into()],
            ..layout()
        })
        .unwrap_err();
        assert!(e.contains("`1234`"), "{e}");
    }
}
