use std::path::Path;

use super::*;

fn ok(src: &str) -> Spec {
    match parse(Path::new("t.yaml"), src) {
        Ok(spec) => spec,
        Err(problems) => panic!("unexpected problems: {problems:#?}"),
    }
}

/// Each problem as `line:col message`, in file order.
fn problems(src: &str) -> Vec<String> {
    match parse(Path::new("t.yaml"), src) {
        Ok(_) => panic!("the spec was accepted"),
        Err(problems) => problems
            .iter()
            .map(|p| match p.at {
                Some(at) => format!("{at} {}", p.message),
                None => p.message.clone(),
            })
            .collect(),
    }
}

const ISSUE_EXAMPLE: &str = r#"
app: shop                        # required; the JUnit testsuite and testcase classname
description: three-tier shop     # optional
window: 1h
hosts:
  web:    { ips: [10.0.1.10, 10.0.1.11] }
  app:    { ip: 10.0.2.20 }
  db:     { ip: 10.0.3.30 }
  dns:    { ip: 10.0.0.2 }
  onprem: { cidr: 192.168.0.0/16 }
  internet: { cidr: 0.0.0.0/0 }
expect:
  - name: users reach web
    from: onprem
    to: web
    port: 443
    protocol: tcp
  - { from: web, to: dns, port: 53, protocol: udp, return: optional }
  - { from: internet, to: db, port: 1433, deny: true }
"#;

#[test]
fn the_documented_example_parses() {
    let spec = ok(ISSUE_EXAMPLE);
    assert_eq!(spec.app, "shop");
    assert_eq!(spec.description.as_deref(), Some("three-tier shop"));
    assert_eq!(spec.window, Some(std::time::Duration::from_secs(3600)));
    assert_eq!(spec.hosts.len(), 6);
    let names: Vec<&str> = spec.expectations.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "users reach web",
            "web -> dns udp/53",
            "internet -> db tcp/1433"
        ]
    );
    let dns = &spec.expectations[1];
    assert_eq!(
        dns.kind,
        Kind::Reach {
            return_required: false
        }
    );
    assert_eq!(dns.protocol, Protocol::UDP);
    assert!(spec.expectations[2].is_deny());
    assert_eq!(spec.expectations[0].at, Pos { line: 13, col: 5 });
}

#[test]
fn ports_accept_numbers_ranges_and_lists() {
    let spec = ok(
        "app: a\nhosts: {x: {ip: 10.0.0.1}}\nexpect:\n  - {from: any, to: x, port: [80, \"1024-65535\", 443]}\n  - {from: any, to: x, port: 22-23}\n",
    );
    assert_eq!(spec.expectations[0].name, "any -> x tcp/80,443,1024-65535");
    assert_eq!(spec.expectations[1].name, "any -> x tcp/22-23");
}

#[test]
fn hosts_take_ips_cidrs_ipv6_and_except() {
    let spec = ok(
        "app: a\nhosts:\n  h: {ips: [10.0.0.1, '2001:db8::1'], cidrs: [10.1.0.0/16], except: [10.1.2.0/24, 10.1.3.3]}\nexpect: [{from: h, to: any, port: 443}]\n",
    );
    match &spec.hosts["h"].selector {
        HostSelector::Networks { include, exclude } => {
            assert_eq!(include.len(), 3);
            assert_eq!(
                exclude.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                ["10.1.2.0/24", "10.1.3.3/32"]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn aws_selectors_are_valid_spec_syntax() {
    let spec = ok(
        "app: a\nhosts:\n  web: {tag: {Name: shop-web}}\n  db: {instance: i-0123456789abcdef0}\nexpect: [{from: web, to: db, port: 1433}]\n",
    );
    assert_eq!(
        spec.hosts["web"].selector,
        HostSelector::Aws(AwsSelector::Tag(
            [("Name".to_string(), "shop-web".to_string())].into()
        ))
    );
}

#[test]
fn protocols_without_ports_match_any_port() {
    let spec = ok(
        "app: a\nhosts: {x: {ip: 10.0.0.1}}\nexpect:\n  - {from: any, to: x, protocol: icmp}\n  - {from: any, to: x, protocol: 47}\n",
    );
    assert_eq!(spec.expectations[0].ports, Ports::Any);
    assert_eq!(spec.expectations[1].name, "any -> x protocol 47");
}

#[test]
fn unknown_keys_are_named_with_their_position() {
    assert_eq!(
        problems(
            "app: a\ncolour: red\nhosts:\n  x: {ip: 10.0.0.1, zone: b}\nexpect:\n  - {from: any, to: x, port: 1, prot: tcp}\n"
        ),
        [
            "2:1 unknown key `colour` in the spec",
            "4:21 unknown key `zone` in `hosts.x`",
            "6:33 unknown key `prot` in `expect[0]`",
        ]
    );
}

#[test]
fn undefined_hosts_are_errors_with_the_defined_ones_listed() {
    let p = parse(
        Path::new("t.yaml"),
        "app: a\nhosts: {web: {ip: 10.0.0.1}}\nexpect:\n  - {from: web, to: dbb, port: 1}\n",
    )
    .unwrap_err();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].to_string(),
        "t.yaml:4:21: undefined host `dbb` in `to`\n  help: defined hosts: web; or use `any`"
    );
}

#[test]
fn bad_addresses_and_networks_are_errors() {
    assert_eq!(
        problems(
            "app: a\nhosts:\n  a: {ip: 10.0.0.300}\n  b: {ip: 10.0.0.0/24}\n  c: {cidr: 10.0.0.1/24}\n  d: {cidr: 10.0.0.1}\n  e: {cidrs: [nope]}\nexpect: [{from: a, to: b, port: 1}]\n"
        ),
        [
            "3:11 `10.0.0.300` is not an IPv4 or IPv6 address",
            "4:11 `10.0.0.0/24` is a network, not an address",
            "5:13 `10.0.0.1/24` has host bits set",
            "6:13 `10.0.0.1` is an address, not a network",
            "7:15 `nope` is not a CIDR network",
        ]
    );
}

#[test]
fn ports_outside_the_range_or_on_icmp_are_errors() {
    assert_eq!(
        problems(
            "app: a\nhosts: {x: {ip: 10.0.0.1}}\nexpect:\n  - {from: any, to: x, port: 0}\n  - {from: any, to: x, port: 65536}\n  - {from: any, to: x, port: [80, 9-1]}\n  - {from: any, to: x, port: 8, protocol: icmp}\n  - {from: any, to: x}\n  - {from: any, to: x, port: http}\n"
        ),
        [
            "4:30 port `0` is outside 1-65535",
            "5:30 port `65536` is outside 1-65535",
            "6:35 port range `9-1` is backwards",
            "7:24 icmp has no ports",
            "8:5 tcp expectation has no `port`",
            "9:30 `http` is not a port or a port range",
        ]
    );
}

#[test]
fn duplicate_test_names_point_at_the_second_one() {
    assert_eq!(
        problems(
            "app: a\nhosts: {x: {ip: 10.0.0.1}}\nexpect:\n  - {name: same, from: any, to: x, port: 1}\n  - {name: same, from: any, to: x, port: 2}\n  - {from: any, to: x, port: 3}\n  - {from: any, to: x, port: 3}\n"
        ),
        [
            "5:12 duplicate test name `same` (first used at line 4)",
            "7:5 duplicate test name `any -> x tcp/3` (first used at line 6)",
        ]
    );
}

#[test]
fn duplicate_yaml_keys_are_errors_not_silently_merged() {
    assert_eq!(
        problems(
            "app: a\nhosts:\n  x: {ip: 10.0.0.1}\n  x: {ip: 10.0.0.2}\nexpect: [{from: any, to: x, port: 1}]\n"
        ),
        ["4:3 duplicate key `x` in `hosts`"]
    );
}

#[test]
fn structural_errors_carry_serde_positions() {
    assert_eq!(
        problems("app: [a]\nexpect: []\n"),
        [
            "1:6 app must be text, not a list",
            "2:1 the spec has no expectations"
        ]
    );
    assert_eq!(
        problems("app: a\nhosts: [web]\n"),
        [
            "1:1 the spec has no expectations",
            "2:8 `hosts` must be a map of host names, not a list"
        ]
    );
    assert_eq!(problems(""), ["the spec is empty"]);
    assert_eq!(
        problems("app: a\n  bad: : x\n"),
        ["2:6 mapping values are not allowed in this context"]
    );
}

#[test]
fn other_value_errors() {
    assert_eq!(
        problems(
            "app: my app\nwindow: 90\nhosts:\n  any: {ip: 10.0.0.1}\n  m: {ip: 10.0.0.1, tag: {Name: m}}\n  n: {}\n  o: {instance: i-123}\n  p: {except: [10.0.0.0/8]}\nexpect:\n  - {from: any, to: any, protocol: gre}\n  - {from: m, to: n, port: 1, deny: yes, return: optional}\n"
        ),
        [
            "1:6 app `my app` is not a valid name",
            "2:9 window must be a duration, not a number",
            "4:3 `any` is reserved: it means every address",
            "5:21 host `m` mixes an AWS selector (`tag`) with addresses (`ip`)",
            "6:3 host `n` has no addresses",
            "7:17 `i-123` is not a valid instance id",
            "8:7 `except` only narrows ip/ips/cidr/cidrs hosts",
            "10:21 `from` and `to` cannot both be `any`",
            "10:36 protocol `gre` is not known",
            "11:37 deny must be true or false, not `yes`",
        ]
    );
}

#[test]
fn except_that_empties_a_host_or_misses_it_is_an_error() {
    assert_eq!(
        problems(
            "app: a\nhosts:\n  b: {cidr: 10.0.1.0/24, except: [10.0.0.0/16]}\n  c: {ip: 10.0.0.1, except: [10.9.9.9]}\nexpect: [{from: b, to: c, port: 1}]\n"
        ),
        [
            "3:3 host `b` has no addresses left: `except` removes all of them",
            "4:30 `10.9.9.9/32` is outside every network of host `c`",
        ]
    );
}

#[test]
fn typo_hints_do_not_suggest_a_key_already_given() {
    let p = parse(Path::new("t.yaml"), "app: a\nhosts: {x: {ip: 10.0.0.1}}\nexpect:\n  - {from: any, to: x, port: 1, prot: udp}\n  - {from: any, to: x, prot: udp}\n").unwrap_err();
    let hints: Vec<&str> = p.iter().filter_map(|p| p.help.as_deref()).collect();
    assert!(!hints[0].contains("`port`"), "{hints:?}");
    assert!(hints.contains(&"did you mean `port`?"), "{hints:?}");
}

#[test]
fn syntax_errors_say_tabs_are_not_indentation_and_print_the_position_once() {
    let p = parse(Path::new("t.yaml"), "app: a\nhosts:\n\tx: {ip: 10.0.0.1}\n").unwrap_err();
    assert_eq!(
        p[0].help.as_deref(),
        Some("YAML does not allow tabs for indentation: indent with spaces")
    );
    let p = parse(
        Path::new("t.yaml"),
        "app: a\nhosts:\n  x: {ip: 10.0.0.1\nexpect: []\n",
    )
    .unwrap_err();
    assert!(!p[0].message.contains("at line"), "{}", p[0].message);
    assert_eq!(
        p[0].message,
        "did not find expected ',' or '}', while parsing a flow mapping"
    );
}

#[test]
fn a_duplicate_key_does_not_hide_the_other_problems() {
    assert_eq!(
        problems(
            "app: a\nhosts:\n  x: {ip: 10.0.0.1}\n  x: {ip: 10.0.0.2}\nexpect: [{from: any, to: y, port: 1}]\n"
        ),
        [
            "4:3 duplicate key `x` in `hosts`",
            "5:26 undefined host `y` in `to`"
        ]
    );
}

#[test]
fn strict_hosts_are_booleans_and_their_test_names_cannot_clash() {
    let spec = ok(
        "app: t\nhosts:\n  db: { ip: 10.0.3.30, strict: true }\n  app: { ip: 10.0.2.20, strict: false }\nexpect:\n  - { from: app, to: db, port: 1433 }\n",
    );
    assert!(spec.hosts["db"].strict && !spec.hosts["app"].strict);
    assert_eq!(
        problems(
            "app: t\nhosts:\n  db: { ip: 10.0.3.30, strict: yes }\nexpect:\n  - { from: db, to: db, port: 1 }\n"
        ),
        ["3:32 strict must be true or false, not `yes`"]
    );
    assert_eq!(
        problems(
            "app: t\nhosts:\n  db:\n    ip: 10.0.3.30\n    strict: true\nexpect:\n  - { name: nothing else reaches db, from: db, to: db, port: 1 }\n"
        ),
        [
            "5:13 strict host `db` adds the test `nothing else reaches db`, which an expectation already names (line 7)"
        ]
    );
}

#[test]
fn managed_service_selectors_parse_into_the_model() {
    let spec = ok(r#"app: a
hosts:
  lb: { load_balancer: shop-web }
  fn: { lambda: shop_reports-1 }
  vpce: { vpc_endpoint: vpce-0123456789abcdef0 }
  nat: { nat_gateway: nat-0123456789abcdef0 }
  rds: { interface: { description: RDSNetworkInterface, security_group: sg-0123456789abcdef0 }, account: "222222222222" }
expect: [{from: lb, to: rds, port: 5432}]
"#);
    let sel = |h: &str| match &spec.hosts[h].selector {
        HostSelector::Aws(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(sel("lb"), AwsSelector::LoadBalancer("shop-web".into()));
    assert_eq!(sel("fn"), AwsSelector::Lambda("shop_reports-1".into()));
    assert_eq!(
        sel("vpce"),
        AwsSelector::VpcEndpoint("vpce-0123456789abcdef0".into())
    );
    assert_eq!(
        sel("nat"),
        AwsSelector::NatGateway("nat-0123456789abcdef0".into())
    );
    assert_eq!(
        sel("rds"),
        AwsSelector::Interface(InterfaceFilter {
            description: Some("RDSNetworkInterface".into()),
            security_group: Some("sg-0123456789abcdef0".into()),
            ..InterfaceFilter::default()
        })
    );
    assert_eq!(spec.hosts["rds"].account.as_deref(), Some("222222222222"));
    assert_eq!(spec.hosts["lb"].account, None);
}

#[test]
fn managed_service_selectors_and_accounts_are_checked() {
    assert_eq!(
        problems(
            r#"app: a
hosts:
  lb: { load_balancer: "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/x/1" }
  fn: { lambda: "my function" }
  vpce: { vpc_endpoint: vpc-0123456789abcdef0 }
  nat: { nat_gateway: nat-xyz }
  i1: { interface: { descripton: x } }
  i2: { interface: { type: lamda } }
  i3: { interface: {} }
  i4: { interface: RDS }
  a1: { tag: { Name: x }, account: 22222222222 }
  a2: { ip: 10.0.0.1, account: "222222222222" }
  two: { load_balancer: x, lambda: y }
expect: [{from: lb, to: fn, port: 1}]
"#
        ),
        [
            "3:24 `arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/x/1` is not a load balancer name",
            "4:17 `my function` is not a Lambda function name",
            "5:25 `vpc-0123456789abcdef0` is not a valid vpc_endpoint id",
            "6:23 `nat-xyz` is not a valid nat_gateway id",
            "7:22 unknown key `descripton` in an `interface` selector",
            "8:28 `lamda` is not a network interface type",
            "9:20 `interface` is empty",
            "10:20 `interface` takes a mapping, not a string",
            "11:36 account `22222222222` is not an AWS account id",
            "12:23 host `a2` names an account but no AWS selector",
            "13:28 host `two` has more than one AWS selector (`load_balancer` and `lambda`)",
        ]
    );
}
