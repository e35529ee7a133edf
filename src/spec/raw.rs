//! The spec as written: serde types that accept anything shaped right, so that validation can
//! report every mistake in a file at once instead of stopping at the first.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

/// The document's top level: `hosts` and `expect` are kept as written, so that a wrong shape
/// there (a list for a map, say) is one problem among the file's others, not the end of reading.
#[derive(Debug, Deserialize)]
pub struct RawDoc {
    pub app: Value,
    #[serde(default)]
    pub description: Option<Value>,
    #[serde(default)]
    pub window: Option<Value>,
    #[serde(default)]
    pub hosts: Option<Shaped>,
    #[serde(default)]
    pub expect: Option<Shaped>,
}

/// A section as written, whatever its shape. A map keeps its entries in order, a repeated key
/// among them (already reported, with both positions): YAML's own map type would refuse the
/// whole file over it and hide every other problem.
#[derive(Debug)]
pub enum Shaped {
    Map(Vec<(Value, Value)>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Shaped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shaped, D::Error> {
        struct Any;
        impl<'de> serde::de::Visitor<'de> for Any {
            type Value = Shaped;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map or a list")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Shaped, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = m.next_entry::<Value, Value>()? {
                    entries.push(entry);
                }
                Ok(Shaped::Map(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Shaped, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = s.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Shaped::Other(Value::Sequence(items)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Shaped, E> {
                Ok(Shaped::Other(Value::String(v.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Shaped, E> {
                Ok(Shaped::Other(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Shaped, E> {
                Ok(Shaped::Other(Value::Number(v.into())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Shaped, E> {
                Ok(Shaped::Other(Value::Number(v.into())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Shaped, E> {
                Ok(Shaped::Other(Value::Number(v.into())))
            }
            fn visit_unit<E>(self) -> Result<Shaped, E> {
                Ok(Shaped::Other(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Shaped, E> {
                Ok(Shaped::Other(Value::Null))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Shaped, D::Error> {
                d.deserialize_any(Any)
            }
        }
        d.deserialize_any(Any)
    }
}

/// The spec as written, shaped: hosts by name, expectations in order (`None` where an entry
/// is not a map; its problem is already reported).
#[derive(Debug)]
pub struct RawSpec {
    pub app: Value,
    pub description: Option<Value>,
    pub window: Option<Value>,
    pub hosts: BTreeMap<String, RawHost>,
    pub expect: Vec<Option<RawExpect>>,
}

/// Every key a spec's top level may have (unknown keys are reported, not ignored).
pub const SPEC_KEYS: &[&str] = &["app", "description", "window", "hosts", "expect"];

#[derive(Debug, Default, Deserialize)]
pub struct RawHost {
    pub ip: Option<Value>,
    pub ips: Option<Value>,
    pub cidr: Option<Value>,
    pub cidrs: Option<Value>,
    pub except: Option<Value>,
    pub tag: Option<Value>,
    pub instance: Option<Value>,
    pub eni: Option<Value>,
    pub security_group: Option<Value>,
    pub subnet: Option<Value>,
    pub load_balancer: Option<Value>,
    pub lambda: Option<Value>,
    pub vpc_endpoint: Option<Value>,
    pub nat_gateway: Option<Value>,
    pub interface: Option<Value>,
    pub account: Option<Value>,
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
    "load_balancer",
    "lambda",
    "vpc_endpoint",
    "nat_gateway",
    "interface",
    "account",
    "strict",
];

/// The keys of an `interface:` selector.
pub const INTERFACE_KEYS: &[&str] = &["description", "requester", "type", "security_group"];

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
        assert!(ignored_keys::<RawDoc>(&doc_with(SPEC_KEYS)).is_empty());
        assert!(ignored_keys::<RawHost>(&doc_with(HOST_KEYS)).is_empty());
        assert!(ignored_keys::<RawExpect>(&doc_with(EXPECT_KEYS)).is_empty());
        let extra = format!("{}bogus: 1\n", doc_with(EXPECT_KEYS));
        assert_eq!(ignored_keys::<RawExpect>(&extra), vec!["bogus".to_string()]);
    }
}
