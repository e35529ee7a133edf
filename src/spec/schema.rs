//! The JSON Schema of the spec format (`flowgate schema`), for editors: key completion, hover
//! text and early errors while a spec is written. It states the shape; `flowgate validate` stays
//! the authority on the rest (that host names are defined, that addresses parse, that a host is
//! either addresses or one AWS selector).
//!
//! These types are only described, never deserialized; a test keeps their keys equal to the keys
//! the loader reads.

use std::collections::BTreeMap;

use schemars::JsonSchema;

/// A flowgate spec: one application's expected connectivity, one test per expectation.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, title = "flowgate spec")]
#[allow(dead_code)]
struct Spec {
    /// The application: names the JUnit testsuite and each testcase's classname. Unique per run.
    #[schemars(length(min = 1))]
    app: String,
    /// What the application is (free text).
    description: Option<String>,
    /// How far back to look against AWS when the command line gives no window, as a duration
    /// (`1h`, `30m`). File runs judge every record unless told otherwise.
    window: Option<String>,
    /// Named endpoints, each a set of IPv4/IPv6 addresses and networks. `any` is reserved.
    hosts: Option<BTreeMap<String, Host>>,
    /// The expectations: one test each.
    #[schemars(length(min = 1))]
    expect: Vec<Expect>,
}

/// A host: addresses and networks (`ip`, `ips`, `cidr`, `cidrs`, minus `except`), or one AWS
/// selector resolved through EC2 to the addresses of the matching network interfaces.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Host {
    /// One IPv4 or IPv6 address.
    ip: Option<Address>,
    /// IPv4 or IPv6 addresses.
    #[schemars(length(min = 1))]
    ips: Option<Vec<Address>>,
    /// One network, e.g. `10.0.2.0/24` or `2001:db8::/64` (no host bits set).
    cidr: Option<Network>,
    /// Networks.
    #[schemars(length(min = 1))]
    cidrs: Option<Vec<Network>>,
    /// Addresses or networks to take out of the host (`0.0.0.0/0` minus your VPC and offices).
    except: Option<Vec<Network>>,
    /// AWS: the interfaces that carry these tags, or whose instance does, e.g. `{Name: shop-web}`.
    #[schemars(length(min = 1))]
    tag: Option<BTreeMap<String, String>>,
    /// AWS: the interfaces of an instance.
    #[schemars(regex(pattern = r"^i-[0-9a-f]+$"))]
    instance: Option<String>,
    /// AWS: one network interface.
    #[schemars(regex(pattern = r"^eni-[0-9a-f]+$"))]
    eni: Option<String>,
    /// AWS: the interfaces in a security group.
    #[schemars(regex(pattern = r"^sg-[0-9a-f]+$"))]
    security_group: Option<String>,
    /// AWS: the interfaces in a subnet.
    #[schemars(regex(pattern = r"^subnet-[0-9a-f]+$"))]
    subnet: Option<String>,
    /// AWS: the interfaces of an Application, Network or Gateway Load Balancer (or a Classic
    /// one), by name.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$"))]
    load_balancer: Option<String>,
    /// AWS: the interfaces of a Lambda function in a VPC, by name.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9_-]{1,64}$"))]
    lambda: Option<String>,
    /// AWS: the interfaces of an interface VPC endpoint.
    #[schemars(regex(pattern = r"^vpce-[0-9a-f]+$"))]
    vpc_endpoint: Option<String>,
    /// AWS: the interface of a NAT gateway.
    #[schemars(regex(pattern = r"^nat-[0-9a-f]+$"))]
    nat_gateway: Option<String>,
    /// AWS: interfaces by what owns them (RDS, ElastiCache, EFS, ...): every field given must
    /// match.
    interface: Option<Interface>,
    /// The AWS account that owns the host (12 digits, quoted), when it is not the caller's:
    /// flowgate assumes `--role-arn` there.
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    account: Option<String>,
    /// `true`: nothing may reach this host beyond the spec's reach expectations to it; adds the
    /// test `<app>::nothing else reaches <host>`.
    strict: Option<bool>,
}

/// Network interfaces by their owner, as EC2's DescribeNetworkInterfaces filters them.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Interface {
    /// The interface's description (`*` matches anything), e.g. `RDSNetworkInterface`.
    description: Option<String>,
    /// The requester id: the AWS service or account that made the interface.
    requester: Option<String>,
    /// The interface type: `interface`, `lambda`, `nat_gateway`, `vpc_endpoint`, ...
    #[serde(rename = "type")]
    kind: Option<String>,
    /// A security group of the interface.
    #[schemars(regex(pattern = r"^sg-[0-9a-f]+$"))]
    security_group: Option<String>,
}

/// An IPv4 or IPv6 address.
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct Address(#[schemars(regex(pattern = r"^[0-9a-fA-F:.]+$"))] String);

/// An IPv4 or IPv6 address or network (`10.0.0.0/16`).
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct Network(#[schemars(regex(pattern = r"^[0-9a-fA-F:.]+(/[0-9]{1,3})?$"))] String);

/// One expectation: `from` must reach `to` on a service, or must not (`deny: true`).
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Expect {
    /// The test name (default `<from> -> <to> <protocol>/<port>`); unique in the spec.
    name: Option<String>,
    /// The client side: a host name, or `any`.
    #[schemars(length(min = 1))]
    from: String,
    /// The server side: a host name, or `any`.
    #[schemars(length(min = 1))]
    to: String,
    /// The server port: a number, a range `"1024-65535"`, or a list of these. Required for tcp
    /// and udp; none for icmp.
    port: Option<Ports>,
    /// `tcp` (default), `udp`, `icmp` (ICMPv6 on IPv6 flows), `icmpv6`, or an IANA number.
    protocol: Option<Protocol>,
    /// `optional`: an accepted request is enough, no reply needed (syslog over UDP, say).
    #[serde(rename = "return")]
    return_: Option<Return>,
    /// `true`: `from` must NOT reach `to`; the test fails if any request got through.
    deny: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Ports {
    One(Port),
    Many(#[schemars(length(min = 1))] Vec<Port>),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Port {
    Number(#[schemars(range(min = 1, max = 65535))] u16),
    Range(#[schemars(regex(pattern = r"^[0-9]{1,5}(-[0-9]{1,5})?$"))] String),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Protocol {
    /// `tcp`, `udp`, `icmp`, `icmpv6` (any case), or a number as text.
    Name(
        #[schemars(regex(
            pattern = r"^([tT][cC][pP]|[uU][dD][pP]|[iI][cC][mM][pP]([vV]6)?|[0-9]{1,3})$"
        ))]
        String,
    ),
    /// An IANA protocol number.
    Number(#[schemars(range(max = 255))] u8),
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Return {
    Required,
    Optional,
}

/// The schema, as pretty-printed JSON.
pub fn json() -> String {
    let schema = schemars::schema_for!(Spec);
    serde_json::to_string_pretty(&schema).expect("a schema is JSON") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::raw::{EXPECT_KEYS, HOST_KEYS, SPEC_KEYS};

    fn keys(schema: &serde_json::Value, pointer: &str) -> Vec<String> {
        let mut k: Vec<String> = schema
            .pointer(pointer)
            .and_then(|p| p.as_object())
            .unwrap_or_else(|| panic!("no {pointer} in {schema:#}"))
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    }

    fn sorted(k: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn the_schema_has_exactly_the_keys_the_loader_reads() {
        let schema: serde_json::Value = serde_json::from_str(&json()).unwrap();
        assert_eq!(keys(&schema, "/properties"), sorted(SPEC_KEYS));
        assert_eq!(keys(&schema, "/$defs/Host/properties"), sorted(HOST_KEYS));
        assert_eq!(
            keys(&schema, "/$defs/Expect/properties"),
            sorted(EXPECT_KEYS)
        );
        assert_eq!(
            keys(&schema, "/$defs/Interface/properties"),
            sorted(crate::spec::raw::INTERFACE_KEYS)
        );
        assert_eq!(schema["additionalProperties"], false);
    }
}
