//! The managed-service selectors' requests and answers, against mocked EC2: what moto does not
//! model (the interface-type and requester-id filters, Elastic Load Balancing's and Lambda's
//! own interfaces, an endpoint id EC2 does not know).

use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
use aws_sdk_ec2::types::{NetworkInterface, NetworkInterfacePrivateIpAddress};
use aws_smithy_mocks::mock;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::*;
use crate::spec::InterfaceFilter;

use crate::aws::mocks::ec2 as mocked;

fn iface(id: &str, ip: &str, description: &str) -> NetworkInterface {
    NetworkInterface::builder()
        .network_interface_id(id)
        .subnet_id("subnet-1")
        .vpc_id("vpc-1")
        .description(description)
        .private_ip_address(ip)
        .private_ip_addresses(
            NetworkInterfacePrivateIpAddress::builder()
                .private_ip_address(ip)
                .build(),
        )
        .build()
}

/// The filters of a DescribeNetworkInterfaces request, as (name, values).
fn filters_of(
    r: &aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesInput,
) -> Vec<(String, Vec<String>)> {
    let mut f: Vec<(String, Vec<String>)> = r
        .filters()
        .iter()
        .map(|f| (f.name().unwrap_or("").to_string(), f.values().to_vec()))
        .collect();
    f.sort();
    f
}

#[tokio::test]
async fn the_interface_selector_sends_every_filter_given() {
    let rule = mock!(Client::describe_network_interfaces)
        .match_requests(|r| {
            filters_of(r)
                == [
                    ("description".into(), vec!["RDSNetworkInterface".into()]),
                    ("group-id".into(), vec!["sg-0123456789abcdef0".into()]),
                    ("interface-type".into(), vec!["interface".into()]),
                    ("requester-id".into(), vec!["amazon-rds".into()]),
                ]
        })
        .then_output(|| {
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(iface("eni-rds", "10.0.3.40", "RDSNetworkInterface"))
                .build()
        });
    let client = mocked(&[&rule]);
    let sel = AwsSelector::Interface(InterfaceFilter {
        description: Some("RDSNetworkInterface".into()),
        requester: Some("amazon-rds".into()),
        kind: Some("interface".into()),
        security_group: Some("sg-0123456789abcdef0".into()),
    });
    let enis = enis_of(&client, &sel).await.unwrap();
    assert_eq!(
        enis.len(),
        1,
        "a request without the four filters matches no rule"
    );
    assert_eq!(enis[0].nets, ["10.0.3.40/32".parse::<IpNet>().unwrap()]);
}

#[tokio::test]
async fn a_load_balancer_is_found_by_the_descriptions_elastic_load_balancing_writes() {
    let rule = mock!(Client::describe_network_interfaces)
        .match_requests(|r| {
            filters_of(r)
                == [(
                    "description".into(),
                    vec![
                        "ELB app/shop-web/*".into(),
                        "ELB net/shop-web/*".into(),
                        "ELB gwy/shop-web/*".into(),
                        "ELB shop-web".into(),
                    ],
                )]
        })
        .then_output(|| {
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(iface(
                    "eni-a",
                    "10.0.1.5",
                    "ELB app/shop-web/50dc6c495c0c9188",
                ))
                .network_interfaces(iface(
                    "eni-b",
                    "10.0.1.6",
                    "ELB app/shop-web/50dc6c495c0c9188",
                ))
                .build()
        });
    let client = mocked(&[&rule]);
    let enis = enis_of(&client, &AwsSelector::LoadBalancer("shop-web".into()))
        .await
        .unwrap();
    let ids: Vec<&str> = enis.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["eni-a", "eni-b"]);
}

#[tokio::test]
async fn a_lambda_function_does_not_take_the_interfaces_of_a_function_whose_name_it_begins() {
    let rule = mock!(Client::describe_network_interfaces)
        .match_requests(|r| {
            filters_of(r)
                == [(
                    "description".into(),
                    vec!["AWS Lambda VPC ENI-shop-*".into()],
                )]
        })
        .then_output(|| {
            // EC2's wildcard matches both; only the first is function `shop`'s.
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(iface(
                    "eni-shop",
                    "10.0.2.50",
                    "AWS Lambda VPC ENI-shop-3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
                ))
                .network_interfaces(iface(
                    "eni-shop-api",
                    "10.0.2.51",
                    "AWS Lambda VPC ENI-shop-api-3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
                ))
                .build()
        });
    let client = mocked(&[&rule]);
    let enis = enis_of(&client, &AwsSelector::Lambda("shop".into()))
        .await
        .unwrap();
    let ids: Vec<&str> = enis.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["eni-shop"]);
    assert!(is_lambda_description(
        "AWS Lambda VPC ENI-shop-api-3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
        "shop-api"
    ));
    assert!(!is_lambda_description("AWS Lambda VPC ENI-shop-x", "shop"));
}

#[tokio::test]
async fn an_endpoint_ec2_does_not_know_is_named_as_missing_not_as_a_failed_call() {
    let rule = mock!(Client::describe_vpc_endpoints).then_http_response(|| {
        Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>InvalidVpcEndpointId.NotFound</Code><Message>The Vpc Endpoint Id 'vpce-0123456789abcdef0' does not exist</Message></Error></Errors><RequestID>r-1</RequestID></Response>",
            ),
        )
    });
    let client = mocked(&[&rule]);
    let found = find(
        &client,
        &AwsSelector::VpcEndpoint("vpce-0123456789abcdef0".into()),
    )
    .await
    .unwrap();
    assert!(matches!(found, Found::NoSuch("VPC endpoint")));
}
