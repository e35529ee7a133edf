//! The run as a Markdown table, for a reviewer on the pipeline page (`--summary`, and GitHub's
//! `$GITHUB_STEP_SUMMARY`): one row per expectation, failures first, and what the run cost.

use std::fmt::Write;

use super::{Case, CaseResult};
use crate::verdict::Outcome;

/// A table cell: one line, with the characters that would end a cell or start markup escaped.
fn cell(text: &str) -> String {
    let line = super::junit::clean(text.lines().next().unwrap_or(""));
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if matches!(c, '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn verdict(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Pass => "✅ PASS".into(),
        Outcome::Fail(f) => format!("❌ {}", f.label()),
        Outcome::Error(e) => format!("⚠️ {}", e.label()),
        Outcome::Skip => "⏭️ NO_TRAFFIC (skipped)".into(),
    }
}

/// Failures, then errors, then skips, then passes; plan order within each.
fn rank(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Fail(_) => 0,
        Outcome::Error(_) => 1,
        Outcome::Skip => 2,
        Outcome::Pass => 3,
    }
}

/// The summary: a headline with the counts, the evidence and cost lines of the run summary, and
/// the table of the expectations that ran.
pub fn summary(cases: &[Case], results: &[Option<CaseResult>], run_summary: &str) -> String {
    let mut ran: Vec<(usize, &CaseResult)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.as_ref()?)))
        .collect();
    ran.sort_by_key(|(i, r)| (rank(&r.outcome), *i));
    let count = |k: u8| ran.iter().filter(|(_, r)| rank(&r.outcome) == k).count();
    let mut parts = Vec::new();
    for (k, word) in [(0, "failed"), (1, "errors"), (2, "skipped"), (3, "passed")] {
        let n = count(k);
        if n > 0 || k == 3 {
            parts.push(format!("{n} {word}"));
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "## flowgate: {}\n", parts.join(", "));
    for line in run_summary
        .lines()
        .filter(|l| l.starts_with("evidence:") || l.starts_with("cost:"))
    {
        let _ = writeln!(out, "{}  ", cell(line));
    }
    let _ = writeln!(out, "\n| Expectation | Verdict | Evidence | Why |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for (i, r) in ran {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&cases[i].trial_name()),
            verdict(&r.outcome),
            cell(&r.evidence),
            cell(&r.message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_one_line_and_cannot_break_the_table() {
        assert_eq!(cell("a | b\nsecond line"), "a \\| b");
        assert_eq!(
            cell("shop::web_app `x` <b>"),
            "shop::web\\_app \\`x\\` \\<b\\>"
        );
        assert_eq!(cell("\u{1b}[31mred\u{1b}[0m"), "red");
    }
}
