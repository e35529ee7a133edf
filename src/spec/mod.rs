//! Spec files: YAML → validated model, with every problem reported as file:line:col.

pub mod locate;
pub mod model;
pub(crate) mod raw;
pub mod schema;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use locate::Pos;
pub use model::*;

use locate::{Positions, Seg};
use raw::{RawDoc, RawSpec, Shaped};
use serde_yaml::Value;
use std::collections::BTreeMap;
use validate::Validator;

/// One thing wrong with a spec, where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// None for problems with the file as a whole (unreadable, empty directory).
    pub at: Option<Pos>,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(at) = self.at {
            write!(f, ":{at}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in the specs of one run.
#[derive(Debug, thiserror::Error)]
pub struct SpecErrors(pub Vec<Problem>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        let files = {
            let mut files: Vec<&Path> = self.0.iter().map(|p| p.file.as_path()).collect();
            files.dedup();
            files.len()
        };
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in {files} spec file{}",
            if n == 1 { "" } else { "s" },
            if files == 1 { "" } else { "s" }
        )
    }
}

/// Names of apps and hosts: they end up in test names, JUnit and (later) queries.
pub(crate) fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Loads every spec named by `paths` (files, or directories of `.yaml`/`.yml` files).
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Spec>, SpecErrors> {
    let mut problems = Vec::new();
    let mut specs: Vec<Spec> = Vec::new();
    for file in expand(paths, &mut problems) {
        match load(&file) {
            Ok(spec) => {
                if let Some(other) = specs.iter().find(|s| s.app == spec.app) {
                    problems.push(Problem {
                        file: file.clone(),
                        at: Some(Pos { line: 1, col: 1 }),
                        message: format!("app `{}` is also the app of {}", spec.app, other.path.display()),
                        help: Some("test names are `<app>::<name>`, so each spec of a run needs its own app".into()),
                    });
                } else {
                    specs.push(spec);
                }
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(specs)
    } else {
        Err(SpecErrors(problems))
    }
}

fn expand(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name()
        {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let p = e.into_path();
                    if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                        found.push(p);
                    }
                }
                Ok(_) => {}
                Err(e) => problems.push(Problem {
                    file: e.path().unwrap_or(path).to_path_buf(),
                    at: None,
                    message: format!("cannot read: {e}"),
                    help: Some(
                        "fix the permissions or the link, or name the spec files directly".into(),
                    ),
                }),
            }
        }
        if found.is_empty() {
            problems.push(Problem {
                file: path.clone(),
                at: None,
                message: "the directory holds no .yaml or .yml spec files".into(),
                help: Some("name spec files, or a directory that contains them".into()),
            });
        }
        files.extend(found);
    }
    // The same file named twice (a directory and a file in it, say) is loaded once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    files
}

/// Loads one spec file.
pub fn load(file: &Path) -> Result<Spec, Vec<Problem>> {
    let whole_file = |message: String, help: &str| {
        vec![Problem {
            file: file.to_path_buf(),
            at: None,
            message,
            help: Some(help.to_string()),
        }]
    };
    let bytes = std::fs::read(file)
        .map_err(|e| whole_file(format!("cannot read the spec: {e}"), "check the path"))?;
    let src = String::from_utf8(bytes)
        .map_err(|_| whole_file("the spec is not UTF-8 text".into(), "save it as UTF-8"))?;
    parse(file, &src)
}

/// Parses spec text; `file` only labels the problems.
pub fn parse(file: &Path, src: &str) -> Result<Spec, Vec<Problem>> {
    parse_inner(file, src).map_err(|problems| within(problems, src))
}

/// At the end of a file without a final line end, the YAML parser can point at the line after
/// the last: such positions become the end of the last line, a place the user can find. Lines
/// as YAML counts them: `\n`, `\r\n`, and a lone `\r` (as editors do).
fn within(mut problems: Vec<Problem>, src: &str) -> Vec<Problem> {
    let unified = src.replace("\r\n", "\n");
    let lines: Vec<&str> = unified.split(['\n', '\r']).collect();
    let end = Pos {
        line: lines.len(),
        col: lines.last().map_or(0, |l| l.chars().count()) + 1,
    };
    for p in &mut problems {
        if let Some(at) = &mut p.at
            && at.line > end.line
        {
            *at = end;
        }
    }
    problems
}

fn parse_inner(file: &Path, src: &str) -> Result<Spec, Vec<Problem>> {
    let blank = src
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Err(vec![Problem {
            file: file.to_path_buf(),
            at: None,
            message: "the spec is empty".into(),
            help: Some(
                "a spec needs at least `app:`, `hosts:` and `expect:`; see the README".into(),
            ),
        }]);
    }
    let positions = Positions::of(src);
    let mut v = Validator::new(file, &positions);
    v.duplicate_keys();
    let mut unknown: Vec<Vec<Seg>> = Vec::new();
    let de = serde_yaml::Deserializer::from_str(src);
    let doc: Result<RawDoc, _> = serde_ignored::deserialize(de, |p| unknown.push(segments(&p)));
    let doc = match doc {
        Ok(doc) => doc,
        // serde stops at a duplicate field; the duplicate is already reported, with its position.
        Err(e) if !v.problems.is_empty() && e.to_string().contains("duplicate") => {
            return Err(v.problems);
        }
        Err(e) => {
            let mut problems = v.problems;
            problems.push(serde_problem(file, &e, src));
            return Err(problems);
        }
    };
    let raw = shape(doc, &mut v, &mut unknown);
    for path in &unknown {
        v.unknown_key(path);
    }
    let spec = v.spec(raw, file);
    let mut problems = v.problems;
    match spec {
        Some(spec) if problems.is_empty() => Ok(spec),
        _ => {
            problems.sort_by_key(|p| p.at);
            Err(problems)
        }
    }
}

/// One entry read into its raw type, its unknown keys noted under `prefix`.
fn under<T: serde::de::DeserializeOwned>(
    prefix: Vec<Seg>,
    value: Value,
    unknown: &mut Vec<Vec<Seg>>,
) -> Result<T, String> {
    let mut found = Vec::new();
    let r = serde_ignored::deserialize(value, |p| found.push(segments(&p)));
    for mut path in found {
        let mut full = prefix.clone();
        full.append(&mut path);
        unknown.push(full);
    }
    r.map_err(|e| without_positions(&e.to_string()))
}

/// Reads `hosts` and `expect` into their raw types entry by entry: an entry of the wrong shape
/// is a problem at its own line, and the rest of the file is still read and checked.
fn shape(doc: RawDoc, v: &mut Validator<'_>, unknown: &mut Vec<Vec<Seg>>) -> RawSpec {
    let mut hosts = BTreeMap::new();
    match doc.hosts {
        None | Some(Shaped::Other(Value::Null)) => {}
        Some(Shaped::Map(m)) => {
            for (key, value) in m {
                let name = match &key {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let at = vec![Seg::Key("hosts".into()), Seg::Key(name.clone())];
                if !matches!(value, Value::Mapping(_)) {
                    v.problem_at_value(
                        &at,
                        format!(
                            "host `{name}` must be a map of selectors, not {}",
                            validate::kind_of(&value)
                        ),
                        "e.g. `web: { ips: [10.0.1.10] }` or `db: { tag: { Name: shop-db } }`",
                    );
                    continue;
                }
                match under(at.clone(), value, unknown) {
                    Ok(h) => {
                        hosts.insert(name, h);
                    }
                    Err(e) => v.problem_at_value(
                        &at,
                        format!("host `{name}`: {e}"),
                        "see the spec format in the README",
                    ),
                }
            }
        }
        Some(Shaped::Other(other)) => {
            v.problem_at_value(
                &[Seg::Key("hosts".into())],
                format!(
                    "`hosts` must be a map of host names, not {}",
                    validate::kind_of(&other)
                ),
                "write each host as `name: { selector }` under `hosts:`, without `- `",
            );
            v.hosts_unreadable = true;
        }
    }
    let mut expect = Vec::new();
    let expect_shape = match doc.expect {
        Some(Shaped::Map(entries)) => Some(Value::Mapping(entries.into_iter().collect())),
        Some(Shaped::Other(v)) => Some(v),
        None => None,
    };
    match expect_shape {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let at = vec![Seg::Key("expect".into()), Seg::Index(i)];
                if !matches!(item, Value::Mapping(_)) {
                    v.problem_at_value(
                        &at,
                        format!(
                            "an expectation must be a map, not {}",
                            validate::kind_of(&item)
                        ),
                        "e.g. `- { from: web, to: app, port: 8080 }`",
                    );
                    expect.push(None);
                    continue;
                }
                match under(at.clone(), item, unknown) {
                    Ok(e) => expect.push(Some(e)),
                    Err(e) => {
                        v.problem_at_value(
                            &at,
                            format!("expectation: {e}"),
                            "see the spec format in the README",
                        );
                        expect.push(None);
                    }
                }
            }
        }
        Some(other) => {
            v.problem_at_value(
                &[Seg::Key("expect".into())],
                format!(
                    "`expect` must be a list of expectations, not {}",
                    validate::kind_of(&other)
                ),
                "start each expectation with `- `, e.g. `- { from: web, to: app, port: 8080 }`",
            );
            v.expect_unreadable = true;
        }
    }
    RawSpec {
        app: doc.app,
        description: doc.description,
        window: doc.window,
        hosts,
        expect,
    }
}

fn serde_problem(file: &Path, e: &serde_yaml::Error, src: &str) -> Problem {
    let at = e.location().map(|l| Pos {
        line: l.line(),
        col: l.column(),
    });
    let tab = at.is_some_and(|at| {
        src.lines()
            .nth(at.line.saturating_sub(1))
            .is_some_and(|l| l.trim_start_matches(' ').starts_with('\t'))
    });
    let help = if tab {
        "YAML does not allow tabs for indentation: indent with spaces"
    } else {
        "see the spec format in the README"
    };
    Problem {
        file: file.to_path_buf(),
        at,
        // The position is rendered in front; serde_yaml also writes it into the text.
        message: without_positions(&e.to_string()),
        help: Some(help.into()),
    }
}

/// Drops every " at line L column C" from a serde_yaml message.
fn without_positions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let line_len = digits(after);
        match after[line_len..].strip_prefix(" column ") {
            Some(col) if line_len > 0 && digits(col) > 0 => rest = &col[digits(col)..],
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(Seg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}

#[cfg(test)]
mod tests;
