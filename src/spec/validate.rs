//! Raw spec → validated model, collecting every problem with its position.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::Path;

use ipnet::IpNet;
use serde_yaml::Value;

use super::locate::{Pos, Positions, Seg, display_path};
use super::model::{
    AwsSelector, Endpoint, Expectation, Host, HostSelector, InterfaceFilter, Kind, PortSet, Ports,
    Protocol, Spec,
};
use super::raw::{EXPECT_KEYS, HOST_KEYS, INTERFACE_KEYS, RawExpect, RawHost, RawSpec, SPEC_KEYS};
use super::{Problem, is_name};

pub(super) struct Validator<'a> {
    file: &'a Path,
    positions: &'a Positions,
    pub problems: Vec<Problem>,
    /// `hosts:` could not be read (its problem is reported): names in expectations are not
    /// checked against it, which would only add noise.
    pub hosts_unreadable: bool,
    /// `expect:` is not a list (reported): "no expectations" would say it twice.
    pub expect_unreadable: bool,
}

type P = Vec<Seg>;

/// A selector by id: its key, the value given, the id prefix, and the model variant.
type IdSelector<'a> = (
    &'static str,
    &'a Option<Value>,
    &'static str,
    fn(String) -> AwsSelector,
);

fn path(parts: &[Seg]) -> P {
    parts.to_vec()
}

fn child(parent: &[Seg], seg: impl Into<Seg>) -> P {
    let mut p = parent.to_vec();
    p.push(seg.into());
    p
}

/// Text of a scalar a user wrote; numbers count (YAML reads `app: 42` as a number).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl<'a> Validator<'a> {
    pub fn new(file: &'a Path, positions: &'a Positions) -> Self {
        Validator {
            file,
            positions,
            problems: Vec::new(),
            hosts_unreadable: false,
            expect_unreadable: false,
        }
    }

    fn problem(&mut self, at: Pos, message: String, help: Option<String>) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            at: Some(at),
            message,
            help,
        });
    }

    /// A problem with the value at `path`.
    /// The items of a list the spec must give as a list; one value given alone is a problem
    /// that shows the list to write, and is still checked as the list's only item.
    fn list(&mut self, at: &[Seg], v: &Value, key: &str, what: &str) -> Vec<Value> {
        match v {
            Value::Sequence(items) => items.clone(),
            Value::Null => Vec::new(),
            one => {
                let shown = text(one).unwrap_or_else(|| format!("<{what}>"));
                self.at_value(
                    at,
                    format!("`{key}` takes a list, not {}", kind_of(one)),
                    Some(format!(
                        "write `{key}: [{shown}]`, or `{}: {shown}` for one {what}",
                        key.trim_end_matches('s')
                    )),
                );
                vec![one.clone()]
            }
        }
    }

    /// The tags of a `tag` selector, which must be a map.
    fn tags(&mut self, at: &[Seg], v: &Value) -> BTreeMap<String, Value> {
        match v {
            Value::Mapping(m) => m
                .iter()
                .map(|(k, v)| (text(k).unwrap_or_default(), v.clone()))
                .collect(),
            Value::Null => BTreeMap::new(),
            other => {
                self.at_value(
                    at,
                    format!(
                        "`tag` takes a map of tag names to values, not {}",
                        kind_of(other)
                    ),
                    Some("e.g. `tag: { Name: shop-web }`".into()),
                );
                BTreeMap::new()
            }
        }
    }

    /// A problem with the value at `path`, with a help line.
    pub fn problem_at_value(&mut self, path: &[Seg], message: String, help: &str) {
        self.at_value(path, message, Some(help.to_string()));
    }

    fn at_value(&mut self, path: &[Seg], message: impl Into<String>, help: Option<String>) {
        let at = self.positions.value(path);
        self.problem(at, message.into(), help);
    }

    /// A problem with the key that introduces `path`.
    fn at_key(&mut self, path: &[Seg], message: impl Into<String>, help: Option<String>) {
        let at = self.positions.key(path);
        self.problem(at, message.into(), help);
    }

    pub fn duplicate_keys(&mut self) {
        for dup in self.positions.duplicates.clone() {
            let key = match dup.path.last() {
                Some(Seg::Key(k)) => k.clone(),
                _ => String::new(),
            };
            self.problem(
                dup.at,
                format!("duplicate key `{key}` in {}", parent_label(&dup.path)),
                Some(format!(
                    "it is first given at line {}; YAML keeps only one of them, so merge or rename",
                    dup.first.line
                )),
            );
        }
    }

    pub fn unknown_key(&mut self, path: &[Seg]) {
        let (known, what): (&[&str], &str) = match path {
            [Seg::Key(_)] => (SPEC_KEYS, "the top level"),
            [Seg::Key(h), Seg::Key(_), Seg::Key(_)] if h == "hosts" => (HOST_KEYS, "a host"),
            [Seg::Key(e), Seg::Index(_), Seg::Key(_)] if e == "expect" => {
                (EXPECT_KEYS, "an expectation")
            }
            _ => (&[], "this place"),
        };
        let key = match path.last() {
            Some(Seg::Key(k)) => k.as_str(),
            _ => "?",
        };
        let parent = &path[..path.len() - 1];
        let close = known
            .iter()
            .filter(|k| self.positions.find(&child(parent, **k)).is_none())
            .map(|k| (strsim::jaro_winkler(k, key), k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let help = match close {
            Some((_, k)) => Some(format!("did you mean `{k}`?")),
            None => (!known.is_empty()).then(|| format!("{what} takes: {}", known.join(", "))),
        };
        self.at_key(
            path,
            format!("unknown key `{key}` in {}", parent_label(path)),
            help,
        );
    }

    fn text_at(&mut self, path: &[Seg], v: &Value, what: &str) -> Option<String> {
        match text(v) {
            Some(t) => Some(t),
            None => {
                self.at_value(
                    path,
                    format!("{what} must be text, not {}", kind_of(v)),
                    None,
                );
                None
            }
        }
    }

    pub fn spec(&mut self, raw: RawSpec, spec_path: &Path) -> Option<Spec> {
        let app = self.app(&raw.app);
        let description = raw
            .description
            .as_ref()
            .and_then(|d| self.text_at(&path(&["description".into()]), d, "description"));
        let window = raw.window.as_ref().and_then(|w| self.window(w));
        let mut hosts = BTreeMap::new();
        for (name, raw_host) in &raw.hosts {
            if let Some(host) = self.host(name, raw_host) {
                hosts.insert(name.clone(), host);
            }
        }
        if raw.expect.is_empty() && !self.expect_unreadable {
            self.at_key(
                &path(&["expect".into()]),
                "the spec has no expectations",
                Some(
                    "add at least one under `expect:`, e.g. `- { from: web, to: app, port: 8080 }`"
                        .into(),
                ),
            );
        }
        let mut expectations = Vec::new();
        let mut names: HashMap<String, Pos> = HashMap::new();
        for (i, raw_exp) in raw.expect.iter().enumerate() {
            let Some(raw_exp) = raw_exp else {
                continue;
            };
            let item = path(&["expect".into(), i.into()]);
            let Some(exp) = self.expectation(&item, raw_exp, &raw.hosts) else {
                continue;
            };
            let name_path = if raw_exp.name.is_some() {
                child(&item, "name")
            } else {
                item.clone()
            };
            if let Some(first) = names.get(&exp.name) {
                let help = if raw_exp.name.is_some() {
                    "test names must be unique within a spec; rename one of them".to_string()
                } else {
                    "two expectations have the same default name; give one of them a `name:`"
                        .to_string()
                };
                self.at_value(
                    &name_path,
                    format!(
                        "duplicate test name `{}` (first used at line {})",
                        exp.name, first.line
                    ),
                    Some(help),
                );
                continue;
            }
            names.insert(exp.name.clone(), self.positions.value(&name_path));
            expectations.push(exp);
        }
        // A strict host's test sits next to the expectations' tests: the names must not clash.
        for host in hosts.values().filter(|h| h.strict) {
            let name = Spec::strict_test_name(&host.name);
            if let Some(first) = names.get(&name) {
                self.at_value(
                    &path(&["hosts".into(), host.name.as_str().into(), "strict".into()]),
                    format!(
                        "strict host `{}` adds the test `{name}`, which an expectation already names (line {})",
                        host.name, first.line
                    ),
                    Some("rename that expectation".into()),
                );
            }
        }
        let app = app?;
        if !self.problems.is_empty() {
            return None;
        }
        Some(Spec {
            path: spec_path.to_path_buf(),
            app,
            description,
            window,
            hosts,
            expectations,
        })
    }

    fn app(&mut self, v: &Value) -> Option<String> {
        let p = path(&["app".into()]);
        let app = self.text_at(&p, v, "app")?;
        if !is_name(&app) {
            self.at_value(
                &p,
                format!("app `{app}` is not a valid name"),
                Some("use letters, digits, `-`, `_` or `.` (at most 64); it names the JUnit test suite".into()),
            );
            return None;
        }
        Some(app)
    }

    fn window(&mut self, v: &Value) -> Option<std::time::Duration> {
        let p = path(&["window".into()]);
        let help = Some("give a duration with a unit, e.g. `30m`, `1h`, `1h 30m`".to_string());
        let Value::String(s) = v else {
            self.at_value(
                &p,
                format!("window must be a duration, not {}", kind_of(v)),
                help,
            );
            return None;
        };
        match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.at_value(&p, "window must be longer than zero", help);
                None
            }
            Err(e) => {
                self.at_value(&p, format!("window `{s}` is not a duration: {e}"), help);
                None
            }
        }
    }

    fn host(&mut self, name: &str, raw: &RawHost) -> Option<Host> {
        let hp = path(&["hosts".into(), name.into()]);
        let before = self.problems.len();
        if name == "any" {
            self.at_key(
                &hp,
                "`any` is reserved: it means every address",
                Some("rename the host".into()),
            );
        } else if !is_name(name) {
            self.at_key(
                &hp,
                format!("host name `{name}` is not a valid name"),
                Some("use letters, digits, `-`, `_` or `.` (at most 64)".into()),
            );
        }

        let mut include = Vec::new();
        let mut given_addresses = Vec::new();
        if let Some(v) = &raw.ip {
            given_addresses.push("ip");
            include.extend(self.address(&child(&hp, "ip"), v));
        }
        if let Some(list) = &raw.ips {
            given_addresses.push("ips");
            let lp = child(&hp, "ips");
            let list = &self.list(&lp, list, "ips", "address");
            if list.is_empty() {
                self.at_value(
                    &lp,
                    "`ips` is empty",
                    Some("list at least one address".into()),
                );
            }
            for (i, v) in list.iter().enumerate() {
                include.extend(self.address(&child(&lp, i), v));
            }
        }
        if let Some(v) = &raw.cidr {
            given_addresses.push("cidr");
            include.extend(self.network(&child(&hp, "cidr"), v));
        }
        if let Some(list) = &raw.cidrs {
            given_addresses.push("cidrs");
            let lp = child(&hp, "cidrs");
            let list = &self.list(&lp, list, "cidrs", "network");
            if list.is_empty() {
                self.at_value(
                    &lp,
                    "`cidrs` is empty",
                    Some("list at least one network".into()),
                );
            }
            for (i, v) in list.iter().enumerate() {
                include.extend(self.network(&child(&lp, i), v));
            }
        }
        let mut exclude = Vec::new();
        if let Some(list) = &raw.except {
            let lp = child(&hp, "except");
            let list = &self.list(&lp, list, "except", "network");
            if given_addresses.is_empty() {
                self.at_key(
                    &lp,
                    "`except` only narrows ip/ips/cidr/cidrs hosts",
                    Some("add the networks to narrow, e.g. `cidr: 0.0.0.0/0`".into()),
                );
            }
            for (i, v) in list.iter().enumerate() {
                exclude.extend(self.network_or_address(&child(&lp, i), v));
            }
        }

        let mut aws = Vec::new();
        let mut aws_given = Vec::new();
        if let Some(tags) = &raw.tag {
            aws_given.push("tag");
            let tp = child(&hp, "tag");
            let tags = &self.tags(&tp, tags);
            if tags.is_empty() {
                self.at_value(
                    &tp,
                    "`tag` is empty",
                    Some("give at least one tag, e.g. `tag: {Name: shop-web}`".into()),
                );
            }
            let mut parsed = BTreeMap::new();
            for (k, v) in tags {
                if let Some(t) = self.text_at(&child(&tp, k.as_str()), v, "a tag value") {
                    parsed.insert(k.clone(), t);
                }
            }
            aws.push(("tag", AwsSelector::Tag(parsed)));
        }
        let id_selectors: [IdSelector<'_>; 6] = [
            ("instance", &raw.instance, "i-", AwsSelector::Instance),
            ("eni", &raw.eni, "eni-", AwsSelector::Eni),
            (
                "security_group",
                &raw.security_group,
                "sg-",
                AwsSelector::SecurityGroup,
            ),
            ("subnet", &raw.subnet, "subnet-", AwsSelector::Subnet),
            (
                "vpc_endpoint",
                &raw.vpc_endpoint,
                "vpce-",
                AwsSelector::VpcEndpoint,
            ),
            (
                "nat_gateway",
                &raw.nat_gateway,
                "nat-",
                AwsSelector::NatGateway,
            ),
        ];
        for (key, value, prefix, make) in id_selectors {
            if let Some(v) = value {
                aws_given.push(key);
                let vp = child(&hp, key);
                if let Some(id) = self.text_at(&vp, v, key) {
                    if is_aws_id(&id, prefix) {
                        aws.push((key, make(id)));
                    } else {
                        self.at_value(
                            &vp,
                            format!("`{id}` is not a valid {key} id"),
                            Some(format!("{key} ids look like `{prefix}0123456789abcdef0`")),
                        );
                    }
                }
            }
        }

        if let Some(v) = &raw.load_balancer {
            aws_given.push("load_balancer");
            let vp = child(&hp, "load_balancer");
            if let Some(n) = self.text_at(&vp, v, "load_balancer") {
                if is_load_balancer_name(&n) {
                    aws.push(("load_balancer", AwsSelector::LoadBalancer(n)));
                } else {
                    self.at_value(
                        &vp,
                        format!("`{n}` is not a load balancer name"),
                        Some("give the name (up to 32 letters, digits and `-`, as in the console), not its ARN or DNS name".into()),
                    );
                }
            }
        }
        if let Some(v) = &raw.lambda {
            aws_given.push("lambda");
            let vp = child(&hp, "lambda");
            if let Some(n) = self.text_at(&vp, v, "lambda") {
                if is_function_name(&n) {
                    aws.push(("lambda", AwsSelector::Lambda(n)));
                } else {
                    self.at_value(
                        &vp,
                        format!("`{n}` is not a Lambda function name"),
                        Some("give the function's name (up to 64 letters, digits, `-` and `_`), not its ARN".into()),
                    );
                }
            }
        }
        if let Some(v) = &raw.interface {
            aws_given.push("interface");
            if let Some(f) = self.interface(&child(&hp, "interface"), v) {
                aws.push(("interface", AwsSelector::Interface(f)));
            }
        }
        let account = raw.account.as_ref().and_then(|v| {
            let ap = child(&hp, "account");
            let id = self.text_at(&ap, v, "account")?;
            if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
                Some(id)
            } else {
                self.at_value(
                    &ap,
                    format!("account `{id}` is not an AWS account id"),
                    Some("an account id is 12 digits, in quotes (`account: \"222222222222\"`: YAML drops a number's leading zeros)".into()),
                );
                None
            }
        });
        if raw.account.is_some() && aws_given.is_empty() {
            self.at_key(
                &child(&hp, "account"),
                format!("host `{name}` names an account but no AWS selector"),
                Some("`account` says where an AWS selector (tag, instance, load_balancer, ...) is looked up; addresses need none".into()),
            );
        }
        if aws_given.len() > 1 {
            self.at_key(
                &child(&hp, aws_given[1]),
                format!(
                    "host `{name}` has more than one AWS selector (`{}` and `{}`)",
                    aws_given[0], aws_given[1]
                ),
                Some("use one selector per host, or split it into two hosts".into()),
            );
        }
        if !aws_given.is_empty() && !given_addresses.is_empty() {
            self.at_key(
                &child(&hp, aws_given[0]),
                format!(
                    "host `{name}` mixes an AWS selector (`{}`) with addresses (`{}`)",
                    aws_given[0], given_addresses[0]
                ),
                Some(
                    "a host is either addresses or one AWS selector; split it into two hosts"
                        .into(),
                ),
            );
        }
        if aws_given.is_empty() && given_addresses.is_empty() && raw.except.is_none() {
            self.at_key(
                &hp,
                format!("host `{name}` has no addresses"),
                Some("give ip, ips, cidr or cidrs (or an AWS selector: tag, instance, eni, security_group, subnet, load_balancer, lambda, vpc_endpoint, nat_gateway, interface)".into()),
            );
        }
        for (i, ex) in exclude.iter().enumerate() {
            if !include.is_empty()
                && !include
                    .iter()
                    .any(|inc| inc.contains(ex) || ex.contains(inc))
            {
                self.at_value(
                    &child(&child(&hp, "except"), i),
                    format!("`{ex}` is outside every network of host `{name}`"),
                    Some(
                        "`except` removes part of the host's own networks; check the address"
                            .into(),
                    ),
                );
            }
        }
        if !include.is_empty()
            && include
                .iter()
                .all(|inc| exclude.iter().any(|ex| ex.contains(inc)))
        {
            self.at_key(
                &hp,
                format!("host `{name}` has no addresses left: `except` removes all of them"),
                Some("an empty host would make every deny against it pass; fix `except`".into()),
            );
        }
        let strict = match &raw.strict {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.at_value(
                    &child(&hp, "strict"),
                    format!("strict must be true or false, not {}", describe(v)),
                    Some("write `strict: true` (YAML reads `yes` and `no` as text)".into()),
                );
                false
            }
        };
        if self.problems.len() != before {
            return None;
        }
        let at = self.positions.key(&hp);
        let selector = match aws.into_iter().next() {
            Some((_, sel)) => HostSelector::Aws(sel),
            None => HostSelector::Networks { include, exclude },
        };
        Some(Host {
            name: name.to_string(),
            at,
            selector,
            account,
            strict,
        })
    }

    /// The `interface:` selector: a map of the filters EC2 takes, at least one.
    fn interface(&mut self, ip: &[Seg], v: &Value) -> Option<InterfaceFilter> {
        let Value::Mapping(m) = v else {
            self.at_value(
                ip,
                format!("`interface` takes a mapping, not {}", kind_of(v)),
                Some("e.g. `interface: { description: \"RDSNetworkInterface\", security_group: sg-0123456789abcdef0 }`".into()),
            );
            return None;
        };
        let before = self.problems.len();
        let mut f = InterfaceFilter::default();
        for (k, v) in m {
            let key = text(k).unwrap_or_default();
            let kp = child(ip, key.as_str());
            let slot = match key.as_str() {
                "description" => &mut f.description,
                "requester" => &mut f.requester,
                "type" => &mut f.kind,
                "security_group" => &mut f.security_group,
                _ => {
                    let close = INTERFACE_KEYS
                        .iter()
                        .map(|k| (strsim::jaro_winkler(k, &key), k))
                        .filter(|(score, _)| *score > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map(|(_, k)| format!("did you mean `{k}`? "))
                        .unwrap_or_default();
                    self.at_key(
                        &kp,
                        format!("unknown key `{key}` in an `interface` selector"),
                        Some(format!(
                            "{close}expected one of: {}",
                            INTERFACE_KEYS.join(", ")
                        )),
                    );
                    continue;
                }
            };
            let Some(t) = self.text_at(&kp, v, &key) else {
                continue;
            };
            if t.is_empty() {
                self.at_value(
                    &kp,
                    format!("`{key}` is empty"),
                    Some("give a value, or leave the key out".into()),
                );
                continue;
            }
            *slot = Some(t);
        }
        if let Some(t) = &f.kind
            && !INTERFACE_TYPES.contains(&t.as_str())
        {
            let close = INTERFACE_TYPES
                .iter()
                .map(|k| (strsim::jaro_winkler(k, t), k))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .filter(|(score, _)| *score > 0.8)
                .map(|(_, k)| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            self.at_value(
                &child(ip, "type"),
                format!("`{t}` is not a network interface type"),
                Some(format!(
                    "{close}EC2's interface types: {}",
                    INTERFACE_TYPES.join(", ")
                )),
            );
        }
        if let Some(g) = &f.security_group
            && !is_aws_id(g, "sg-")
        {
            self.at_value(
                &child(ip, "security_group"),
                format!("`{g}` is not a valid security_group id"),
                Some("security_group ids look like `sg-0123456789abcdef0`".into()),
            );
        }
        if m.is_empty() {
            self.at_value(
                ip,
                "`interface` is empty",
                Some(format!(
                    "give at least one of {}",
                    INTERFACE_KEYS.join(", ")
                )),
            );
        }
        (self.problems.len() == before).then_some(f)
    }

    fn address(&mut self, p: &[Seg], v: &Value) -> Option<IpNet> {
        let t = self.text_at(p, v, "an address")?;
        match t.parse::<IpAddr>() {
            Ok(ip) => Some(IpNet::from(ip)),
            Err(_) if t.parse::<IpNet>().is_ok() => {
                self.at_value(
                    p,
                    format!("`{t}` is a network, not an address"),
                    Some("list networks under `cidr` or `cidrs`".into()),
                );
                None
            }
            Err(_) => {
                self.at_value(
                    p,
                    format!("`{t}` is not an IPv4 or IPv6 address"),
                    Some("write it like 10.0.1.10 or 2001:db8::10".into()),
                );
                None
            }
        }
    }

    fn network(&mut self, p: &[Seg], v: &Value) -> Option<IpNet> {
        let t = self.text_at(p, v, "a network")?;
        match t.parse::<IpNet>() {
            Ok(net) if net.trunc() != net => {
                self.at_value(
                    p,
                    format!("`{t}` has host bits set"),
                    Some(format!(
                        "the network is {}; write that, or use `ip` for one address",
                        net.trunc()
                    )),
                );
                None
            }
            Ok(net) => Some(net),
            Err(_) if t.parse::<IpAddr>().is_ok() => {
                self.at_value(
                    p,
                    format!("`{t}` is an address, not a network"),
                    Some(format!(
                        "write {t}/32 (or /128), or list it under `ip`/`ips`"
                    )),
                );
                None
            }
            Err(_) => {
                self.at_value(
                    p,
                    format!("`{t}` is not a CIDR network"),
                    Some("write it like 10.0.0.0/16 or 2001:db8::/32".into()),
                );
                None
            }
        }
    }

    fn network_or_address(&mut self, p: &[Seg], v: &Value) -> Option<IpNet> {
        match text(v).map(|t| t.parse::<IpAddr>()) {
            Some(Ok(ip)) => Some(IpNet::from(ip)),
            _ => self.network(p, v),
        }
    }

    fn endpoint(
        &mut self,
        p: &[Seg],
        v: Option<&Value>,
        key: &str,
        hosts: &BTreeMap<String, RawHost>,
    ) -> Option<Endpoint> {
        let Some(v) = v else {
            self.at_value(
                p,
                format!("expectation has no `{key}`"),
                Some(format!(
                    "name a host under `hosts:`, or `any`; e.g. `{key}: web`"
                )),
            );
            return None;
        };
        let vp = child(p, key);
        if let Value::Sequence(items) = v {
            let names: Vec<String> = items.iter().filter_map(text).collect();
            self.at_value(
                &vp,
                format!("`{key}` names one host, not a list"),
                Some(format!(
                    "write one expectation per host ({}), or define a host that holds them all (e.g. `ips: [...]`)",
                    names
                        .iter()
                        .map(|n| format!("`{key}: {n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        }
        let name = self.text_at(&vp, v, key)?;
        if name == "any" {
            return Some(Endpoint::Any);
        }
        if hosts.contains_key(&name) {
            return Some(Endpoint::Host(name));
        }
        if self.hosts_unreadable {
            return None;
        }
        let defined: Vec<&str> = hosts.keys().map(String::as_str).collect();
        let help = if defined.is_empty() {
            "define it under `hosts:`, or use `any`".to_string()
        } else {
            format!("defined hosts: {}; or use `any`", defined.join(", "))
        };
        self.at_value(
            &vp,
            format!("undefined host `{name}` in `{key}`"),
            Some(help),
        );
        None
    }

    fn expectation(
        &mut self,
        item: &[Seg],
        raw: &RawExpect,
        hosts: &BTreeMap<String, RawHost>,
    ) -> Option<Expectation> {
        let before = self.problems.len();
        let from = self.endpoint(item, raw.from.as_ref(), "from", hosts);
        let to = self.endpoint(item, raw.to.as_ref(), "to", hosts);
        if from == Some(Endpoint::Any) && to == Some(Endpoint::Any) {
            self.at_value(
                &child(item, "to"),
                "`from` and `to` cannot both be `any`",
                Some("name the host on at least one side".into()),
            );
        }

        let protocol = match &raw.protocol {
            None => Some(Protocol::TCP),
            Some(v) => {
                let pp = child(item, "protocol");
                let parsed = text(v).as_deref().and_then(Protocol::parse);
                if parsed.is_none() {
                    self.at_value(
                        &pp,
                        format!(
                            "protocol `{}` is not known",
                            text(v).unwrap_or_else(|| kind_of(v).into())
                        ),
                        Some(
                            "use tcp, udp, icmp, icmpv6, or an IANA protocol number (0-255)".into(),
                        ),
                    );
                }
                parsed
            }
        };

        let ports = protocol.and_then(|proto| self.ports(item, raw.port.as_ref(), proto));

        let deny = match &raw.deny {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.at_value(
                    &child(item, "deny"),
                    format!("deny must be true or false, not {}", describe(v)),
                    Some("write `deny: true` (YAML reads `yes` and `no` as text)".into()),
                );
                false
            }
        };
        let return_required = match &raw.return_ {
            None => true,
            Some(v) => {
                let rp = child(item, "return");
                if deny {
                    self.at_key(
                        &rp,
                        "`return` applies only to reach expectations, not to `deny: true`",
                        Some("remove `return`".into()),
                    );
                }
                match text(v).as_deref() {
                    Some("required") => true,
                    Some("optional") => false,
                    _ => {
                        self.at_value(
                            &rp,
                            format!(
                                "return must be `required` or `optional`, not {}",
                                describe(v)
                            ),
                            Some(
                                "`optional` accepts a request that got through with no reply seen"
                                    .into(),
                            ),
                        );
                        true
                    }
                }
            }
        };

        let name = match &raw.name {
            None => None,
            Some(v) => {
                let np = child(item, "name");
                match self.text_at(&np, v, "name") {
                    Some(n) if n.trim().is_empty() => {
                        self.at_value(
                            &np,
                            "name is empty",
                            Some("remove it to get the default name".into()),
                        );
                        None
                    }
                    Some(n) if n.chars().any(char::is_control) => {
                        self.at_value(
                            &np,
                            "name contains a line break or control character",
                            Some("keep test names on one line".into()),
                        );
                        None
                    }
                    other => other,
                }
            }
        };

        if self.problems.len() != before {
            return None;
        }
        let (from, to, protocol, ports) = (from?, to?, protocol?, ports?);
        let name = name.unwrap_or_else(|| Expectation::default_name(&from, &to, protocol, &ports));
        Some(Expectation {
            name,
            at: self.positions.value(item),
            from,
            to,
            protocol,
            ports,
            kind: if deny {
                Kind::Deny
            } else {
                Kind::Reach { return_required }
            },
        })
    }

    fn ports(&mut self, item: &[Seg], v: Option<&Value>, proto: Protocol) -> Option<Ports> {
        let pp = child(item, "port");
        match v {
            Some(_) if proto.is_icmp() => {
                self.at_key(
                    &pp,
                    format!("{proto} has no ports"),
                    Some("remove `port`".into()),
                );
                None
            }
            None if proto.has_ports() => {
                self.at_value(
                    item,
                    format!("{proto} expectation has no `port`"),
                    Some(
                        "give a number (443), a range (\"1024-65535\") or a list ([80, 443])"
                            .into(),
                    ),
                );
                None
            }
            None => Some(Ports::Any),
            Some(Value::Sequence(items)) => {
                if items.is_empty() {
                    self.at_value(
                        &pp,
                        "the port list is empty",
                        Some("list at least one port".into()),
                    );
                    return None;
                }
                let ranges: Vec<_> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.port_range(&child(&pp, i), v))
                    .collect();
                let ranges: Option<Vec<_>> = ranges.into_iter().collect();
                ranges.and_then(PortSet::new).map(Ports::Set)
            }
            Some(v) => self
                .port_range(&pp, v)
                .and_then(|r| PortSet::new(vec![r]))
                .map(Ports::Set),
        }
    }

    fn port_range(&mut self, p: &[Seg], v: &Value) -> Option<RangeInclusive<u16>> {
        let help = Some(
            "ports are 1-65535: a number (443), a range (\"1024-65535\") or a list of these"
                .to_string(),
        );
        let Some(t) = text(v) else {
            self.at_value(
                p,
                format!("a port must be a number or a range, not {}", kind_of(v)),
                help,
            );
            return None;
        };
        let bounds = match t.split_once('-') {
            Some((lo, hi)) => (lo.trim().parse::<i64>(), hi.trim().parse::<i64>()),
            None => (t.trim().parse::<i64>(), t.trim().parse::<i64>()),
        };
        match bounds {
            (Ok(lo), Ok(hi)) if (1..=65535).contains(&lo) && (1..=65535).contains(&hi) => {
                if lo > hi {
                    self.at_value(
                        p,
                        format!("port range `{t}` is backwards"),
                        Some(format!("write {hi}-{lo}")),
                    );
                    None
                } else {
                    Some(lo as u16..=hi as u16)
                }
            }
            (Ok(_), Ok(_)) => {
                self.at_value(p, format!("port `{t}` is outside 1-65535"), help);
                None
            }
            _ => {
                self.at_value(p, format!("`{t}` is not a port or a port range"), help);
                None
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match text(v) {
        Some(t) => format!("`{t}`"),
        None => kind_of(v).to_string(),
    }
}

fn parent_label(path: &[Seg]) -> String {
    if path.len() <= 1 {
        "the spec".to_string()
    } else {
        format!("`{}`", display_path(&path[..path.len() - 1]))
    }
}

/// `i-0123abcd`, `eni-0123456789abcdef0`: a prefix then 8 or 17 hex digits.
/// The values EC2's `interface-type` filter takes (DescribeNetworkInterfaces).
const INTERFACE_TYPES: &[&str] = &[
    "api_gateway_managed",
    "aws_codestar_connections_managed",
    "branch",
    "ec2_instance_connect_endpoint",
    "efa",
    "efa-only",
    "efs",
    "evs",
    "gateway_load_balancer",
    "gateway_load_balancer_endpoint",
    "global_accelerator_managed",
    "interface",
    "iot_rules_managed",
    "lambda",
    "load_balancer",
    "nat_gateway",
    "network_load_balancer",
    "quicksight",
    "transit_gateway",
    "trunk",
    "vpc_endpoint",
];

/// An Elastic Load Balancing name: 1-32 letters, digits and hyphens, not starting or ending
/// with a hyphen (the ENI descriptions embed it as written).
fn is_load_balancer_name(n: &str) -> bool {
    (1..=32).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-')
}

/// A Lambda function name: 1-64 letters, digits, hyphens and underscores.
fn is_function_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_ids_have_a_prefix_and_8_or_17_hex_digits() {
        assert!(is_aws_id("i-0123456789abcdef0", "i-"));
        assert!(is_aws_id("sg-0a1b2c3d", "sg-"));
        assert!(!is_aws_id("sg-0A1B2C3D", "sg-"));
        assert!(!is_aws_id("subnet-123", "subnet-"));
        assert!(!is_aws_id("i-0123456789abcdef0", "eni-"));
    }
}
