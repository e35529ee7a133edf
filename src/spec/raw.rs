//! The spec as written: serde types that accept anything shaped right, so that validation can
//! report every mistake in a file at once instead of stopping at the first.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

#[derive(Debug, Deserialize)]
pub struct RawSpec {
    pub app: Value,
    #[serde(default)]
    pub description: Option<Value>,
    #[serde(default)]
    pub window: Option<Value>,
    #[serde(default)]
    pub hosts: BTreeMap<String, RawHost>,
    #[serde(default)]
    pub expect: Vec<RawExpect>,
}

/// Every key a spec's top level may have (unknown keys are reported, not ignored).
pub const SPEC_KEYS: &[&str] = &["app", "description", "window", "hosts", "expect"];

#[derive(Debug, Default, Deserialize)]
pub struct RawHost {
    pub ip: Option<Value>,
    pub ips: Option<Vec<Value>>,
    pub cidr: Option<Value>,
    pub cidrs: Option<Vec<Value>>,
    pub except: Option<Vec<Value>>,
    pub tag: Option<BTreeMap<String, Value>>,
    pub instance: Option<Value>,
    pub eni: Option<Value>,
    pub security_group: Option<Value>,
    pub subnet: Option<Value>,
    pub strict: Option<Value>,
}

pub const HOST_KEYS: &[&str] = &[
    "ip",
    "ips",
    "cidr",
    "cidrs",
    "except",
    "tag",
    "instance",
    "eni",
    "security_group",
    "subnet",
    "strict",
];

#[derive(Debug, Deserialize)]
pub struct RawExpect {
    pub name: Option<Value>,
    pub from: Option<Value>,
    pub to: Option<Value>,
    pub port: Option<Value>,
    pub protocol: Option<Value>,
    #[serde(rename = "return")]
    pub return_: Option<Value>,
    pub deny: Option<Value>,
}

pub const EXPECT_KEYS: &[&str] = &["name", "from", "to", "port", "protocol", "return", "deny"];

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored_keys<T: serde::de::DeserializeOwned>(doc: &str) -> Vec<String> {
        let mut ignored = Vec::new();
        let de = serde_yaml::Deserializer::from_str(doc);
        let _: T = serde_ignored::deserialize(de, |p| ignored.push(p.to_string())).unwrap();
        ignored
    }

    fn doc_with(keys: &[&str]) -> String {
        keys.iter()
            .map(|k| match *k {
                "ips" | "cidrs" | "except" | "expect" => format!("{k}: []\n"),
                "tag" | "hosts" => format!("{k}: {{}}\n"),
                _ => format!("{k}: x\n"),
            })
            .collect()
    }

    /// The key lists drive "expected one of" hints, so they must name exactly what serde reads.
    #[test]
    fn key_lists_match_the_serde_fields() {
        assert!(ignored_keys::<RawSpec>(&doc_with(SPEC_KEYS)).is_empty());
        assert!(ignored_keys::<RawHost>(&doc_with(HOST_KEYS)).is_empty());
        assert!(ignored_keys::<RawExpect>(&doc_with(EXPECT_KEYS)).is_empty());
        let extra = format!("{}bogus: 1\n", doc_with(EXPECT_KEYS));
        assert_eq!(ignored_keys::<RawExpect>(&extra), vec!["bogus".to_string()]);
    }
}
