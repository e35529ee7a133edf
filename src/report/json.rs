//! `--format json`: libtest's JSON lines (suite and test events, so tools that read libtest's
//! output keep working), each test carrying its verdict, pairs and explanation as fields.

use serde_json::json;

use super::{Case, CaseResult, Recorder};
use crate::verdict::Outcome;

/// Writes the selected cases to stdout, records their results for the reports, and returns
/// what libtest would have concluded.
pub fn run(
    cases: &[Case],
    results: &[CaseResult],
    selected: impl Fn(&str) -> bool,
    recorder: &Recorder,
) -> libtest_mimic::Conclusion {
    let mut c = libtest_mimic::Conclusion {
        num_filtered_out: 0,
        num_passed: 0,
        num_failed: 0,
        num_ignored: 0,
        num_measured: 0,
    };
    let chosen: Vec<usize> = (0..cases.len())
        .filter(|&i| selected(&cases[i].trial_name()))
        .collect();
    c.num_filtered_out = (cases.len() - chosen.len()) as u64;
    println!(
        "{}",
        json!({ "type": "suite", "event": "started", "test_count": chosen.len() })
    );
    for i in chosen {
        let r = &results[i];
        recorder.record(i, r.clone());
        let (event, outcome, kind) = match &r.outcome {
            Outcome::Pass => ("ok", "pass", None),
            Outcome::Skip => ("ignored", "skip", None),
            Outcome::Fail(f) => ("failed", "fail", Some(f.label())),
            Outcome::Error(e) => ("failed", "error", Some(e.label())),
        };
        match event {
            "ok" => c.num_passed += 1,
            "ignored" => c.num_ignored += 1,
            _ => c.num_failed += 1,
        }
        println!(
            "{}",
            json!({
                "type": "test",
                "event": event,
                "name": cases[i].trial_name(),
                "outcome": outcome,
                "verdict": kind,
                "message": r.message,
                "evidence": r.evidence,
                "pairs": r.pairs,
                "explanation": r.explanation,
                "details": r.details,
            })
        );
    }
    println!(
        "{}",
        json!({
            "type": "suite",
            "event": if c.num_failed > 0 { "failed" } else { "ok" },
            "passed": c.num_passed,
            "failed": c.num_failed,
            "ignored": c.num_ignored,
            "measured": 0,
            "filtered_out": c.num_filtered_out,
        })
    );
    c
}
