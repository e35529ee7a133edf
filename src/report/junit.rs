//! The JUnit file: one testsuite per spec, one testcase per expectation that ran.

use std::path::Path;

use junit_report::{Report, TestCase, TestCaseBuilder, TestSuiteBuilder};

use super::CaseResult;
use crate::plan::Plan;
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

/// Builds the report: one testsuite per app, in plan order, with the cases that ran.
pub fn report(plan: &Plan, results: &[Option<CaseResult>], summary: &str) -> Report {
    let mut report = Report::new();
    let mut current: Option<(String, TestSuiteBuilder)> = None;
    for (check, result) in plan.checks.iter().zip(results) {
        if current.as_ref().is_none_or(|(app, _)| *app != check.app) {
            if let Some((_, suite)) = current.take() {
                report.add_testsuite(suite.build());
            }
            let mut suite = TestSuiteBuilder::new(&check.app);
            suite.set_system_out(&clean(summary));
            current = Some((check.app.clone(), suite));
        }
        if let (Some(r), Some((_, suite))) = (result, current.as_mut()) {
            suite.add_testcase(case(
                &check.name,
                &check.app,
                &check.spec_path.display().to_string(),
                r,
            ));
        }
    }
    if let Some((_, suite)) = current {
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
