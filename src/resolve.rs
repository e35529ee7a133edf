//! Host selectors → address sets.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::spec::{HostSelector, Problem, Spec};

/// The addresses one side of an expectation stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSet {
    Any,
    Networks {
        include: Vec<IpNet>,
        exclude: Vec<IpNet>,
    },
}

impl AddrSet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            AddrSet::Any => true,
            AddrSet::Networks { include, exclude } => {
                include.iter().any(|n| n.contains(&ip)) && !exclude.iter().any(|n| n.contains(&ip))
            }
        }
    }
}

impl fmt::Display for AddrSet {
    /// `10.0.1.10, 10.0.1.11`, `0.0.0.0/0 except 10.0.0.0/16`: single addresses without /32.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, nets: &[IpNet]) -> fmt::Result {
            for (i, n) in nets.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if n.prefix_len() == n.max_prefix_len() {
                    write!(f, "{}", n.addr())?;
                } else {
                    write!(f, "{n}")?;
                }
            }
            Ok(())
        }
        match self {
            AddrSet::Any => f.write_str("any address"),
            AddrSet::Networks { include, exclude } => {
                list(f, include)?;
                if !exclude.is_empty() {
                    f.write_str(" except ")?;
                    list(f, exclude)?;
                }
                Ok(())
            }
        }
    }
}

/// Resolves the hosts of a spec that need no AWS calls. Hosts chosen by AWS selectors are
/// problems here: naming them is the job of an AWS source, which the file source is not.
pub fn resolve(spec: &Spec) -> Result<BTreeMap<String, AddrSet>, Vec<Problem>> {
    let mut resolved = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, host) in &spec.hosts {
        match &host.selector {
            HostSelector::Networks { include, exclude } => {
                resolved.insert(
                    name.clone(),
                    AddrSet::Networks {
                        include: include.clone(),
                        exclude: exclude.clone(),
                    },
                );
            }
            HostSelector::Aws(sel) => problems.push(Problem {
                file: spec.path.clone(),
                at: Some(host.at),
                message: format!(
                    "host `{name}` is chosen by `{}`, which needs an AWS source to resolve",
                    sel.key()
                ),
                help: Some(
                    "flow-log files only carry addresses: give this host `ip`, `ips`, `cidr` or `cidrs` \
                     (resolving AWS selectors through EC2 is not in this version of flowgate)"
                        .into(),
                ),
            }),
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn except_carves_networks_out() {
        let internet = AddrSet::Networks {
            include: nets(&["0.0.0.0/0"]),
            exclude: nets(&["10.0.0.0/16", "192.168.0.0/16"]),
        };
        assert!(internet.contains("203.0.113.9".parse().unwrap()));
        assert!(!internet.contains("10.0.3.30".parse().unwrap()));
        assert!(
            !internet.contains("2001:db8::1".parse().unwrap()),
            "0.0.0.0/0 is IPv4 only"
        );
        assert_eq!(
            internet.to_string(),
            "0.0.0.0/0 except 10.0.0.0/16, 192.168.0.0/16"
        );
    }

    #[test]
    fn single_addresses_print_without_prefix() {
        let web = AddrSet::Networks {
            include: nets(&["10.0.1.10/32", "2001:db8::10/128"]),
            exclude: vec![],
        };
        assert_eq!(web.to_string(), "10.0.1.10, 2001:db8::10");
        assert!(web.contains("2001:db8::10".parse().unwrap()));
    }

    #[test]
    fn aws_selectors_need_an_aws_source() {
        let spec = crate::spec::parse(
            std::path::Path::new("s.yaml"),
            "app: a\nhosts:\n  web: {tag: {Name: w}}\n  db: {ip: 10.0.0.1}\nexpect: [{from: web, to: db, port: 1}]\n",
        )
        .unwrap();
        let problems = resolve(&spec).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].at, Some(crate::spec::Pos { line: 3, col: 3 }));
        assert!(
            problems[0].message.contains("needs an AWS source"),
            "{}",
            problems[0].message
        );
    }
}
