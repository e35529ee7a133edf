"""A local AWS for flowgate's end-to-end tests: moto's server on 127.0.0.1, set up as a small shop.

Starts moto on a free loopback port, creates a VPC with web, app and db subnets, security groups,
tagged instances and an interface, route tables (web and db public, app without a way to the
offices), a VPC flow log with a custom format delivering to the log group
/vpc/shop, and that log group's records of twenty minutes ago; and a second VPC, "legacy", whose
flow logs do not count (one records only rejects, one delivers to a log group that does not
exist). Then it prints `key value` lines (the ids moto chose), `ready`, and serves until its
standard input closes (when the test process ends).

Only loopback: fake credentials, a region, no instance metadata, and an explicit endpoint.
"""

import datetime
import os
import socket
import sys
import time

os.environ.update(
    AWS_ACCESS_KEY_ID="AKIAFLOWGATETESTFAKE",
    AWS_SECRET_ACCESS_KEY="flowgate-test-fake-secret",
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_EC2_METADATA_DISABLED="true",
)
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

FORMAT = (
    "${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} "
    "${start} ${end} ${action} ${log-status} ${tcp-flags}"
)
GROUP = "/vpc/shop"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-west-1")
    logs = boto3.client("logs", endpoint_url=endpoint, region_name="eu-west-1")

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = {
        name: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        for name, cidr in [("web", "10.0.1.0/24"), ("app", "10.0.2.0/24"), ("db", "10.0.3.0/24")]
    }
    sg = {
        name: ec2.create_security_group(GroupName=f"shop-{name}", Description=name, VpcId=vpc)["GroupId"]
        for name in ["web", "app", "db"]
    }
    image = ec2.describe_images()["Images"][0]["ImageId"]

    def instance(name, tier, ip):
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}]
        i = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet[tier],
            SecurityGroupIds=[sg[tier]], PrivateIpAddress=ip, TagSpecifications=tags,
        )["Instances"][0]
        return i["InstanceId"], i["NetworkInterfaces"][0]["NetworkInterfaceId"]

    _, web1 = instance("shop-web", "web", "10.0.1.10")
    _, web2 = instance("shop-web", "web", "10.0.1.11")
    app_id, app = instance("shop-app", "app", "10.0.2.20")
    db = ec2.create_network_interface(
        SubnetId=subnet["db"], Groups=[sg["db"]], PrivateIpAddress="10.0.3.30",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "shop-db"}]}],
    )["NetworkInterface"]["NetworkInterfaceId"]

    # The rules the records below bear out (flowgate explains failures with them): app takes
    # 8080 from web1 only (no rule for web2); db takes 1433 from app's group; the db subnet's
    # network ACL denies 1433 from the offices (rule 90) before allowing the rest.
    ec2.authorize_security_group_ingress(GroupId=sg["app"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.0.1.10/32"}]}])
    ec2.authorize_security_group_ingress(GroupId=sg["db"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1433, "ToPort": 1433, "UserIdGroupPairs": [{"GroupId": sg["app"]}]}])
    # The mistake the configuration witness finds with no traffic at all: db's group opens ssh to
    # the world (and db's subnet routes to the internet gateway, below).
    ec2.authorize_security_group_ingress(GroupId=sg["db"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    db_acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for number, egress, action, cidr, ports in [
        (90, False, "deny", "192.168.0.0/16", (1433, 1433)),
        (100, False, "allow", "0.0.0.0/0", None),
        (100, True, "allow", "0.0.0.0/0", None),
    ]:
        entry = dict(NetworkAclId=db_acl, RuleNumber=number, Egress=egress, RuleAction=action,
                     CidrBlock=cidr, Protocol="6" if ports else "-1")
        if ports:
            entry["PortRange"] = {"From": ports[0], "To": ports[1]}
        ec2.create_network_acl_entry(**entry)
    association = next(
        a["NetworkAclAssociationId"]
        for acl in ec2.describe_network_acls()["NetworkAcls"]
        for a in acl["Associations"] if a["SubnetId"] == subnet["db"]
    )
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=db_acl)

    # Routes: web and db share a public table (the internet through an internet gateway, the
    # offices, 192.168.0.0/16, through a virtual private gateway); app keeps the VPC's main table,
    # which has only the local route: app has no route to the offices.
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc)
    public_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="192.168.0.0/16", GatewayId=vgw)
    for tier in ["web", "db"]:
        ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=subnet[tier])
    main_rtb = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]

    logs.create_log_group(logGroupName=GROUP)
    # The flow logs were set up long before the cutover (flowgate treats a window that starts
    # before its flow log existed as incomplete): moto runs in this process, so its clock for
    # them is set back a day.
    import moto.ec2.models.flow_logs as flow_log_model
    real_utcnow = flow_log_model.utcnow
    flow_log_model.utcnow = lambda: real_utcnow() - datetime.timedelta(days=1)
    ec2.create_flow_logs(
        ResourceType="VPC", ResourceIds=[vpc], TrafficType="ALL", LogDestinationType="cloud-watch-logs",
        LogGroupName=GROUP, DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
        LogFormat=FORMAT,
    )

    # Managed services in the shop's edge subnet: what owns interfaces without being an
    # instance. moto makes the interfaces of a NAT gateway and an interface endpoint itself; those
    # of a load balancer, a Lambda function and an RDS database it does not model, so they are
    # made here with the descriptions AWS gives them.
    edge = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.5.0/24")["Subnet"]["SubnetId"]
    rds_sg = ec2.create_security_group(GroupName="shop-rds", Description="rds", VpcId=vpc)["GroupId"]
    nat = ec2.create_nat_gateway(SubnetId=edge, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
    nat_ip = ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["NatGatewayAddresses"][0]["PrivateIp"]
    vpce = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.eu-west-1.logs", VpcEndpointType="Interface", SubnetIds=[edge],
    )["VpcEndpoint"]
    vpce_ip = ec2.describe_network_interfaces(NetworkInterfaceIds=vpce["NetworkInterfaceIds"])[
        "NetworkInterfaces"][0]["PrivateIpAddress"]
    for ip, description, groups in [
        ("10.0.5.10", "ELB app/shop-lb/50dc6c495c0c9188", []),
        ("10.0.5.11", "ELB app/shop-lb/50dc6c495c0c9188", []),
        ("10.0.5.12", "ELB app/shop-lb-old/7f1e2d3c4b5a6978", []),
        ("10.0.5.20", "AWS Lambda VPC ENI-shop-reports-3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", []),
        ("10.0.5.21", "AWS Lambda VPC ENI-shop-reports-v2-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", []),
        ("10.0.5.30", "RDSNetworkInterface", [rds_sg]),
    ]:
        ec2.create_network_interface(SubnetId=edge, PrivateIpAddress=ip, Description=description, Groups=groups)

    legacy_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    legacy_subnet = ec2.create_subnet(VpcId=legacy_vpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    legacy = ec2.create_network_interface(
        SubnetId=legacy_subnet, PrivateIpAddress="10.1.0.5",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "shop-legacy"}]}],
    )["NetworkInterface"]["NetworkInterfaceId"]
    logs.create_log_group(logGroupName="/vpc/legacy")
    for traffic, group in [("REJECT", "/vpc/legacy"), ("ALL", "/vpc/deleted")]:
        ec2.create_flow_logs(
            ResourceType="VPC", ResourceIds=[legacy_vpc], TrafficType=traffic, LogDestinationType="cloud-watch-logs",
            LogGroupName=group, DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
        )

    # Twenty minutes ago (flowgate's window ends ten minutes before now, as flow logs arrive
    # late), for a minute: web1 reaches app; app's security group refuses web2; app reaches db;
    # db refuses someone on the internet.
    start = int(time.time()) - 1200
    end = start + 60

    def rec(eni, src, dst, sport, dport, action, flags):
        return f"{eni} {src} {dst} {sport} {dport} 6 3 180 {start} {end} {action} OK {flags}"

    streams = {
        web1: [rec(web1, "10.0.1.10", "10.0.2.20", 40001, 8080, "ACCEPT", 2),
               rec(web1, "10.0.2.20", "10.0.1.10", 8080, 40001, "ACCEPT", 18)],
        web2: [rec(web2, "10.0.1.11", "10.0.2.20", 40002, 8080, "ACCEPT", 2)],
        app: [rec(app, "10.0.1.10", "10.0.2.20", 40001, 8080, "ACCEPT", 2),
              rec(app, "10.0.2.20", "10.0.1.10", 8080, 40001, "ACCEPT", 18),
              rec(app, "10.0.1.11", "10.0.2.20", 40002, 8080, "REJECT", 2),
              rec(app, "10.0.2.20", "10.0.3.30", 50001, 1433, "ACCEPT", 2),
              rec(app, "10.0.3.30", "10.0.2.20", 1433, 50001, "ACCEPT", 18),
              # To the shared database in the second account (below), which logs it too.
              rec(app, "10.0.2.20", "10.20.1.50", 50100, 5432, "ACCEPT", 2),
              rec(app, "10.20.1.50", "10.0.2.20", 5432, 50100, "ACCEPT", 18)],
        db: [rec(db, "10.0.2.20", "10.0.3.30", 50001, 1433, "ACCEPT", 2),
             rec(db, "10.0.3.30", "10.0.2.20", 1433, 50001, "ACCEPT", 18),
             rec(db, "203.0.113.9", "10.0.3.30", 51515, 1433, "REJECT", 2),
             rec(db, "192.168.20.15", "10.0.3.30", 52000, 1433, "REJECT", 2)],
    }
    for eni, records in streams.items():
        stream = f"{eni}-all"
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        events = [{"timestamp": end * 1000 + i, "message": r} for i, r in enumerate(records)]
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)

    # A second account, 222222222222 (shared services), which flowgate reaches through the role
    # arn:aws:iam::222222222222:role/flowgate-reader with the external id `shop-ci`: moto keeps
    # accounts apart by the credentials sts:AssumeRole hands out. Its role flowgate-denied cannot
    # be assumed (moto assumes any role; the trust policy's refusal is played here). It holds
    # the shared database and a batch job, a VPC flow log delivering to its own log group
    # /vpc/shared, and that group's records: app (account 1) reaches the shared db, as does the
    # batch job.
    import moto.sts.models as sts_models  # noqa: E402
    from moto.sts.exceptions import STSClientError  # noqa: E402
    real_assume = sts_models.STSBackend.assume_role

    def assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
        name = role_arn.rsplit("/", 1)[-1]
        if name == "flowgate-denied" or (name == "flowgate-reader" and external_id != "shop-ci"):
            raise STSClientError(
                "AccessDenied",
                f"User: arn:aws:iam::123456789012:user/moto is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        return real_assume(self, region_name, role_session_name, role_arn, policy, duration, external_id)

    sts_models.STSBackend.assume_role = assume_role
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="eu-west-1")
    creds = sts.assume_role(
        RoleArn="arn:aws:iam::222222222222:role/flowgate-reader", RoleSessionName="setup", ExternalId="shop-ci",
    )["Credentials"]

    def second(service):
        return boto3.client(
            service, endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
        )

    ec2b, logsb = second("ec2"), second("logs")
    shared_vpc = ec2b.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    shared_subnet = ec2b.create_subnet(VpcId=shared_vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]

    # The shared db's group takes 5432 from the batch job and from app, and nothing on 6379:
    # flowgate explains the refused 6379 with it, read in this account.
    shared_sg = ec2b.create_security_group(GroupName="shared-db", Description="db", VpcId=shared_vpc)["GroupId"]
    ec2b.authorize_security_group_ingress(GroupId=shared_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "IpRanges": [{"CidrIp": "10.20.1.60/32"}, {"CidrIp": "10.0.2.20/32"}]}])

    def shared_eni(name, ip):
        return ec2b.create_network_interface(
            SubnetId=shared_subnet, PrivateIpAddress=ip, Groups=[shared_sg] if name == "shared-db" else [],
            TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": name}]}],
        )["NetworkInterface"]["NetworkInterfaceId"]

    shared_db = shared_eni("shared-db", "10.20.1.50")
    shared_batch = shared_eni("shared-batch", "10.20.1.60")
    logsb.create_log_group(logGroupName="/vpc/shared")
    ec2b.create_flow_logs(
        ResourceType="VPC", ResourceIds=[shared_vpc], TrafficType="ALL", LogDestinationType="cloud-watch-logs",
        LogGroupName="/vpc/shared", DeliverLogsPermissionArn="arn:aws:iam::222222222222:role/flow-logs",
        LogFormat=FORMAT,
    )
    shared_streams = {
        shared_db: [rec(shared_db, "10.0.2.20", "10.20.1.50", 50100, 5432, "ACCEPT", 2),
                    rec(shared_db, "10.20.1.50", "10.0.2.20", 5432, 50100, "ACCEPT", 18),
                    rec(shared_db, "10.20.1.60", "10.20.1.50", 50200, 5432, "ACCEPT", 2),
                    rec(shared_db, "10.20.1.50", "10.20.1.60", 5432, 50200, "ACCEPT", 18),
                    rec(shared_db, "10.20.1.60", "10.20.1.50", 50300, 6379, "REJECT", 2)],
        shared_batch: [rec(shared_batch, "10.20.1.60", "10.20.1.50", 50300, 6379, "ACCEPT", 2),
                       rec(shared_batch, "10.20.1.60", "10.20.1.50", 50200, 5432, "ACCEPT", 2),
                       rec(shared_batch, "10.20.1.50", "10.20.1.60", 5432, 50200, "ACCEPT", 18)],
    }
    for eni, records in shared_streams.items():
        logsb.create_log_stream(logGroupName="/vpc/shared", logStreamName=f"{eni}-all")
        events = [{"timestamp": end * 1000 + i, "message": r} for i, r in enumerate(records)]
        logsb.put_log_events(logGroupName="/vpc/shared", logStreamName=f"{eni}-all", logEvents=events)

    # The shipped examples in S3, in every layout AWS documents (see s3_layouts.py).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import s3_layouts  # noqa: E402

    bucket = s3_layouts.fill(endpoint)

    # A host whose flow log delivers to S3 (a central bucket, text, daily folders): discovery
    # reads it from there. The bucket's folder also holds another flow log's object, which is not
    # flow-log text: read, it would make the run incomplete. (moto takes a destination with a
    # prefix for a bucket name, so this one delivers to the bucket's root.)
    central = "flowgate-central-logs"
    s3c = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1")
    s3c.create_bucket(Bucket=central, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    archive_vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    archive_subnet = ec2.create_subnet(VpcId=archive_vpc, CidrBlock="10.2.0.0/24")["Subnet"]["SubnetId"]
    archive = ec2.create_network_interface(
        SubnetId=archive_subnet, PrivateIpAddress="10.2.0.5",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "shop-archive"}]}],
    )["NetworkInterface"]["NetworkInterfaceId"]
    archive_log = ec2.create_flow_logs(
        ResourceType="NetworkInterface", ResourceIds=[archive], TrafficType="ALL", LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{central}",
        DestinationOptions={"FileFormat": "plain-text", "HiveCompatiblePartitions": False, "PerHourPartition": False},
    )["FlowLogIds"][0]
    # Forty minutes ago: S3 delivery is late, and flowgate's default window for it ends earlier.
    s3_start = int(time.time()) - 2400
    s3_end = s3_start + 60
    slot = datetime.datetime.fromtimestamp(s3_end + 300 - s3_end % 300, datetime.timezone.utc)
    folder = f"AWSLogs/123456789012/vpcflowlogs/eu-west-1/{slot:%Y/%m/%d}/"
    header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

    def s3_rec(src, dst, sport, dport, action):
        return f"2 123456789012 {archive} {src} {dst} {sport} {dport} 6 3 180 {s3_start} {s3_end} {action} OK"

    body = "\n".join([
        header,
        s3_rec("192.168.5.5", "10.2.0.5", 50000, 443, "ACCEPT"),
        s3_rec("10.2.0.5", "192.168.5.5", 443, 50000, "ACCEPT"),
        s3_rec("192.168.5.5", "10.2.0.5", 50001, 22, "REJECT"),
    ]) + "\n"
    import gzip  # noqa: E402
    name = f"123456789012_vpcflowlogs_eu-west-1_{{}}_{slot:%Y%m%dT%H%M}Z_0000abcd.log.gz"
    s3c.put_object(Bucket=central, Key=folder + name.format(archive_log), Body=gzip.compress(body.encode()))
    s3c.put_object(Bucket=central, Key=folder + name.format("fl-0ffffffffffffffff"), Body=b"not ours\n")

    # The second account's archive delivers its flow log to the same central bucket, under
    # AWSLogs/222222222222/ (a log-archive bucket every account writes to). It sits in a VPC of
    # its own, with no CloudWatch flow log: discovery reads it from S3, with the role's
    # credentials (moto lets them read the bucket, as the bucket policy of a log archive does).
    ec2c = second("ec2")
    vault_vpc = ec2c.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    vault_subnet = ec2c.create_subnet(VpcId=vault_vpc, CidrBlock="10.21.0.0/24")["Subnet"]["SubnetId"]
    vault = ec2c.create_network_interface(
        SubnetId=vault_subnet, PrivateIpAddress="10.21.0.5",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "shared-vault"}]}],
    )["NetworkInterface"]["NetworkInterfaceId"]
    vault_log = ec2c.create_flow_logs(
        ResourceType="NetworkInterface", ResourceIds=[vault], TrafficType="ALL", LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{central}",
        DestinationOptions={"FileFormat": "plain-text", "HiveCompatiblePartitions": False, "PerHourPartition": False},
    )["FlowLogIds"][0]
    vault_body = "\n".join([
        header,
        f"2 222222222222 {vault} 192.168.5.5 10.21.0.5 50010 443 6 3 180 {s3_start} {s3_end} ACCEPT OK",
        f"2 222222222222 {vault} 10.21.0.5 192.168.5.5 443 50010 6 3 180 {s3_start} {s3_end} ACCEPT OK",
    ]) + "\n"
    vault_key = (f"AWSLogs/222222222222/vpcflowlogs/eu-west-1/{slot:%Y/%m/%d}/"
                 f"222222222222_vpcflowlogs_eu-west-1_{vault_log}_{slot:%Y%m%dT%H%M}Z_0000abce.log.gz")
    s3c.put_object(Bucket=central, Key=vault_key, Body=gzip.compress(vault_body.encode()))

    # The record fixtures of tests/data/records/mixed (see its SOURCES.md) as CloudWatch Logs
    # holds them: the VPC flow log's records in /records/vpc and the transit gateway's in
    # /records/tgw, each delivered by a flow log in its file's format (the header). CloudWatch
    # takes no event older than 14 days, so every time is moved by `records_shift` seconds, to
    # half an hour ago; the flow logs are older than that.
    day = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "records/mixed/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20")
    records_shift = (int(time.time()) - 1800) - 1795165200

    def shifted(line):
        return " ".join(str(int(w) + records_shift) if w.isdigit() and 1795000000 <= int(w) < 1796000000 else w
                        for w in line.split(" "))

    flow_log_model.utcnow = lambda: real_utcnow() - datetime.timedelta(days=30)
    records_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    for name in sorted(os.listdir(day)):
        with open(os.path.join(day, name)) as f:
            header, *lines = f.read().splitlines()
        tgw = "tgw-id" in header.split()
        group = "/records/tgw" if tgw else "/records/vpc"
        logs.create_log_group(logGroupName=group)
        ec2.create_flow_logs(
            ResourceType="TransitGateway" if tgw else "VPC",
            ResourceIds=["tgw-0a1b2c3d4e5f60718"] if tgw else [records_vpc],
            TrafficType="ALL", LogDestinationType="cloud-watch-logs", LogGroupName=group,
            DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
            LogFormat=" ".join("${%s}" % f for f in header.split()),
        )
        stream = "tgw-attach-0aa1bb2cc3dd4ee51" if tgw else "eni-0b2e4d6f8a0c2b201-all"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        events = []
        for line in map(shifted, lines):
            start = next(int(w) for w in line.split(" ") if w.isdigit() and len(w) == 10 and w.startswith("17"))
            events.append({"timestamp": start * 1000, "message": line})
        events.sort(key=lambda e: e["timestamp"])
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    flow_log_model.utcnow = lambda: real_utcnow() - datetime.timedelta(days=1)

    # A VPC attached to a transit gateway (tgw-app's, 10.40.0.0/16), for discovery: its own VPC
    # flow log (/vpc/tgw-app), and the gateway's flow logs, one on the gateway delivering to
    # /tgw/core and one on the attachment delivering to S3. Twenty minutes ago tgw-app asked the
    # on-premises database (the gateway had no route: 3 packets lost) and the partner VPC (the
    # gateway carried the requests; nothing came back).
    tgw_vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    tgw_subnet = ec2.create_subnet(VpcId=tgw_vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    tgw_app = ec2.create_network_interface(
        SubnetId=tgw_subnet, PrivateIpAddress="10.40.1.10",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "tgw-app"}]}],
    )["NetworkInterface"]["NetworkInterfaceId"]
    tgw = ec2.create_transit_gateway(Description="core")["TransitGateway"]["TransitGatewayId"]
    tgw_attach = ec2.create_transit_gateway_vpc_attachment(
        TransitGatewayId=tgw, VpcId=tgw_vpc, SubnetIds=[tgw_subnet],
    )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    logs.create_log_group(logGroupName="/vpc/tgw-app")
    logs.create_log_group(logGroupName="/tgw/core")
    ec2.create_flow_logs(
        ResourceType="VPC", ResourceIds=[tgw_vpc], TrafficType="ALL", LogDestinationType="cloud-watch-logs",
        LogGroupName="/vpc/tgw-app", DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
    )
    tgw_format = ("version resource-type tgw-id tgw-attachment-id srcaddr dstaddr srcport dstport protocol "
                  "packets bytes start end log-status packets-lost-no-route packets-lost-blackhole")
    tgw_log = ec2.create_flow_logs(
        ResourceType="TransitGateway", ResourceIds=[tgw], LogDestinationType="cloud-watch-logs",
        LogGroupName="/tgw/core", DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
        LogFormat=" ".join("${%s}" % f for f in tgw_format.split()),
    )["FlowLogIds"][0]
    ec2.create_flow_logs(
        ResourceType="TransitGatewayAttachment", ResourceIds=[tgw_attach], LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{bucket}",
        LogFormat=" ".join("${%s}" % f for f in tgw_format.split()),
    )
    vpc_events = [
        f"2 123456789012 {tgw_app} 10.40.1.10 192.168.50.10 41000 5432 6 3 180 {start} {end} ACCEPT OK",
        f"2 123456789012 {tgw_app} 10.40.1.10 10.20.0.5 41001 443 6 3 180 {start} {end} ACCEPT OK",
    ]
    tgw_events = [
        f"6 TransitGateway {tgw} {tgw_attach} 10.40.1.10 192.168.50.10 41000 5432 6 3 180 {start} {end} OK 3 0",
        f"6 TransitGateway {tgw} {tgw_attach} 10.40.1.10 10.20.0.5 41001 443 6 3 180 {start} {end} OK 0 0",
    ]
    for group, stream, lines in [("/vpc/tgw-app", f"{tgw_app}-all", vpc_events), ("/tgw/core", tgw_attach, tgw_events)]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": end * 1000 + i, "message": m} for i, m in enumerate(lines)])

    for key, value in [
        ("tgw", tgw), ("tgw_attach", tgw_attach), ("tgw_log", tgw_log),
        ("records_shift", records_shift), ("endpoint", endpoint), ("bucket", bucket), ("vpc", vpc), ("web_subnet", subnet["web"]), ("db_sg", sg["db"]),
        ("app_instance", app_id), ("app_sg", sg["app"]), ("db_acl", db_acl), ("db_subnet", subnet["db"]), ("web1", web1), ("web2", web2), ("app", app), ("db", db),
        ("legacy", legacy), ("legacy_vpc", legacy_vpc), ("archive", archive), ("archive_log", archive_log),
        ("app_subnet", subnet["app"]), ("nat", nat), ("nat_ip", nat_ip), ("vpce", vpce["VpcEndpointId"]),
        ("vpce_ip", vpce_ip), ("rds_sg", rds_sg), ("shared_db", shared_db), ("shared_vpc", shared_vpc), ("shared_sg", shared_sg), ("vault_log", vault_log), ("igw", igw), ("vgw", vgw), ("public_rtb", public_rtb), ("main_rtb", main_rtb),
    ]:
        print(key, value)
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
