//! The run as Markdown, for a reviewer on the pipeline page (`--summary`, and GitHub's
//! `$GITHUB_STEP_SUMMARY`): a Mermaid flowchart of each app, then one table row per expectation,
//! failures first, and what the run cost.

use std::fmt::Write;

use super::{About, Case, CaseResult};
use crate::verdict::Outcome;

/// Past this many expectations an app's diagram is an unreadable tangle (and nears mermaid's own
/// limit of 500 edges): the table says it all.
const MAX_EDGES: usize = 200;

/// Edge and node colours by verdict, GitHub's palette, readable on light and dark themes.
const PASS: &str = "#2da44e";
const FAIL: &str = "#cf222e";
const ERROR: &str = "#bf8700";
const NOT_JUDGED: &str = "#8c959f";

/// Text inside a quoted Mermaid label: one line, with the characters that would end the string
/// or start an entity, markup or a Markdown string written as entities.
fn label(text: &str) -> String {
    let line = super::junit::clean(text.lines().next().unwrap_or(""));
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(result: Option<&CaseResult>) -> &'static str {
    match result.map(|r| &r.outcome) {
        Some(Outcome::Pass) => PASS,
        Some(Outcome::Fail(_)) => FAIL,
        Some(Outcome::Error(_)) => ERROR,
        Some(Outcome::Skip) | None => NOT_JUDGED,
    }
}

/// The verdict an edge or node shows in words (colour alone is not enough to read).
fn word(result: Option<&CaseResult>) -> Option<String> {
    match result.map(|r| &r.outcome) {
        Some(Outcome::Pass) => None,
        Some(Outcome::Fail(f)) => Some(f.label().to_string()),
        Some(Outcome::Error(e)) => Some(e.label().to_string()),
        Some(Outcome::Skip) => Some("skipped".into()),
        None => Some("not run".into()),
    }
}

/// One flowchart per app, in the order apps first appear: its hosts as nodes, each expectation
/// an edge labelled with its service and, unless it passed, its verdict, coloured by verdict;
/// deny expectations dotted and ending in a cross. A strict host gets a thick border, red when its
/// own test failed.
pub fn diagrams(cases: &[Case], results: &[Option<CaseResult>]) -> String {
    let mut apps: Vec<&str> = Vec::new();
    for c in cases {
        if !apps.contains(&c.app.as_str()) {
            apps.push(&c.app);
        }
    }
    let mut out = String::new();
    for app in apps {
        let of_app: Vec<(&Case, Option<&CaseResult>)> = cases
            .iter()
            .zip(results)
            .filter(|(c, _)| c.app == app)
            .map(|(c, r)| (c, r.as_ref()))
            .collect();
        let edges = of_app
            .iter()
            .filter(|(c, _)| matches!(c.about, About::Expectation { .. }))
            .count();
        if edges > MAX_EDGES {
            let _ = writeln!(
                out,
                "{}: {edges} expectations, too many for a diagram (more than {MAX_EDGES}); the table has them all.\n",
                cell(app)
            );
            continue;
        }
        fn id<'a>(name: &'a str, nodes: &mut Vec<&'a str>) -> usize {
            nodes.iter().position(|n| *n == name).unwrap_or_else(|| {
                nodes.push(name);
                nodes.len() - 1
            })
        }
        let mut nodes: Vec<&str> = Vec::new();
        let mut body = String::new();
        let mut styles = String::new();
        let mut edge = 0;
        let mut strict: Vec<(usize, &'static str)> = Vec::new();
        for (case, result) in &of_app {
            match &case.about {
                About::Expectation {
                    from,
                    to,
                    service,
                    deny,
                } => {
                    let (a, b) = (id(from, &mut nodes), id(to, &mut nodes));
                    let text = match (deny, word(*result)) {
                        (false, None) => service.clone(),
                        (false, Some(w)) => format!("{service}: {w}"),
                        (true, None) => format!("deny {service}"),
                        (true, Some(w)) => format!("deny {service}: {w}"),
                    };
                    let arrow = if *deny { "-.-x" } else { "-->" };
                    let _ = writeln!(body, "  h{a} {arrow}|\"{}\"| h{b}", label(&text));
                    let _ = writeln!(
                        styles,
                        "  linkStyle {edge} stroke:{},stroke-width:2px",
                        colour(*result)
                    );
                    edge += 1;
                }
                About::Strict { host } => strict.push((id(host, &mut nodes), colour(*result))),
            }
        }
        let _ = writeln!(out, "```mermaid\nflowchart LR");
        for (i, name) in nodes.iter().enumerate() {
            let strict = strict.iter().any(|(n, _)| *n == i);
            let shown = if strict {
                format!("{name} (strict)")
            } else {
                name.to_string()
            };
            let _ = writeln!(out, "  h{i}[\"{}\"]", label(&shown));
        }
        out.push_str(&body);
        out.push_str(&styles);
        for (node, colour) in strict {
            let _ = writeln!(out, "  style h{node} stroke:{colour},stroke-width:4px");
        }
        let _ = writeln!(out, "```\n");
    }
    out
}

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
    out.push_str(&diagrams(cases, results));
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

    #[test]
    fn diagram_labels_cannot_end_their_string_or_start_markup() {
        assert_eq!(
            label("a\"b#c&d<e>`f`\nsecond line"),
            "a#quot;b#35;c#amp;d#lt;e#gt;#96;f#96;"
        );
        assert_eq!(label("tcp/443: NO_RETURN"), "tcp/443: NO_RETURN");
    }
}
