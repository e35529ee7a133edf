//! Judgements in words: the one-line message and the detailed body shown for each case.

use std::fmt::Write;

use crate::evidence::{Evidence, Gaps, RecordCounts, Role, TgwSeen};
use crate::plan::Check;
use crate::spec::Kind;
use crate::verdict::{ConnVerdict, Failure, Judgement, Missing, Outcome, PairVerdict};

/// Broken pairs listed in full per case; the rest are counted.
const PAIRS_SHOWN: usize = 10;
/// Bad lines named per case; all are counted.
const BAD_LINES_SHOWN: usize = 5;

/// RFC 3339; a time no calendar holds (past the year 9999) is shown as its number.
pub use crate::evidence::time;

pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `web (10.0.1.10, 10.0.1.11) to reach app (10.0.2.20) on tcp/8080`
fn expectation(check: &Check) -> String {
    let verb = match check.kind {
        Kind::Reach {
            return_required: true,
        } => "to reach",
        Kind::Reach {
            return_required: false,
        } => "to reach (reply optional)",
        Kind::Deny => "NOT to reach",
    };
    format!(
        "{} ({}) {verb} {} ({}) on {}",
        check.from.label,
        check.from.addrs,
        check.to.label,
        check.to.addrs,
        crate::spec::Service(check.protocol, &check.ports)
    )
}

/// The expectation and where the spec says it: `web (...) to reach app (...) on tcp/8080
/// (specs/shop.yaml:26:5)`.
pub fn expected_line(check: &Check) -> String {
    format!(
        "{} ({}:{})",
        expectation(check),
        check.spec_path.display(),
        check.at
    )
}

fn connections(p: &PairVerdict<'_>) -> String {
    // Settled from Logs Insights' pair totals: the counts are distinct client ports.
    let about = if p.evidence.estimated { "about " } else { "" };
    let mut parts: Vec<String> = p
        .connections
        .iter()
        .rev()
        .map(|(v, n)| format!("{about}{n} {v}"))
        .collect();
    if p.unjudged > 0 {
        parts.push(format!("{} with only late packets or replies", p.unjudged));
    }
    parts.join(", ")
}

fn records(r: &RecordCounts) -> String {
    format!(
        "requests {} accepted, {} rejected; replies {} accepted, {} rejected",
        r.request_accept, r.request_reject, r.reply_accept, r.reply_reject
    )
}

/// What a judgement rests on, in a few words: `2 pairs, 14 connections, 96 records`.
pub fn evidence_counts(j: &Judgement<'_>) -> String {
    let records: u64 = j
        .pairs
        .iter()
        .map(|p| {
            let r = &p.evidence.records;
            r.request_accept + r.request_reject + r.reply_accept + r.reply_reject
        })
        .sum();
    if records == 0 {
        return match j.outcome {
            Outcome::Error(Missing::Unavailable(_)) => "none gathered".into(),
            _ => "no records".into(),
        };
    }
    let connections: u64 = j.pairs.iter().map(|p| p.connection_count()).sum();
    let about = if j.pairs.iter().any(|p| p.evidence.estimated) {
        "about "
    } else {
        ""
    };
    format!(
        "{}, {about}{}, {}",
        plural(j.pairs.len() as u64, "pair", "pairs"),
        plural(connections, "connection", "connections"),
        plural(records, "record", "records")
    )
}

/// One line for the JUnit `message` attribute and the libtest failure header.
pub fn message(check: &Check, j: &Judgement<'_>) -> String {
    let text = headline(check, j);
    // A failure that rests on something not seen may be the missing evidence's doing.
    match j.outcome {
        Outcome::Fail(Failure::NoReturn | Failure::NoTraffic) | Outcome::Skip
            if !j.gaps.is_empty() =>
        {
            format!("{text}; evidence incomplete ({})", gap_summary(j.gaps))
        }
        _ => text,
    }
}

fn headline(check: &Check, j: &Judgement<'_>) -> String {
    let service = crate::spec::Service(check.protocol, &check.ports);
    let broken: Vec<&PairVerdict<'_>> = j.broken_pairs().collect();
    let more = match broken.len() {
        0 | 1 => String::new(),
        2 => " (and 1 more pair)".to_string(),
        n => format!(" (and {} more pairs)", n - 1),
    };
    let first = broken.first();
    let pair = |p: &PairVerdict<'_>| format!("{} -> {} {service}", p.client, p.server);
    match &j.outcome {
        Outcome::Pass => {
            let ok = j.pairs.iter().filter(|p| p.headline.is_some()).count() as u64;
            match check.kind {
                Kind::Deny if ok == 0 => "passed: no traffic".to_string(),
                Kind::Deny => format!("passed: {} refused", plural(ok, "pair", "pairs")),
                Kind::Reach { .. } => {
                    format!("passed: {} ESTABLISHED", plural(ok, "pair", "pairs"))
                }
            }
        }
        Outcome::Fail(Failure::NoTraffic) | Outcome::Skip => format!(
            "NO_TRAFFIC: no flow from {} to {} on {service} in the evidence",
            check.from.label, check.to.label
        ),
        Outcome::Fail(Failure::Allowed) => {
            let p = first.expect("an ALLOWED verdict has a pair");
            let through: u64 = p
                .connections
                .iter()
                .filter(|(v, _)| v.request_delivered())
                .map(|(_, n)| n)
                .sum();
            format!(
                "ALLOWED: {} got through ({}){more}; it must not be reachable",
                pair(p),
                plural(through, "connection", "connections")
            )
        }
        Outcome::Fail(Failure::TgwDropped) => {
            let p = broken
                .iter()
                .find(|p| !p.evidence.tgw.lost.is_empty())
                .expect("a TGW_DROPPED verdict has a pair the gateway dropped");
            let dropping = broken
                .iter()
                .filter(|p| !p.evidence.tgw.lost.is_empty())
                .count();
            let more = match dropping {
                0 | 1 => String::new(),
                2 => " (and 1 more pair)".to_string(),
                n => format!(" (and {} more pairs)", n - 1),
            };
            format!(
                "TGW_DROPPED: {} {}{more}",
                pair(p),
                tgw_drops(&p.evidence.tgw)
            )
        }
        Outcome::Fail(f) => {
            let p = first.expect("a failing verdict has a pair");
            let why = match f {
                Failure::Rejected => reasons(p),
                _ => String::new(),
            };
            let what = match f {
                Failure::Rejected if !why.is_empty() => why.as_str(),
                Failure::Rejected => "refused",
                Failure::ReturnRejected => "reply refused",
                _ => "no reply",
            };
            let n = p
                .headline
                .map_or(0, |h| p.connections.get(&h).copied().unwrap_or(0));
            format!(
                "{}: {} {what} ({} of {}){more}",
                f.label(),
                pair(p),
                n,
                plural(p.connection_count(), "connection", "connections")
            )
        }
        Outcome::Error(Missing::Incomplete) => format!(
            "INCOMPLETE: would pass, but evidence is missing ({})",
            gap_summary(j.gaps)
        ),
        Outcome::Error(Missing::Unavailable(why)) => format!("UNAVAILABLE: {why}"),
    }
}

/// Whether AWS gave a reason beyond the rules (`reject-reason`) for every refused record of a
/// pair: then the refusal is that, not a missing rule.
fn all_explained(p: &PairVerdict<'_>) -> bool {
    let r = &p.evidence.records;
    let refused = r.request_reject + r.reply_reject;
    refused > 0 && p.evidence.reject_reasons.values().sum::<u64>() == refused
}

/// The refusals of a pair in words when AWS gave a reason for every one of them: `refused by
/// VPC Block Public Access`; empty otherwise (the details count those it gave).
fn reasons(p: &PairVerdict<'_>) -> String {
    if !all_explained(p) {
        return String::new();
    }
    p.evidence
        .reject_reasons
        .keys()
        .map(|r| r.words())
        .collect::<Vec<_>>()
        .join(", and ")
}

fn id_or(id: &crate::evidence::IfaceId, what: &str) -> String {
    if id.is_unknown() {
        format!("({what} not logged)")
    } else {
        id.to_string()
    }
}

/// What transit gateways dropped of a pair, in words: `dropped by transit gateway tgw-1 at
/// attachment tgw-attach-2: no route (12 packets, requests)`.
fn tgw_drops(t: &TgwSeen) -> String {
    let mut by_hop: std::collections::BTreeMap<_, Vec<String>> = Default::default();
    for ((tgw, attachment, role, reason), n) in &t.lost {
        let dir = match role {
            Role::Request => "requests",
            Role::Reply => "replies",
        };
        by_hop.entry((*tgw, *attachment)).or_default().push(format!(
            "{} ({}, {dir})",
            reason.words(),
            plural(*n, "packet", "packets")
        ));
    }
    by_hop
        .into_iter()
        .map(|((tgw, attachment), why)| {
            format!(
                "dropped by transit gateway {} at attachment {}: {}",
                id_or(&tgw, "gateway"),
                id_or(&attachment, "attachment"),
                why.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where the pair's traffic crossed transit gateways: `tgw-1 (attachment tgw-attach-2):
/// requests 4 records, replies 0`.
fn tgw_crossings(t: &TgwSeen) -> Vec<String> {
    let mut hops: std::collections::BTreeMap<_, (u64, u64)> = Default::default();
    for ((tgw, attachment, role), n) in &t.carried {
        let e = hops.entry((*tgw, *attachment)).or_default();
        match role {
            Role::Request => e.0 += n,
            Role::Reply => e.1 += n,
        }
    }
    hops.into_iter()
        .map(|((tgw, attachment), (req, rep))| {
            format!(
                "{} (attachment {}): requests {}, replies {}",
                id_or(&tgw, "gateway"),
                id_or(&attachment, "attachment"),
                plural(req, "record", "records"),
                plural(rep, "record", "records")
            )
        })
        .collect()
}

/// What the transit gateway records say about a failure that rests on traffic not seen.
fn tgw_explains(f: Failure, t: &TgwSeen) -> Option<&'static str> {
    let (req, rep) = (t.records(Role::Request), t.records(Role::Reply));
    match f {
        Failure::NoReturn if req > 0 && rep == 0 => Some(
            "the requests crossed the transit gateway and no reply came back through it: the far side (another VPC, or on premises over Direct Connect or VPN) did not answer, or a firewall or route beyond the gateway dropped it",
        ),
        Failure::NoReturn if rep > 0 => Some(
            "replies came back through the transit gateway, but the client's interface logged none: look at the route from the gateway back to the client's subnet and at the client's network ACL",
        ),
        Failure::NoTraffic if req > 0 => Some(
            "the transit gateway carried this traffic, but no VPC flow log read saw it: the flow logs of the hosts' interfaces are not among the evidence, or one host is beyond the gateway (another VPC, on premises)",
        ),
        _ => None,
    }
}

/// The number of each kind of gap, e.g. `2 bad lines, 1 unreadable file`.
pub fn gap_summary(g: &Gaps) -> String {
    let mut parts = Vec::new();
    if !g.bad_files.is_empty() {
        parts.push(plural(
            g.bad_files.len() as u64,
            "unreadable file",
            "unreadable files",
        ));
    }
    if g.bad_lines > 0 {
        parts.push(plural(g.bad_lines, "bad line", "bad lines"));
    }
    let skip = g.skipdata_records();
    if skip > 0 {
        parts.push(plural(skip, "SKIPDATA record", "SKIPDATA records"));
    }
    if g.no_records {
        parts.push("no usable record".to_string());
    }
    parts.extend(
        g.missing
            .iter()
            .map(|m| m.split(':').next().unwrap_or(m).to_string()),
    );
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// The lines naming each gap: unreadable files, the first bad lines, SKIPDATA interfaces.
pub fn gap_lines(g: &Gaps, ev: &Evidence, indent: &str) -> String {
    let mut out = String::new();
    // Unreadable files are capped like bad lines: a thousand broken objects name the first few.
    for f in g.bad_files.iter().take(BAD_LINES_SHOWN) {
        let name = ev.origins.get(f.file as usize).map_or("?", String::as_str);
        let _ = writeln!(out, "{indent}{name}: {}", f.reason);
    }
    if g.bad_files.len() > BAD_LINES_SHOWN {
        let _ = writeln!(
            out,
            "{indent}... and {}",
            plural(
                (g.bad_files.len() - BAD_LINES_SHOWN) as u64,
                "more unreadable file",
                "more unreadable files"
            )
        );
    }
    for b in g.bad_line_samples.iter().take(BAD_LINES_SHOWN) {
        let _ = writeln!(out, "{indent}{}: {}", ev.origin(&b.origin), b.reason);
    }
    let unnamed = g
        .bad_lines
        .saturating_sub(g.bad_line_samples.len().min(BAD_LINES_SHOWN) as u64);
    if unnamed > 0 {
        let _ = writeln!(
            out,
            "{indent}... and {} more",
            plural(unnamed, "bad line", "bad lines")
        );
    }
    if g.no_records {
        let _ = writeln!(
            out,
            "{indent}not one usable record (not even NODATA) in the window: the logs are missing, unreadable, or not delivered yet"
        );
    }
    for m in &g.missing {
        let _ = writeln!(out, "{indent}{m}");
    }
    if !g.skipdata.is_empty() {
        let ifaces: Vec<String> = g
            .skipdata
            .iter()
            .map(|(i, n)| format!("{i} ({n})"))
            .collect();
        let _ = writeln!(
            out,
            "{indent}SKIPDATA in the window on {}: AWS skipped records there",
            ifaces.join(", ")
        );
    }
    out
}

fn pair_block(out: &mut String, p: &PairVerdict<'_>, ev: &Evidence) {
    let verdict = p
        .headline
        .map_or("no judgeable connection", ConnVerdict::label);
    // A pair only a transit gateway's records show: no VPC flow log saw it at all.
    let only_tgw = p.evidence.ifaces.is_empty() && p.connections.is_empty() && p.unjudged == 0;
    if only_tgw {
        let _ = writeln!(
            out,
            "  {} -> {}: seen only at transit gateways (no VPC flow log read shows it)",
            p.client, p.server
        );
    } else {
        let _ = writeln!(out, "  {} -> {}: {verdict}", p.client, p.server);
        let _ = writeln!(out, "    connections: {}", connections(p));
        let _ = writeln!(out, "    records: {}", records(&p.evidence.records));
        let mut ifaces: Vec<String> = p.evidence.ifaces.iter().map(ToString::to_string).collect();
        ifaces.sort();
        let _ = writeln!(out, "    interfaces: {}", ifaces.join(", "));
    }
    // Which interface refused, from the refused records shown (where the format names it).
    let mut refusing: Vec<&str> = p
        .samples
        .iter()
        .filter(|s| s.action == crate::evidence::Action::Reject)
        .filter_map(|s| {
            s.text
                .split_ascii_whitespace()
                .find(|w| w.starts_with("eni-"))
        })
        .collect();
    refusing.sort_unstable();
    refusing.dedup();
    if !refusing.is_empty() {
        let _ = writeln!(out, "    refused at: {}", refusing.join(", "));
    }
    for (why, n) in &p.evidence.reject_reasons {
        let _ = writeln!(
            out,
            "    {} (reject-reason {}, {})",
            why.words(),
            why.code(),
            plural(*n, "record", "records")
        );
    }
    tgw_block(out, &p.evidence.tgw, &p.evidence.tgw_samples, ev);
    if let (Some(first), Some(last)) = (p.evidence.first_seen, p.evidence.last_seen) {
        let _ = writeln!(out, "    seen: {} .. {}", time(first), time(last));
    }
    if !p.samples.is_empty() {
        // With their column names: once when every sample shares them, else with each.
        let columns_of = |s: &crate::evidence::Sample| {
            ev.columns
                .get(s.origin.file as usize)
                .and_then(Option::as_deref)
        };
        let first = columns_of(p.samples[0]);
        let shared = first.filter(|_| p.samples.iter().all(|s| columns_of(s) == first));
        let _ = writeln!(out, "    sample records:");
        if let Some(columns) = shared {
            let _ = writeln!(out, "      columns: {columns}");
        }
        for s in &p.samples {
            let _ = writeln!(out, "      {}:", ev.origin(&s.origin));
            if let (None, Some(columns)) = (shared, columns_of(s)) {
                let _ = writeln!(out, "        columns: {columns}");
            }
            let _ = writeln!(out, "        {}", s.text);
        }
    }
}

/// The transit gateways a pair's traffic crossed, what they dropped, and their records.
fn tgw_block(out: &mut String, t: &TgwSeen, samples: &[crate::evidence::Sample], ev: &Evidence) {
    if t.is_empty() {
        return;
    }
    for hop in tgw_crossings(t) {
        let _ = writeln!(out, "    transit gateway: {hop}");
    }
    if !t.lost.is_empty() {
        let _ = writeln!(out, "    {}", tgw_drops(t));
    }
    // Records with drops first (kept as their own kind), then the earliest.
    let mut shown: Vec<&crate::evidence::Sample> = samples.iter().collect();
    shown.sort_by_key(|s| (s.action != crate::evidence::Action::Reject, s.origin));
    if shown.is_empty() {
        return;
    }
    shown.truncate(crate::verdict::SAMPLES_SHOWN);
    let columns_of = |s: &crate::evidence::Sample| {
        ev.columns
            .get(s.origin.file as usize)
            .and_then(Option::as_deref)
    };
    let first = columns_of(shown[0]);
    let shared = first.filter(|_| shown.iter().all(|s| columns_of(s) == first));
    let _ = writeln!(out, "    transit gateway records:");
    if let Some(columns) = shared {
        let _ = writeln!(out, "      columns: {columns}");
    }
    for s in shown {
        let _ = writeln!(out, "      {}:", ev.origin(&s.origin));
        if let (None, Some(columns)) = (shared, columns_of(s)) {
            let _ = writeln!(out, "        columns: {columns}");
        }
        let _ = writeln!(out, "        {}", s.text);
    }
}

/// What a failure of this kind usually means, in one plain sentence, for a reader who has not
/// met the verdict names before.
pub fn meaning(f: Failure) -> &'static str {
    match f {
        Failure::Rejected => {
            "the request was refused: a security group or network ACL on the path has no rule that allows it"
        }
        Failure::ReturnRejected => {
            "the request got through but the reply was refused: usually a network ACL without the ephemeral-port rule (1024-65535) for the return"
        }
        Failure::NoReturn => {
            "the request got through but nothing answered: the service is down or not listening, or a firewall beyond the VPC drops it"
        }
        Failure::NoTraffic => {
            "nothing was seen: the client has not tried yet, no flow log covers the path, or the records are not delivered yet"
        }
        Failure::TgwDropped => {
            "a transit gateway on the path dropped the traffic: its route table has no route (or a blackhole route) for the destination, or the packets exceeded its MTU (8500 bytes, 1500 over VPN) or ran out of TTL"
        }
        Failure::Allowed => {
            "traffic the spec forbids got through: a rule allows more than it should"
        }
        Failure::Open => {
            "the configuration lets it through, whether or not anyone tried: close the rule named below"
        }
        Failure::PredictedRefused => {
            "the configuration would refuse it: add the rule or route named below before the cutover"
        }
        Failure::Undeclared => "the host took connections that no expectation of the spec covers",
        Failure::RulesTooWide => "the host's security groups allow more than its expectations need",
    }
}

/// Why the verdict is what it is, for the failure body and the libtest failure section.
pub fn details(check: &Check, j: &Judgement<'_>, ev: &Evidence) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", message(check, j));
    if let Outcome::Fail(f) = j.outcome {
        // A refusal AWS gave a reason for is not a missing rule: say what it is instead.
        let reasons: std::collections::BTreeSet<_> = j
            .broken_pairs()
            .filter(|_| f == Failure::Rejected)
            .flat_map(|p| p.evidence.reject_reasons.keys().copied())
            .collect();
        let all = j
            .broken_pairs()
            .all(|p| f == Failure::Rejected && all_explained(p));
        if reasons.is_empty() || !all {
            let _ = writeln!(out, "meaning: {}", meaning(f));
        }
        for r in reasons {
            let _ = writeln!(out, "meaning: {}", r.remedy());
        }
        let explained: std::collections::BTreeSet<&str> = j
            .pairs
            .iter()
            .filter_map(|p| tgw_explains(f, &p.evidence.tgw))
            .collect();
        for e in explained {
            let _ = writeln!(out, "transit gateway: {e}");
        }
    }
    let _ = writeln!(
        out,
        "expected: {} ({}:{})",
        expectation(check),
        check.spec_path.display(),
        check.at
    );
    if let Outcome::Error(Missing::Unavailable(_)) = j.outcome {
        return out;
    }
    let broken: Vec<&PairVerdict<'_>> = j.broken_pairs().collect();
    if !broken.is_empty() {
        let title = if check.kind == Kind::Deny {
            "pairs that got through"
        } else {
            "broken pairs"
        };
        let _ = writeln!(out, "{title} ({}):", broken.len());
        for p in broken.iter().take(PAIRS_SHOWN) {
            pair_block(&mut out, p, ev);
        }
        if broken.len() > PAIRS_SHOWN {
            let _ = writeln!(
                out,
                "  ... and {} more",
                plural((broken.len() - PAIRS_SHOWN) as u64, "pair", "pairs")
            );
        }
    }
    let others: Vec<&PairVerdict<'_>> = j
        .pairs
        .iter()
        .filter(|p| !p.broken && p.headline.is_some())
        .collect();
    if !others.is_empty() {
        let label = if check.kind == Kind::Deny {
            "refused pairs"
        } else {
            "working pairs"
        };
        let list: Vec<String> = others
            .iter()
            .take(PAIRS_SHOWN)
            .map(|p| format!("{} -> {} ({})", p.client, p.server, connections(p)))
            .collect();
        let more = if others.len() > PAIRS_SHOWN {
            format!(", ... and {} more", others.len() - PAIRS_SHOWN)
        } else {
            String::new()
        };
        let _ = writeln!(out, "{label}: {}{more}", list.join("; "));
    }
    // Pairs a transit gateway carried that no broken pair above shows: where the traffic went.
    let crossed: Vec<&PairVerdict<'_>> = j
        .pairs
        .iter()
        .filter(|p| !p.broken && !p.evidence.tgw.is_empty())
        .collect();
    if !crossed.is_empty() && matches!(j.outcome, Outcome::Fail(_) | Outcome::Skip) {
        let _ = writeln!(out, "seen at transit gateways ({}):", crossed.len());
        for p in crossed.iter().take(PAIRS_SHOWN) {
            let _ = writeln!(out, "  {} -> {}", p.client, p.server);
            tgw_block(&mut out, &p.evidence.tgw, &p.evidence.tgw_samples, ev);
        }
    }
    let unjudged: u64 = j
        .pairs
        .iter()
        .filter(|p| p.headline.is_none())
        .map(|p| p.unjudged)
        .sum();
    if unjudged > 0 {
        let _ = writeln!(
            out,
            "not judged: {} with only late packets (REJECT without SYN, after close) or replies whose request is not in the evidence",
            plural(unjudged, "connection", "connections")
        );
    }
    let unanswered: u64 = j
        .pairs
        .iter()
        .filter_map(|p| p.connections.get(&ConnVerdict::Unanswered))
        .sum();
    if unanswered > 0 {
        let _ = writeln!(
            out,
            "UNANSWERED: {} got no reply while the server answered the same client on that port until after they began (not a network failure)",
            plural(unanswered, "connection", "connections")
        );
    }
    let nothing_seen = !j.pairs.iter().any(|p| p.headline.is_some());
    let dropped = matches!(j.outcome, Outcome::Fail(Failure::TgwDropped));
    if check.kind != Kind::Deny && nothing_seen && !dropped {
        let why = if !j.gaps.skipdata.is_empty() {
            "SKIPDATA records fell in the window: AWS skipped records, so evidence may have been lost"
        } else if !j.gaps.is_empty() {
            "evidence is missing (below), so the traffic may be in the missing part"
        } else {
            "no SKIPDATA in the window, so no records were lost: the client sent no traffic, or the logs are not delivered yet"
        };
        let _ = writeln!(out, "{why}");
    } else if matches!(j.outcome, Outcome::Fail(Failure::NoReturn)) && !j.gaps.is_empty() {
        let _ = writeln!(
            out,
            "evidence is missing (below): the replies may be in the missing part"
        );
    }
    if !j.gaps.is_empty() {
        let _ = writeln!(out, "evidence missing ({}):", gap_summary(j.gaps));
        out.push_str(&gap_lines(j.gaps, ev, "  "));
    }
    out
}
