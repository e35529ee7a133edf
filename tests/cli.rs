//! The real `flowgate` binary, driven as a user or a pipeline would.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SPEC: &str = "specs/shop.yaml";
const TROUBLED: &str = "examples/troubled-cutover";
const FIXED: &str = "examples/after-fixes";

/// The binary with a fake AWS environment: nothing it does may reach AWS or the instance
/// metadata address, even by accident.
fn flowgate() -> Command {
    Command::from_std(flowgate_process())
}

/// The same command as a process to start and signal while it runs.
fn flowgate_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flowgate"));
    cmd.current_dir(ROOT)
        .env("AWS_ACCESS_KEY_ID", "AKIAFLOWGATETESTFAKE")
        .env("AWS_SECRET_ACCESS_KEY", "flowgate-test-fake-secret")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("AWS_PROFILE")
        // A test run inside GitHub Actions must not write into the job's own summary.
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1");
    cmd
}

fn run(args: &[&str]) -> Output {
    flowgate().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// libtest's per-test lines, `name ... result`, sorted (tests run in parallel).
fn results(o: &Output) -> Vec<String> {
    let mut lines: Vec<String> = stdout(o)
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.split_once(" ... "))
        .map(|(name, result)| format!("{} ... {result}", name.trim_end()))
        .collect();
    lines.sort();
    lines
}

fn junit_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r#"timestamp="[^"]+""#, r#"timestamp="[timestamp]""#),
        (r#"time="[0-9.e-]+""#, r#"time="[time]""#),
    ]
}

// ---- the shipped examples --------------------------------------------------------------------

#[test]
fn the_troubled_cutover_shows_every_verdict_and_exits_101() {
    let o = run(&["check", "--flow-logs", TROUBLED, SPEC]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    // Each failure says in one plain sentence what its verdict usually means.
    for meaning in [
        "meaning: the request was refused: a security group or network ACL on the path has no rule that allows it",
        "meaning: the request got through but the reply was refused: usually a network ACL without the ephemeral-port rule",
        "meaning: the request got through but nothing answered: the service is down or not listening",
        "meaning: nothing was seen: the client has not tried yet",
        "meaning: traffic the spec forbids got through",
    ] {
        assert!(stdout(&o).contains(meaning), "{meaning}: {}", stdout(&o));
    }
    // Sample records come with their column names (the files' header).
    assert!(
        stdout(&o).contains("    sample records:\n      columns: version account-id interface-id srcaddr dstaddr srcport dstport"),
        "{}",
        stdout(&o)
    );
    // The interface that refused: db's, not app's, which let the requests out.
    assert!(
        stdout(&o).contains("interfaces: eni-0b2e4d6f8a0c2b201, eni-0c3d5e7f9b1d3c301\n    refused at: eni-0c3d5e7f9b1d3c301\n"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        results(&o),
        [
            "shop::app reaches db ... FAILED",
            "shop::app reaches the file share ... ok",
            "shop::app ships logs to syslog ... ok",
            "shop::batch job writes reports to the file share ... FAILED",
            "shop::internet cannot reach db ... ok",
            "shop::internet cannot reach the file share ... FAILED",
            "shop::monitoring pings app ... FAILED",
            "shop::nothing else reaches db ... ok",
            "shop::users reach web ... ok",
            "shop::web cannot reach db directly ... ok",
            "shop::web reaches app ... FAILED",
            "shop::web resolves names on premises ... ok",
        ]
    );
    let out = stdout(&o);
    for (test, verdict) in [
        ("app reaches db", "REJECTED: 10.0.2.2"),
        (
            "batch job writes reports to the file share",
            "RETURN_REJECTED: 192.168.20.15 -> 10.0.4.40 tcp/445",
        ),
        ("web reaches app", "NO_RETURN: 10.0.1.1"),
        (
            "monitoring pings app",
            "NO_TRAFFIC: no flow from monitoring to app on icmp",
        ),
        ("internet cannot reach the file share", "ALLOWED: "),
    ] {
        let section = format!("---- shop::{test} ----\n{verdict}");
        assert!(out.contains(&section), "missing {section:?} in\n{out}");
    }
    // The server's interface refused what the client's let out: both are named, with records.
    assert!(
        out.contains("interfaces: eni-0b2e4d6f8a0c2b201, eni-0c3d5e7f9b1d3c301"),
        "{out}"
    );
    assert!(
        out.contains("_20261120T0905Z_"),
        "sample records name their file: {out}"
    );
}

#[test]
fn a_role_given_for_no_other_account_is_said_to_be_unused() {
    let role = "arn:aws:iam::{account}:role/flowgate-read";
    let o = run(&["check", "--flow-logs", FIXED, "--role-arn", role, SPEC]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("warning: --role-arn is not used: no host names an account"),
        "{}",
        stderr(&o)
    );
    let o = run(&["check", "--flow-logs", FIXED, SPEC]);
    assert!(!stderr(&o).contains("--role-arn"), "{}", stderr(&o));
}

#[test]
fn after_the_fixes_the_whole_gate_passes() {
    let o = run(&["check", "--flow-logs", FIXED, SPEC]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("test result: ok. 12 passed; 0 failed"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("evidence: 6 flow-log files"),
        "{}",
        stderr(&o)
    );
}

/// Whatever the thread count, the tests print in the order of the spec, as the README shows.
#[test]
fn tests_print_in_spec_order_whatever_the_thread_count() {
    let listed = stdout(&run(&["check", "--list", SPEC]));
    let order: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .collect();
    assert_eq!(order.len(), 12, "{listed}");
    for threads in ["1", "4", "16"] {
        for _ in 0..3 {
            let o = run(&[
                "check",
                "--flow-logs",
                TROUBLED,
                "--test-threads",
                threads,
                SPEC,
            ]);
            let ran: Vec<String> = stdout(&o)
                .lines()
                .filter_map(|l| l.strip_prefix("test "))
                .filter_map(|l| l.split_once(" ... ").map(|(name, _)| name))
                .map(|n| n.trim_end().to_string())
                .collect();
            assert_eq!(ran, order, "--test-threads {threads}: {}", stdout(&o));
        }
    }
}

#[test]
fn list_prints_the_test_names_without_reading_evidence() {
    let o = run(&["check", SPEC, "--list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("list", stdout(&o));
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", stdout(&run(&["--help"])));
    insta::assert_snapshot!("check_help", stdout(&run(&["check", "--help"])));
}

// ---- JUnit -----------------------------------------------------------------------------------

fn junit_of(args: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let p = path.to_str().unwrap().to_string();
    // Before any `--`: what follows it is the test filter.
    let mut all: Vec<&str> = vec![args[0], "--junit", &p];
    all.extend(&args[1..]);
    let o = run(&all);
    let xml = std::fs::read_to_string(&path).unwrap_or_default();
    (o, xml)
}

#[test]
fn junit_has_a_case_per_expectation_with_typed_failures() {
    let (o, xml) = junit_of(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--test-threads",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(101));
    for needle in [
        r#"<testsuite id="0" name="shop""#,
        r#"tests="12" errors="0" failures="5""#,
        r#"<testcase name="app reaches db" time="#,
        r#"classname="shop" file="specs/shop.yaml"><failure type="REJECTED" message="REJECTED: 10.0.2.2"#,
        r#"<failure type="RETURN_REJECTED""#,
        r#"<failure type="NO_RETURN""#,
        r#"<failure type="NO_TRAFFIC""#,
        r#"<failure type="ALLOWED""#,
    ] {
        assert!(xml.contains(needle), "missing {needle:?} in\n{xml}");
    }
    insta::with_settings!({ filters => junit_filters() }, {
        insta::assert_snapshot!("junit_troubled", xml);
    });
}

/// The python of the venv `ci/test` builds, which has the `xmlschema` validator and moto.
fn test_python() -> PathBuf {
    let python = std::env::var_os("FLOWGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        panic!("FLOWGATE_TEST_PYTHON is not set: run the tests with ci/test, which installs the XSD validator and moto")
    });
    assert!(
        python.exists(),
        "FLOWGATE_TEST_PYTHON={} does not exist",
        python.display()
    );
    python
}

/// What the XSD validator says is wrong with `xml`, or `None` when it is valid.
fn xsd_errors(xml: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let xsd = Path::new(ROOT).join("tests/data/junit-4.xsd");
    let check = std::process::Command::new(test_python())
        .args(["-c", VALIDATE])
        .arg(&xsd)
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&check.stderr).into_owned();
    // Anything but a verdict from the validator (a missing module, say) is a broken test setup.
    assert!(
        check.status.success() || err.contains("ValidationError"),
        "the validator did not run: {err}"
    );
    (!check.status.success()).then_some(err)
}

const VALIDATE: &str =
    "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])";

fn assert_valid_junit(xml: &str) {
    if let Some(err) = xsd_errors(xml) {
        panic!("JUnit does not validate against tests/data/junit-4.xsd:\n{err}\n{xml}");
    }
}

#[test]
fn junit_validates_against_the_junit_xsd() {
    let (_, troubled) = junit_of(&["check", "--flow-logs", TROUBLED, SPEC]);
    let (_, fixed) = junit_of(&["check", "--flow-logs", FIXED, SPEC]);
    let (_, skipped) = junit_of(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--no-traffic",
        "skip",
    ]);
    for xml in [troubled, fixed, skipped] {
        assert!(xml.starts_with("<?xml"), "no JUnit written: {xml:?}");
        assert_valid_junit(&xml);
    }
}

#[test]
fn the_validator_rejects_what_the_xsd_forbids() {
    // Guards the guard: a JUnit file with an element the schema does not know must not pass.
    let bad = r#"<?xml version="1.0"?><testsuites><testsuite name="x" tests="1"><testcase name="a"><bogus/></testcase></testsuite></testsuites>"#;
    let err = xsd_errors(bad).expect("an unknown element is invalid");
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn filtered_runs_report_only_the_cases_that_ran() {
    let (o, xml) = junit_of(&["check", "--flow-logs", TROUBLED, SPEC, "--", "reaches"]);
    assert_eq!(o.status.code(), Some(101));
    assert_eq!(
        results(&o),
        [
            "shop::app reaches db ... FAILED",
            "shop::app reaches the file share ... ok",
            "shop::nothing else reaches db ... ok",
            "shop::web reaches app ... FAILED",
        ]
    );
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");

    let o = run(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--exact",
        "--skip",
        "shop::web reaches app",
        "--",
        "shop::users reach web",
    ]);
    assert_eq!(results(&o), ["shop::users reach web ... ok"]);
    assert_eq!(o.status.code(), Some(0));

    let o = run(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--skip",
        "reach",
        "--skip",
        "monitoring",
        "--skip",
        "batch",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn no_traffic_can_be_turned_into_a_skip() {
    let (o, xml) = junit_of(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--no-traffic",
        "skip",
        "--",
        "monitoring",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        results(&o),
        [
            "shop::monitoring pings app ... ignored (NO_TRAFFIC: no flow from monitoring to app on icmp in the evidence)"
        ]
    );
    assert!(
        xml.contains("<skipped/><system-out><![CDATA[NO_TRAFFIC: no flow from monitoring"),
        "{xml}"
    );
}

#[test]
fn the_junit_file_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, "old contents").unwrap();
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        SPEC,
        "--junit",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let xml = std::fs::read_to_string(&path).unwrap();
    assert!(xml.starts_with("<?xml") && xml.trim_end().ends_with("</testsuites>"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file left behind: {leftovers:?}"
    );
}

// ---- evidence that is missing or broken ------------------------------------------------------

/// A copy of the after-fixes evidence (where everything passes) plus `extra` files.
fn fixed_plus(extra: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in walk(&Path::new(ROOT).join(FIXED)) {
        let rel = entry.strip_prefix(Path::new(ROOT).join(FIXED)).unwrap();
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, to).unwrap();
    }
    for (name, bytes) in extra {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_bad_line_turns_passes_into_incomplete_errors_and_exit_3() {
    let dir = fixed_plus(&[("stray.log", b"2 123456789012 eni-0abc 10.0.1.10 oops\n")]);
    let (o, xml) = junit_of(&["check", "--flow-logs", dir.path().to_str().unwrap(), SPEC]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("test result: FAILED. 0 passed; 12 failed"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("stray.log:1: 5 fields where the format has 14"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        xml.matches(r#"<error type="INCOMPLETE""#).count(),
        12,
        "{xml}"
    );
    assert!(
        xml.contains("stray.log:1: 5 fields where the format has 14"),
        "the case body names the line"
    );
}

/// A shared log bucket copied down as the README suggests: other services' logs beside
/// vpcflowlogs/, a README and a manifest. The verdicts are those of the flow logs alone, and the
/// summary names what was left out.
#[test]
fn a_copied_log_bucket_is_read_for_its_flow_logs_only() {
    let dir = tempfile::tempdir().unwrap();
    let troubled = Path::new(ROOT).join(TROUBLED);
    for entry in walk(&troubled) {
        let to = dir.path().join(entry.strip_prefix(&troubled).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, to).unwrap();
    }
    let gz = |text: &str| {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let account = dir.path().join("AWSLogs/123456789012");
    for (rel, body) in [
        (
            "CloudTrail/eu-west-1/2026/11/20/trail.json.gz",
            gz("{\"Records\": []}\n"),
        ),
        (
            "elasticloadbalancing/eu-west-1/2026/11/20/elb.log.gz",
            gz("http 2026-11-20T09:05:00Z app/shop 203.0.113.9:5000 10.0.1.10:80 0.001 200\n"),
        ),
    ] {
        let p = account.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    std::fs::write(
        dir.path().join("README.md"),
        "# Our log archive\n\nAsk the platform team.\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("manifest.json"), "{\"files\": 6}\n").unwrap();
    let expected = verdicts(&run(&["check", "--flow-logs", TROUBLED, SPEC]));
    let o = run(&["check", "--flow-logs", dir.path().to_str().unwrap(), SPEC]);
    assert_eq!(verdicts(&o), expected, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("skipped other services' logs under AWSLogs/")
            && err.contains("123456789012/CloudTrail")
            && err.contains("123456789012/elasticloadbalancing"),
        "{err}"
    );
    assert!(
        err.contains("skipped 2 file(s) in which no line looks like a flow-log record or header")
            && err.contains("README.md")
            && err.contains("manifest.json"),
        "{err}"
    );
    assert!(!err.contains("evidence missing"), "{err}");
    // --exclude leaves out what a user names, and says so.
    let o = run(&[
        "check",
        "--flow-logs",
        dir.path().to_str().unwrap(),
        "--exclude",
        "*.md",
        SPEC,
    ]);
    assert_eq!(verdicts(&o), expected, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--exclude left out 1 file(s)"),
        "{}",
        stderr(&o)
    );
    // A folder of nothing but other logs is a usage error that says what it found.
    let o = run(&[
        "check",
        "--flow-logs",
        account.join("CloudTrail").to_str().unwrap(),
        SPEC,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no flow-log files to read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_truncated_gzip_file_never_yields_a_pass() {
    let whole = std::fs::read(walk(&Path::new(ROOT).join(FIXED))[0].clone()).unwrap();
    let dir = fixed_plus(&[("cut.log.gz", &whole[..whole.len() / 2])]);
    let o = run(&["check", "--flow-logs", dir.path().to_str().unwrap(), SPEC]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 passed"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("cut.log.gz: reading stopped after line"),
        "{}",
        stderr(&o)
    );
}

/// Every kind of broken file evidence, added to evidence on which the whole gate passes: no
/// case may pass, the run exits 3, and stderr and every JUnit case name what is missing.
#[test]
fn broken_evidence_of_every_kind_fails_closed_and_says_what_is_missing() {
    let whole = std::fs::read(walk(&Path::new(ROOT).join(FIXED))[0].clone()).unwrap();
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    let rec = |sport: &str, dport: &str, proto: &str, start: &str, end: &str| {
        format!(
            "2 123456789012 eni-0abc 10.0.1.10 10.0.2.20 {sport} {dport} {proto} 1 60 {start} {end} ACCEPT OK\n"
        )
    };
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "cut.log.gz",
            whole[..whole.len() / 2].to_vec(),
            "cut.log.gz: reading stopped after line".into(),
        ),
        (
            "fake.log.gz",
            b"\x00\x01 this is not gzip\n".to_vec(),
            "fake.log.gz: named .gz but not gzip".into(),
        ),
        (
            // Detected by content: a .gz holding text is read as text, and its lines judged.
            "unpacked.log.gz",
            b"this is not gzip\n".to_vec(),
            "unpacked.log.gz:1: 4 fields where the format has 14".into(),
        ),
        (
            "mismatch.log",
            format!(
                "{header} tcp-flags\n{}",
                rec("40000", "8080", "6", "1795165200", "1795165260")
            )
            .into_bytes(),
            "mismatch.log:2: 14 fields where the format has 15".into(),
        ),
        (
            // A slip in a hand-made header names the word and the field it is closest to.
            "typo.log",
            format!(
                "{}\n{}",
                header.replace("log-status", "logstatus"),
                rec("40000", "8080", "6", "1795165200", "1795165260")
            )
            .into_bytes(),
            "typo.log:2: the header at line 1 names `logstatus`, which is not a flow-log field (the closest is `log-status`)".into(),
        ),
        (
            "port.log",
            rec("40000", "70000", "6", "1795165200", "1795165260").into_bytes(),
            "port.log:1: dstport `70000`".into(),
        ),
        (
            "proto.log",
            rec("40000", "8080", "256", "1795165200", "1795165260").into_bytes(),
            "proto.log:1: protocol `256`".into(),
        ),
        (
            "time.log",
            rec("40000", "8080", "6", "-5", "1795165260").into_bytes(),
            "time.log:1: start `-5`".into(),
        ),
        (
            "order.log",
            rec("40000", "8080", "6", "1795165260", "1795165200").into_bytes(),
            "order.log:1: end 1795165200 is before start".into(),
        ),
        (
            "millis.log",
            rec("40000", "8080", "6", "1795165200000", "1795165260000").into_bytes(),
            "millis.log:1: start `1795165200000` is not a time in epoch seconds".into(),
        ),
        (
            "nul.log",
            b"2 123456789012 eni-0abc 10.0.1.10\x00 10.0.2.20 1 2 6 1 60 1 2 ACCEPT OK\n".to_vec(),
            "nul.log:1:".into(),
        ),
    ];
    for (name, bytes, says) in &cases {
        let dir = fixed_plus(&[(name, bytes)]);
        let (o, xml) = junit_of(&["check", "--flow-logs", dir.path().to_str().unwrap(), SPEC]);
        let out = format!("{}{}", stderr(&o), stdout(&o));
        assert_eq!(o.status.code(), Some(3), "{name}: {out}");
        assert!(
            out.contains("test result: FAILED. 0 passed;"),
            "{name} let a case pass: {out}"
        );
        assert!(
            out.contains(says.as_str()),
            "{name}: expected `{says}` in:\n{out}"
        );
        assert_eq!(
            xml.matches(r#"<error type="INCOMPLETE""#).count(),
            12,
            "{name}: {xml}"
        );
        assert!(
            xml.matches(says.as_str()).count() >= 12,
            "{name}: each case names it"
        );
    }
}

/// A run that stops before judging (here: AWS out of reach) still leaves a report for the
/// pipeline: every case an error with the reason, written whole.
#[test]
fn a_run_that_stops_before_judging_still_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (junit, summary) = (dir.path().join("junit.xml"), dir.path().join("summary.md"));
    std::fs::write(&junit, "stale report of an earlier run").unwrap();
    let o = flowgate()
        .args(["check", "--endpoint-url", "http://127.0.0.1:9", "--junit"])
        .arg(&junit)
        .arg("--summary")
        .arg(&summary)
        .arg(SPEC)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_valid_junit(&xml);
    assert_eq!(
        xml.matches(r#"<error type="UNAVAILABLE""#).count(),
        12,
        "{xml}"
    );
    assert!(xml.contains("the run stopped before judging"), "{xml}");
    assert!(xml.contains("Connection refused"), "the reason: {xml}");
    // Without --flow-logs the run says up front that it reads AWS, and out of reach, that
    // --flow-logs reads files instead.
    let err = stderr(&o);
    assert!(
        err.starts_with("evidence: no --flow-logs or --log-group given: reading the flow logs of the specs' hosts from AWS"),
        "{err}"
    );
    assert!(
        err.contains("to read flow-log files instead, give --flow-logs PATH"),
        "{err}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## flowgate: 12 errors, 0 passed"), "{md}");
}

/// Nothing a spec says reaches a query string but parsed addresses, networks and ports: specs
/// with quotes, pipes, backticks, newlines and escapes in every string field give exactly the
/// queries of the same spec without them, or a spec error; their reports stay valid XML.
#[test]
fn hostile_strings_in_specs_never_reach_queries_or_break_reports() {
    const HOSTILE: &[&str] = &[
        r#"x" | filter 1=1 | display @message #"#,
        "`whoami` $(id) ${HOME}",
        "a\nfields @message\n| limit 10000",
        "x' or 'a'='a' -- ]] /* */",
        "\u{1b}[31mred\u{7}\u{0}\r\t</failure><![CDATA[",
    ];
    let spec = |app: &str, desc: &str, window: &str, host: &str, name: &str| {
        format!(
            "app: {}\ndescription: {}\nwindow: {}\nhosts:\n  {}: {{ ips: [10.0.1.10, 10.0.1.11] }}\n  app: {{ cidr: 10.0.2.20/31 }}\nexpect:\n  - {{ name: {}, from: {}, to: app, port: 8080 }}\n",
            yaml(app),
            yaml(desc),
            yaml(window),
            yaml(host),
            yaml(name),
            yaml(host)
        )
    };
    fn yaml(s: &str) -> String {
        serde_json::to_string(s).unwrap() // a JSON string is a YAML double-quoted scalar
    }
    let dir = tempfile::tempdir().unwrap();
    let queries = |text: &str, group: &str| -> (Option<i32>, String, String) {
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, text).unwrap();
        let o = run(&[
            "query",
            "--log-group",
            group,
            "--start",
            "2026-11-20T09:00:00Z",
            "--end",
            "2026-11-20T10:00:00Z",
            path.to_str().unwrap(),
        ]);
        let out = stdout(&o);
        let text: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        (o.status.code(), text.join("\n"), stderr(&o))
    };
    let benign = spec("shop", "d", "1h", "web", "web reaches app");
    let (code, expected, err) = queries(&benign, "/vpc/shop");
    assert_eq!(code, Some(0), "{err}");
    assert!(expected.contains("filter"), "{expected}");
    let mut judged = 0;
    for h in HOSTILE {
        let variants = [
            ("app", spec(h, "d", "1h", "web", "web reaches app")),
            (
                "description",
                spec("shop", h, "1h", "web", "web reaches app"),
            ),
            ("window", spec("shop", "d", h, "web", "web reaches app")),
            ("host name", spec("shop", "d", "1h", h, "web reaches app")),
            ("test name", spec("shop", "d", "1h", "web", h)),
        ];
        for (field, text) in variants {
            let (code, got, err) = queries(&text, "/vpc/shop");
            match code {
                Some(0) => assert_eq!(got, expected, "{field} = {h:?} changed the queries"),
                Some(2) => assert!(err.contains("s.yaml:"), "{field}: no position: {err}"),
                other => panic!("{field} = {h:?}: exit {other:?}: {err}"),
            }
            if code == Some(0) {
                // The report of a spec with this string stays valid XML, escapes stripped.
                let path = dir.path().join("s.yaml");
                let (_, xml) = junit_of(&["check", "--flow-logs", FIXED, path.to_str().unwrap()]);
                assert_valid_junit(&xml);
                assert!(!xml.contains('\u{1b}') && !xml.contains('\u{7}'), "{xml}");
                judged += 1;
            }
        }
        // Log group names are API parameters, never query text.
        let (code, got, _) = queries(&benign, &format!("/vpc/{}", h.replace('\0', "")));
        assert!(code != Some(0) || got == expected, "log group {h:?}");
    }
    assert!(
        judged >= 5,
        "hostile names, apps and descriptions are valid and were judged"
    );
}

/// Limits that protect the user: thousands of hosts and expectations, the whole internet on both
/// sides, and a file that is one endless line all work, or fail with a clear message.
#[test]
fn big_specs_the_whole_internet_and_an_endless_line_work_or_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let mut big = String::from("app: big\nhosts:\n");
    for i in 0..n {
        big.push_str(&format!(
            "  h{i}: {{ ip: 10.{}.{}.{} }}\n",
            i >> 8,
            i & 255,
            i % 200 + 1
        ));
    }
    big.push_str("expect:\n");
    for i in 0..n {
        big.push_str(&format!(
            "  - {{ from: h{i}, to: h{}, port: {} }}\n",
            (i + 1) % n,
            1000 + i
        ));
    }
    let big_spec = dir.path().join("big.yaml");
    std::fs::write(&big_spec, &big).unwrap();
    let big_spec = big_spec.to_str().unwrap();
    let o = run(&["query", "--log-group", "/vpc/x", "--since", "1h", big_spec]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let queries: Vec<String> = stdout(&o)
        .split("\n\n")
        .map(|q| {
            q.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|q| !q.is_empty())
        .collect();
    assert!(queries.len() > 2, "3000 addresses take several queries");
    assert!(
        queries.iter().all(|q| q.len() <= 10_000),
        "every query within Logs Insights' 10,000 characters"
    );
    let o = run(&["check", "--flow-logs", FIXED, "-q", big_spec]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("0 passed; 3000 failed"),
        "{}",
        stdout(&o)
    );

    let everyone = dir.path().join("everyone.yaml");
    std::fs::write(
        &everyone,
        "app: all\nhosts:\n  internet: { cidrs: [0.0.0.0/0, '::/0'] }\nexpect:\n  - { from: internet, to: internet, port: 443 }\n  - { from: any, to: internet, protocol: icmp, deny: true }\n",
    )
    .unwrap();
    let o = run(&["check", "--flow-logs", FIXED, everyone.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("all::internet -> internet tcp/443 ... ok"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("ALLOWED"),
        "pings got through: {}",
        stdout(&o)
    );

    // 16 MiB without a line end: named as a bad line, not read into memory whole.
    let endless = dir.path().join("endless.log");
    std::fs::File::create(&endless)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        "--flow-logs",
        endless.to_str().unwrap(),
        SPEC,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("endless.log:1: longer than 65536 bytes"),
        "{}",
        stderr(&o)
    );
}

/// A fresh CI checkout has no `target/`: the reports' folders are made, not an exit 2 after
/// judging everything.
#[test]
fn reports_go_into_folders_that_do_not_exist_yet() {
    let dir = tempfile::tempdir().unwrap();
    let (junit, summary) = (
        dir.path().join("target/reports/flowgate.xml"),
        dir.path().join("target/flowgate.md"),
    );
    let o = flowgate()
        .args(["check", "--flow-logs", FIXED, "--junit"])
        .arg(&junit)
        .arg("--summary")
        .arg(&summary)
        .arg(SPEC)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testsuites>")
    );
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .starts_with("## flowgate")
    );
}

#[test]
fn skipdata_in_the_window_is_reported_and_blocks_passes() {
    let line =
        b"2 123456789012 eni-0c3d5e7f9b1d3c301 - - - - - - - 1795183200 1795183260 - SKIPDATA\n";
    let dir = fixed_plus(&[("skip.log", line)]);
    let o = run(&[
        "check",
        "--flow-logs",
        dir.path().to_str().unwrap(),
        SPEC,
        "--",
        "internet cannot reach db",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("INCOMPLETE: would pass, but evidence is missing (1 SKIPDATA record)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn no_traffic_says_whether_skipdata_fell_in_the_window() {
    // At 16:00, after the last record: a window from 15:00 holds nothing but this SKIPDATA.
    let line =
        b"2 123456789012 eni-0b2e4d6f8a0c2b201 - - - - - - - 1795190400 1795190460 - SKIPDATA\n";
    let dir = fixed_plus(&[("skip.log", line)]);
    let o = run(&[
        "check",
        "--flow-logs",
        dir.path().to_str().unwrap(),
        SPEC,
        "--start",
        "2026-11-20T15:00:00Z",
        "--",
        "monitoring",
    ]);
    assert_eq!(o.status.code(), Some(101));
    assert!(
        stdout(&o).contains("NO_TRAFFIC: no flow from monitoring to app on icmp"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("SKIPDATA records fell in the window: AWS skipped records, so evidence may have been lost"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("SKIPDATA in the window on eni-0b2e4d6f8a0c2b201 (1)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn files_without_a_header_are_read_in_the_log_format_given() {
    let dir = tempfile::tempdir().unwrap();
    let lines = "eni-1 192.168.30.5 10.0.2.20 0 0 1 ACCEPT OK\neni-1 10.0.2.20 192.168.30.5 0 0 1 ACCEPT OK\n";
    std::fs::write(dir.path().join("cw-export.log"), lines).unwrap();
    let format = "${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action} ${log-status}";
    let logs = dir.path().to_str().unwrap();
    let o = run(&[
        "check",
        "--flow-logs",
        logs,
        "--log-format",
        format,
        SPEC,
        "--",
        "monitoring",
    ]);
    assert_eq!(
        results(&o),
        ["shop::monitoring pings app ... ok"],
        "{}",
        stdout(&o)
    );
    // Read as the default format instead, not one line is a record: one diagnosis for the run,
    // with what to do, and exit 3 (not a column of NO_TRAFFIC failures).
    let o = run(&["check", "--flow-logs", logs, SPEC, "--", "monitoring"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no record to judge: not one of the 2 lines read is a record flowgate can read (the first: ")
            && err.contains("cw-export.log:1: 8 fields where the format has 14"),
        "{err}"
    );
    assert!(
        err.contains("help: the records have no header line: add it"),
        "{err}"
    );
    assert_eq!(
        err.matches("no record to judge").count(),
        1,
        "said once: {err}"
    );
    assert!(!stdout(&o).contains("NO_TRAFFIC"), "{}", stdout(&o));
}

#[test]
fn a_window_with_no_records_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        SPEC,
        "--start",
        "2026-11-19T00:00:00Z",
        "--end",
        "2026-11-19T12:00:00+01:00",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    // One diagnosis, with the files' own time span against the window, and exit 3: the logs for
    // the window are not there, which is not a failure of the application.
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no record to judge: all 967 records lie outside the window 2026-11-19T00:00:00Z .. 2026-11-19T11:00:00Z; the records span 2026-11-20T14:00:00Z .. 2026-11-20T14:30:00Z"),
        "{err}"
    );
    assert!(!stdout(&o).contains("NO_TRAFFIC"), "{}", stdout(&o));
    // The pipeline's report has every case as an error with the reason, never a pass.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<error").count(), 12, "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
    // The same with --no-traffic skip: nothing is skipped into green.
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        SPEC,
        "--since",
        "1h",
        "--no-traffic",
        "skip",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(stderr(&o).contains("no record to judge"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("... ok"), "{}", stdout(&o));
}

#[test]
fn a_run_that_judges_nothing_is_not_green() {
    let o = run(&["check", "--flow-logs", FIXED, SPEC, "--ignored"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no expectation was judged"),
        "{}",
        stderr(&o)
    );
}

/// Filters as cargo test habits write them: after `--`, several at once; a filter that
/// matches nothing stops before any evidence is read; one given where specs go is explained.
#[test]
fn test_filters_work_as_cargo_test_users_expect() {
    let o = run(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--",
        "users reach",
        "cannot reach db",
    ]);
    assert_eq!(
        results(&o),
        [
            "shop::internet cannot reach db ... ok",
            "shop::users reach web ... ok",
            "shop::web cannot reach db directly ... ok",
        ],
        "{}",
        stdout(&o)
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Nothing matches: the run stops before reading the (here missing) evidence.
    let o = run(&[
        "check",
        "--flow-logs",
        "no/such/dir",
        SPEC,
        "--",
        "no such test",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("no test matches the filter and --skip options (12 tests in the specs)"),
        "{}",
        stderr(&o)
    );
    // A filter where the specs go.
    let o = run(&["check", "--flow-logs", TROUBLED, SPEC, "shop::users"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "shop::users: no such spec file; if it is a test name, test filters go after `--`"
        ) && stderr(&o).contains("help: flowgate check SPEC... -- shop::users"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn spec_directories_follow_links_and_name_what_they_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("specs")).unwrap();
    std::os::unix::fs::symlink(
        Path::new(ROOT).join(SPEC),
        dir.path().join("specs/shop.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/nonexistent", dir.path().join("specs/broken.yaml")).unwrap();
    let o = flowgate()
        .current_dir(dir.path())
        .args(["validate", "specs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("specs/broken.yaml: cannot read"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(dir.path().join("specs/broken.yaml")).unwrap();
    let o = flowgate()
        .current_dir(dir.path())
        .args(["validate", "specs", "specs/shop.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o),
        "specs/shop.yaml: ok: app shop, 10 hosts, 11 expectations\n",
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_window_inside_the_data_judges_only_its_records() {
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        SPEC,
        "--start",
        "2026-11-20T14:12:00Z",
        "--end",
        "2026-11-20T14:13:30Z",
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("judged: records overlapping 2026-11-20T14:12:00Z .. 2026-11-20T14:13:30Z"),
        "{err}"
    );
    // The batch job runs every five minutes: not in these ninety seconds.
    let failed: Vec<String> = results(&o)
        .into_iter()
        .filter(|l| l.ends_with("FAILED"))
        .collect();
    assert_eq!(
        failed,
        ["shop::batch job writes reports to the file share ... FAILED"]
    );
    assert!(
        stdout(&o).contains("NO_TRAFFIC: no flow from batch to files on tcp/445"),
        "{}",
        stdout(&o)
    );
}

// ---- bad input ---------------------------------------------------------------------------------

#[test]
fn a_spec_with_every_kind_of_error_gives_exit_2_and_a_line_col_for_each() {
    let spec = "tests/data/every-error.yaml";
    for args in [
        &["validate", spec][..],
        &["check", "--flow-logs", FIXED, spec],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        insta::assert_snapshot!("every_error", stderr(&o));
    }
}

#[test]
fn aws_selectors_say_they_need_an_aws_source() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("aws.yaml");
    std::fs::write(&spec, "app: a\nhosts:\n  web: {tag: {Name: shop-web}}\n  db: {ip: 10.0.3.30}\nexpect: [{from: web, to: db, port: 1433}]\n").unwrap();
    let o = run(&["check", "--flow-logs", FIXED, spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("aws.yaml:3:3: host `web` is chosen by `tag`, which needs AWS to resolve"),
        "{err}"
    );
    // As a spec it is valid: a PR pipeline can check it before the AWS source exists.
    assert_eq!(
        run(&["validate", spec.to_str().unwrap()]).status.code(),
        Some(0)
    );
}

#[test]
fn usage_errors_exit_2_with_what_to_do() {
    let cases: [(&[&str], &str); 10] = [
        (
            &[
                "check",
                "--flow-logs",
                FIXED,
                "--log-group",
                "/vpc/shop",
                SPEC,
            ],
            "--flow-logs reads files; --log-group reads CloudWatch: give one",
        ),
        (
            &["check", "--flow-logs", "no/such/dir", SPEC],
            "--flow-logs no/such/dir: No such file or directory",
        ),
        (
            &["check", "--flow-logs", FIXED, "no/such.yaml"],
            "no/such.yaml: cannot read the spec",
        ),
        (
            &["check", "--flow-logs", FIXED, SPEC, "--start", "yesterday"],
            "invalid value 'yesterday' for '--start <START>'",
        ),
        (
            &[
                "check",
                "--flow-logs",
                FIXED,
                SPEC,
                "--log-format",
                "srcaddr dstadr",
            ],
            "--log-format: unknown field `dstadr`",
        ),
        (
            // What bash leaves of "${version} ${account-id} ${interface-id} ... ${log-status}".
            &[
                "check",
                "--flow-logs",
                FIXED,
                SPEC,
                "--log-format",
                " id id          status",
            ],
            "help: put the format in single quotes: --log-format '${version}",
        ),
        (
            &[
                "check",
                "--flow-logs",
                FIXED,
                SPEC,
                "--insights-rows",
                "raw",
            ],
            "--insights-rows tunes Logs Insights queries, and --flow-logs reads files: drop --insights-rows",
        ),
        (
            &["check", "--flow-logs", FIXED, SPEC, "--max-queries", "2"],
            "drop --max-queries",
        ),
        (
            &["check", "--flow-logs", FIXED, SPEC, "--wait", "5m"],
            "files on disk hold what they hold: drop --wait",
        ),
        (
            // A log group whose format cannot show a flow: refused before any query.
            &[
                "check",
                "--log-group",
                "/vpc/x",
                "--log-format",
                "${srcaddr} ${dstaddr} ${action}",
                SPEC,
            ],
            "/vpc/x: the flow log's format lacks srcport, dstport, protocol, which every record needs to be judged",
        ),
    ];
    for (args, needle) in cases {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn validate_accepts_the_shipped_specs() {
    let o = run(&["validate", "specs/"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "specs/shop.yaml: ok: app shop, 10 hosts, 11 expectations\n"
    );
}

#[test]
fn two_specs_with_the_same_app_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("shop-copy.yaml");
    std::fs::copy(Path::new(ROOT).join(SPEC), &copy).unwrap();
    let o = run(&["validate", SPEC, copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("shop-copy.yaml:1:1: app `shop` is also the app of specs/shop.yaml"),
        "{}",
        stderr(&o)
    );
    // The same file twice is one spec, not a clash.
    assert_eq!(run(&["validate", SPEC, SPEC]).status.code(), Some(0));
}

#[test]
fn the_readme_spec_example_is_a_valid_spec() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let start = readme
        .find("```yaml\napp: shop")
        .expect("the README shows a spec")
        + "```yaml\n".len();
    let yaml = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("readme.yaml");
    std::fs::write(&spec, yaml).unwrap();
    let o = run(&["validate", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The output blocks the README pastes are the real output of its commands (the order of test
/// lines varies with threads, and timings do, so both are normalised).
#[test]
fn the_readme_shows_real_output() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let normal = |text: &str| {
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| match l.find("finished in ") {
                Some(i) => format!("{}finished in [time]", &l[..i]),
                None => l.trim_end().to_string(),
            })
            .filter(|l| !l.is_empty())
            .collect();
        lines.sort();
        lines
    };
    for (command, data) in [
        (
            "--flow-logs examples/after-fixes --junit target/junit.xml specs/shop.yaml",
            FIXED,
        ),
        (
            "--flow-logs examples/troubled-cutover specs/shop.yaml",
            TROUBLED,
        ),
    ] {
        let shown = format!("cargo run --release -- check {command}\n```");
        let at = readme
            .find(&shown)
            .unwrap_or_else(|| panic!("the README shows `{command}`"));
        let block = &readme[at..];
        let start = block.find("```text\n").expect("an output block follows") + "```text\n".len();
        let pasted = &block[start..start + block[start..].find("```").unwrap()];
        let dir = tempfile::tempdir().unwrap();
        let junit = dir.path().join("junit.xml");
        let args: Vec<String> = command
            .split(' ')
            .map(|a| {
                if a == "target/junit.xml" {
                    junit.display().to_string()
                } else {
                    a.to_string()
                }
            })
            .collect();
        let o = flowgate().arg("check").args(&args).output().unwrap();
        let real = format!("{}{}", stderr(&o), stdout(&o));
        assert!(
            normal(pasted) == normal(&real),
            "the README's output for `{command}` ({data}) is not what it prints now; paste this:\n{real}"
        );
    }
}

/// Every test the README's guarantees name exists, so the promises stay backed.
#[test]
fn the_guarantees_name_tests_that_exist() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let start = readme
        .find("## What flowgate guarantees")
        .expect("the section");
    let section = &readme[start..start + readme[start..].find("\n## Testing").unwrap()];
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| **")).collect();
    assert!(rows.len() >= 8, "{section}");
    let mut named = 0;
    for row in rows {
        // The last cell: groups split by `;`, each `file`: names, or names in tests/cli.rs.
        let backed = row.trim_end_matches('|').rsplit('|').next().unwrap();
        for group in backed.split(';') {
            let ticks: Vec<&str> = group.split('`').skip(1).step_by(2).collect();
            if group.contains("fuzz target") {
                for t in &ticks {
                    let target = Path::new(ROOT).join(format!("fuzz/fuzz_targets/{t}.rs"));
                    assert!(target.exists(), "the README names fuzz target `{t}`: {row}");
                }
                continue;
            }
            // A path applies to the names after it, up to the next path or `;`.
            let mut file = "tests/cli.rs";
            let mut cited: Vec<(&str, Vec<&str>)> = Vec::new();
            for t in &ticks {
                if t.contains('/') {
                    file = t;
                    cited.push((file, Vec::new()));
                } else if t.len() > 10 && t.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    match cited.last_mut() {
                        Some((f, names)) if *f == file => names.push(t),
                        _ => cited.push((file, vec![t])),
                    }
                }
            }
            for (file, names) in cited {
                let text = std::fs::read_to_string(Path::new(ROOT).join(file))
                    .unwrap_or_else(|e| panic!("the README cites {file}: {e}"));
                if names.is_empty() {
                    assert!(
                        text.contains("#[test]") || text.contains("#[tokio::test"),
                        "{file} holds no test: {row}"
                    );
                }
                for name in names {
                    named += 1;
                    assert!(
                        is_test(&text, name),
                        "the README cites `{name}` in {file}, which has no #[test] of that name"
                    );
                }
            }
        }
    }
    assert!(named >= 15, "{named} tests named");
}

/// Whether `text` has a test function `name`: `fn name(` with `#[test]` (or `#[tokio::test]`)
/// among the attributes and doc comments right above it.
fn is_test(text: &str, name: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let t = line.trim_start();
        (t.starts_with(&format!("fn {name}(")) || t.starts_with(&format!("async fn {name}(")))
            && lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim_start())
                .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
                .any(|l| l.starts_with("#[test]") || l.starts_with("#[tokio::test"))
    })
}

/// The README's triage and baseline examples are what those commands print.
#[test]
fn the_readme_shows_triage_and_observe_as_they_print() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    for args in [
        &["triage", "--flow-logs", TROUBLED, SPEC][..],
        &["observe", "--hosts-of", SPEC, "--flow-logs", FIXED][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            readme.contains(&stdout(&o)),
            "the README's output of `flowgate {}` is not what it prints now:\n{}",
            args.join(" "),
            stdout(&o)
        );
    }
}

/// The README's five-minute tour, step by step in an empty directory as a newcomer would do it:
/// the spec it writes, the output and the summary it shows are what flowgate does and prints.
#[test]
fn the_readme_tour_runs_as_shown() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let tour = &readme[readme
        .find("## Five-minute tour")
        .expect("the README has the tour")..];
    let between = |from: &str, to: &str| -> String {
        let start = tour
            .find(from)
            .unwrap_or_else(|| panic!("the tour shows {from}"))
            + from.len();
        tour[start..start + tour[start..].find(to).unwrap()].to_string()
    };
    let spec = between("cat > myspecs/reports.yaml <<'EOF'\n", "EOF\n");
    let command = between("\nflowgate check ", "\n");
    let output = between(
        &format!("flowgate check {command}\n```\n\n```text\n"),
        "```",
    );
    let summary: String = between("<!-- summary.md -->\n", "<!-- end of summary.md -->")
        .lines()
        .map(|l| {
            format!(
                "{}\n",
                l.strip_prefix("> ").unwrap_or(l.trim_start_matches('>'))
            )
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(ROOT).join("examples"),
        dir.path().join("examples"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("myspecs")).unwrap();
    let schema = flowgate()
        .current_dir(dir.path())
        .arg("schema")
        .output()
        .unwrap();
    std::fs::write(
        dir.path().join("myspecs/flowgate.schema.json"),
        &schema.stdout,
    )
    .unwrap();
    std::fs::write(dir.path().join("myspecs/reports.yaml"), &spec).unwrap();
    let validate = flowgate()
        .current_dir(dir.path())
        .args(["validate", "myspecs/"])
        .output()
        .unwrap();
    assert_eq!(validate.status.code(), Some(0), "{}", stderr(&validate));

    let o = flowgate()
        .current_dir(dir.path())
        .arg("check")
        .args(shlex::split(&command).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(101), "the tour says a test fails");
    let real = format!("{}{}", stderr(&o), stdout(&o));
    let normal = |t: &str| {
        let mut lines: Vec<String> = t
            .lines()
            .map(|l| match l.find("finished in ") {
                Some(i) => format!("{}finished in [time]", &l[..i]),
                None => l.trim_end().to_string(),
            })
            .filter(|l| !l.is_empty())
            .collect();
        lines.sort();
        lines
    };
    assert!(
        normal(&output) == normal(&real),
        "the tour's output is not what flowgate prints now; paste this:\n{real}"
    );
    let written = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert_eq!(
        summary.trim_end(),
        written.trim_end(),
        "the tour's summary.md"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    for shown in [
        "<failure type=\"RETURN_REJECTED\" message=\"RETURN_REJECTED: 192.168.20.15 -&gt; 10.0.4.40 tcp/445 reply refused (6 of 6 connections)\">",
        "working pairs: 10.0.2.20 -> 10.0.4.40 (10 ESTABLISHED); 10.0.2.21 -> 10.0.4.40 (10 ESTABLISHED)",
    ] {
        assert!(tour.contains(shown) && junit.contains(shown), "{shown}");
    }
}

// ---- against a local AWS: moto's server on 127.0.0.1 ------------------------------------------

/// The shop of tests/data/moto_shop.py, running for the whole test binary: moto's ids by name.
/// The server stops when this process ends (its standard input closes).
struct Moto {
    ids: std::collections::BTreeMap<String, String>,
    _server: std::sync::Mutex<(std::process::Child, std::process::ChildStdin)>,
}

impl Moto {
    fn id(&self, key: &str) -> &str {
        &self.ids[key]
    }

    fn endpoint(&self) -> &str {
        self.id("endpoint")
    }

    /// A spec naming the shop's hosts the ways people name them in AWS.
    fn spec(&self, dir: &Path) -> PathBuf {
        let spec = format!(
            "app: shop
hosts:
  web: {{ tag: {{ Name: shop-web }} }}
  app: {{ instance: {} }}
  db: {{ eni: {} }}
  dbsg: {{ security_group: {} }}
  websubnet: {{ subnet: {} }}
  internet: {{ cidr: 0.0.0.0/0, except: [10.0.0.0/16, 10.20.0.0/16] }}
expect:
  - {{ name: web reaches app, from: web, to: app, port: 8080 }}
  - {{ name: app reaches the database, from: app, to: dbsg, port: 1433 }}
  - {{ name: the internet never reaches db, from: internet, to: db, port: 1433, deny: true }}
  - {{ name: the web subnet never reaches db, from: websubnet, to: db, port: 1433, deny: true }}
",
            self.id("app_instance"),
            self.id("db"),
            self.id("db_sg"),
            self.id("web_subnet")
        );
        let path = dir.join("shop-aws.yaml");
        std::fs::write(&path, spec).unwrap();
        path
    }
}

fn moto() -> &'static Moto {
    static MOTO: std::sync::OnceLock<Moto> = std::sync::OnceLock::new();
    MOTO.get_or_init(|| {
        use std::io::BufRead;
        let mut child = std::process::Command::new(test_python())
            .arg("tests/data/moto_shop.py")
            .current_dir(ROOT)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start tests/data/moto_shop.py");
        let mut ids = std::collections::BTreeMap::new();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        for line in out.lines() {
            let line = line.unwrap();
            if line == "ready" {
                let stdin = child.stdin.take().unwrap();
                return Moto {
                    ids,
                    _server: std::sync::Mutex::new((child, stdin)),
                };
            }
            let (k, v) = line.split_once(' ').expect("key value");
            ids.insert(k.to_string(), v.to_string());
        }
        let _ = child.wait();
        panic!("moto_shop.py ended before it was ready (is moto in FLOWGATE_TEST_PYTHON's venv?)");
    })
}

/// `flowgate` against the emulator: every AWS call goes to 127.0.0.1.
fn against_moto(args: &[&str]) -> Output {
    let m = moto();
    flowgate()
        .args(args)
        .args(["--endpoint-url", m.endpoint()])
        .output()
        .unwrap()
}

/// A failing case says which rule on which resource to change: a security group without the
/// rule, a network ACL entry that denies, read from EC2 for hosts given as plain addresses.
#[test]
fn failures_name_the_security_group_or_network_acl_rule_to_change() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("why.yaml");
    std::fs::write(
        &spec,
        "app: why\nhosts:\n  web: { ips: [10.0.1.10, 10.0.1.11] }\n  app: { ip: 10.0.2.20 }\n  db: { ip: 10.0.3.30 }\n  reports: { ip: 192.168.20.15 }\nexpect:\n  - { name: web reaches app, from: web, to: app, port: 8080 }\n  - { name: reports reach db, from: reports, to: db, port: 1433 }\n  - { name: app reaches db, from: app, to: db, port: 1433 }\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let args = [
        "check",
        "--log-group",
        "/vpc/shop",
        "--insights-rows",
        "raw",
        "--since",
        "1h",
        "--junit",
        junit.to_str().unwrap(),
        spec.to_str().unwrap(),
    ];
    let o = against_moto(&args);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let (app_sg, db_acl, db_subnet, app) = (
        m.id("app_sg"),
        m.id("db_acl"),
        m.id("db_subnet"),
        m.id("app"),
    );
    for says in [
        format!("SG {app_sg} of {app} has no ingress rule for tcp 8080 from 10.0.1.11"),
        format!("to allow it: add to {app_sg} an ingress rule tcp 8080 from 10.0.1.11/32"),
        format!(
            "NACL {db_acl} ({db_subnet}) inbound: rule 90 denies tcp 192.168.20.15 → 10.0.3.30:1433"
        ),
        "to allow it: an inbound allow rule numbered below 90 for tcp 1433 from 192.168.20.15/32"
            .to_string(),
        "no interface in this account and region has 192.168.20.15".to_string(),
    ] {
        assert!(xml.contains(&says), "the JUnit should say `{says}`:\n{xml}");
    }
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.starts_with("test why::app reaches db ") && l.ends_with("... ok")),
        "{}",
        stdout(&o)
    );
    // Evidence from files, configuration from EC2 (the emulator here; --region for AWS).
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(
        logs.join("f.log"),
        format!(
            "2 123456789012 {web2} 10.0.1.11 10.0.2.20 40002 8080 6 3 180 1795165200 1795165260 ACCEPT OK\n2 123456789012 {app} 10.0.1.11 10.0.2.20 40002 8080 6 3 180 1795165200 1795165260 REJECT OK\n",
            web2 = m.id("web2")
        ),
    )
    .unwrap();
    let files = against_moto(&[
        "check",
        "--flow-logs",
        logs.to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    assert!(
        stdout(&files).contains(&format!(
            "SG {app_sg} of {app} has no ingress rule for tcp 8080 from 10.0.1.11"
        )),
        "{}",
        stdout(&files)
    );
    let quiet = against_moto(&[&args[..], &["--no-explain"]].concat());
    assert_eq!(quiet.status.code(), Some(101));
    assert!(
        !std::fs::read_to_string(&junit)
            .unwrap()
            .contains("why (the security groups")
    );
}

/// Managed services as hosts, resolved in moto to the addresses of the interfaces they own: a
/// NAT gateway and an interface endpoint (moto makes their interfaces), a load balancer, a Lambda
/// function and an RDS database (interfaces made with AWS's descriptions; moto filters those).
/// The interface-type and requester-id filters moto does not implement: src/resolve/ec2/tests.rs.
#[test]
fn managed_services_resolve_to_the_addresses_of_their_interfaces() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("managed.yaml");
    std::fs::write(
        &spec,
        format!(
            "app: managed
hosts:
  web: {{ ip: 10.0.1.10 }}
  lb: {{ load_balancer: shop-lb }}
  reports: {{ lambda: shop-reports }}
  logs: {{ vpc_endpoint: {vpce} }}
  nat: {{ nat_gateway: {nat} }}
  db: {{ interface: {{ description: RDSNetworkInterface, security_group: {rds_sg} }} }}
expect:
  - {{ from: web, to: lb, port: 443 }}
  - {{ from: any, to: lb, port: 80, deny: true }}
  - {{ from: any, to: reports, port: 443, deny: true }}
  - {{ from: any, to: logs, port: 443, deny: true }}
  - {{ from: any, to: nat, port: 443, deny: true }}
  - {{ from: any, to: db, port: 5432, deny: true }}
",
            vpce = m.id("vpce"),
            nat = m.id("nat"),
            rds_sg = m.id("rds_sg"),
        ),
    )
    .unwrap();
    let o = against_moto(&["query", "--log-group", "/vpc/shop", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    // (A check's query names its narrower side.) The load balancer's two interfaces, not those
    // of `shop-lb-old`; function `shop-reports`'s, not `shop-reports-v2`'s.
    for (says, why) in [
        (
            "isIpInSubnet(dstAddr, \"10.0.5.10/31\")",
            "the load balancer's interfaces",
        ),
        ("\"10.0.5.20\"", "the function's interface"),
        ("\"10.0.5.30\"", "the database's interface"),
        (
            &format!("\"{}\"", m.id("vpce_ip")),
            "the endpoint's interface",
        ),
        (
            &format!("\"{}\"", m.id("nat_ip")),
            "the NAT gateway's interface",
        ),
    ] {
        assert!(out.contains(says), "{why}: {says} in\n{out}");
    }
    for not in ["10.0.5.12", "10.0.5.21"] {
        assert!(!out.contains(not), "{not} is another service's: {out}");
    }
    // A selector that matches nothing is a spec error naming it.
    std::fs::write(
        &spec,
        "app: managed\nhosts:\n  lb: { load_balancer: shop-lb-gone }\n  nat: { nat_gateway: nat-0123456789abcdef0 }\n  fn: { lambda: shop }\nexpect:\n  - { from: lb, to: nat, port: 443 }\n  - { from: fn, to: lb, port: 443 }\n",
    )
    .unwrap();
    let o = against_moto(&["query", "--log-group", "/vpc/shop", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    for says in [
        ":3:3: host `lb`: load_balancer shop-lb-gone matches no network interface",
        "ELB app/NAME/...",
        ":4:3: host `nat`: nat_gateway nat-0123456789abcdef0 matches no NAT gateway",
        // `shop` is a prefix of `shop-reports`, whose interface is not function `shop`'s.
        ":5:3: host `fn`: lambda shop matches no network interface",
    ] {
        assert!(err.contains(says), "{says} in\n{err}");
    }
}

/// Hosts in two accounts and a load balancer, in one command: the second account's hosts are
/// resolved, and their flow logs found and read, through the role the template names there
/// (moto keeps the accounts apart by the assumed role's credentials); a failure in the first
/// account is explained by its security group.
#[test]
fn hosts_in_two_accounts_resolve_and_are_judged_on_each_accounts_flow_logs() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("landing-zone.yaml");
    std::fs::write(
        &spec,
        format!(
            "app: zone
hosts:
  web: {{ tag: {{ Name: shop-web }} }}
  app: {{ instance: {app} }}
  lb: {{ load_balancer: shop-lb }}
  db: {{ tag: {{ Name: shared-db }}, account: \"222222222222\" }}
  batch: {{ tag: {{ Name: shared-batch }}, account: \"222222222222\" }}
expect:
  - {{ name: web reaches app, from: web, to: app, port: 8080 }}
  - {{ name: app reaches the shared db, from: app, to: db, port: 5432 }}
  - {{ name: batch reaches the shared db, from: batch, to: db, port: 5432 }}
  - {{ name: batch reaches the shared cache port, from: batch, to: db, port: 6379 }}
  - {{ name: nobody reaches the lb on ssh, from: any, to: lb, port: 22, deny: true }}
",
            app = m.id("app_instance"),
        ),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let role = "arn:aws:iam::{account}:role/flowgate-reader";
    let common = ["--insights-rows", "raw", "--since", "1h"];
    let o = against_moto(
        &[
            &["check", "--role-arn", role, "--external-id", "shop-ci"][..],
            &common,
            &[spec],
        ]
        .concat(),
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(101), "{out}{err}");
    for (test, result) in [
        ("zone::web reaches app", "FAILED"),
        // Judged on the first account's records (app's interface), ...
        ("zone::app reaches the shared db", "ok"),
        // ... and on the second's, read there through the role.
        ("zone::batch reaches the shared db", "ok"),
        ("zone::batch reaches the shared cache port", "FAILED"),
        ("zone::nobody reaches the lb on ssh", "ok"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("test {test} ")) && l.ends_with(result)),
            "{test}: {result} in\n{out}"
        );
    }
    assert!(
        err.contains("/vpc/shared"),
        "the second account's log group: {err}"
    );
    assert!(
        out.contains(&format!(
            "SG {} of {} has no ingress rule for tcp 8080 from 10.0.1.11",
            m.id("app_sg"),
            m.id("app")
        )),
        "{out}"
    );
    // Each failure explained by the configuration of the account it is in: the second
    // account's security group, read there through the role.
    assert!(
        out.contains(&format!(
            "SG {} of {} has no ingress rule for tcp 6379 from 10.20.1.60",
            m.id("shared_sg"),
            m.id("shared_db")
        )),
        "{out}"
    );
    // The assumed role's credentials are moto's ASIA... keys: never printed.
    assert!(!out.contains("ASIA") && !err.contains("ASIA"), "{out}{err}");

    // A strict host in the second account: its checks are read on one side each, so its own
    // account's flow logs may not all be read; "nothing else reaches it" is not judged on that.
    let strict_spec = dir.path().join("strict.yaml");
    let text = std::fs::read_to_string(spec).unwrap().replace(
        "account: \"222222222222\" }\n  batch",
        "account: \"222222222222\", strict: true }\n  batch",
    );
    assert!(text.contains("strict: true"), "{text}");
    std::fs::write(&strict_spec, text).unwrap();
    let o = against_moto(
        &[
            &["check", "--role-arn", role, "--external-id", "shop-ci"][..],
            &common,
            &[strict_spec.to_str().unwrap()],
        ]
        .concat(),
    );
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("test zone::nothing else reaches db ") && l.ends_with("FAILED")),
        "{out}"
    );
    assert!(
        out.contains("UNAVAILABLE: db is in account 222222222222: a strict host's undeclared traffic is not yet gathered"),
        "{out}"
    );

    // Without a role to assume there, another account is a usage error that says what to add.
    let o = against_moto(&[&["check"][..], &common, &[spec]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("host `db` is in account 222222222222, not the caller's (123456789012)")
            && err.contains("add --role-arn 'arn:aws:iam::{account}:role/NAME'"),
        "{err}"
    );

    // A role that cannot be assumed (refused, or the external id wrong) leaves the checks that
    // need it UNAVAILABLE, naming the role and the account: never a pass or NO_TRAFFIC.
    for (role, external) in [
        ("arn:aws:iam::{account}:role/flowgate-denied", "shop-ci"),
        ("arn:aws:iam::{account}:role/flowgate-reader", "wrong"),
    ] {
        let o = against_moto(
            &[
                &["check", "--role-arn", role, "--external-id", external][..],
                &common,
                &["--skip", "web reaches app", "--skip", "lb on ssh", spec],
            ]
            .concat(),
        );
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(3), "{out}{}", stderr(&o));
        let arn = role.replace("{account}", "222222222222");
        for test in ["app reaches the shared db", "batch reaches the shared db"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&format!("test zone::{test} ")) && l.ends_with("FAILED")),
                "{test}: {out}"
            );
        }
        assert!(
            out.contains(&format!(
                "cannot assume role {arn} in account 222222222222: sts:AssumeRole: AccessDenied"
            )),
            "{out}"
        );
        assert!(!out.contains("NO_TRAFFIC"), "{out}");
    }

    // A host of the second account whose flow log delivers to the central bucket: read under
    // AWSLogs/222222222222/ only, with the role's credentials.
    let vault = dir.path().join("vault.yaml");
    std::fs::write(
        &vault,
        "app: vault\nhosts:\n  vault: { tag: { Name: shared-vault }, account: \"222222222222\" }\n  offices: { cidr: 192.168.0.0/16 }\nexpect:\n  - { name: the offices reach the vault, from: offices, to: vault, port: 443 }\n",
    )
    .unwrap();
    let o = against_moto(&[
        "check",
        "--no-explain",
        "--since",
        "2h",
        "--role-arn",
        role,
        "--external-id",
        "shop-ci",
        vault.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{}{err}", stdout(&o));
    assert!(
        err.contains("S3 s3://flowgate-central-logs/") && err.contains("1 objects fetched"),
        "{err}"
    );
    // Listed under the second account's folder alone: the first account's objects are not even
    // seen (none of them is counted as another flow log's).
    assert!(!err.contains("of other flow logs left"), "{err}");

    // A monitoring account names the linked account's group by ARN: its format is read from
    // the flow log in that account, and the printed queries name the ARN.
    let arn = "arn:aws:logs:eu-west-1:222222222222:log-group:/vpc/shared";
    let o = against_moto(&[
        "query",
        "--log-group",
        arn,
        "--role-arn",
        role,
        "--external-id",
        "shop-ci",
        spec,
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.contains(&format!("# log groups: {arn}\n")), "{out}");
    assert!(
        out.contains("parse @message"),
        "the flow log's custom format: {out}"
    );
}

#[test]
fn triage_against_cloudwatch_lists_the_refused_flows() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = m.spec(dir.path());
    let o = against_moto(&[
        "triage",
        "--insights-rows",
        "raw",
        "--since",
        "1h",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("CloudWatch Logs /vpc/shop"), "{out}");
    for (src, dst, port, covered) in [
        ("10.0.1.11", "10.0.2.20", "8080", "shop::web reaches app"),
        (
            "203.0.113.9",
            "10.0.3.30",
            "1433",
            "(deny: refused as expected)",
        ),
    ] {
        assert!(
            out.lines().any(|l| l.contains(src)
                && l.contains(dst)
                && l.contains(&format!(" {port} "))
                && l.contains(covered)),
            "{src} -> {dst}:{port}: {out}"
        );
    }
    // The emulator ignores `stats`: the aggregated query's answer is refused, not misread.
    let o = against_moto(&["triage", "--since", "1h", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("the endpoint answered with records, not the aggregated rows"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn observe_against_cloudwatch_records_what_worked() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = m.spec(dir.path());
    let o = against_moto(&[
        "observe",
        "--insights-rows",
        "raw",
        "--hosts-of",
        spec.to_str().unwrap(),
        "--since",
        "1h",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("CloudWatch Logs /vpc/shop"), "{out}");
    assert!(
        out.contains("web: { tag: { \"Name\": \"shop-web\" } }"),
        "{out}"
    );
    for expect in [
        r#"- { name: "web reaches app on tcp/8080", from: web, to: app, port: 8080, protocol: tcp }"#,
        r#"- { name: "app reaches db on tcp/1433", from: app, to: db, port: 1433, protocol: tcp }"#,
    ] {
        assert!(out.contains(expect), "{expect}\n{out}");
    }
    assert!(
        !out.contains("internet"),
        "refused flows are not a baseline: {out}"
    );
}

/// Credentials never show: recognisable fake ones, through every kind of run against the local
/// AWS (a verdict, an AWS error, an answer flowgate refuses, the query listing), with the SDK's
/// logging asked for at its loudest; no output, JUnit or summary may carry them.
#[test]
fn credentials_never_appear_in_output_or_reports() {
    const KEY: &str = "AKIAFLOWGATECANARY01";
    const SECRET: &str = "flowgate-canary-secret-2d8f7a61";
    const TOKEN: &str = "flowgate-canary-session-token-9c4e1b";
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = m.spec(dir.path());
    let spec = spec.to_str().unwrap();
    // Each run with the exit code that shows it got as far as it should.
    let runs: &[(&[&str], i32)] = &[
        (
            &["check", "--insights-rows", "raw", "--since", "1h", spec],
            101,
        ),
        (&["check", "--since", "1h", spec], 3),
        (
            &[
                "check",
                "--log-group",
                "/vpc/missing",
                "--log-format",
                "${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action}",
                "--since",
                "1h",
                spec,
            ],
            3,
        ),
        (&["query", "--since", "1h", spec], 0),
        // The emulator's db, strict in the spec, has a group open to ssh: RULES_TOO_WIDE.
        (
            &["check", "--flow-logs", FIXED, "--region", "eu-west-1", SPEC],
            101,
        ),
    ];
    for (i, (args, code)) in runs.iter().enumerate() {
        let (junit, summary) = (
            dir.path().join(format!("{i}.xml")),
            dir.path().join(format!("{i}.md")),
        );
        let mut cmd = flowgate();
        cmd.args(*args)
            .args(["--endpoint-url", m.endpoint()])
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("RUST_BACKTRACE", "1")
            .env("GITHUB_STEP_SUMMARY", &summary);
        if args[0] == "check" {
            cmd.arg("--junit").arg(&junit);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", stderr(&o));
        let mut outputs = vec![("stdout", stdout(&o)), ("stderr", stderr(&o))];
        for (what, path) in [("junit", &junit), ("summary", &summary)] {
            if let Ok(text) = std::fs::read_to_string(path) {
                outputs.push((what, text));
            }
        }
        assert!(
            outputs.len() >= 3 || args[0] == "query",
            "{args:?} wrote its reports"
        );
        for (what, text) in outputs {
            for secret in [KEY, SECRET, TOKEN, &SECRET[..16], &TOKEN[..20]] {
                assert!(
                    !text.contains(secret),
                    "{args:?}: {what} shows {secret}:\n{text}"
                );
            }
        }
    }
}

#[test]
fn against_aws_selectors_and_discovered_flow_logs_give_each_verdict() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = m.spec(dir.path());
    let junit = dir.path().join("junit.xml");
    let o = against_moto(&[
        "check",
        "--insights-rows",
        "raw",
        "--since",
        "1h",
        "--junit",
        junit.to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(101), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        results(&o),
        [
            "shop::app reaches the database ... ok",
            "shop::the internet never reaches db ... ok",
            "shop::the web subnet never reaches db ... ok",
            "shop::web reaches app ... FAILED",
        ]
    );
    // The flow log was found through the hosts' VPC, and its custom format read.
    assert!(
        stderr(&o).contains("evidence: CloudWatch Logs Insights on /vpc/shop"),
        "{}",
        stderr(&o)
    );
    let out = stdout(&o);
    assert!(
        out.contains("REJECTED: 10.0.1.11 -> 10.0.2.20 tcp/8080 refused (1 of 1 connection)"),
        "{out}"
    );
    // Samples from Logs Insights carry the flow log's own format as their column names.
    assert!(
        out.contains("      columns: interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags"),
        "{out}"
    );
    assert!(
        out.contains(&format!("interfaces: {}", {
            let mut ids = [m.id("web2"), m.id("app")];
            ids.sort();
            ids.join(", ")
        })),
        "the refusing interface and the client's: {out}"
    );
    assert!(out.contains("web (tag Name=shop-web: "), "{out}");
    assert!(
        out.contains(&format!(
            "app (instance {}: 10.0.2.20)",
            m.id("app_instance")
        )),
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<failure type="REJECTED""#), "{xml}");
    assert_valid_junit(&xml);
}

#[test]
fn a_named_log_group_is_read_in_its_flow_logs_format() {
    let dir = tempfile::tempdir().unwrap();
    let spec = moto().spec(dir.path());
    let o = against_moto(&[
        "check",
        "--insights-rows",
        "raw",
        "--log-group",
        "/vpc/shop",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(101), "{}{}", stdout(&o), stderr(&o));
    assert!(results(&o).contains(&"shop::web reaches app ... FAILED".to_string()));
    assert!(results(&o).contains(&"shop::app reaches the database ... ok".to_string()));
}

#[test]
fn aggregated_queries_an_emulator_answers_with_records_are_errors_not_passes() {
    // moto runs no `stats`: it returns records. Reading them as counts would be guessing.
    let dir = tempfile::tempdir().unwrap();
    let spec = moto().spec(dir.path());
    let o = against_moto(&["check", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(
        results(&o).iter().all(|r| r.ends_with("FAILED")),
        "{:?}",
        results(&o)
    );
    assert!(
        stdout(&o)
            .contains("UNAVAILABLE: the endpoint answered with records, not the aggregated rows"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_log_group_that_does_not_exist_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = moto().spec(dir.path());
    let o = against_moto(&[
        "check",
        "--insights-rows",
        "raw",
        "--log-group",
        "/vpc/nope",
        "--log-format",
        "${version} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action}",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("(log groups /vpc/nope, "),
        "names the group and the range: {}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("UNAVAILABLE: logs:StartQuery: ResourceNotFoundException"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_host_whose_flow_logs_miss_traffic_is_not_judged() {
    // legacy's VPC has a flow log that records only rejects (every deny would pass) and one whose
    // delivery fails: neither counts.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("legacy.yaml");
    std::fs::write(
        &spec,
        "app: legacy\nhosts:\n  legacy: {tag: {Name: shop-legacy}}\n  internet: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}\nexpect:\n  - {name: the internet never reaches legacy, from: internet, to: legacy, port: 22, deny: true}\n",
    )
    .unwrap();
    let o = against_moto(&["check", "--insights-rows", "raw", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("UNAVAILABLE: no flow log records all traffic of internet (not on a known interface) or legacy ("), "{out}");
    assert!(
        out.contains("REJECT traffic of"),
        "names the REJECT-only flow log: {out}"
    );
    assert!(
        out.contains("delivery error: Access error"),
        "names the broken one: {out}"
    );
}

#[test]
fn a_log_group_without_a_flow_log_needs_its_format() {
    let dir = tempfile::tempdir().unwrap();
    let spec = moto().spec(dir.path());
    // /vpc/legacy exists, but only a REJECT-only flow log delivers to it.
    let o = against_moto(&[
        "check",
        "--insights-rows",
        "raw",
        "--log-group",
        "/vpc/legacy",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("--log-group /vpc/legacy: no flow log delivering to it records all traffic"),
        "{}",
        stderr(&o)
    );
    let o = against_moto(&[
        "check",
        "--insights-rows",
        "raw",
        "--log-group",
        "/vpc/elsewhere",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "--log-group /vpc/elsewhere: no flow log in this account and region delivers to it"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("help: give the flow log's format with --log-format"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_selector_that_matches_nothing_is_a_spec_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("typo.yaml");
    std::fs::write(&spec, "app: a\nhosts:\n  web: {tag: {Name: shop-wbe}}\n  db: {ip: 10.0.3.30}\nexpect: [{from: web, to: db, port: 1433}]\n").unwrap();
    let o = against_moto(&["check", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("typo.yaml:3:3: host `web`"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("tag Name=shop-wbe"), "{}", stderr(&o));
}

#[test]
fn query_prints_what_check_would_ask_of_the_discovered_log_group() {
    let dir = tempfile::tempdir().unwrap();
    let spec = moto().spec(dir.path());
    let o = against_moto(&["query", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("# log groups: /vpc/shop\n# time range: "),
        "{out}"
    );
    assert!(
        out.contains(
            "parse @message \"* * * * * * * * * * * * *\" as interfaceId, srcAddr, dstAddr"
        ),
        "{out}"
    );
}

#[test]
fn query_snapshot_for_log_groups_named_by_arn() {
    // A monitoring account's view of linked accounts: the groups by ARN, in logGroupIdentifiers.
    let o = run(&[
        "query",
        "--log-group",
        "arn:aws:logs:eu-west-1:111111111111:log-group:/vpc/flow-logs",
        "--log-group",
        "arn:aws:logs:eu-west-1:222222222222:log-group:/vpc/flow-logs:*",
        "--log-format",
        "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
        "--start",
        "2026-11-20T09:00:00Z",
        "--end",
        "2026-11-20T10:00:00Z",
        SPEC,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("query_by_arn", stdout(&o));
    let bad = run(&[
        "query",
        "--log-group",
        "arn:aws:logs:eu-west-1:2222:log-group:/x",
        SPEC,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("not a log group ARN"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn query_snapshot_for_named_log_groups() {
    // Hosts by address and a named log group: printing needs no AWS at all.
    let o = run(&[
        "query",
        "--log-group",
        "/vpc/shop",
        "--start",
        "2026-11-20T09:00:00Z",
        "--end",
        "2026-11-20T10:00:00Z",
        SPEC,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("query", stdout(&o));
}

// ---- triage and observe ------------------------------------------------------------------------

#[test]
fn triage_lists_refused_flows_most_first_with_the_expectation_covering_each() {
    let o = run(&["triage", "--flow-logs", TROUBLED, SPEC]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("triage", stdout(&o));
    // A refused flow no expectation covers is what triage is for.
    let dir = fixed_plus(&[(
        "extra.log",
        b"2 123456789012 eni-0c3d5e7f9b1d3c301 10.0.1.10 10.0.3.30 51000 22 6 1 60 1795165200 1795165260 REJECT OK\n",
    )]);
    let o = run(&["triage", "--flow-logs", dir.path().to_str().unwrap(), SPEC]);
    let out = stdout(&o);
    assert!(out.contains("(1 not covered by any expectation)"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("10.0.1.10") && l.contains(" 22 ") && l.ends_with("none")),
        "{out}"
    );
}

/// A baseline recorded from evidence where everything worked passes when gated on the same
/// evidence, validates against the schema, and reads well.
#[test]
fn observe_writes_a_baseline_spec_that_passes_on_the_evidence_it_came_from() {
    let o = run(&["observe", "--hosts-of", SPEC, "--flow-logs", FIXED]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let baseline = stdout(&o);
    insta::assert_snapshot!("observe", baseline);
    assert!(schema_errors(&schema_validator(), &baseline).is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.yaml");
    std::fs::write(&path, &baseline).unwrap();
    let gate = run(&["check", "--flow-logs", FIXED, path.to_str().unwrap()]);
    assert_eq!(gate.status.code(), Some(0), "{}", stdout(&gate));
    // After the troubled cutover, the same baseline catches what broke.
    let gate = run(&["check", "--flow-logs", TROUBLED, path.to_str().unwrap()]);
    assert_eq!(gate.status.code(), Some(101));
    for broken in ["web reaches app on tcp/8080", "app reaches db on tcp/1433"] {
        assert!(
            stdout(&gate)
                .lines()
                .any(|l| l.contains(broken) && l.ends_with("FAILED")),
            "{broken}: {}",
            stdout(&gate)
        );
    }
    // Networks instead of a spec: one host per address.
    let o = run(&["observe", "--cidr", "10.0.0.0/16", "--flow-logs", FIXED]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(r#"- { name: "ip-10-0-1-10 reaches ip-10-0-2-20 on tcp/8080", from: ip-10-0-1-10, to: ip-10-0-2-20, port: 8080, protocol: tcp }"#),
        "{}",
        stdout(&o)
    );
    let o = run(&["observe", "--flow-logs", FIXED]);
    assert_eq!(o.status.code(), Some(2), "--hosts or --cidr is required");
    // A one-way UDP service is kept, with no reply expected; gaps are written into the header.
    assert!(
        baseline.contains(r#"- { name: "app reaches syslog on udp/514", from: app, to: syslog, port: 514, protocol: udp, return: optional }"#),
        "{baseline}"
    );
    let dir = fixed_plus(&[("stray.log", b"2 123456789012 eni-0abc 10.0.1.10 oops\n")]);
    let o = run(&[
        "observe",
        "--hosts",
        SPEC,
        "--flow-logs",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        stdout(&o).contains(
            "# The evidence had gaps (1 bad line): connections may be missing from this baseline."
        ),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

// ---- editors and pipelines ---------------------------------------------------------------------

/// The validator for the schema `flowgate schema` prints.
fn schema_validator() -> jsonschema::Validator {
    let o = run(&["schema"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let schema: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn schema_errors(v: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_yaml::from_str(yaml).expect("YAML");
    v.iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_valid_spec_validates_against_the_printed_schema() {
    let v = schema_validator();
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let start = readme
        .find("```yaml\napp: shop")
        .expect("the README shows a spec")
        + "```yaml\n".len();
    let mut specs = vec![(
        "README.md".to_string(),
        readme[start..start + readme[start..].find("```").unwrap()].to_string(),
    )];
    for dir in ["specs", "tests"] {
        for path in walk(&Path::new(ROOT).join(dir)) {
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                specs.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    let mut checked = 0;
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in &specs {
        let file = dir.path().join("spec.yaml");
        std::fs::write(&file, yaml).unwrap();
        let loader_says_ok = run(&["validate", file.to_str().unwrap()]).status.code() == Some(0);
        let errors = schema_errors(&v, yaml);
        if loader_says_ok {
            assert!(
                errors.is_empty(),
                "{name} is a valid spec, but the schema says: {errors:#?}"
            );
            checked += 1;
        } else {
            // The schema catches the shape errors the loader reports (every-error.yaml has many).
            assert!(
                !errors.is_empty(),
                "{name} is invalid, but the schema accepts it"
            );
        }
    }
    assert!(checked >= 2, "the shipped spec and the README's");
}

#[test]
fn the_shipped_schema_is_the_one_flowgate_prints() {
    // specs/shop.yaml points the YAML language server at this file: it must not go stale.
    let shipped =
        std::fs::read_to_string(Path::new(ROOT).join("specs/flowgate.schema.json")).unwrap();
    assert_eq!(
        shipped,
        stdout(&run(&["schema"])),
        "refresh it: cargo run -- schema > specs/flowgate.schema.json"
    );
    let shop = std::fs::read_to_string(Path::new(ROOT).join("specs/shop.yaml")).unwrap();
    assert!(shop.contains("# yaml-language-server: $schema=flowgate.schema.json"));
}

#[test]
fn the_schema_catches_what_an_editor_should_flag() {
    let v = schema_validator();
    let ok = "app: a\nhosts: {web: {ip: 10.0.1.10}, app: {tag: {Name: shop-app}}}\nexpect:\n  - {from: web, to: app, port: [80, \"8000-8100\"], protocol: TCP}\n  - {from: web, to: app, protocol: icmp, deny: true}\n";
    assert_eq!(schema_errors(&v, ok), Vec::<String>::new());
    for bad in [
        "app: a\nexpect: [{from: web, to: app, prot: 80}]\n",
        "app: a\nexpect: [{from: web, to: app, port: 70000}]\n",
        "app: a\nexpect: [{from: web, to: app, return: maybe}]\n",
        "app: a\nhosts: {web: {ipp: 10.0.0.1}}\nexpect: [{from: web, to: web}]\n",
        "app: a\nhosts: {web: {instance: web-1}}\nexpect: [{from: web, to: web}]\n",
        "expect: [{from: web, to: app}]\n",
    ] {
        assert!(
            !schema_errors(&v, bad).is_empty(),
            "the schema accepts:\n{bad}"
        );
    }
}

/// The shell lines of a CI example: `run`/`script` strings of the YAML ones, `sh` blocks of the
/// Jenkinsfile.
fn ci_shell_lines(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
    let mut blocks: Vec<String> = Vec::new();
    if file.ends_with(".yml") {
        fn strings(v: &serde_yaml::Value, key: Option<&str>, out: &mut Vec<String>) {
            match v {
                serde_yaml::Value::String(s)
                    if matches!(key, Some("run" | "script" | "before_script")) =>
                {
                    out.push(s.clone())
                }
                serde_yaml::Value::Sequence(items) => {
                    items.iter().for_each(|i| strings(i, key, out))
                }
                serde_yaml::Value::Mapping(m) => {
                    for (k, v) in m {
                        strings(v, k.as_str(), out);
                    }
                }
                _ => {}
            }
        }
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"));
        strings(&doc, None, &mut blocks);
    } else {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("sh '''") {
            let body = &rest[at + 6..];
            let end = body.find("'''").expect("a closed sh block");
            blocks.push(body[..end].to_string());
            rest = &body[end + 3..];
        }
    }
    blocks
        .iter()
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// The `flowgate` command lines of a CI example, as words (GitHub's `${{ }}` expressions made
/// plain words). A workflow step that uses flowgate's Action counts with the command the Action
/// runs for its inputs (see `action_gate_commands`).
fn ci_flowgate_commands(file: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if file.ends_with(".yml") {
        out.extend(action_uses_commands(file));
    }
    for line in ci_shell_lines(file) {
        let mut line = line.clone();
        while let (Some(a), Some(b)) = (line.find("${{"), line.find("}}")) {
            line.replace_range(a..b + 2, "EXPR");
        }
        for segment in line
            .split("&&")
            .flat_map(|s| s.split("||"))
            .flat_map(|s| s.split(';'))
        {
            let segment = segment.trim();
            if segment.starts_with("flowgate ") {
                out.push(
                    shlex::split(segment)
                        .unwrap_or_else(|| panic!("{file}: cannot split `{segment}`")),
                );
            }
        }
    }
    out
}

#[test]
fn the_ci_examples_call_only_what_the_cli_has() {
    use clap::Parser;
    for file in [
        "ci/github-actions.yml",
        "ci/gitlab-ci.yml",
        "ci/Jenkinsfile",
    ] {
        let commands = ci_flowgate_commands(file);
        assert!(
            commands
                .iter()
                .any(|c| c.get(1).is_some_and(|s| s == "check")),
            "{file} runs no `flowgate check`"
        );
        for words in commands {
            if let Err(e) = flowgate::cli::Cli::try_parse_from(&words) {
                panic!(
                    "{file}: `{}` is not a valid flowgate command line:\n{e}",
                    words.join(" ")
                );
            }
            if words[1] == "check" {
                for flag in ["--junit", "--wait"] {
                    assert!(
                        words.iter().any(|w| w == flag),
                        "{file}: `check` without {flag}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_ci_examples_publish_junit_and_assume_a_role_the_pipelines_way() {
    let gh: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("ci/github-actions.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        gh["permissions"]["id-token"], "write",
        "OIDC needs id-token: write"
    );
    let uses: Vec<&str> = gh["jobs"]["gate"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    for action in [
        "actions/checkout@",
        "aws-actions/configure-aws-credentials@",
        FLOWGATE_ACTION,
        "mikepenz/action-junit-report@",
    ] {
        assert!(
            uses.iter().any(|u| u.starts_with(action)),
            "github-actions.yml does not use {action}: {uses:?}"
        );
    }
    let gl: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("ci/gitlab-ci.yml")).unwrap(),
    )
    .unwrap();
    let job = &gl["flowgate"];
    assert_eq!(job["artifacts"]["reports"]["junit"], "flowgate.xml");
    assert_eq!(
        job["artifacts"]["when"], "always",
        "JUnit of a failed gate must be kept"
    );
    assert!(job["id_tokens"]["FLOWGATE_ID_TOKEN"]["aud"].is_string());
    assert!(job["variables"]["AWS_WEB_IDENTITY_TOKEN_FILE"].is_string());
    let jenkins = std::fs::read_to_string(Path::new(ROOT).join("ci/Jenkinsfile")).unwrap();
    assert_balanced_groovy(&jenkins);
    for needle in [
        "pipeline {",
        "withAWS(",
        "junit testResults: 'flowgate.xml'",
        "post {",
        "always {",
    ] {
        assert!(
            jenkins.contains(needle),
            "the Jenkinsfile has no `{needle}`"
        );
    }
}

/// A syntax check for Groovy without a JVM: brackets balance outside strings and comments.
fn assert_balanced_groovy(text: &str) {
    let mut stack = Vec::new();
    let (mut chars, mut line) = (text.char_indices().peekable(), 1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => line += 1,
            '/' if text[i..].starts_with("//") => {
                while chars.peek().is_some_and(|(_, c)| *c != '\n') {
                    chars.next();
                }
            }
            '\'' | '"' => {
                let triple: String = std::iter::repeat_n(c, 3).collect();
                let close = if text[i..].starts_with(&triple) {
                    triple
                } else {
                    c.to_string()
                };
                for _ in 1..close.len() {
                    chars.next();
                }
                let end = text[i + close.len()..]
                    .find(&close)
                    .unwrap_or_else(|| panic!("Jenkinsfile:{line}: unclosed string"));
                line += text[i..i + close.len() + end].matches('\n').count();
                while chars
                    .peek()
                    .is_some_and(|(j, _)| *j < i + close.len() + end + close.len())
                {
                    chars.next();
                }
            }
            '{' | '(' | '[' => stack.push((c, line)),
            '}' | ')' | ']' => {
                let (open, at) = stack
                    .pop()
                    .unwrap_or_else(|| panic!("Jenkinsfile:{line}: `{c}` closes nothing"));
                let want = match open {
                    '{' => '}',
                    '(' => ')',
                    _ => ']',
                };
                assert_eq!(
                    c, want,
                    "Jenkinsfile:{line}: `{c}` closes `{open}` of line {at}"
                );
            }
            _ => {}
        }
    }
    assert!(stack.is_empty(), "Jenkinsfile: unclosed {stack:?}");
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    // Not a terminal (a pipe, as in CI): no escape codes anywhere, even without NO_COLOR.
    let o = flowgate()
        .env_remove("NO_COLOR")
        .args(["check", "--flow-logs", TROUBLED, SPEC])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(101));
    assert!(
        !o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b),
        "escape codes in piped output"
    );
    let o = flowgate()
        .env_remove("NO_COLOR")
        .args(["check", "--flow-logs", "no/such/dir", SPEC])
        .output()
        .unwrap();
    assert!(
        stderr(&o).starts_with("error: --flow-logs no/such/dir"),
        "{}",
        stderr(&o)
    );
    // Asked for, libtest's colours come; NO_COLOR does not override an explicit --color.
    let o = flowgate()
        .env_remove("NO_COLOR")
        .args(["check", "--flow-logs", TROUBLED, SPEC, "--color", "always"])
        .output()
        .unwrap();
    assert!(o.stdout.contains(&0x1b), "--color always gives colours");
}

/// Missing region or credentials are the user's to fix: exit 2 with the one help line that
/// applies, before anything is resolved or asked, and the reports of the run say so.
#[test]
fn a_missing_region_or_missing_credentials_is_a_usage_error_with_its_help() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let no_region = flowgate()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .args(["check", "--log-group", "/vpc/flow-logs", "--junit"])
        .arg(&junit)
        .arg("specs/shop.yaml")
        .output()
        .unwrap();
    assert_eq!(no_region.status.code(), Some(2), "{}", stderr(&no_region));
    let err = stderr(&no_region);
    assert!(err.contains("no region is set"), "{err}");
    assert!(err.contains("help: give the region with --region"), "{err}");
    let written = std::fs::read_to_string(&junit).unwrap();
    assert!(written.contains("no region is set"), "{written}");
    let no_credentials = flowgate()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .args(["check", "--log-group", "/vpc/flow-logs", "specs/shop.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        no_credentials.status.code(),
        Some(2),
        "{}",
        stderr(&no_credentials)
    );
    let err = stderr(&no_credentials);
    assert!(
        err.contains("help: give AWS credentials the standard way"),
        "{err}"
    );
}

// ---- S3 -------------------------------------------------------------------------------------

/// The examples' half hour: S3 objects are chosen by the window, so runs against S3 name one.
const EXAMPLE_WINDOW: [&str; 4] = [
    "--start",
    "2026-11-20T09:00:00Z",
    "--end",
    "2026-11-20T09:30:00Z",
];

/// What a user compares between two runs: each test's result, and each failure's verdict line
/// (sample records name their files, which differ between S3 and disk).
fn verdicts(o: &Output) -> (Option<i32>, Vec<String>, Vec<String>) {
    let mut headlines: Vec<String> = stdout(o)
        .lines()
        .filter(|l| {
            [
                "REJECTED:",
                "RETURN_REJECTED:",
                "NO_RETURN:",
                "NO_TRAFFIC:",
                "ALLOWED:",
                "INCOMPLETE:",
                "UNAVAILABLE:",
            ]
            .iter()
            .any(|v| l.starts_with(v))
        })
        .map(str::to_string)
        .collect();
    headlines.sort();
    (o.status.code(), results(o), headlines)
}

fn s3_check(prefix: &str) -> Output {
    let url = format!("s3://{}/{prefix}", moto().id("bucket"));
    let mut args = vec!["check", "--no-explain", "--flow-logs", url.as_str()];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    against_moto(&args)
}

#[test]
fn s3_gives_the_verdicts_of_the_same_files_on_disk_in_every_layout_text_and_parquet() {
    let mut args = vec!["check", "--flow-logs", TROUBLED];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let on_disk = run(&args);
    let expected = verdicts(&on_disk);
    assert_eq!(expected.0, Some(101), "{}", stderr(&on_disk));
    assert_eq!(
        expected.2.len(),
        5,
        "every kind of failure: {}",
        stdout(&on_disk)
    );
    for prefix in [
        "default",
        "hourly",
        "hive",
        "parquet",
        "parquet-hourly",
        "parquet-hive",
    ] {
        let o = s3_check(prefix);
        assert_eq!(verdicts(&o), expected, "{prefix}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("6 objects fetched") && !err.contains("evidence missing"),
            "{prefix}: every object of the window, and nothing missing: {err}"
        );
    }
}

#[test]
fn s3_objects_outside_the_window_are_listed_but_never_fetched() {
    // default/ also holds two objects named hours and a day away from the window, which are
    // not flow logs at all: fetched, they would be gaps and every pass an INCOMPLETE error.
    let o = s3_check("default");
    let err = stderr(&o);
    assert!(
        err.contains("6 objects fetched") && err.contains("1 skipped outside the window"),
        "the one on the same day is listed and skipped, the one a day before never listed: {err}"
    );
    assert!(!stdout(&o).contains("INCOMPLETE"), "{}", stdout(&o));
    // `query` lists, fetches nothing, and says what it would read.
    let url = format!("s3://{}/default", moto().id("bucket"));
    let mut args = vec!["query", "--flow-logs", url.as_str()];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let q = against_moto(&args);
    assert_eq!(q.status.code(), Some(0), "{}", stderr(&q));
    let out = stdout(&q);
    assert!(out.contains("6 objects ("), "{out}");
    assert!(
        out.contains("1 (67 bytes) skipped as outside the window"),
        "{out}"
    );
    assert_eq!(out.matches("_20261120T09").count(), 6, "{out}");
    assert!(
        !out.contains("T1405Z") && !out.contains("CloudTrail"),
        "{out}"
    );
}

#[test]
fn a_truncated_object_an_empty_prefix_and_a_missing_bucket_never_pass() {
    let truncated = s3_check("truncated");
    let out = stdout(&truncated);
    assert_eq!(truncated.status.code(), Some(101), "failures stay failures");
    assert!(out.contains("INCOMPLETE"), "{out}");
    assert!(
        stderr(&truncated).contains("truncated/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20/123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20261120T0915Z_78339f91.log.gz"),
        "names the object: {}",
        stderr(&truncated)
    );
    let empty = s3_check("empty");
    let err = stderr(&empty);
    assert!(
        err.contains("no flow-log object in s3://flowgate-flow-logs/empty/"),
        "{err}"
    );
    assert!(
        !results(&empty).iter().any(|r| r.ends_with("... ok")),
        "{}",
        stdout(&empty)
    );
    let mut args = vec![
        "check",
        "--no-explain",
        "--flow-logs",
        "s3://no-such-bucket-here/x",
    ];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let missing = against_moto(&args);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("s3:ListBucket: NoSuchBucket"),
        "{}",
        stderr(&missing)
    );
}

/// The archive host's flow log delivers to a central S3 bucket; the shop's to CloudWatch.
fn archive_spec(dir: &Path, with_cloudwatch: bool) -> PathBuf {
    let mut spec = String::from(
        "app: archive
hosts:
  archive: { tag: { Name: shop-archive } }
  offices: { cidr: 192.168.0.0/16 }
  web1: { cidr: 10.0.1.10/32 }
  app: { tag: { Name: shop-app } }
expect:
  - { name: the offices reach the archive, from: offices, to: archive, port: 443 }
  - { name: the offices never reach the archive over ssh, from: offices, to: archive, port: 22, deny: true }
",
    );
    if with_cloudwatch {
        spec.push_str("  - { name: web reaches app, from: web1, to: app, port: 8080 }\n");
    }
    let path = dir.join("archive.yaml");
    std::fs::write(&path, spec).unwrap();
    path
}

#[test]
fn discovery_reads_flow_logs_that_deliver_to_s3_and_only_their_objects() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    // Beside the archive's object, the bucket's folder holds another flow log's, which is not
    // flow-log text: fetched, it would make every check INCOMPLETE.
    let spec = archive_spec(dir.path(), false);
    let o = against_moto(&[
        "check",
        "--no-explain",
        "--since",
        "2h",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        results(&o),
        [
            "archive::the offices never reach the archive over ssh ... ok",
            "archive::the offices reach the archive ... ok",
        ]
    );
    let err = stderr(&o);
    assert!(err.contains("S3 s3://flowgate-central-logs/"), "{err}");
    assert!(
        // Left: the other flow log's object, and the second account's (see the two-account
        // test): a run whose hosts name no account lists every account's folder.
        err.contains("1 objects fetched") && err.contains("2 of other flow logs left"),
        "{err}"
    );
    // `query` says what would be read: the archive's flow log's object only.
    let q = against_moto(&["query", "--since", "2h", spec.to_str().unwrap()]);
    assert_eq!(q.status.code(), Some(0), "{}", stderr(&q));
    let out = stdout(&q);
    assert_eq!(out.matches(m.id("archive_log")).count(), 1, "{out}");
    assert!(!out.contains("fl-0ffffffffffffffff"), "{out}");
}

#[test]
fn discovery_reads_each_check_from_cloudwatch_or_s3_whichever_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = archive_spec(dir.path(), true);
    let o = against_moto(&[
        "check",
        "--no-explain",
        "--insights-rows",
        "raw",
        "--since",
        "2h",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        results(&o),
        [
            "archive::the offices never reach the archive over ssh ... ok",
            "archive::the offices reach the archive ... ok",
            "archive::web reaches app ... ok",
        ]
    );
    let err = stderr(&o);
    assert!(
        err.contains("CloudWatch Logs Insights on /vpc/shop")
            && err.contains("S3 s3://flowgate-central-logs/"),
        "{err}"
    );
}

/// Sends Ctrl-C (SIGINT) to a running flowgate.
fn interrupt(child: &std::process::Child) {
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

#[test]
fn ctrl_c_stops_the_queries_and_leaves_the_checks_unavailable_a_second_one_quits() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("waiting.yaml");
    std::fs::write(
        &spec,
        "app: waiting\nhosts:\n  web1: { cidr: 10.0.1.10/32 }\n  app: { cidr: 10.0.2.20/32 }\nexpect:\n  - { name: web reaches app on a port nobody uses, from: web1, to: app, port: 9999 }\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let spawn = |endpoint: &str| {
        flowgate_process()
            .args(["check", "--insights-rows", "raw", "--log-group", "/vpc/shop"])
            .args(["--log-format", "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"])
            .args(["--since", "1h", "--wait", "5m", "--junit"])
            .arg(&junit)
            .arg(&spec)
            .args(["--endpoint-url", endpoint])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Waiting for records that will not come: Ctrl-C ends the wait at once, stops the queries,
    // and the check is an error, never judged on what was there.
    let child = spawn(m.endpoint());
    std::thread::sleep(std::time::Duration::from_secs(4));
    let interrupted = std::time::Instant::now();
    interrupt(&child);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}{}", stdout(&o));
    assert!(
        err.contains("stopping the running queries (Ctrl-C again to quit at once)"),
        "{err}"
    );
    assert!(
        interrupted.elapsed() < std::time::Duration::from_secs(10),
        "the wait ended only after {:?}",
        interrupted.elapsed()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<error type="UNAVAILABLE""#), "{xml}");
    assert!(!xml.contains("<failure"), "never judged on a part: {xml}");
    // An AWS that never answers: stopping hangs too, and a second Ctrl-C quits at once (130).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().collect();
        drop(held);
    });
    let mut child = spawn(&endpoint);
    std::thread::sleep(std::time::Duration::from_secs(2));
    interrupt(&child);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(child.try_wait().unwrap().is_none(), "still stopping");
    interrupt(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
}

/// Output on a terminal is coloured, and NO_COLOR turns it off (pipes: see
/// `colour_only_on_a_terminal_and_never_with_no_color`). `script` (util-linux, on every Debian
/// machine) gives the run a pseudo-terminal.
#[test]
fn colour_on_a_pseudo_terminal_unless_no_color_says_otherwise() {
    let on_a_terminal = |no_color: bool| {
        let env = if no_color {
            "env NO_COLOR=1"
        } else {
            "env -u NO_COLOR"
        };
        let cmd = format!(
            "{env} {} check --flow-logs {TROUBLED} {SPEC}",
            env!("CARGO_BIN_EXE_flowgate")
        );
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(ROOT)
            .output()
            .expect("`script` (util-linux) runs the command on a pseudo-terminal");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let coloured = on_a_terminal(false);
    assert!(
        coloured.contains("... \u{1b}[32mok\u{1b}[0m"),
        "{coloured:?}"
    );
    assert!(
        coloured.contains("... \u{1b}[31mFAILED\u{1b}[0m"),
        "{coloured:?}"
    );
    let plain = on_a_terminal(true);
    assert!(plain.contains("... ok"), "{plain:?}");
    assert!(!plain.contains('\u{1b}'), "NO_COLOR: {plain:?}");
}

// ---- the configuration as a second witness, preflights and strict hosts -----------------------

/// The emulator's shop by address, db strict: web and app reach what they need, app must reach
/// the offices (its subnet has no route there), and the internet must not reach db on ssh (db's
/// group opens it to the world) or on 1433 (closed to all but app's group).
fn witnessed_spec(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("witnessed.yaml");
    std::fs::write(
        &path,
        format!(
            "app: shop
hosts:
  web: {{ ips: [10.0.1.10, 10.0.1.11] }}
  web1: {{ ip: 10.0.1.10 }}
  app: {{ ip: 10.0.2.20 }}
  db: {{ ip: 10.0.3.30, strict: true }}
  offices: {{ cidr: 192.168.0.0/16 }}
  internet: {{ cidr: 0.0.0.0/0, except: [10.0.0.0/16, 192.168.0.0/16] }}
expect:
  - {{ name: web1 reaches app, from: web1, to: app, port: 8080 }}
  - {{ name: app reaches db, from: app, to: db, port: 1433 }}
  - {{ name: app reaches the offices, from: app, to: offices, port: 1521 }}
  - {{ name: the internet cannot ssh to db, from: internet, to: db, port: 22, deny: true }}
  - {{ name: the internet cannot reach db, from: internet, to: db, port: 1433, deny: true }}
{extra}"
        ),
    )
    .unwrap();
    path
}

/// Flow logs of the emulator's interfaces: web1 reaches app, app reaches db (both ends log
/// each connection), and `more` lines.
fn witnessed_logs(dir: &Path, more: &[(&str, &str, &str, u16, u16, u8)]) -> PathBuf {
    let m = moto();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut text = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags\n",
    );
    let mut conn = |a: &str, b: &str, src: &str, dst: &str, sport: u16, dport: u16, t: u64| {
        for eni in [m.id(a), m.id(b)] {
            text.push_str(&format!(
                "2 123456789012 {eni} {src} {dst} {sport} {dport} 6 3 180 {t} {} ACCEPT OK 2\n",
                t + 60
            ));
            text.push_str(&format!(
                "2 123456789012 {eni} {dst} {src} {dport} {sport} 6 3 180 {t} {} ACCEPT OK 18\n",
                t + 60
            ));
        }
    };
    conn(
        "web1",
        "app",
        "10.0.1.10",
        "10.0.2.20",
        40001,
        8080,
        1795165200,
    );
    conn(
        "app",
        "db",
        "10.0.2.20",
        "10.0.3.30",
        50001,
        1433,
        1795165200,
    );
    for &(a, b, src, sport, dport, n) in more {
        for k in 0..u16::from(n) {
            conn(
                a,
                b,
                src,
                "10.0.3.30",
                sport + k,
                dport,
                1795165260 + 60 * u64::from(k),
            );
        }
    }
    std::fs::write(logs.join("f.log"), text).unwrap();
    logs
}

fn failure_type<'x>(xml: &'x str, case: &str) -> Option<&'x str> {
    let at = xml.find(&format!("<testcase name=\"{case}\""))?;
    let rest = &xml[at..xml[at..].find("</testcase>").map_or(xml.len(), |e| at + e)];
    let t = rest.find("<failure type=\"")? + "<failure type=\"".len();
    rest[t..].split('"').next()
}

/// Evidence cannot prove a door shut: with no traffic at all on ssh, the deny check fails OPEN
/// because db's group opens it to the world, and says which rule; 1433, closed to the internet,
/// passes. Without the configuration (--no-explain) the same evidence passes both.
#[test]
fn a_deny_check_fails_open_on_the_configuration_alone_and_a_closed_port_passes() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = witnessed_spec(dir.path(), "");
    let logs = witnessed_logs(dir.path(), &[]);
    let junit = dir.path().join("junit.xml");
    let args = [
        "check",
        "--flow-logs",
        logs.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        spec.to_str().unwrap(),
    ];
    let o = against_moto(&args);
    assert_eq!(o.status.code(), Some(101), "{}{}", stdout(&o), stderr(&o));
    let r = results(&o);
    assert!(
        r.contains(&"shop::the internet cannot ssh to db ... FAILED".to_string()),
        "{r:?}"
    );
    assert!(
        r.contains(&"shop::the internet cannot reach db ... ok".to_string()),
        "{r:?}"
    );
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "OPEN: the configuration lets internet reach db on tcp/22: tcp 203.0.113.10 → 10.0.3.30:22 is allowed by SG {} of {} ingress rule tcp 22 from 0.0.0.0/0",
            m.id("db_sg"),
            m.id("db")
        )),
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        failure_type(&xml, "the internet cannot ssh to db"),
        Some("OPEN"),
        "{xml}"
    );
    assert_eq!(
        failure_type(&xml, "the internet cannot reach db"),
        None,
        "{xml}"
    );
    // No traffic to the offices: the configuration says why there can be none.
    assert!(
        out.contains(&format!(
            "NO_TRAFFIC: no flow from app to offices on tcp/1521 in the evidence; the configuration refuses it: route table {} (the VPC's main table, used by {}) has no route to 192.168.0.1",
            m.id("main_rtb"),
            m.id("app_subnet")
        )),
        "{out}"
    );
    assert_valid_junit(&xml);
    let quiet = against_moto(&[&args[..], &["--no-explain"]].concat());
    let r = results(&quiet);
    assert!(
        r.contains(&"shop::the internet cannot ssh to db ... ok".to_string()),
        "{r:?}"
    );
    assert!(
        !stdout(&quiet).contains("configuration"),
        "{}",
        stdout(&quiet)
    );
}

/// A strict host fails on a client no expectation names, listing it as triage does, and names
/// the security group rule wider than the expectations need; the expected client is not listed.
#[test]
fn a_strict_host_lists_the_undeclared_client_and_the_rule_wider_than_needed() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = witnessed_spec(dir.path(), "");
    // web1 logs in to db over ssh, twice: nobody said it may.
    let logs = witnessed_logs(dir.path(), &[("web1", "db", "10.0.1.10", 40100, 22, 2)]);
    let junit = dir.path().join("junit.xml");
    let o = against_moto(&[
        "check",
        "--flow-logs",
        logs.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(101), "{}{}", stdout(&o), stderr(&o));
    assert!(
        results(&o).contains(&"shop::nothing else reaches db ... FAILED".to_string()),
        "{:?}",
        results(&o)
    );
    let out = stdout(&o);
    let case = out
        .split("---- shop::nothing else reaches db ----")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    let case = case.split("\n\n").next().unwrap();
    for says in [
        "UNDECLARED: 10.0.1.10 -> 10.0.3.30 tcp/22 got through (2 connections); no reach expectation covers it".to_string(),
        "allowed to reach it: shop::app reaches db".to_string(),
        "  peer       server     port  protocol  connections  seen".to_string(),
        "  10.0.1.10  10.0.3.30  22    tcp       2            2026-11-20T09:01:00Z .. 2026-11-20T09:03:00Z".to_string(),
        format!(
            "  SG {} ({}) ingress rule tcp 22 from 0.0.0.0/0: no expectation of the spec needs it; remove it",
            m.id("db_sg"),
            m.id("db")
        ),
    ] {
        assert!(case.contains(&says), "the strict case should say `{says}`:\n{case}");
    }
    assert!(
        !case.contains("10.0.2.20  10.0.3.30"),
        "app is expected: {case}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        failure_type(&xml, "nothing else reaches db"),
        Some("UNDECLARED"),
        "{xml}"
    );
    assert_valid_junit(&xml);

    // Once the spec expects web1 on ssh, the traffic is declared; the rule is still wider than
    // web1 needs, and the narrower rule is named.
    let spec = witnessed_spec(
        dir.path(),
        "  - { name: web1 administers db, from: web1, to: db, port: 22 }\n",
    );
    let o = against_moto(&[
        "check",
        "--flow-logs",
        logs.to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "RULES_TOO_WIDE: SG {} ({}) ingress rule tcp 22 from 0.0.0.0/0 allows more than the spec needs: a wider source",
            m.id("db_sg"),
            m.id("db")
        )),
        "{out}"
    );
    assert!(out.contains("narrower: tcp 22 from 10.0.1.10/32"), "{out}");
    assert!(!out.contains("UNDECLARED"), "{out}");

    // Against CloudWatch, from the log group's records: app reaches db, which a spec that
    // expects nothing of db does not cover.
    let spec = dir.path().join("cw.yaml");
    std::fs::write(
        &spec,
        "app: cw\nhosts:\n  app: { ip: 10.0.2.20 }\n  db: { ip: 10.0.3.30, strict: true }\nexpect:\n  - { from: app, to: app, port: 1, deny: true }\n",
    )
    .unwrap();
    let o = against_moto(&[
        "check",
        "--log-group",
        "/vpc/shop",
        "--insights-rows",
        "raw",
        "--since",
        "1h",
        spec.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("UNDECLARED: 10.0.2.20 -> 10.0.3.30 tcp/1433 got through (1 connection)"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("evidence: for the strict hosts, the accepted flows touching them, asked separately: CloudWatch Logs /vpc/shop"),
        "{}",
        stderr(&o)
    );
}

/// Before the cutover, with no flow logs at all: every check judged by the configuration alone.
/// The app subnet's missing route to the offices and web2's missing rule are PREDICTED_REFUSED,
/// the open ssh port OPEN; the rest pass. EC2 out of reach is exit 3, never a pass.
#[test]
fn a_preflight_judges_every_check_by_the_configuration_alone() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = witnessed_spec(
        dir.path(),
        "  - { name: web reaches app, from: web, to: app, port: 8080 }\n",
    );
    let junit = dir.path().join("junit.xml");
    let o = against_moto(&[
        "check",
        "--evidence",
        "config",
        "--junit",
        junit.to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(101), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        results(&o),
        [
            "shop::app reaches db ... ok",
            "shop::app reaches the offices ... FAILED",
            "shop::nothing else reaches db ... FAILED",
            "shop::the internet cannot reach db ... ok",
            "shop::the internet cannot ssh to db ... FAILED",
            "shop::web reaches app ... FAILED",
            "shop::web1 reaches app ... ok",
        ]
    );
    assert!(
        stderr(&o)
            .contains("evidence: the configuration alone (--evidence config; no flow logs read)"),
        "{}",
        stderr(&o)
    );
    let out = stdout(&o);
    for says in [
        format!(
            "PREDICTED_REFUSED: route table {} (the VPC's main table, used by {}) has no route to 192.168.0.1: the packet is dropped",
            m.id("main_rtb"),
            m.id("app_subnet")
        ),
        format!(
            "PREDICTED_REFUSED: 1 of 2 pairs refused: SG {} of {} has no ingress rule for tcp 8080 from 10.0.1.11",
            m.id("app_sg"),
            m.id("app")
        ),
        "ingress rule tcp 22 from 0.0.0.0/0".to_string(),
    ] {
        assert!(
            out.contains(&says),
            "the preflight should say `{says}`:\n{out}"
        );
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    for (case, t) in [
        ("app reaches the offices", Some("PREDICTED_REFUSED")),
        ("web reaches app", Some("PREDICTED_REFUSED")),
        ("the internet cannot ssh to db", Some("OPEN")),
        ("nothing else reaches db", Some("RULES_TOO_WIDE")),
        ("app reaches db", None),
    ] {
        assert_eq!(failure_type(&xml, case), t, "{case}: {xml}");
    }
    assert_valid_junit(&xml);

    // EC2 out of reach: nothing can be predicted, and nothing passes.
    let unreadable = run(&["check", "--evidence", "config", spec.to_str().unwrap()]);
    assert_eq!(
        unreadable.status.code(),
        Some(3),
        "{}{}",
        stdout(&unreadable),
        stderr(&unreadable)
    );
    assert!(
        !stdout(&unreadable).contains("... ok"),
        "{}",
        stdout(&unreadable)
    );
    // Traffic options have no place in a preflight.
    let mixed = run(&["check", "--evidence", "config", "--flow-logs", FIXED, SPEC]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(
        stderr(&mixed).contains("--flow-logs does not apply"),
        "{}",
        stderr(&mixed)
    );
}

/// The slips people make in a first spec each get a help line that says what to write, and one
/// of the wrong shape does not hide the file's other problems.
#[test]
fn spec_slips_say_what_to_write_and_hide_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("slips.yaml");
    std::fs::write(
        &spec,
        "app: shop
hosts:
  app: { ips: 10.0.2.20 }
  web: { ips: [10.0.1.10] }
  db: { ip: 10.0.3.30 }
expect:
  - { from: [web, db], to: app, port: 8080 }
  - { from: web, to: app, port: 8080, deny: \"true\" }
  - just a sentence
  - { from: web, to: nowhere, port: 443 }
",
    )
    .unwrap();
    let o = run(&["validate", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    for (line, says, help) in [
        (
            "3:15",
            "`ips` takes a list, not a string",
            "write `ips: [10.0.2.20]`, or `ip: 10.0.2.20` for one address",
        ),
        (
            "7:13",
            "`from` names one host, not a list",
            "write one expectation per host (`from: web`, `from: db`)",
        ),
        ("8:45", "deny must be true or false", "write `deny: true`"),
        (
            "9:5",
            "an expectation must be a map, not a string",
            "e.g. `- { from: web, to: app, port: 8080 }`",
        ),
        (
            "10:22",
            "undefined host `nowhere` in `to`",
            "defined hosts: app, db, web",
        ),
    ] {
        assert!(
            err.contains(&format!("slips.yaml:{line}: {says}")),
            "{line} {says}: {err}"
        );
        assert!(err.contains(help), "{help}: {err}");
    }
    assert!(err.contains("5 problems in 1 spec file"), "{err}");
    // `hosts:` written as a list and `expect:` as a map are both named, with what to write,
    // and the rest of the file is still checked.
    std::fs::write(
        &spec,
        "app: [shop]\nhosts:\n  - web: { ips: [10.0.1.10] }\nexpect:\n  from: web\n  to: any\n  port: 99999\n",
    )
    .unwrap();
    let err = stderr(&run(&["validate", spec.to_str().unwrap()]));
    assert!(
        err.contains("slips.yaml:1:6: app must be text, not a list"),
        "{err}"
    );
    assert!(
        err.contains("slips.yaml:3:3: `hosts` must be a map of host names, not a list"),
        "{err}"
    );
    assert!(
        err.contains("slips.yaml:5:3: `expect` must be a list of expectations, not a mapping"),
        "{err}"
    );
    assert!(
        err.contains("help: start each expectation with `- `"),
        "{err}"
    );
    assert!(
        err.contains("3 problems in 1 spec file"),
        "nothing more, nothing less: {err}"
    );
}

/// A persisted CI workspace never shows the previous run's green JUnit: a run that stops on a
/// usage conflict after loading the specs writes its own (every case an error), and one whose
/// specs cannot be read removes the old one.
#[test]
fn a_stopped_run_never_leaves_the_previous_runs_report() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let green = std::fs::read_to_string({
        let o = run(&[
            "check",
            "--flow-logs",
            FIXED,
            SPEC,
            "--junit",
            junit.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        &junit
    })
    .unwrap();
    assert!(!green.contains("<error"), "{green}");
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        "--log-group",
        "/vpc/shop",
        "--junit",
        junit.to_str().unwrap(),
        SPEC,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<error").count(), 12, "{xml}");
    assert!(
        xml.contains("--flow-logs reads files; --log-group reads CloudWatch"),
        "{xml}"
    );
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "app: [x]\n").unwrap();
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        "--junit",
        junit.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!junit.exists(), "the earlier report is gone");
    assert!(stderr(&o).contains("removed"), "{}", stderr(&o));
}

/// `flowgate --help` shows a minimal spec that is valid; a command's man page offers no option
/// the command refuses.
#[test]
fn the_help_spec_is_valid_and_man_pages_offer_only_what_works() {
    let help = stdout(&run(&["--help"]));
    let start = help.find("  app: shop").expect("a spec in --help");
    let spec: String = help[start..]
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("help.yaml");
    std::fs::write(&path, &spec).unwrap();
    let o = run(&["validate", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{spec}{}", stderr(&o));
    for command in ["check", "observe", "triage", "query", "validate"] {
        let page = stdout(&run(&["man", command]));
        assert!(
            !page.contains("\\-\\-version"),
            "{command}'s page offers --version"
        );
        let refused = run(&[command, "-V"]);
        assert_eq!(refused.status.code(), Some(2), "{command} -V");
    }
    assert!(
        stdout(&run(&["man"])).contains("\\-\\-version"),
        "flowgate -V works"
    );
}

/// Unreadable files are named like bad lines: the first few, then how many more.
#[test]
fn many_unreadable_files_are_capped_and_counted() {
    let junk: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| {
            (
                format!("broken-{i}.log.gz"),
                b"\x00\x01 not gzip\n".to_vec(),
            )
        })
        .collect();
    let extra: Vec<(&str, &[u8])> = junk
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let dir = fixed_plus(&extra);
    let o = run(&["check", "--flow-logs", dir.path().to_str().unwrap(), SPEC]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("evidence missing (8 unreadable files"),
        "{err}"
    );
    assert_eq!(err.matches("named .gz but not gzip").count(), 5, "{err}");
    assert!(err.contains("... and 3 more unreadable files"), "{err}");
}

/// `--format json` is libtest's event lines, each test carrying its verdict, pairs and
/// explanation as fields a pipeline can read without parsing text.
#[test]
fn json_output_carries_the_verdict_and_pairs_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let o = run(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--format",
        "json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events[0]["type"], "suite");
    assert_eq!(events[0]["test_count"], 12);
    let db = events
        .iter()
        .find(|e| e["name"] == "shop::app reaches db")
        .expect("the case");
    assert_eq!(db["event"], "failed");
    assert_eq!(db["verdict"], "REJECTED");
    let pairs = db["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 2, "{db}");
    assert_eq!(pairs[0]["client"], "10.0.2.20");
    assert_eq!(pairs[0]["server"], "10.0.3.30");
    assert_eq!(pairs[0]["broken"], true);
    assert_eq!(pairs[0]["connections"]["REJECTED"], 30);
    assert!(db.get("explanation").is_some(), "{db}");
    let end = events.last().unwrap();
    assert_eq!(
        (end["passed"].as_u64(), end["failed"].as_u64()),
        (Some(7), Some(5)),
        "{end}"
    );
    // The pipeline's JUnit is written all the same.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 12);
    // Filters apply as in the other formats.
    let o = run(&[
        "check",
        "--flow-logs",
        TROUBLED,
        SPEC,
        "--format",
        "json",
        "--",
        "users",
    ]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[2].contains(r#""filtered_out":11"#), "{}", lines[2]);
}

// Issue 19: flowgate's Action, the release workflow and its binstall metadata, SARIF, and the
// summary's diagram.

/// How the CI examples name flowgate's Action.
const FLOWGATE_ACTION: &str = "your-org/flowgate@";

fn yaml_file(path: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

/// A YAML scalar as the string GitHub would pass (numbers and booleans as written).
fn yaml_string(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The steps of every job of a workflow.
fn workflow_steps(doc: &serde_yaml::Value) -> Vec<&serde_yaml::Value> {
    doc["jobs"]
        .as_mapping()
        .expect("a workflow has jobs")
        .values()
        .flat_map(|job| job["steps"].as_sequence().into_iter().flatten())
        .collect()
}

/// The `flowgate` command lines of the steps of `file` that use flowgate's Action, with the
/// words its inputs become.
fn action_uses_commands(file: &str) -> Vec<Vec<String>> {
    let doc = yaml_file(file);
    if doc.get("jobs").is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for step in workflow_steps(&doc) {
        if !step["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with(FLOWGATE_ACTION))
        {
            continue;
        }
        let mut with = std::collections::BTreeMap::new();
        for (k, v) in step["with"].as_mapping().into_iter().flatten() {
            let mut v = yaml_string(v);
            while let (Some(a), Some(b)) = (v.find("${{"), v.find("}}")) {
                v.replace_range(a..b + 2, "EXPR");
            }
            with.insert(yaml_string(k), v);
        }
        out.extend(action_gate(&with, 0).commands);
    }
    out
}

/// What the Action's gate step did: the `flowgate` command lines it ran, its exit status and
/// the outputs it set.
struct GateRun {
    commands: Vec<Vec<String>>,
    status: Option<i32>,
    outputs: String,
    dir: tempfile::TempDir,
}

/// Runs a step of action.yml the way GitHub runs a composite step (`bash --noprofile --norc -eo
/// pipefail`, its `env:` with the inputs put in) in a fresh directory, with a stand-in
/// `flowgate` on the PATH that records its words and exits with `flowgate_exit`.
fn action_step(
    id: &str,
    with: &std::collections::BTreeMap<String, String>,
    extra_env: &[(&str, &str)],
    flowgate_exit: i32,
) -> GateRun {
    let action = yaml_file("action.yml");
    let mut inputs = std::collections::BTreeMap::new();
    for (k, v) in action["inputs"].as_mapping().unwrap() {
        inputs.insert(yaml_string(k), yaml_string(&v["default"]));
    }
    for (k, v) in with {
        assert!(inputs.contains_key(k), "action.yml has no input `{k}`");
        inputs.insert(k.clone(), v.clone());
    }
    let step = action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("action.yml has no step `{id}`"));
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let calls = dir.path().join("calls");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&calls).unwrap();
    let fake = bin.join("flowgate");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nf=$(mktemp \"{}/call.XXXXXX\")\nprintf 'flowgate\\0' > \"$f\"\nfor a in \"$@\"; do printf '%s\\0' \"$a\" >> \"$f\"; done\nexit {flowgate_exit}\n",
            calls.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = dir.path().join("step.sh");
    std::fs::write(&script, step["run"].as_str().expect("a run step")).unwrap();
    let outputs = dir.path().join("github_output");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(&work)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_ACTION_PATH", ROOT);
    for (k, v) in step["env"].as_mapping().into_iter().flatten() {
        let v = yaml_string(v);
        let value = match v
            .strip_prefix("${{ inputs.")
            .and_then(|r| r.strip_suffix(" }}"))
        {
            Some(name) => inputs
                .get(name)
                .unwrap_or_else(|| panic!("step {id} uses an undeclared input `{name}`"))
                .clone(),
            None => v,
        };
        cmd.env(yaml_string(k), value);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let mut commands: Vec<Vec<String>> = std::fs::read_dir(&calls)
        .unwrap()
        .map(|e| {
            std::fs::read(e.unwrap().path())
                .unwrap()
                .split(|b| *b == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8(w.to_vec()).unwrap())
                .collect()
        })
        .collect();
    commands.sort();
    assert!(
        o.status.code().is_some(),
        "step {id}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    GateRun {
        commands,
        status: o.status.code(),
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
        dir,
    }
}

fn action_gate(with: &std::collections::BTreeMap<String, String>, exit: i32) -> GateRun {
    let run = action_step("gate", with, &[], exit);
    assert_eq!(run.status, Some(0), "the gate step itself must not fail");
    run
}

fn inputs(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The Action turns its inputs into one `flowgate check` that flowgate accepts: reports where
/// the inputs say, evidence flags only when given, `--wait` only where flowgate allows it; an
/// input is words, never shell.
#[test]
fn the_action_passes_its_inputs_as_words_flowgate_accepts() {
    use clap::Parser;
    let words = |run: &GateRun| -> Vec<String> {
        assert_eq!(run.commands.len(), 1, "{:?}", run.commands);
        let words = run.commands[0].clone();
        if let Err(e) = flowgate::cli::Cli::try_parse_from(&words) {
            panic!("`{}` is not a flowgate command line:\n{e}", words.join(" "));
        }
        words
    };
    let defaults = action_gate(&inputs(&[]), 0);
    assert_eq!(
        words(&defaults).join(" "),
        "flowgate check --junit flowgate.xml --sarif flowgate.sarif --summary flowgate.md --wait 15m specs/"
    );
    assert!(
        defaults.outputs.contains("exit-code=0\n"),
        "{}",
        defaults.outputs
    );

    let files = action_gate(
        &inputs(&[
            ("specs", "specs/shop.yaml  specs/more"),
            ("flow-logs", "examples/after-fixes s3://bucket/AWSLogs/"),
            ("log-group", "/vpc/a /vpc/b"),
            ("region", "eu-central-1"),
            ("since", "2h"),
            ("args", "--no-traffic skip"),
            ("junit", "out/j.xml"),
            ("sarif", "out/s.sarif"),
            ("summary", "out/s.md"),
        ]),
        0,
    );
    let w = words(&files).join(" ");
    for part in [
        "--junit out/j.xml --sarif out/s.sarif --summary out/s.md",
        "--flow-logs examples/after-fixes --flow-logs s3://bucket/AWSLogs/",
        "--log-group /vpc/a --log-group /vpc/b",
        "--region eu-central-1",
        "--since 2h",
        "--no-traffic skip",
        "specs/shop.yaml specs/more",
    ] {
        assert!(w.contains(part), "no `{part}` in `{w}`");
    }
    assert!(!w.contains("--wait"), "files on disk take no --wait: {w}");
    let s3 = action_gate(
        &inputs(&[("flow-logs", "s3://bucket/AWSLogs/"), ("wait", "20m")]),
        0,
    );
    assert!(words(&s3).join(" ").contains("--wait 20m"));

    // Shell in an input stays text: no command runs, the words reach flowgate as written.
    let hostile = action_gate(&inputs(&[("specs", "specs/$(touch pwned).yaml;id")]), 0);
    let w = words(&hostile);
    assert_eq!(&w[w.len() - 2..], ["specs/$(touch", "pwned).yaml;id"]);
    assert!(!hostile.dir.path().join("work/pwned").exists());

    // A failed gate still lets the reports be kept: the step passes flowgate's code on, and the
    // verdict step fails the job with it.
    let failed = action_gate(&inputs(&[]), 101);
    assert!(
        failed.outputs.contains("exit-code=101\n"),
        "{}",
        failed.outputs
    );
    let verdict = |code: &str| {
        let action = yaml_file("action.yml");
        let step = action["runs"]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s["name"].as_str() == Some("The gate's verdict"))
            .expect("a verdict step")
            .clone();
        assert_eq!(step["if"], "always()");
        std::process::Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
            .arg(step["run"].as_str().unwrap())
            .env("CODE", code)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(verdict("0"), Some(0));
    assert_eq!(verdict("101"), Some(101));
    assert_eq!(verdict("3"), Some(3));
    assert_eq!(verdict(""), Some(1), "no exit code is a failure");
}

/// Every `${{ }}` expression of a workflow or action, trimmed.
fn expressions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(a) = rest.find("${{") {
        let end = rest[a..].find("}}").expect("a closed expression") + a;
        out.push(rest[a + 3..end].trim().to_string());
        rest = &rest[end + 2..];
    }
    out
}

/// The names after `prefix` (`inputs.`, `steps.`, `matrix.`) in expressions.
fn referenced(exprs: &[String], prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in exprs {
        let mut rest = e.as_str();
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            let name: String = rest[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
                out.push(name);
            }
            rest = &rest[at + prefix.len()..];
        }
    }
    out
}

fn assert_valid_bash(what: &str, script: &str) {
    let o = std::process::Command::new("bash")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{what}: not valid bash: {}\n{script}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// action.yml as GitHub reads it: a composite action whose steps name a shell, reference only
/// inputs it declares and steps before them, keep expressions out of scripts, and upload what
/// the issue asks for.
#[test]
fn the_action_is_a_well_formed_composite_action() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("action.yml")).unwrap();
    let action = yaml_file("action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    assert!(action["name"].is_string() && action["description"].is_string());
    let declared: Vec<String> = action["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(yaml_string)
        .collect();
    for name in [
        "specs",
        "flow-logs",
        "log-group",
        "wait",
        "junit",
        "sarif",
        "summary",
    ] {
        assert!(declared.iter().any(|d| d == name), "no input `{name}`");
    }
    let exprs = expressions(&text);
    for name in referenced(&exprs, "inputs.") {
        assert!(declared.contains(&name), "undeclared input `{name}`");
    }
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let mut ids: Vec<String> = Vec::new();
    let mut uses = Vec::new();
    for step in steps {
        let name = step["name"].as_str().unwrap_or("?");
        let own: Vec<String> = ["if", "env", "with", "run"]
            .iter()
            .map(|k| serde_yaml::to_string(&step[*k]).unwrap())
            .collect();
        for id in referenced(&expressions(&own.join("\n")), "steps.") {
            assert!(
                ids.contains(&id),
                "step `{name}` refers to `{id}`, not an earlier step"
            );
        }
        if let Some(id) = step["id"].as_str() {
            ids.push(id.to_string());
        }
        if let Some(run) = step["run"].as_str() {
            assert_eq!(step["shell"], "bash", "step `{name}` names no shell");
            assert!(
                !run.contains("${{"),
                "step `{name}`: an expression in a script is text GitHub pastes into the shell"
            );
            assert_valid_bash(name, run);
        }
        if let Some(u) = step["uses"].as_str() {
            uses.push(u.to_string());
        }
    }
    for output in action["outputs"].as_mapping().unwrap().values() {
        for id in referenced(&expressions(output["value"].as_str().unwrap()), "steps.") {
            assert!(ids.contains(&id), "an output refers to step `{id}`");
        }
    }
    for wanted in [
        "actions/cache@",
        "actions/upload-artifact@",
        "github/codeql-action/upload-sarif@",
    ] {
        assert!(
            uses.iter().any(|u| u.starts_with(wanted)),
            "action.yml does not use {wanted}: {uses:?}"
        );
    }
    // The example workflow grants what the Action's SARIF upload needs.
    let gh = yaml_file("ci/github-actions.yml");
    assert_eq!(gh["permissions"]["security-events"], "write");
}

/// Every script of every workflow and of the Action is valid bash.
#[test]
fn every_workflow_script_is_valid_bash() {
    let mut files = vec![
        "action.yml".to_string(),
        "ci/github-actions.yml".to_string(),
    ];
    for e in std::fs::read_dir(Path::new(ROOT).join(".github/workflows")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        files.push(format!(".github/workflows/{name}"));
    }
    let mut scripts = 0;
    for file in &files {
        fn runs(v: &serde_yaml::Value, out: &mut Vec<String>) {
            match v {
                serde_yaml::Value::Mapping(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v.as_str()) {
                            (Some("run"), Some(s)) => out.push(s.to_string()),
                            _ => runs(v, out),
                        }
                    }
                }
                serde_yaml::Value::Sequence(items) => items.iter().for_each(|i| runs(i, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        runs(&yaml_file(file), &mut found);
        for script in found {
            // Expressions are replaced by GitHub before the shell sees the script.
            let mut s = script.clone();
            while let (Some(a), Some(b)) = (s.find("${{"), s.find("}}")) {
                s.replace_range(a..b + 2, "EXPR");
            }
            assert_valid_bash(file, &s);
            scripts += 1;
        }
    }
    assert!(scripts >= 10, "only {scripts} scripts found in {files:?}");
}

/// `cargo metadata` of this package, for what Cargo.toml says (there is no TOML parser here).
fn package_metadata() -> serde_json::Value {
    let o = std::process::Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    all["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "flowgate")
        .unwrap()
        .clone()
}

/// A cargo-binstall template (`{ name }`) filled in; a placeholder binstall would not know, or
/// one left unfilled, fails.
fn binstall_template(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(a) = rest.find('{') {
        out.push_str(&rest[..a]);
        let b = rest[a..].find('}').expect("a closed placeholder") + a;
        let key = rest[a + 1..b].trim();
        let value = vars
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("`{{ {key} }}` is not filled in"))
            .1;
        out.push_str(value);
        rest = &rest[b + 1..];
    }
    out + rest
}

/// The release workflow's archives are what `cargo binstall` and the Action ask for: its Package
/// step, run here for every target it builds, makes archives whose names the binstall pkg-url and
/// the Action's download URL resolve to, with the binary where bin-dir says.
#[test]
fn the_release_assets_are_what_binstall_and_the_action_ask_for() {
    let release = yaml_file(".github/workflows/release.yml");
    assert_eq!(release["on"]["push"]["tags"][0], "v*");
    assert_eq!(release["permissions"]["contents"], "write");
    let build = &release["jobs"]["build"];
    let targets: Vec<String> = build["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| yaml_string(&i["target"]))
        .collect();
    for t in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "aarch64-apple-darwin",
    ] {
        assert!(targets.iter().any(|x| x == t), "no release build for {t}");
    }
    let step = |name: &str| -> String {
        build["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("release.yml has no step `{name}`"))["run"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let meta = package_metadata();
    let (name, version) = (
        meta["name"].as_str().unwrap(),
        meta["version"].as_str().unwrap(),
    );
    let repo = meta["repository"]
        .as_str()
        .expect("Cargo.toml names its repository");
    let binstall = &meta["metadata"]["binstall"];
    assert_eq!(binstall["pkg-fmt"], "tgz");

    // The tag check accepts the crate's version and nothing else.
    let work = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(ROOT).join("Cargo.toml"),
        work.path().join("Cargo.toml"),
    )
    .unwrap();
    let bash = |script: &str, env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(work.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let tag_check = step("The tag is the crate's version");
    let tag = format!("v{version}");
    assert!(
        bash(&tag_check, &[("GITHUB_REF_NAME", &tag)])
            .status
            .success()
    );
    assert!(
        !bash(&tag_check, &[("GITHUB_REF_NAME", "v0.0.0-other")])
            .status
            .success()
    );

    let package = step("Package");
    let mut assets = std::collections::BTreeMap::new();
    for target in &targets {
        let dir = work.path().join(format!("target/{target}/release"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("flowgate"), format!("binary for {target}")).unwrap();
        let before: Vec<_> = std::fs::read_dir(work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let o = bash(&package, &[("TARGET", target)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let made: Vec<String> = std::fs::read_dir(work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| !before.contains(n))
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tar.gz"))
            .collect();
        assert_eq!(made.len(), 1, "{target}: {made:?}");
        let listing = std::process::Command::new("tar")
            .arg("-tzf")
            .arg(work.path().join(&made[0]))
            .output()
            .unwrap();
        let files = String::from_utf8_lossy(&listing.stdout).into_owned();
        let bin_dir = binstall_template(
            binstall["bin-dir"].as_str().unwrap(),
            &[
                ("bin", "flowgate"),
                ("binary-ext", ""),
                ("name", name),
                ("version", version),
                ("target", target),
            ],
        );
        assert_eq!(
            files.lines().collect::<Vec<_>>(),
            [bin_dir.as_str()],
            "{target}"
        );
        assets.insert(target.clone(), made[0].clone());
    }

    let release_url = |asset: &str| format!("{repo}/releases/download/{tag}/{asset}");
    for (target, asset) in &assets {
        let url = binstall_template(
            binstall["pkg-url"].as_str().unwrap(),
            &[
                ("repo", repo),
                ("name", name),
                ("version", version),
                ("target", target),
                ("binary-ext", ""),
            ],
        );
        assert_eq!(url, release_url(asset), "binstall's URL for {target}");
    }

    // The Action downloads the same asset for each runner, only when pinned to the release tag.
    let action_repo = repo
        .strip_prefix("https://github.com/")
        .expect("a GitHub repository");
    let none = std::collections::BTreeMap::new();
    for (os, arch, target) in [
        ("Linux", "X64", "x86_64-unknown-linux-gnu"),
        ("Linux", "ARM64", "aarch64-unknown-linux-gnu"),
        ("macOS", "ARM64", "aarch64-apple-darwin"),
        ("macOS", "X64", "x86_64-apple-darwin"),
    ] {
        let env = [
            ("ACTION_REF", tag.as_str()),
            ("ACTION_REPO", action_repo),
            ("RUNNER_OS_NAME", os),
            ("RUNNER_ARCH_NAME", arch),
        ];
        let found = action_step("find", &none, &env, 0);
        assert_eq!(found.status, Some(0));
        let asset = assets
            .get(target)
            .unwrap_or_else(|| panic!("the Action expects a release for {target}"));
        assert!(
            found
                .outputs
                .contains(&format!("url={}\n", release_url(asset))),
            "{os}/{arch}: {}",
            found.outputs
        );
        assert!(
            found
                .outputs
                .contains(&format!("key=flowgate-{os}-{arch}-"))
        );
    }
    for (reference, os, arch) in [("main", "Linux", "X64"), (tag.as_str(), "Windows", "X64")] {
        let env = [
            ("ACTION_REF", reference),
            ("ACTION_REPO", action_repo),
            ("RUNNER_OS_NAME", os),
            ("RUNNER_ARCH_NAME", arch),
        ];
        let found = action_step("find", &none, &env, 0);
        assert_eq!(found.status, Some(0));
        assert!(
            !found.outputs.contains("url="),
            "{reference} {os}: {}",
            found.outputs
        );
        assert!(found.outputs.contains("key="), "built from source, cached");
    }
}

/// The directory `ci/test` installs the Node tools into (mermaid's parser, the SARIF schema).
fn test_node() -> PathBuf {
    let dir = std::env::var_os("FLOWGATE_TEST_NODE").map(PathBuf::from).unwrap_or_else(|| {
        panic!("FLOWGATE_TEST_NODE is not set: run the tests with ci/test, which installs mermaid's parser and the SARIF schema")
    });
    assert!(
        dir.join("node_modules").is_dir(),
        "FLOWGATE_TEST_NODE={} has no node_modules",
        dir.display()
    );
    dir
}

/// The SARIF 2.1.0 JSON Schema, as the npm package @microsoft/jest-sarif ships it.
fn sarif_validator() -> jsonschema::Validator {
    let path =
        test_node().join("node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // The schema's `language` pattern has a bare `]`, a literal only in JavaScript's legacy
    // regex mode, so the meta-schema's `format: regex` refuses it; escaped, it means the same.
    let mut escaped = 0;
    for def in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        if *language == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" {
            *language = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$".into();
            escaped += 1;
        }
    }
    assert_eq!(escaped, 2, "the schema is not the one this was written for");
    jsonschema::validator_for(&schema).expect("the SARIF schema is a valid JSON Schema")
}

fn sarif_errors(v: &jsonschema::Validator, sarif: &serde_json::Value) -> Vec<String> {
    v.iter_errors(sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn check_with_sarif(args: &[&str]) -> (Output, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let (sarif, junit) = (dir.path().join("out.sarif"), dir.path().join("junit.xml"));
    let o = flowgate()
        .arg("check")
        .args(args)
        .arg("--sarif")
        .arg(&sarif)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let log = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    (o, log, std::fs::read_to_string(&junit).unwrap_or_default())
}

/// `--sarif`: one result per failing case, each at its expectation's line and column in the spec
/// (the spec text there names it), the verdict as its rule, valid against the SARIF 2.1.0 schema.
#[test]
fn sarif_puts_each_failure_on_its_expectation_and_is_valid_sarif() {
    let validator = sarif_validator();
    // An absolute spec path under the working directory (the repository) comes out relative.
    let spec = Path::new(ROOT).join(SPEC);
    let (o, log, xml) = check_with_sarif(&["--flow-logs", TROUBLED, spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    let errors = sarif_errors(&validator, &log);
    assert!(errors.is_empty(), "{errors:#?}\n{log:#}");
    let run = &log["runs"][0];
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(run["tool"]["driver"]["name"], "flowgate");
    let results = run["results"].as_array().unwrap();
    let failing = xml.matches("<failure ").count() + xml.matches("<error ").count();
    assert_eq!(results.len(), failing, "{xml}");
    assert!(failing >= 5);
    let text = std::fs::read_to_string(&spec).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"], id);
        assert_eq!(r["level"], "error");
        let case = r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap();
        let name = case.strip_prefix("shop::").unwrap();
        assert_eq!(
            failure_type(&xml, name),
            Some(id),
            "{case}: the rule is the JUnit failure type"
        );
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], SPEC);
        let (line, col) = (
            loc["region"]["startLine"].as_u64().unwrap() as usize,
            loc["region"]["startColumn"].as_u64().unwrap() as usize,
        );
        let at: String = lines[line - 1].chars().skip(col - 1).collect();
        assert!(
            at.starts_with(&format!("name: {name}"))
                || at.starts_with(&format!("{{ name: {name},")),
            "{case} is located at {line}:{col}, where the spec says `{at}`"
        );
        let md = r["message"]["markdown"].as_str().unwrap();
        // The details: the expectation, and the pairs behind the verdict.
        assert!(md.contains("\nexpected: "), "{md}");
        assert!(id == "NO_TRAFFIC" || md.contains("):\n  "), "{md}");
        assert_eq!(r["message"]["text"].as_str().unwrap().lines().count(), 1);
        seen.insert(id.to_string());
    }
    for id in [
        "REJECTED",
        "RETURN_REJECTED",
        "NO_RETURN",
        "NO_TRAFFIC",
        "ALLOWED",
    ] {
        assert!(seen.contains(id), "no {id} result: {seen:?}");
    }

    // The schema check can fail: what SARIF forbids is caught.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(
        !sarif_errors(&validator, &broken).is_empty(),
        "a result without a message"
    );
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(
        !sarif_errors(&validator, &broken).is_empty(),
        "an unknown level"
    );
}

/// A run that passes leaves an empty, valid SARIF (the old alerts close); a run that stops before
/// judging warns at every expectation, as missing evidence is not a verdict.
#[test]
fn sarif_of_a_passing_run_is_empty_and_of_a_stopped_run_warns_everywhere() {
    let validator = sarif_validator();
    let (o, log, _) = check_with_sarif(&["--flow-logs", FIXED, SPEC]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(sarif_errors(&validator, &log).is_empty());
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));

    let (o, log, _) = check_with_sarif(&["--endpoint-url", "http://127.0.0.1:9", SPEC]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let errors = sarif_errors(&validator, &log);
    assert!(errors.is_empty(), "{errors:#?}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for r in results {
        assert_eq!(r["ruleId"], "UNAVAILABLE");
        assert_eq!(r["level"], "warning");
    }
}

/// What mermaid's own parser (`ci/node/mermaid-parse.mjs`) says of a file: the diagram types, or
/// its error.
fn mermaid_parse(file: &Path) -> Result<Vec<String>, String> {
    let node = test_node();
    let o = std::process::Command::new("node")
        .arg(node.join("mermaid-parse.mjs"))
        .arg(file)
        .current_dir(&node)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    match o.status.code() {
        Some(0) => Ok(out.lines().map(str::to_string).collect()),
        Some(1) if err.contains("mermaid cannot parse") || err.contains("no mermaid diagram") => {
            Err(err)
        }
        _ => panic!("the mermaid parser did not run: {err}"),
    }
}

fn mermaid_blocks(md: &str) -> Vec<String> {
    md.split("```mermaid\n")
        .skip(1)
        .map(|b| b[..b.find("```").expect("a closed block")].to_string())
        .collect()
}

/// The summary begins with a flowchart of the app that mermaid parses: one edge per expectation
/// of the spec, deny expectations dotted with a cross, failing edges red and naming their
/// verdict, passing ones green.
#[test]
fn the_summary_diagram_parses_with_mermaid_and_shows_every_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let (_, xml) = junit_of(&[
        "check",
        "--flow-logs",
        TROUBLED,
        "--summary",
        summary.to_str().unwrap(),
        SPEC,
    ]);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(
        mermaid_parse(&summary),
        Ok(vec!["flowchart-v2".to_string()])
    );
    let diagram_at = md.find("```mermaid").unwrap();
    assert!(
        diagram_at < md.find("| Expectation |").unwrap(),
        "the diagram comes first"
    );
    assert!(md.starts_with("## flowgate: 5 failed"), "{md}");

    let blocks = mermaid_blocks(&md);
    assert_eq!(blocks.len(), 1, "one app, one diagram");
    let spec = yaml_file(SPEC);
    let expect = spec["expect"].as_sequence().unwrap();
    let edges: Vec<&str> = blocks[0]
        .lines()
        .filter(|l| l.contains("-->|") || l.contains("-.-x|"))
        .collect();
    assert_eq!(edges.len(), expect.len(), "{}", blocks[0]);
    let denies = expect.iter().filter(|e| e["deny"] == true).count();
    assert_eq!(edges.iter().filter(|l| l.contains("-.-x|")).count(), denies);
    let hosts = spec["hosts"].as_mapping().unwrap();
    let nodes = blocks[0]
        .lines()
        .filter(|l| l.trim_start().starts_with('h') && l.contains("[\""))
        .count();
    assert_eq!(
        nodes,
        hosts.len(),
        "every host of the spec is in an expectation here"
    );
    let style = |i: usize| -> String {
        blocks[0]
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("linkStyle {i} ")))
            .unwrap_or_else(|| panic!("edge {i} has no style"))
            .to_string()
    };
    let mut red = 0;
    for (i, edge) in edges.iter().enumerate() {
        let failed = [
            "REJECTED",
            "RETURN_REJECTED",
            "NO_RETURN",
            "NO_TRAFFIC",
            "ALLOWED",
        ]
        .iter()
        .any(|v| edge.contains(&format!(": {v}\"")));
        let colour = if failed { "#cf222e" } else { "#2da44e" };
        assert!(style(i).contains(colour), "edge {i} `{edge}`: {}", style(i));
        red += usize::from(failed);
    }
    assert_eq!(
        red,
        xml.matches("<failure ").count() - xml.matches("<failure type=\"UNDECLARED\"").count()
    );

    // Host names that are mermaid keywords stay labels.
    let spec = dir.path().join("keywords.yaml");
    std::fs::write(
        &spec,
        "app: end\nhosts:\n  end: { ips: [10.0.1.10, 10.0.1.11] }\n  subgraph: { cidr: 10.0.2.20/31 }\n  click.style_default-1: { ip: 10.0.3.30 }\nexpect:\n  - { name: a, from: end, to: subgraph, port: 8080 }\n  - { name: b, from: subgraph, to: click.style_default-1, port: 1433 }\n  - { name: c, from: any, to: end, port: 443 }\n  - { name: d, from: click.style_default-1, to: end, port: 22, deny: true }\n",
    )
    .unwrap();
    let o = run(&[
        "check",
        "--flow-logs",
        FIXED,
        "--summary",
        summary.to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        mermaid_parse(&summary),
        Ok(vec!["flowchart-v2".to_string()])
    );

    // The parser can fail: a label left open is an error.
    let md = std::fs::read_to_string(&summary).unwrap();
    std::fs::write(&summary, md.replacen("[\"end\"]", "[\"end]", 1)).unwrap();
    assert!(mermaid_parse(&summary).is_err());
}

/// The README shows the rendered diagram, and the file it shows is a PNG.
#[test]
fn the_readme_shows_the_rendered_diagram() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let at = readme
        .find("](summary-diagram.png)")
        .expect("the README shows summary-diagram.png");
    assert!(readme[..at].rfind("![").is_some_and(|i| at - i < 400));
    let png = std::fs::read(Path::new(ROOT).join("summary-diagram.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

// ---- every record AWS writes: tests/data/records (see its SOURCES.md) -----------------------

const RECORDS: &str = "tests/data/records/records.yaml";

#[test]
fn the_records_of_aws_documented_examples_are_judged() {
    let o = run(&[
        "check",
        "--flow-logs",
        "tests/data/records/aws-examples",
        RECORDS,
        "--",
        "ssh",
        "rdp",
    ]);
    assert_eq!(
        results(&o),
        [
            "records::rdp is refused ... ok",
            "records::ssh is accepted ... ok"
        ],
        "{}",
        stdout(&o)
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// A VPC flow log with every field to version 11 and a Transit Gateway flow log, under one
/// prefix: no line of either is bad, BPA is named in words, and what the gateway dropped or
/// carried explains the verdicts.
#[test]
fn transit_gateway_records_beside_vpc_records_explain_the_verdicts() {
    let o = run(&[
        "check",
        "--flow-logs",
        "tests/data/records/mixed",
        RECORDS,
        "--",
        "web",
        "app",
    ]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(101), "{out}\n{err}");
    assert!(
        !out.contains("bad line") && !err.contains("bad line"),
        "{out}\n{err}"
    );
    assert!(
        err.contains("evidence: 2 flow-log files")
            && err.contains(
                "5 records (0 outside the window, 0 NODATA; and 7 Transit Gateway records)"
            ),
        "both files read, every line a record: {err}"
    );
    // reject-reason, in words, where a security group would otherwise be blamed.
    assert!(
        out.contains("REJECTED: 198.51.100.7 -> 10.0.1.10 tcp/443 refused by VPC Block Public Access (2 of 2 connections)"),
        "{out}"
    );
    assert!(
        out.contains("refused by VPC Block Public Access (reject-reason BPA, 2 records)"),
        "{out}"
    );
    assert!(
        out.contains("meaning: VPC Block Public Access refuses"),
        "{out}"
    );
    // The gateway's drops name the reason, the gateway and the attachment.
    assert!(
        out.contains("TGW_DROPPED: 10.0.2.20 -> 192.168.50.10 tcp/5432 dropped by transit gateway tgw-0a1b2c3d4e5f60718 at attachment tgw-attach-0aa1bb2cc3dd4ee51: no route (6 packets, requests)"),
        "{out}"
    );
    assert!(
        out.contains("TGW_DROPPED: 10.0.2.20 -> 10.30.0.9 tcp/8443 dropped by transit gateway tgw-0a1b2c3d4e5f60718 at attachment tgw-attach-0aa1bb2cc3dd4ee51: blackhole route (4 packets, requests)"),
        "no VPC record of it at all, and still the drop is seen: {out}"
    );
    // NO_RETURN across the gateway: the requests crossed it, nothing came back through it.
    let partner = out
        .split("---- records::app reaches the partner ----")
        .nth(1)
        .expect("the partner case failed");
    assert!(partner.starts_with("\nNO_RETURN"), "{partner}");
    assert!(
        partner.contains("transit gateway: the requests crossed the transit gateway and no reply came back through it")
            && partner.contains("transit gateway: tgw-0a1b2c3d4e5f60718 (attachment tgw-attach-0ff9ee8dd7cc6bb52): requests 1 record, replies 0 records"),
        "{partner}"
    );
}

/// `--format json` carries what the gateway carried and dropped of each pair as fields.
#[test]
fn json_output_carries_what_transit_gateways_carried_and_dropped() {
    let o = run(&[
        "check",
        "--flow-logs",
        "tests/data/records/mixed",
        RECORDS,
        "--format",
        "json",
        "--",
        "app",
    ]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let case = |name: &str| {
        events
            .iter()
            .find(|e| e["name"] == format!("records::{name}"))
            .unwrap_or_else(|| panic!("{name}: {events:#?}"))
    };
    let db = case("app reaches the on-premises database");
    assert_eq!(db["verdict"], "TGW_DROPPED");
    let hops = db["pairs"][0]["transit_gateways"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{db}");
    assert_eq!(hops[0]["gateway"], "tgw-0a1b2c3d4e5f60718");
    assert_eq!(hops[0]["attachment"], "tgw-attach-0aa1bb2cc3dd4ee51");
    assert_eq!(hops[0]["requests"], 2, "{db}");
    assert_eq!(
        hops[0]["lost"],
        serde_json::json!([{"reason": "no route", "field": "packets-lost-no-route", "direction": "requests", "packets": 6}]),
        "{db}"
    );
    let partner = case("app reaches the partner");
    assert_eq!(partner["verdict"], "NO_RETURN");
    let hops = partner["pairs"][0]["transit_gateways"].as_array().unwrap();
    assert_eq!(
        (
            hops[0]["requests"].as_u64(),
            hops[0]["replies"].as_u64(),
            hops[0]["lost"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0), Some(0)),
        "{partner}"
    );
}

/// Transit Gateway records are not VPC records: a window where only the gateway's flow log was
/// delivered is missing its evidence, never a pass (the deny check) or a plain NO_TRAFFIC.
#[test]
fn only_transit_gateway_records_in_the_window_is_missing_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let day = "tests/data/records/mixed/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20";
    let tgw = "123456789012_vpcflowlogs_eu-west-1_fl-0f9e8d7c6b5a49382_20261120T0905Z_9a8b7c6d.log";
    std::fs::copy(Path::new(ROOT).join(day).join(tgw), dir.path().join(tgw)).unwrap();
    let o = run(&[
        "check",
        "--flow-logs",
        dir.path().to_str().unwrap(),
        RECORDS,
        "--",
        "rdp is refused",
        "batch",
    ]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_ne!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        !out.contains("test records::rdp is refused ... ok"),
        "{out}"
    );
    assert!(
        err.contains(
            "no record to judge: the flow-log files hold only Transit Gateway records (7)"
        ),
        "{err}"
    );
}

#[test]
fn no_traffic_across_a_transit_gateway_says_the_gateway_carried_it() {
    let o = run(&[
        "check",
        "--flow-logs",
        "tests/data/records/mixed",
        RECORDS,
        "--",
        "batch",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(101), "{out}");
    assert!(
        out.contains("NO_TRAFFIC: no flow from batch to app2"),
        "{out}"
    );
    assert!(
        out.contains("transit gateway: the transit gateway carried this traffic, but no VPC flow log read saw it")
            && out.contains("192.168.20.15 -> 10.0.2.21")
            && out.contains("tgw-attach-0c1d2e3f4a5b6c7d8"),
        "{out}"
    );
}

#[test]
fn transit_gateway_objects_beside_vpc_objects_in_s3_give_what_the_files_give() {
    for prefix in ["mixed", "mixed-parquet"] {
        let url = format!("s3://{}/{prefix}", moto().id("bucket"));
        let mut args = vec!["check", "--no-explain", "--flow-logs", url.as_str()];
        args.extend(EXAMPLE_WINDOW);
        args.extend(["--endpoint-url", moto().endpoint()]);
        args.extend([RECORDS, "--", "web", "app", "batch"]);
        let o = run(&args);
        s3_mixed_is_as_on_disk(prefix, &o);
    }
}

/// The lines of a run's output that say what failed and what a transit gateway explains.
fn failure_lines(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .filter(|l| {
            [
                "REJECTED:",
                "TGW_DROPPED:",
                "NO_RETURN:",
                "NO_TRAFFIC:",
                "transit gateway:",
            ]
            .iter()
            .any(|v| l.trim_start().starts_with(v))
        })
        .map(str::to_string)
        .collect()
}

fn s3_mixed_is_as_on_disk(prefix: &str, o: &Output) {
    let err = stderr(o);
    assert!(
        err.contains("2 objects fetched") && !err.contains("evidence missing"),
        "{prefix}: {err}"
    );
    let mut local = vec![
        "check",
        "--no-explain",
        "--flow-logs",
        "tests/data/records/mixed",
    ];
    local.extend(EXAMPLE_WINDOW);
    local.extend([RECORDS, "--", "web", "app", "batch"]);
    let on_disk = run(&local);
    assert_eq!(
        failure_lines(o),
        failure_lines(&on_disk),
        "{prefix}: {}",
        stdout(o)
    );
    assert_eq!(
        failure_lines(o)
            .iter()
            .filter(|l| l.starts_with("TGW_DROPPED:"))
            .count(),
        2,
        "{prefix}: {}",
        stdout(o)
    );
}

/// The same two flow logs delivering to CloudWatch Logs, a log group each (moto holds them,
/// their times moved to half an hour ago): flowgate reads each group in its flow log's format,
/// the gateway's too, and the verdicts and what the gateway explains are the files' on the same
/// records.
#[test]
fn transit_gateway_log_groups_in_cloudwatch_give_what_the_files_give() {
    let shift: i64 = moto().id("records_shift").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let day = "tests/data/records/mixed/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20";
    for entry in std::fs::read_dir(Path::new(ROOT).join(day)).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let moved: Vec<String> = text
            .lines()
            .map(|line| {
                line.split(' ')
                    .map(|w| match w.parse::<i64>() {
                        Ok(t) if (1_795_000_000..1_796_000_000).contains(&t) => {
                            (t + shift).to_string()
                        }
                        _ => w.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        std::fs::write(
            dir.path().join(path.file_name().unwrap()),
            moved.join("\n") + "\n",
        )
        .unwrap();
    }
    let window = ["--since", "2h", "--no-explain"];
    let checks = [RECORDS, "--", "web", "app", "batch"];
    let cloudwatch = [
        "check",
        "--log-group",
        "/records/vpc",
        "--log-group",
        "/records/tgw",
        "--endpoint-url",
        moto().endpoint(),
    ];
    let mut local = vec!["check", "--flow-logs", dir.path().to_str().unwrap()];
    local.extend(window);
    local.extend(checks);
    let on_disk = run(&local);
    assert_eq!(on_disk.status.code(), Some(101), "{}", stderr(&on_disk));
    // moto does not run `stats`: raw rows (the unit tests in source::insights::equivalence
    // prove the aggregated queries on the same fixture).
    {
        let mut args = cloudwatch.to_vec();
        args.extend(["--insights-rows", "raw"]);
        args.extend(window);
        args.extend(checks);
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(101), "{err}");
        assert!(
            !err.contains("bad line") && !stdout(&o).contains("bad line"),
            "{err}"
        );
        assert_eq!(results(&o), results(&on_disk), "{}", stdout(&o));
        assert_eq!(failure_lines(&o), failure_lines(&on_disk), "{}", stdout(&o));
        assert_eq!(
            failure_lines(&o)
                .iter()
                .filter(|l| l.starts_with("TGW_DROPPED:"))
                .count(),
            2,
            "{}",
            stdout(&o)
        );
    }
}

/// Discovery finds the transit gateway the hosts' VPC attaches to and reads its flow log beside
/// the VPC's: the gateway's drop fails the check TGW_DROPPED with the reason, and what it
/// carried explains a NO_RETURN. The attachment's flow log delivers to S3 while the checks are
/// read from CloudWatch Logs: it is not read, and flowgate says so.
#[test]
fn discovery_reads_the_flow_logs_of_the_transit_gateways_the_hosts_attach_to() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("tgw.yaml");
    std::fs::write(
        &spec,
        "app: tgw\nhosts:\n  tgwapp: { tag: { Name: tgw-app } }\n  onprem-db: { ip: 192.168.50.10 }\n  partner: { ip: 10.20.0.5 }\nexpect:\n  - { name: app reaches the on-premises database, from: tgwapp, to: onprem-db, port: 5432 }\n  - { name: app reaches the partner, from: tgwapp, to: partner, port: 443 }\n",
    )
    .unwrap();
    let o = against_moto(&[
        "check",
        "--insights-rows",
        "raw",
        "--since",
        "1h",
        "--no-explain",
        spec.to_str().unwrap(),
    ]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(101), "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "evidence: transit gateway flow log {} (ALL traffic of {} to /tgw/core) is read beside the VPC flow logs",
            m.id("tgw_log"),
            m.id("tgw")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("to s3://{}/) is not read: the checks whose hosts it serves are read from CloudWatch Logs", m.id("bucket")))
            && err.contains(m.id("tgw_attach")),
        "{err}"
    );
    assert!(
        out.contains(&format!(
            "TGW_DROPPED: 10.40.1.10 -> 192.168.50.10 tcp/5432 dropped by transit gateway {} at attachment {}: no route (3 packets, requests)",
            m.id("tgw"),
            m.id("tgw_attach")
        )),
        "{out}"
    );
    let partner = out
        .split("---- tgw::app reaches the partner ----")
        .nth(1)
        .expect("the partner case failed");
    assert!(
        partner.starts_with("\nNO_RETURN")
            && partner.contains(
                "the requests crossed the transit gateway and no reply came back through it"
            ),
        "{partner}"
    );
}

// ---- Athena: the local Athena of tests/data/athena_duckdb.py (DuckDB runs the SQL) ---------

/// The columns of AWS's Athena DDL for text flow logs (versions 2 to 5, `region` left out as in
/// its partition projection DDL), with their types.
const ATHENA_COLUMNS: &str = "version:int account_id interface_id srcaddr dstaddr srcport:int dstport:int protocol:bigint packets:bigint bytes:bigint start:bigint end:bigint action log_status vpc_id subnet_id instance_id tcp_flags:int type pkt_srcaddr pkt_dstaddr az_id sublocation_type sublocation_id pkt_src_aws_service pkt_dst_aws_service flow_direction traffic_path:int";

fn athena_columns(columns: &str) -> serde_json::Value {
    columns
        .split(' ')
        .map(|c| {
            let (n, t) = c.split_once(':').unwrap_or((c, "string"));
            serde_json::json!([n, t])
        })
        .collect()
}

/// A table as AWS's text DDL with partition projection defines it (`flowgate athena-ddl`):
/// partitioned by account, region and day, over `files`.
fn text_table(files: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "columns": athena_columns(ATHENA_COLUMNS),
        "partitions": [["accid", "string"], ["region", "string"], ["day", "string"]],
        "parameters": {
            "projection.enabled": "true",
            "projection.accid.type": "enum",
            "projection.accid.values": "123456789012",
            "projection.region.type": "enum",
            "projection.region.values": "eu-west-1",
            "projection.day.type": "date",
            "projection.day.format": "yyyy/MM/dd"
        },
        "partition_values": {"accid": "{account}", "region": "{region}", "day": "{delivered:%Y/%m/%d}"},
        "files": files,
    })
}

/// The local Athena, running until this is dropped, with its log of queries.
struct LocalAthena {
    endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
    _server: (std::process::Child, std::process::ChildStdin),
}

impl LocalAthena {
    fn start(tables: serde_json::Value, settings: serde_json::Value) -> LocalAthena {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("athena.jsonl");
        let mut config = serde_json::json!({
            "account": "123456789012",
            "region": "eu-west-1",
            "tables": tables,
            "page_size": 3,
            "log": log,
        });
        for (k, v) in settings.as_object().unwrap() {
            config[k] = v.clone();
        }
        let path = dir.path().join("athena.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let mut child = std::process::Command::new(test_python())
            .arg("tests/data/athena_duckdb.py")
            .arg(&path)
            .current_dir(ROOT)
            .stderr(std::process::Stdio::null())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start tests/data/athena_duckdb.py");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut endpoint = None;
        let mut ready = false;
        for line in out.lines().map_while(Result::ok) {
            if let Some(e) = line.strip_prefix("endpoint ") {
                endpoint = Some(e.to_string());
            }
            if line == "ready" {
                ready = true;
                break;
            }
        }
        match (ready, endpoint, child.stdin.take()) {
            (true, Some(endpoint), Some(stdin)) => LocalAthena {
                endpoint,
                log,
                _dir: dir,
                _server: (child, stdin),
            },
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "athena_duckdb.py ended before it was ready (are sqlglot and duckdb in FLOWGATE_TEST_PYTHON's venv?)"
                );
            }
        }
    }

    /// A command against it; `check` without explanations (there is no EC2 here).
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = flowgate();
        cmd.args(args);
        if args.first() == Some(&"check") {
            cmd.arg("--no-explain");
        }
        cmd.args(["--endpoint-url", &self.endpoint])
            .output()
            .unwrap()
    }

    /// The statements the server was sent, with what became of them.
    fn queries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|q| q["op"] == "StartQueryExecution")
            .collect()
    }
}

impl Drop for LocalAthena {
    fn drop(&mut self) {
        let _ = self._server.0.kill();
        let _ = self._server.0.wait();
    }
}

#[test]
fn athena_gives_the_verdicts_of_the_same_files_pruned_by_partition_and_paged() {
    let athena = LocalAthena::start(
        serde_json::json!({
            "flowlogs.troubled": text_table(&[TROUBLED]),
            "flowlogs.fixed": text_table(&[FIXED]),
        }),
        serde_json::json!({}),
    );
    for (dir, table, window) in [
        (TROUBLED, "flowlogs.troubled", EXAMPLE_WINDOW),
        (
            FIXED,
            "flowlogs.fixed",
            [
                "--start",
                "2026-11-20T14:00:00Z",
                "--end",
                "2026-11-20T14:30:00Z",
            ],
        ),
    ] {
        let mut files = vec!["check", "--flow-logs", dir];
        files.extend(window);
        files.push(SPEC);
        let expected = verdicts(&run(&files));
        let mut args = vec!["check", "--athena-table", table];
        args.extend(window);
        args.push(SPEC);
        // Records themselves, read as the file source reads lines, give the same too.
        let mut raw = args.clone();
        raw.extend(["--insights-rows", "raw"]);
        let o = athena.run(&raw);
        assert_eq!(verdicts(&o), expected, "{table} raw: {}", stderr(&o));
        let o = athena.run(&args);
        let err = stderr(&o);
        assert_eq!(verdicts(&o), expected, "{table}: {err}{}", stdout(&o));
        assert!(
            err.contains("evidence: Athena table") && err.contains("Athena queries,"),
            "the cost line: {err}"
        );
        assert!(!err.contains("evidence missing"), "{err}");
    }
    let troubled = verdicts(&run(&[
        "check",
        "--flow-logs",
        TROUBLED,
        EXAMPLE_WINDOW[0],
        EXAMPLE_WINDOW[1],
        EXAMPLE_WINDOW[2],
        EXAMPLE_WINDOW[3],
        SPEC,
    ]));
    assert_eq!(
        troubled.0,
        Some(101),
        "the troubled cutover fails: the comparison can fail"
    );
    let queries = athena.queries();
    assert!(queries.len() >= 8, "{}", queries.len());
    for q in &queries {
        let sql = q["query"].as_str().unwrap();
        assert_eq!(q["state"], "SUCCEEDED", "{q}");
        assert!(
            sql.contains("\"accid\" IN ('123456789012')")
                && sql.contains("\"region\" IN ('eu-west-1')")
                && sql.contains("\"day\" IN ('2026/11/20')"),
            "every statement is pruned by every partition key: {sql}"
        );
        // One day of the two each table holds? Both hold one day: the pruning shows in the
        // partitions touched, never all of the table's.
        assert!(
            !q["partitions_touched"].as_array().unwrap().is_empty(),
            "{q}"
        );
    }
    assert!(
        queries.iter().any(|q| q["rows"].as_u64().unwrap_or(0) > 3),
        "some answers span several pages (3 rows a page)"
    );
}

/// A small deterministic generator (xorshift), so that a failing case can be run again.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// 2026-11-20T23:40:00Z: the generated windows cross midnight, and records delivered after it
/// sit in the next day's partition.
const NEAR_MIDNIGHT: u64 = 1_795_218_000;

const GENERATED_SPEC: &str = "app: gen
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11] }
  app: { ip: 10.0.2.20 }
  db: { ip: 10.0.3.30 }
  cluster: { cidr: 10.0.5.0/29 }
  v6web: { ip: '2001:db8::10' }
  v6app: { ip: '2001:db8::20' }
  internet: { cidr: 0.0.0.0/0, except: [10.0.0.0/8] }
expect:
  - { name: web reaches app, from: web, to: app, port: 8080 }
  - { name: app reaches db, from: app, to: db, port: 5432 }
  - { name: web reaches app by ssh if it asks, from: web, to: app, port: 22, return: optional }
  - { name: db never reaches web, from: db, to: web, port: 22, deny: true }
  - { name: the cluster talks, from: cluster, to: cluster, port: 7000-7100 }
  - { name: v6, from: v6web, to: v6app, port: 443 }
  - { name: the internet never reaches app, from: internet, to: app, port: 8080, deny: true }
  - { name: anyone pings app, from: any, to: app, protocol: icmp }
";

/// Records among the generated spec's hosts and a few others: requests and replies, accepted
/// and rejected, with tcp-flags, SKIPDATA and NODATA, around a window that crosses midnight.
fn generated_records(seed: u64) -> String {
    let mut d = Draw(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let addrs = [
        "10.0.1.10",
        "10.0.1.11",
        "10.0.2.20",
        "10.0.3.30",
        "10.0.5.1",
        "10.0.5.6",
        "203.0.113.7",
        "10.9.9.9",
    ];
    let v6 = ["2001:db8::10", "2001:db8::20"];
    let enis = [
        "eni-0aaaaaaaaaaaaaaa1",
        "eni-0bbbbbbbbbbbbbbb2",
        "eni-0ccccccccccccccc3",
    ];
    let mut out = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags\n",
    );
    for _ in 0..40 + d.below(40) {
        let start = NEAR_MIDNIGHT - 1500 + d.below(3600);
        let end = start + 30 + d.below(570);
        let eni = d.pick(&enis);
        match d.below(20) {
            0 => {
                out.push_str(&format!(
                    "2 123456789012 {eni} - - - - - - - {start} {end} - SKIPDATA -\n"
                ));
                continue;
            }
            1 => {
                out.push_str(&format!(
                    "2 123456789012 {eni} - - - - - - - {start} {end} - NODATA -\n"
                ));
                continue;
            }
            _ => {}
        }
        let (client, server) = if d.below(6) == 0 {
            (*d.pick(&v6), *d.pick(&v6))
        } else {
            (*d.pick(&addrs), *d.pick(&addrs))
        };
        let protocol = if d.below(8) == 0 { 1 } else { 6 };
        let cluster_port = 7000 + d.below(101);
        let port = *d.pick(&[8080u64, 5432, 22, cluster_port, 443, 9999, 10000]);
        let cport = 32768 + d.below(8);
        let action = |d: &mut Draw| if d.below(4) == 0 { "REJECT" } else { "ACCEPT" };
        let (sp, dp) = if protocol == 1 { (0, 0) } else { (cport, port) };
        let req = action(&mut d);
        let flags = *d.pick(&[2u64, 3, 19, 1]);
        out.push_str(&format!(
            "2 123456789012 {eni} {client} {server} {sp} {dp} {protocol} 3 180 {start} {end} {req} OK {flags}\n"
        ));
        if d.below(3) != 0 {
            let rep = action(&mut d);
            let rflags = *d.pick(&[18u64, 19, 3, 1]);
            out.push_str(&format!(
                "2 123456789012 {} {server} {client} {dp} {sp} {protocol} 3 180 {start} {end} {rep} OK {rflags}\n",
                d.pick(&enis)
            ));
        }
    }
    out
}

#[test]
fn athena_gives_the_verdicts_of_the_files_on_generated_records_across_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("gen.yaml");
    std::fs::write(&spec, GENERATED_SPEC).unwrap();
    let spec = spec.to_str().unwrap().to_string();
    // Twelve cases with tcp-flags, and six in the default format (version 2), which has none:
    // AWS's table declares the column anyway, and it is NULL in every row.
    let mut cases = Vec::new();
    let mut tables = serde_json::Map::new();
    for seed in 0..18u64 {
        let name = if seed < 12 {
            format!("case{seed}")
        } else {
            format!("v2case{seed}")
        };
        let mut text = generated_records(seed);
        if seed >= 12 {
            text = text
                .lines()
                .map(|l| l.rsplit_once(' ').unwrap().0.to_string() + "\n")
                .collect();
        }
        let file = dir.path().join(format!("{name}.log"));
        std::fs::write(&file, text).unwrap();
        tables.insert(
            format!("flowlogs.{name}"),
            text_table(&[file.to_str().unwrap()]),
        );
        cases.push(name);
    }
    let athena = LocalAthena::start(
        serde_json::Value::Object(tables),
        serde_json::json!({"polls_before_done": 0, "delivery_delay": 300}),
    );
    let mut kinds = std::collections::BTreeSet::new();
    // Across midnight; and ending just before it, when records of the window's last minutes
    // are delivered after midnight, into the next day's partition.
    for (start, end) in [
        ("2026-11-20T23:40:00Z", "2026-11-21T00:20:00Z"),
        ("2026-11-20T23:15:00Z", "2026-11-20T23:55:00Z"),
    ] {
        for seed in &cases {
            let file = dir.path().join(format!("{seed}.log"));
            let files = run(&[
                "check",
                "--flow-logs",
                file.to_str().unwrap(),
                "--start",
                start,
                "--end",
                end,
                &spec,
            ]);
            let expected = verdicts(&files);
            let table = format!("flowlogs.{seed}");
            let o = athena.run(&[
                "check",
                "--athena-table",
                &table,
                "--start",
                start,
                "--end",
                end,
                &spec,
            ]);
            assert_eq!(
                verdicts(&o),
                expected,
                "{seed}, {start} .. {end}: {}\n--- files:\n{}\n--- athena:\n{}",
                stderr(&o),
                stdout(&files),
                stdout(&o)
            );
            kinds.extend(
                expected
                    .2
                    .iter()
                    .map(|l| l.split(':').next().unwrap().to_string()),
            );
        }
    }
    // The cases are worth comparing: they fail in several ways.
    assert!(kinds.len() >= 3, "{kinds:?}");
    assert!(
        athena.queries().iter().any(|q| q["query"]
            .as_str()
            .unwrap()
            .contains("\"day\" IN ('2026/11/20', '2026/11/21')")),
        "windows across midnight read both days"
    );
}

/// A check against the local Athena with `faults`: the shop over the troubled cutover's half hour.
fn athena_with(faults: serde_json::Value) -> (LocalAthena, Output) {
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.vpc_flow_logs": text_table(&[TROUBLED])}),
        serde_json::json!({"faults": faults, "polls_before_done": 1}),
    );
    let mut args = vec!["check", "--athena-table", "flowlogs.vpc_flow_logs"];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let o = athena.run(&args);
    (athena, o)
}

#[test]
fn a_failed_or_refused_athena_query_leaves_the_checks_unavailable_with_athenas_reason() {
    let reason = "Access denied when writing output to url: s3://athena-results/ (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)";
    let (_a, failed) = athena_with(serde_json::json!({"state": "FAILED", "reason": reason}));
    let out = stdout(&failed);
    assert_eq!(failed.status.code(), Some(3), "{}{out}", stderr(&failed));
    assert!(out.contains("UNAVAILABLE") && out.contains(reason), "{out}");
    assert!(
        !out.contains("... ok"),
        "nothing passes on a failed query: {out}"
    );

    let (_a, denied) = athena_with(serde_json::json!({
        "start": "AccessDeniedException",
        "message": "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: athena:StartQueryExecution"
    }));
    let out = stdout(&denied);
    assert_eq!(denied.status.code(), Some(3), "{}{out}", stderr(&denied));
    assert!(
        out.contains("athena:StartQueryExecution") && out.contains("not authorized"),
        "{out}"
    );

    // A workgroup without a result location, and no --athena-output: Athena refuses the start.
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.vpc_flow_logs": text_table(&[TROUBLED])}),
        serde_json::json!({"workgroup_output": ""}),
    );
    let mut args = vec!["check", "--athena-table", "flowlogs.vpc_flow_logs"];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let o = athena.run(&args);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("help: give --athena-output"),
        "{}",
        stdout(&o)
    );
    let mut with_output = args.clone();
    with_output.extend(["--athena-output", "s3://athena-results/flowgate/"]);
    let o = athena.run(&with_output);
    assert_eq!(
        o.status.code(),
        Some(101),
        "--athena-output is used: {}",
        stderr(&o)
    );

    let (_a, results) = athena_with(serde_json::json!({"results": "AccessDeniedException"}));
    assert_eq!(results.status.code(), Some(3), "{}", stdout(&results));
    assert!(
        stdout(&results).contains("athena:GetQueryResults"),
        "{}",
        stdout(&results)
    );
}

#[test]
fn an_athena_table_that_cannot_be_pruned_or_read_is_refused_before_any_query() {
    let mut unpartitioned = text_table(&[TROUBLED]);
    unpartitioned["partitions"] = serde_json::json!([]);
    let mut no_ports = text_table(&[TROUBLED]);
    no_ports["columns"] = athena_columns(
        "interface_id srcaddr dstaddr protocol:bigint start:bigint end:bigint action",
    );
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.flat": unpartitioned, "flowlogs.noports": no_ports}),
        serde_json::json!({}),
    );
    let check = |table: &str| {
        let mut args = vec!["check", "--athena-table", table];
        args.extend(EXAMPLE_WINDOW);
        args.push(SPEC);
        athena.run(&args)
    };
    for (table, says) in [
        ("flowlogs.flat", "is not partitioned by day"),
        ("flowlogs.noports", "has no column srcport, dstport"),
        ("flowlogs.missing", "--athena-table flowlogs.missing"),
        ("no_database", "give it as DATABASE.TABLE"),
    ] {
        let o = check(table);
        assert_eq!(o.status.code(), Some(2), "{table}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{table}: {}", stderr(&o));
    }
    // A run in a region the table's projection does not list would read nothing of it.
    let mut args = vec![
        "check",
        "--athena-table",
        "flowlogs.flat",
        "--region",
        "us-east-1",
    ];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let o = LocalAthena::start(
        serde_json::json!({"flowlogs.flat": text_table(&[TROUBLED])}),
        serde_json::json!({}),
    )
    .run(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "the run's region us-east-1 is not one the table's partition projection lists"
        ),
        "{}",
        stderr(&o)
    );
    assert!(athena.queries().is_empty(), "no query ran");
    // Options that only mean something with a table say so.
    let o = run(&[
        "check",
        "--athena-workgroup",
        "analytics",
        "--flow-logs",
        TROUBLED,
        SPEC,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--athena-workgroup goes with --athena-table"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ctrl_c_stops_the_athena_queries_and_the_checks_end_unavailable() {
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.vpc_flow_logs": text_table(&[TROUBLED])}),
        serde_json::json!({"faults": {"hang": true}}),
    );
    let child = flowgate_process()
        .args([
            "check",
            "--no-explain",
            "--athena-table",
            "flowlogs.vpc_flow_logs",
        ])
        .args(EXAMPLE_WINDOW)
        .arg(SPEC)
        .args(["--endpoint-url", &athena.endpoint])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while athena.queries().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    interrupt(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}{}", stderr(&o), stdout(&o));
    assert!(stdout(&o).contains("UNAVAILABLE"), "{}", stdout(&o));
    let stops = std::fs::read_to_string(&athena.log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("StopQueryExecution"))
        .count();
    assert!(stops >= 1, "the running queries were stopped");
}

#[test]
fn query_prints_the_athena_sql_and_athena_ddl_prints_the_table() {
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.vpc_flow_logs": text_table(&[TROUBLED])}),
        serde_json::json!({}),
    );
    let mut args = vec!["query", "--athena-table", "flowlogs.vpc_flow_logs"];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let o = flowgate()
        .args(&args)
        .args(["--endpoint-url", &athena.endpoint])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("# Athena table: flowlogs.vpc_flow_logs")
            && out.contains("FROM \"flowlogs\".\"vpc_flow_logs\"")
            && out.contains("\"day\" IN ('2026/11/20')"),
        "{out}"
    );
    assert!(athena.queries().is_empty(), "query runs nothing");

    let ddl = run(&[
        "athena-ddl",
        "--location",
        "s3://org-flow-logs/",
        "--accounts",
        "111111111111,222222222222",
        "--regions",
        "eu-west-1",
    ]);
    assert_eq!(ddl.status.code(), Some(0), "{}", stderr(&ddl));
    assert!(stdout(&ddl).contains("'storage.location.template'='s3://org-flow-logs/AWSLogs/${accid}/vpcflowlogs/${region}/${day}'"));
    let missing = run(&["athena-ddl", "--location", "s3://org-flow-logs/"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("--accounts and --regions"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn triage_and_observe_through_athena_say_what_the_files_say() {
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.vpc_flow_logs": text_table(&[TROUBLED])}),
        serde_json::json!({"polls_before_done": 0}),
    );
    for command in [vec!["triage", SPEC], vec!["observe", "--hosts-of", SPEC]] {
        let mut files = vec![command[0], "--flow-logs", TROUBLED];
        files.extend(EXAMPLE_WINDOW);
        files.extend(&command[1..]);
        let expected = run(&files);
        let mut args = vec![command[0], "--athena-table", "flowlogs.vpc_flow_logs"];
        args.extend(EXAMPLE_WINDOW);
        args.extend(&command[1..]);
        let o = athena.run(&args);
        assert_eq!(o.status.code(), expected.status.code(), "{}", stderr(&o));
        // The listing itself, without the line that says what was read.
        let body = |o: &Output| {
            stdout(o)
                .lines()
                .filter(|l| !l.contains("flow-log file") && !l.contains("Athena table"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(body(&o), body(&expected), "{}: {}", command[0], stderr(&o));
        assert!(!body(&o).is_empty());
    }
}

#[test]
fn an_athena_window_with_no_record_in_its_partitions_is_missing_evidence_never_no_traffic() {
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.vpc_flow_logs": text_table(&[TROUBLED])}),
        serde_json::json!({"polls_before_done": 0}),
    );
    // A day after the records: the partitions hold nothing.
    let o = athena.run(&[
        "check",
        "--athena-table",
        "flowlogs.vpc_flow_logs",
        "--start",
        "2026-11-21T09:00:00Z",
        "--end",
        "2026-11-21T09:30:00Z",
        SPEC,
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{}{out}", stderr(&o));
    assert!(
        !out.contains("NO_TRAFFIC") && !out.contains("... ok"),
        "{out}"
    );
    assert!(
        out.contains("INCOMPLETE") || out.contains("UNAVAILABLE"),
        "{out}"
    );
    assert!(stderr(&o).contains("evidence missing"), "{}", stderr(&o));
}

#[test]
fn athena_over_parquet_in_hourly_hive_folders_gives_the_verdicts_of_the_files() {
    // The troubled cutover's objects as Parquet (AWS's column names and types), in the
    // Hive-compatible per-hour folders, written by the S3 tests' own converter.
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import glob, gzip, os, sys
sys.path.insert(0, "tests/data")
from s3_layouts import parquet, EXAMPLES
out = sys.argv[1]
for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.log.gz"))):
    name = os.path.basename(path)
    hour = name.split("T")[1][:2]
    folder = os.path.join(out, "AWSLogs", "aws-account-id=123456789012", "aws-service=vpcflowlogs",
                          "aws-region=eu-west-1", "year=2026", "month=11", "day=20", f"hour={hour}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name.replace(".log.gz", ".log.parquet")), "wb") as f:
        f.write(parquet(gzip.decompress(open(path, "rb").read())))
"#;
    let written = std::process::Command::new(test_python())
        .args(["-c", script])
        .arg(dir.path())
        .current_dir(ROOT)
        .status()
        .unwrap();
    assert!(written.success());
    let table = serde_json::json!({
        "columns": athena_columns(ATHENA_COLUMNS),
        "partitions": [
            ["aws_account_id", "string"], ["aws_service", "string"], ["aws_region", "string"],
            ["year", "string"], ["month", "string"], ["day", "string"], ["hour", "string"]
        ],
        "parameters": {
            "projection.enabled": "true",
            "projection.aws_account_id.type": "enum",
            "projection.aws_account_id.values": "123456789012",
            "projection.aws_region.type": "enum",
            "projection.aws_region.values": "eu-west-1"
        },
        "partition_values": {
            "aws_account_id": "{account}", "aws_service": "vpcflowlogs", "aws_region": "{region}",
            "year": "{delivered:%Y}", "month": "{delivered:%m}", "day": "{delivered:%d}", "hour": "{delivered:%H}"
        },
        "files": [dir.path()],
    });
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.parquet_hive": table}),
        serde_json::json!({"polls_before_done": 0}),
    );
    let mut files = vec!["check", "--flow-logs", TROUBLED];
    files.extend(EXAMPLE_WINDOW);
    files.push(SPEC);
    let expected = verdicts(&run(&files));
    let mut args = vec!["check", "--athena-table", "flowlogs.parquet_hive"];
    args.extend(EXAMPLE_WINDOW);
    args.push(SPEC);
    let o = athena.run(&args);
    assert_eq!(verdicts(&o), expected, "{}", stderr(&o));
    for q in athena.queries() {
        let sql = q["query"].as_str().unwrap();
        assert!(
            sql.contains("\"aws_service\" = 'vpcflowlogs'") && sql.contains("\"hour\" IN ("),
            "{sql}"
        );
    }
}

#[test]
fn a_listing_cut_short_by_its_reader_is_no_crash() {
    // More names than a pipe holds, read by `head -1`: the rest has nowhere to go.
    let dir = tempfile::tempdir().unwrap();
    let mut spec =
        String::from("app: many\nhosts:\n  a: { ip: 10.0.0.1 }\n  b: { ip: 10.0.0.2 }\nexpect:\n");
    for i in 0..4000 {
        spec.push_str(&format!(
            "  - {{ name: expectation number {i}, from: a, to: b, port: {} }}\n",
            1000 + i
        ));
    }
    let path = dir.path().join("many.yaml");
    std::fs::write(&path, spec).unwrap();
    let o = std::process::Command::new("bash")
        .args([
            "-c",
            "\"$0\" check --list \"$1\" | head -1; exit ${PIPESTATUS[0]}",
        ])
        .arg(env!("CARGO_BIN_EXE_flowgate"))
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "many::expectation number 0: test\n");
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn an_athena_partition_of_the_window_without_records_is_missing_evidence() {
    let athena = LocalAthena::start(
        serde_json::json!({"flowlogs.vpc_flow_logs": text_table(&[TROUBLED])}),
        serde_json::json!({"polls_before_done": 0}),
    );
    // The window runs into the next day, whose partition holds nothing: not registered, or
    // not delivered. Passes become INCOMPLETE; what failed still fails.
    let o = athena.run(&[
        "check",
        "--athena-table",
        "flowlogs.vpc_flow_logs",
        "--start",
        "2026-11-20T09:00:00Z",
        "--end",
        "2026-11-21T01:00:00Z",
        SPEC,
    ]);
    let out = stdout(&o);
    assert!(!out.contains("... ok"), "{out}");
    assert!(out.contains("INCOMPLETE"), "{out}");
    assert!(
        stderr(&o).contains(
            "no record in partition day=2026/11/21 of Athena table flowlogs.vpc_flow_logs"
        ),
        "{}",
        stderr(&o)
    );
}
