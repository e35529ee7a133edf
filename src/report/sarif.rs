//! The run as SARIF 2.1.0 (`--sarif`), for code scanning: one result per failing or erroring
//! case, located at the expectation (or strict host) in its spec file, so that GitHub annotates
//! the spec line a pull request changed.

use std::path::Path;

use serde_json::{Value, json};

use super::{Case, CaseResult};
use crate::verdict::Outcome;

/// Every verdict a result can carry, with what it means: the rules of the run. All are listed
/// whatever the run found, so that a rule's id and index stay the same from run to run.
const RULES: &[(&str, &str, &str)] = &[
    (
        "REJECTED",
        "Requests refused",
        "A reach expectation's requests were refused (REJECT records on the way in): a security group, NACL or firewall blocks the path.",
    ),
    (
        "RETURN_REJECTED",
        "Replies refused",
        "A reach expectation's requests were accepted but the replies were refused: typically a NACL without the ephemeral ports, or an asymmetric route through a firewall.",
    ),
    (
        "NO_RETURN",
        "No reply",
        "A reach expectation's requests were accepted and no reply was seen at all: the server does not answer, or the reply takes another path.",
    ),
    (
        "NO_TRAFFIC",
        "No traffic",
        "A reach expectation saw no traffic at all in the window, so it cannot be said to work.",
    ),
    (
        "TGW_DROPPED",
        "Dropped by a transit gateway",
        "A transit gateway on a reach expectation's path dropped its traffic (Transit Gateway flow logs count the packets lost): no route, a blackhole route, MTU exceeded or TTL expired.",
    ),
    (
        "ALLOWED",
        "Forbidden traffic got through",
        "A deny expectation's traffic was accepted: the path must be closed.",
    ),
    (
        "OPEN",
        "Forbidden path open in the configuration",
        "A deny expectation's path is open in the security groups, NACLs and routes, whatever the traffic.",
    ),
    (
        "PREDICTED_REFUSED",
        "Configuration refuses the path",
        "A preflight (--evidence config): the configuration alone refuses a reach expectation's path.",
    ),
    (
        "UNDECLARED",
        "Undeclared connections to a strict host",
        "A strict host took connections that no reach expectation of its spec covers.",
    ),
    (
        "RULES_TOO_WIDE",
        "A strict host's rules allow more than its expectations",
        "A strict host's security groups allow more than its expectations need.",
    ),
    (
        "INCOMPLETE",
        "Evidence missing",
        "The expectation would pass, but part of the evidence is missing (SKIPDATA, logs not yet delivered): not a verdict.",
    ),
    (
        "UNAVAILABLE",
        "Evidence unavailable",
        "The source could not provide evidence for the expectation (a host not resolved, AWS out of reach): not a verdict.",
    ),
];

/// The SARIF log of a run. `base` is the directory relative spec paths are written from (the
/// repository's root in a pipeline), so that absolute paths under it come out relative too.
pub fn log(cases: &[Case], results: &[Option<CaseResult>], base: Option<&Path>) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, name, about)| {
            json!({
                "id": id,
                "name": name.replace(|c: char| !c.is_ascii_alphanumeric(), ""),
                "shortDescription": { "text": name },
                "fullDescription": { "text": about },
                "help": { "text": about },
                "defaultConfiguration": { "level": level_of(id) },
            })
        })
        .collect();
    let mut out = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let Some(r) = result else { continue };
        let id = match &r.outcome {
            Outcome::Fail(f) => f.label(),
            Outcome::Error(e) => e.label(),
            Outcome::Pass | Outcome::Skip => continue,
        };
        let index = RULES
            .iter()
            .position(|(rule, _, _)| *rule == id)
            .unwrap_or_else(|| panic!("{id} is a verdict without a SARIF rule"));
        let text = super::junit::clean(&r.message);
        out.push(json!({
            "ruleId": id,
            "ruleIndex": index,
            "level": level_of(id),
            "message": {
                "text": text,
                "markdown": markdown(&case.trial_name(), &text, &super::junit::clean(&r.details)),
            },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": { "uri": uri(&case.spec_path, base) },
                    "region": {
                        "startLine": case.at.line.max(1),
                        "startColumn": case.at.col.max(1),
                    },
                },
                "logicalLocations": [{
                    "fullyQualifiedName": case.trial_name(),
                    "kind": "test",
                }],
            }],
            // The case's name, not its line: the same broken expectation stays one alert when
            // lines above it move.
            "partialFingerprints": { "flowgateCase/v1": case.trial_name() },
        }));
    }
    let mut driver = json!({
        "name": "flowgate",
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    });
    if !env!("CARGO_PKG_REPOSITORY").is_empty() {
        driver["informationUri"] = json!(env!("CARGO_PKG_REPOSITORY"));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "columnKind": "unicodeCodePoints",
            "results": out,
        }],
    })
}

/// A failure is an error; missing evidence is a warning, as it is not a verdict.
fn level_of(id: &str) -> &'static str {
    match id {
        "INCOMPLETE" | "UNAVAILABLE" => "warning",
        _ => "error",
    }
}

/// The result's Markdown: the message, then the details verbatim in a fence longer than any
/// run of backticks they hold.
fn markdown(name: &str, message: &str, details: &str) -> String {
    let longest = details.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let escaped: String = message
        .chars()
        .flat_map(|c| {
            let escape = matches!(c, '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '|');
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect();
    let name: String = name.replace('`', "'");
    format!(
        "**{escaped}**\n\n`{name}`\n\n{fence}text\n{}\n{fence}\n",
        details.trim_end()
    )
}

/// The spec's path as a URI reference: relative paths stay relative (to the repository root,
/// where a pipeline runs flowgate), with `/` separators and percent-encoding; an absolute path
/// under `base` is made relative to it, any other becomes a `file://` URI.
fn uri(path: &Path, base: Option<&Path>) -> String {
    let (path, absolute) = match base.and_then(|b| path.strip_prefix(b).ok()) {
        Some(rel) if path.is_absolute() => (rel, false),
        _ => (path, path.is_absolute()),
    };
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        use std::path::Component;
        match c {
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => parts.push("..".into()),
            Component::Normal(s) => parts.push(encode(&s.to_string_lossy())),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("file:///{joined}")
    } else {
        joined
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes the log atomically (see `write_atomically`).
pub fn write(path: &Path, log: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(log).map_err(std::io::Error::other)?;
    text.push(b'\n');
    super::write_atomically(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_paths_become_uri_references_relative_to_the_repository() {
        let base = Path::new("/work/repo");
        assert_eq!(uri(Path::new("specs/shop.yaml"), None), "specs/shop.yaml");
        assert_eq!(uri(Path::new("./specs/shop.yaml"), None), "specs/shop.yaml");
        assert_eq!(
            uri(Path::new("/work/repo/specs/my app.yaml"), Some(base)),
            "specs/my%20app.yaml"
        );
        assert_eq!(
            uri(Path::new("/elsewhere/ünï.yaml"), Some(base)),
            "file:///elsewhere/%C3%BCn%C3%AF.yaml"
        );
    }

    #[test]
    fn details_cannot_close_their_fence() {
        let md = markdown("a::b", "x", "one ``` two ```` three");
        assert!(md.contains("\n`````text\n"), "{md}");
        assert!(md.ends_with("\n`````\n"), "{md}");
    }

    #[test]
    fn every_verdict_label_has_a_rule() {
        use crate::verdict::{Failure, Missing};
        let labels = [
            Failure::Rejected,
            Failure::ReturnRejected,
            Failure::NoReturn,
            Failure::NoTraffic,
            Failure::TgwDropped,
            Failure::Allowed,
            Failure::Open,
            Failure::PredictedRefused,
            Failure::Undeclared,
            Failure::RulesTooWide,
        ]
        .map(Failure::label)
        .into_iter()
        .chain([
            Missing::Incomplete.label(),
            Missing::Unavailable(String::new()).label(),
        ]);
        for label in labels {
            assert!(RULES.iter().any(|(id, _, _)| *id == label), "{label}");
        }
    }
}
