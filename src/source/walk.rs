//! Which files under the paths a user gives are flow logs. A shared log bucket copied down holds
//! CloudTrail, load balancer and other services' logs beside `vpcflowlogs/`, plus READMEs and
//! manifests: reading those as flow logs would turn every check into an INCOMPLETE error. What is
//! left out is named in the run summary, never dropped silently.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use globset::{Glob, GlobSet, GlobSetBuilder};

use super::SourceError;
use super::format::Format;

/// What a walk found, and what it left out and why.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<PathBuf>,
    /// Folders of other AWS services under an `AWSLogs/{account}/` folder.
    pub other_services: BTreeSet<String>,
    /// Files in which no line looks like a flow-log record or header.
    pub not_flow_logs: Vec<PathBuf>,
    /// Files an `--exclude` pattern matched.
    pub excluded: u64,
}

/// `--exclude` patterns, matched against each file's path below the directory given (and its
/// name alone).
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    set: Option<GlobSet>,
}

impl Exclude {
    pub fn new(patterns: &[String]) -> Result<Exclude, SourceError> {
        if patterns.is_empty() {
            return Ok(Exclude::default());
        }
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let glob = Glob::new(p).map_err(|e| {
                SourceError::Usage(format!(
                    "--exclude {p}: {e}\n  help: a glob such as '*.json' or 'archive/**'"
                ))
            })?;
            b.add(glob);
        }
        let set = b
            .build()
            .map_err(|e| SourceError::Usage(format!("--exclude: {e}")))?;
        Ok(Exclude { set: Some(set) })
    }

    fn matches(&self, below: &Path) -> bool {
        let Some(set) = &self.set else { return false };
        set.is_match(below) || below.file_name().is_some_and(|n| set.is_match(n))
    }
}

/// Whether a folder is another AWS service's below `AWSLogs/{account}/` (`AWSLogs/123456789012/
/// CloudTrail`, `AWSLogs/aws-account-id=…/aws-service=elb`), not VPC Flow Logs'.
pub fn other_service(path: &Path) -> bool {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    let Some(at) = parts.iter().rposition(|p| *p == "AWSLogs") else {
        return false;
    };
    let (Some(account), Some(service)) = (parts.get(at + 1), parts.get(at + 2)) else {
        return false;
    };
    let is_account = account.starts_with("aws-account-id=")
        || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    is_account && *service != "vpcflowlogs" && *service != "aws-service=vpcflowlogs"
}

/// How much of a file's start is looked at to tell whether it is a flow log.
const SNIFF_BYTES: u64 = 64 * 1024;
const SNIFF_LINES: usize = 50;

/// Whether a line reads as a flow-log record of any format, even a damaged one: a few fields,
/// with an address, an interface id, or NODATA/SKIPDATA.
fn looks_like_record(line: &str) -> bool {
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    if words.len() < 4 {
        return false;
    }
    let address = words.iter().any(|w| w.parse::<std::net::IpAddr>().is_ok());
    let interface = words.iter().any(|w| w.starts_with("eni-"));
    let no_data = words.iter().any(|w| *w == "NODATA" || *w == "SKIPDATA");
    address || interface || no_data
}

/// Whether a file's name says it holds flow logs (`.log`, `.log.gz`, `.parquet`, AWS's object
/// names): such a file is always read, so that damage in it stays a gap in the evidence.
fn named_as_flow_log(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".log", ".log.gz", ".parquet", ".log.parquet", ".parquet.gz"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || name.contains("_vpcflowlogs_")
}

/// Whether a file is plainly not a flow log: its name does not say it is one, it has lines, and
/// none of its first ones looks like a record or a header. Gzip is looked into; Parquet, an empty
/// file, and a file that cannot be read or decompressed are taken as flow logs, so that damage
/// stays a gap in the evidence.
pub fn plainly_not_a_flow_log(path: &Path) -> bool {
    if named_as_flow_log(path) {
        return false;
    }
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 4];
    let Ok(n) = file.read(&mut head) else {
        return false;
    };
    if n == 0 || super::parquet::is_parquet(&head[..n]) {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let reader: Box<dyn Read> = if head[..n].starts_with(&[0x1f, 0x8b]) {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut lines = BufReader::new(reader.take(SNIFF_BYTES)).split(b'\n');
    let mut seen = 0;
    for _ in 0..SNIFF_LINES {
        match lines.next() {
            Some(Ok(bytes)) => {
                let line = String::from_utf8_lossy(&bytes);
                if line.trim().is_empty() {
                    continue;
                }
                seen += 1;
                if Format::is_header(&line) || looks_like_record(&line) {
                    return false;
                }
            }
            // A gzip stream that breaks in its first lines is damage, not another kind of file.
            Some(Err(_)) => return false,
            None => break,
        }
    }
    seen > 0
}

/// The files under `paths`: directories recursively, in name order, hidden entries, other
/// services' folders under `AWSLogs/`, excluded files and files plainly not flow logs left out
/// (and counted). A file named directly is always read (unless excluded by name).
pub fn walk(paths: &[PathBuf], exclude: &Exclude) -> Result<Found, SourceError> {
    let mut found = Found::default();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| SourceError::Usage(format!("--flow-logs {}: {e}", path.display())))?;
        if !meta.is_dir() {
            if exclude.matches(Path::new(path.file_name().unwrap_or_default())) {
                found.excluded += 1;
            } else {
                found.files.push(path.clone());
            }
            continue;
        }
        let mut any = false;
        let mut walker = walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = walker.next() {
            let entry = entry
                .map_err(|e| SourceError::Usage(format!("--flow-logs {}: {e}", path.display())))?;
            if entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.') {
                if entry.file_type().is_dir() {
                    walker.skip_current_dir();
                }
                continue;
            }
            if entry.file_type().is_dir() {
                if other_service(entry.path()) {
                    found
                        .other_services
                        .insert(entry.path().display().to_string());
                    walker.skip_current_dir();
                }
                continue;
            }
            if !entry.file_type().is_file() {
                continue;
            }
            any = true;
            let below = entry.path().strip_prefix(path).unwrap_or(entry.path());
            if exclude.matches(below) {
                found.excluded += 1;
            } else if plainly_not_a_flow_log(entry.path()) {
                found.not_flow_logs.push(entry.into_path());
            } else {
                found.files.push(entry.into_path());
            }
        }
        if !any && found.other_services.is_empty() {
            return Err(SourceError::Usage(format!(
                "--flow-logs {}: the directory holds no files\n  help: point it at the flow-log \
                 files (e.g. the AWSLogs/ folder copied from S3)",
                path.display()
            )));
        }
    }
    // The same file named twice (a directory and a file in it, say) is read once.
    let mut seen = std::collections::HashSet::new();
    found
        .files
        .retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if found.files.is_empty() && !paths.is_empty() {
        let left = found.notes();
        let why = if left.is_empty() {
            "nothing but empty folders".to_string()
        } else {
            left.join("; ")
        };
        return Err(SourceError::Usage(format!(
            "--flow-logs: no flow-log files to read: {why}\n  help: point --flow-logs at the \
             vpcflowlogs/ folders (or the AWSLogs/ folder copied from S3)"
        )));
    }
    Ok(found)
}

/// The first few of `paths`, and how many more.
pub fn names(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let mut out: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > SHOWN {
        out.push(format!("and {} more", paths.len() - SHOWN));
    }
    out.join(", ")
}

impl Found {
    /// What was left out, as notes for the run summary.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.other_services.is_empty() {
            notes.push(format!(
                "skipped other services' logs under AWSLogs/ (only vpcflowlogs/ holds flow logs): {}",
                self.other_services.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if !self.not_flow_logs.is_empty() {
            notes.push(format!(
                "skipped {} file(s) in which no line looks like a flow-log record or header: {}",
                self.not_flow_logs.len(),
                names(&self.not_flow_logs)
            ));
        }
        if self.excluded > 0 {
            notes.push(format!("--exclude left out {} file(s)", self.excluded));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        p
    }

    fn gz(text: &str) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn other_services_under_awslogs_are_told_from_flow_logs() {
        let s = |p: &str| other_service(Path::new(p));
        assert!(s("copy/AWSLogs/123456789012/CloudTrail"));
        assert!(s(
            "/data/AWSLogs/aws-account-id=123456789012/aws-service=elb"
        ));
        assert!(!s("AWSLogs/123456789012/vpcflowlogs"));
        assert!(!s("AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026"));
        assert!(!s(
            "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs"
        ));
        // Not AWS's layout: a folder of one's own is read whole.
        assert!(!s("AWSLogs/mine/CloudTrail"));
        assert!(!s("AWSLogs/123456789012"));
    }

    #[test]
    fn a_file_is_skipped_only_when_no_line_looks_like_a_flow_log() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let record = "2 123456789012 eni-1 10.0.1.10 10.0.2.20 40001 8080 6 3 180 1 2 ACCEPT OK\n";
        let nodata = "2 123456789012 eni-1 - - - - - - - 1 2 - NODATA\n";
        assert!(plainly_not_a_flow_log(&write(
            d,
            "README.md",
            b"# Logs\nSee the wiki.\n"
        )));
        assert!(plainly_not_a_flow_log(&write(
            d,
            "trail.json.gz",
            &gz("{\"Records\": []}\n")
        )));
        assert!(!plainly_not_a_flow_log(&write(
            d,
            "a.txt",
            record.as_bytes()
        )));
        assert!(!plainly_not_a_flow_log(&write(d, "b.gz", &gz(nodata))));
        // A name that says flow log is read whatever it holds: damage stays a gap.
        assert!(!plainly_not_a_flow_log(&write(
            d,
            "c.log.gz",
            b"not gzip\n"
        )));
        assert!(!plainly_not_a_flow_log(&write(
            d,
            "x_vpcflowlogs_y",
            b"junk\n"
        )));
        assert!(!plainly_not_a_flow_log(&write(
            d,
            "header-only.txt",
            b"version account-id interface-id srcaddr dstaddr\n"
        )));
        // Damage stays a gap: an empty file, a gzip that breaks at once, a record cut short after
        // junk lines are all read as flow logs.
        assert!(!plainly_not_a_flow_log(&write(d, "empty", b"")));
        assert!(!plainly_not_a_flow_log(&write(
            d,
            "broken.gz",
            &[0x1f, 0x8b, 8, 0, 0, 0]
        )));
        let mut junk_then_record = "garbage\n".repeat(3);
        junk_then_record.push_str(record);
        assert!(!plainly_not_a_flow_log(&write(
            d,
            "c.txt",
            junk_then_record.as_bytes()
        )));
    }

    #[test]
    fn a_copied_bucket_reads_only_flow_logs_and_names_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let record = "2 123456789012 eni-1 10.0.1.10 10.0.2.20 40001 8080 6 3 180 1 2 ACCEPT OK\n";
        let flow = write(
            d,
            "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20/a.log.gz",
            &gz(record),
        );
        write(
            d,
            "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20/t.json.gz",
            &gz("{}"),
        );
        write(d, "AWSLogs/README.txt", b"What this bucket holds.\n");
        write(d, "AWSLogs/manifest.csv", b"key,size\n");
        let found = walk(
            &[d.to_path_buf()],
            &Exclude::new(&["manifest.*".into()]).unwrap(),
        )
        .unwrap();
        assert_eq!(found.files, vec![flow]);
        assert_eq!(found.not_flow_logs, vec![d.join("AWSLogs/README.txt")]);
        assert_eq!(found.excluded, 1);
        let notes = found.notes().join("\n");
        assert!(notes.contains("AWSLogs/123456789012/CloudTrail"), "{notes}");
        assert!(notes.contains("README.txt"), "{notes}");
        // Nothing but other logs is a usage error that says what was found.
        let only = tempfile::tempdir().unwrap();
        write(
            only.path(),
            "AWSLogs/123456789012/CloudTrail/t.json.gz",
            &gz("{}"),
        );
        let e = walk(&[only.path().to_path_buf()], &Exclude::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("skipped other services' logs under AWSLogs/"),
            "{e}"
        );
        assert!(Exclude::new(&["a[".into()]).is_err());
    }
}
