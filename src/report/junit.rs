//! The JUnit file: one testsuite per spec, one testcase per expectation that ran.

use std::path::Path;

use junit_report::{Report, TestCase, TestCaseBuilder, TestSuiteBuilder};

use super::{Case, CaseResult};
use crate::verdict::Outcome;

/// Makes text safe for XML 1.0 and CDATA: drops ANSI escape sequences and control characters
/// (keeping newlines and tabs), and breaks up `]]>`.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters... final byte in @..~; other escapes: ESC and one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out.replace("]]>", "]] >")
}

fn case(name: &str, app: &str, spec: &str, r: &CaseResult) -> TestCase {
    let time = time::Duration::try_from(r.duration).unwrap_or(time::Duration::ZERO);
    let (name, message, details) = (clean(name), clean(&r.message), clean(&r.details));
    let mut b = match &r.outcome {
        Outcome::Pass => TestCaseBuilder::success(&name, time),
        Outcome::Fail(f) => TestCaseBuilder::failure(&name, time, f.label(), &message),
        Outcome::Error(e) => TestCaseBuilder::error(&name, time, e.label(), &message),
        // The common JUnit XSD gives <skipped> no attributes: the reason goes to system-out.
        Outcome::Skip => TestCaseBuilder::skipped(&name),
    };
    b.set_classname(app).set_filepath(spec);
    match &r.outcome {
        Outcome::Pass | Outcome::Skip => {
            b.set_system_out(&details);
        }
        Outcome::Fail(_) | Outcome::Error(_) => {
            b.set_trace(&details);
        }
    }
    b.build()
}

/// Builds the report: one testsuite per app, in the order apps first appear, with the cases
/// that ran (a strict host's test joins its app's suite).
pub fn report(cases: &[Case], results: &[Option<CaseResult>], summary: &str) -> Report {
    let mut suites: Vec<(String, TestSuiteBuilder)> = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let at = match suites.iter().position(|(app, _)| *app == case.app) {
            Some(at) => at,
            None => {
                let mut suite = TestSuiteBuilder::new(&case.app);
                suite.set_system_out(&clean(summary));
                suites.push((case.app.clone(), suite));
                suites.len() - 1
            }
        };
        if let Some(r) = result {
            suites[at].1.add_testcase(self::case(
                &case.name,
                &case.app,
                &case.spec_path.display().to_string(),
                r,
            ));
        }
    }
    let mut report = Report::new();
    for (_, suite) in suites {
        report.add_testsuite(suite.build());
    }
    report
}

/// Writes the report atomically (see `write_atomically`).
pub fn write(path: &Path, report: &Report) -> std::io::Result<()> {
    let mut xml = Vec::new();
    report
        .write_xml(&mut xml)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    xml.push(b'\n');
    super::write_atomically(path, &xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_keeps_text_and_line_breaks_but_no_escapes_or_controls() {
        assert_eq!(
            clean("a\u{1b}[31mred\u{1b}[0m b\u{7}\u{0}\nc\td"),
            "ared b\nc\td"
        );
        assert_eq!(clean("x]]>y"), "x]] >y");
        assert_eq!(
            clean("plain 10.0.0.1 -> 10.0.0.2"),
            "plain 10.0.0.1 -> 10.0.0.2"
        );
    }
}
