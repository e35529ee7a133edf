use super::*;

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn spans(list: &[&str]) -> Spans {
    Spans::of_nets(&nets(list))
}

#[test]
fn set_operations_keep_families_apart() {
    let a = spans(&["10.0.0.0/16", "2001:db8::/32"]);
    let b = spans(&["10.0.3.0/24", "::/0"]);
    assert_eq!(
        a.intersect(&b).networks(),
        nets(&["10.0.3.0/24", "2001:db8::/32"])
    );
    assert_eq!(
        a.subtract(&b).networks(),
        nets(&[
            "10.0.0.0/23",
            "10.0.2.0/24",
            "10.0.4.0/22",
            "10.0.8.0/21",
            "10.0.16.0/20",
            "10.0.32.0/19",
            "10.0.64.0/18",
            "10.0.128.0/17"
        ])
    );
    assert_eq!(
        spans(&["0.0.0.0/0"])
            .subtract(&spans(&["10.0.0.0/8"]))
            .networks()
            .len(),
        8
    );
    assert!(a.union(&b).contains("10.0.200.1".parse().unwrap()));
    assert!(!spans(&["10.0.0.0/16"]).contains("2001:db8::1".parse().unwrap()));
}

#[test]
fn atoms_cut_where_membership_changes() {
    let all_v4 = spans(&["0.0.0.0/0"]);
    let atoms = all_v4.atoms(&nets(&["10.0.0.0/8", "10.0.3.0/24", "192.168.0.0/16"]));
    // 0-9.x, 10.0.0.0-10.0.2.255, 10.0.3.0/24, 10.0.4.0-10.255.255.255, up to 192.167.., 192.168/16, rest
    assert_eq!(atoms.len(), 7);
    for a in &atoms {
        for c in nets(&["10.0.0.0/8", "10.0.3.0/24", "192.168.0.0/16"]) {
            let c = Span::of_net(&c);
            let inside = a.lo >= c.lo && a.hi <= c.hi;
            let outside = a.hi < c.lo || a.lo > c.hi;
            assert!(inside || outside, "{a:?} straddles {c:?}");
        }
    }
    // A cut at the very end of the space does not overflow.
    assert_eq!(spans(&["::/0"]).atoms(&nets(&["ffff::/16"])).len(), 2);
}

#[test]
fn a_picked_address_prefers_documentation_addresses_and_avoids_network_addresses() {
    let internet = spans(&["0.0.0.0/0"]).subtract(&spans(&["10.0.0.0/16"]));
    let piece = internet
        .atoms(&[])
        .into_iter()
        .find(|s| s.contains("203.0.113.10".parse().unwrap()))
        .unwrap();
    assert_eq!(piece.pick().to_string(), "203.0.113.10");
    assert_eq!(
        Span::of_net(&"10.0.3.0/24".parse().unwrap())
            .pick()
            .to_string(),
        "10.0.3.1"
    );
    assert_eq!(
        Span::of_net(&"10.0.3.30/32".parse().unwrap())
            .pick()
            .to_string(),
        "10.0.3.30"
    );
    assert_eq!(
        Span::of_net(&"::/0".parse().unwrap()).pick().to_string(),
        "2001:db8::10"
    );
}

#[test]
fn ports_are_cut_at_rule_bounds() {
    let atoms = port_atoms(&[1..=65535], &[(22, 22), (1024, 65535), (-1, -1)]);
    assert_eq!(atoms, vec![1..=21, 22..=22, 23..=1023, 1024..=65535]);
    assert_eq!(port_atoms(&[443..=443], &[(0, 1000)]), vec![443..=443]);
    assert_eq!(
        describe_ports(&[9090..=9090, 8000..=8100, 8101..=8200]),
        "8000-8200, 9090"
    );
}
