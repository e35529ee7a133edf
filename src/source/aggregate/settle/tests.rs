use super::*;
use crate::verdict::ConnVerdict;

fn plan() -> Plan {
    let spec = crate::spec::parse(
        std::path::Path::new("t.yaml"),
        "app: t
hosts:
  web: { ips: [10.0.1.10, 10.0.1.11] }
  app: { ip: 10.0.2.20 }
expect:
  - { name: web reaches app, from: web, to: app, port: 8080 }
  - { name: web reaches app ssh, from: web, to: app, port: 22, return: optional }
  - { name: app never reaches web, from: app, to: web, port: 22, deny: true }
",
    )
    .unwrap();
    crate::plan::build(&[spec], crate::plan::Window::default()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn row(src: &str, dst: &str, action: Action, sports: (u16, u16), dports: (u16, u16)) -> PairRow {
    PairRow {
        iface: IfaceId::new("eni-server").unwrap(),
        src: ip(src),
        dst: ip(dst),
        protocol: 6,
        action,
        tcp_flags: Some(if src.starts_with("10.0.2") { 18 } else { 2 }),
        records: 10,
        first: Some(1000),
        last_start: Some(1600),
        last: Some(1660),
        src_ports: Span {
            low: sports.0,
            high: sports.1,
            distinct: 5,
        },
        dst_ports: Span {
            low: dports.0,
            high: dports.1,
            distinct: 1,
        },
    }
}

#[test]
fn a_healthy_pair_is_settled_from_its_totals_without_asking_again() {
    let plan = plan();
    let rows = [
        row(
            "10.0.1.10",
            "10.0.2.20",
            Action::Accept,
            (40000, 40100),
            (8080, 8080),
        ),
        PairRow {
            dst_ports: Span {
                low: 40000,
                high: 40100,
                distinct: 5,
            },
            src_ports: Span {
                low: 8080,
                high: 8080,
                distinct: 1,
            },
            ..row("10.0.2.20", "10.0.1.10", Action::Accept, (0, 0), (0, 0))
        },
    ];
    let s = settle(&plan, &[0], &rows);
    assert!(s.drill.is_empty(), "{s:?}");
    let ev = &s.pairs[&0][&(ip("10.0.1.10"), ip("10.0.2.20"))];
    let judged = crate::verdict::connections(plan.checks[0].kind, ev);
    assert_eq!(judged, ([(ConnVerdict::Established, 5)].into(), 0));
    assert!(ev.estimated);
}

#[test]
fn rejects_a_stopped_server_and_mixed_ports_are_asked_about_per_connection() {
    let plan = plan();
    let pair = unordered(ip("10.0.1.10"), ip("10.0.2.20"));
    let reject = [row(
        "10.0.1.10",
        "10.0.2.20",
        Action::Reject,
        (40000, 40100),
        (8080, 8080),
    )];
    assert!(
        settle(&plan, &[0], &reject).drill.contains(&pair),
        "a reject in a reach check"
    );
    let unanswered = [row(
        "10.0.1.10",
        "10.0.2.20",
        Action::Accept,
        (40000, 40100),
        (8080, 8080),
    )];
    assert!(
        settle(&plan, &[0], &unanswered).drill.contains(&pair),
        "requests without replies fail NO_RETURN"
    );
    let mixed = [row(
        "10.0.1.10",
        "10.0.2.20",
        Action::Accept,
        (40000, 40100),
        (22, 8080),
    )];
    assert!(
        settle(&plan, &[0], &mixed).drill.contains(&pair),
        "two server ports in one row"
    );
    let refused = [row(
        "10.0.2.20",
        "10.0.1.10",
        Action::Reject,
        (40000, 40100),
        (22, 22),
    )];
    let s = settle(&plan, &[2], &refused);
    assert!(
        s.drill.is_empty(),
        "a deny check's refused pair is settled: {s:?}"
    );
}

#[test]
fn an_old_connection_that_still_gets_replies_does_not_excuse_new_ones_left_unanswered() {
    // A pooled connection keeps getting replies (ACK, no SYN) while new connections get none:
    // the service stopped taking connections. Only a later SYN-ACK shows it still does.
    let plan = plan();
    let request = row(
        "10.0.1.10",
        "10.0.2.20",
        Action::Accept,
        (40000, 40100),
        (8080, 8080),
    );
    let pooled = PairRow {
        tcp_flags: Some(16),
        last: Some(1700),
        dst_ports: Span {
            low: 40000,
            high: 40000,
            distinct: 1,
        },
        src_ports: Span {
            low: 8080,
            high: 8080,
            distinct: 1,
        },
        ..row("10.0.2.20", "10.0.1.10", Action::Accept, (0, 0), (0, 0))
    };
    let pair = unordered(ip("10.0.1.10"), ip("10.0.2.20"));
    assert!(
        settle(&plan, &[0], &[request.clone(), pooled.clone()])
            .drill
            .contains(&pair)
    );
    let syn_ack = PairRow {
        tcp_flags: Some(18),
        ..pooled
    };
    assert!(settle(&plan, &[0], &[request, syn_ack]).drill.is_empty());
}

/// "about N" connections: rows of one interface split by tcp-flags (a SYN row, a FIN row) and by
/// the window and the minutes before it hold the same client ports; they are not counted twice.
#[test]
fn rows_split_by_tcp_flags_or_window_halves_do_not_inflate_the_count() {
    let plan = plan();
    let request = |flags: u8, last: u64| PairRow {
        tcp_flags: Some(flags),
        last: Some(last),
        ..row(
            "10.0.1.10",
            "10.0.2.20",
            Action::Accept,
            (40000, 40100),
            (8080, 8080),
        )
    };
    let reply = |flags: u8, last: u64| PairRow {
        tcp_flags: Some(flags),
        last: Some(last),
        dst_ports: Span {
            low: 40000,
            high: 40100,
            distinct: 5,
        },
        src_ports: Span {
            low: 8080,
            high: 8080,
            distinct: 1,
        },
        ..row("10.0.2.20", "10.0.1.10", Action::Accept, (0, 0), (0, 0))
    };
    // SYN rows and FIN rows of the same five connections, in the window and just before it.
    let rows = [
        request(2, 1660),
        request(1, 1660),
        request(1, 1000),
        reply(18, 1660),
        reply(17, 1660),
        reply(17, 1000),
    ];
    let s = settle(&plan, &[0], &rows);
    assert!(s.drill.is_empty(), "{s:?}");
    let ev = &s.pairs[&0][&(ip("10.0.1.10"), ip("10.0.2.20"))];
    let judged = crate::verdict::connections(plan.checks[0].kind, ev);
    assert_eq!(judged, ([(ConnVerdict::Established, 5)].into(), 0));
}
