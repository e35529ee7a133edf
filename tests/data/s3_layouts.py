"""The shipped example flow logs in S3, as AWS delivers them, for flowgate's S3 tests.

Uploads examples/troubled-cutover to one bucket in every layout AWS documents ("Flow log files"),
each under a prefix of its own, text and Parquet:

  default/   AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{mm}/{dd}/
  hourly/    ... /{dd}/{hh}/
  hive/      AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/
             year={yyyy}/month={mm}/day={dd}/hour={hh}/
  parquet/, parquet-hourly/, parquet-hive/: the same records as Parquet (AWS's column names and
             types, gzip-compressed columns), written here with pyarrow
  truncated/ the default layout with one object cut in half
  mixed/     tests/data/records/mixed: a VPC and a Transit Gateway flow log under one prefix
  mixed-parquet/ the same as Parquet
  empty/     nothing at all

Objects outside the window of the examples (2026-11-20T09:00Z .. 09:30Z) are added to default/:
the day before, and hours later. They are not flow logs (not gzip): fetched, they would be
gaps, so a run that passes did not fetch them.
"""

import gzip
import io
import os

import boto3

BUCKET = "flowgate-flow-logs"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLES = os.path.join(ROOT, "examples", "troubled-cutover", "AWSLogs", ACCOUNT, "vpcflowlogs", REGION, "2026", "11", "20")

# AWS's Parquet types (Athena's DDL for Parquet flow logs): everything else is a string.
INT32 = {"version", "srcport", "dstport", "tcp_flags", "traffic_path"}
INT64 = {"protocol", "packets", "bytes", "start", "end", "packets_lost_no_route", "packets_lost_blackhole",
         "packets_lost_mtu_exceeded", "packets_lost_ttl_expired"}


def folders(layout, hour):
    plain = f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/11/20/"
    hive = (f"AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region={REGION}/"
            "year=2026/month=11/day=20/")
    return {"default": plain, "hourly": f"{plain}{hour}/", "hive": f"{hive}hour={hour}/"}[layout]


def parquet(text):
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = text.decode().splitlines()
    names = [n.replace("-", "_") for n in lines[0].split()]
    rows = [line.split() for line in lines[1:]]
    columns = {}
    for i, name in enumerate(names):
        values = [None if r[i] == "-" else r[i] for r in rows]
        if name in INT32:
            columns[name] = pa.array([None if v is None else int(v) for v in values], pa.int32())
        elif name in INT64:
            columns[name] = pa.array([None if v is None else int(v) for v in values], pa.int64())
        else:
            columns[name] = pa.array(values, pa.string())
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out, compression="gzip")
    return out.getvalue()


def fill(endpoint):
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    names = sorted(os.listdir(EXAMPLES))
    for layout in ["default", "hourly", "hive"]:
        for name in names:
            body = open(os.path.join(EXAMPLES, name), "rb").read()
            folder = folders(layout, "09")
            s3.put_object(Bucket=BUCKET, Key=f"{layout}/{folder}{name}", Body=body)
            pq_name = name.replace(".log.gz", ".log.parquet")
            pq_prefix = "parquet" if layout == "default" else f"parquet-{layout}"
            s3.put_object(Bucket=BUCKET, Key=f"{pq_prefix}/{folder}{pq_name}", Body=parquet(gzip.decompress(body)))
            if layout == "default":
                s3.put_object(Bucket=BUCKET, Key=f"truncated/{folder}{name}",
                              Body=body[: len(body) // 2] if name == names[2] else body)
    # A VPC flow log and a Transit Gateway flow log under one prefix (tests/data/records).
    mixed = os.path.join(ROOT, "tests", "data", "records", "mixed")
    for dirpath, _, files in os.walk(mixed):
        for name in sorted(files):
            key = os.path.relpath(os.path.join(dirpath, name), mixed).replace(os.sep, "/")
            text = open(os.path.join(dirpath, name), "rb").read()
            s3.put_object(Bucket=BUCKET, Key=f"mixed/{key}.gz", Body=gzip.compress(text))
            s3.put_object(Bucket=BUCKET, Key=f"mixed-parquet/{key[:-len('.log')]}.log.parquet",
                          Body=parquet(text))
    broken = b"not a flow log: fetching this object would make the run incomplete\n"
    for key in [
        f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/11/19/{ACCOUNT}_vpcflowlogs_{REGION}_fl-0123456789abcdef0_20261119T0905Z_00000001.log.gz",
        f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/11/20/{ACCOUNT}_vpcflowlogs_{REGION}_fl-0123456789abcdef0_20261120T1405Z_00000002.log.gz",
    ]:
        s3.put_object(Bucket=BUCKET, Key=f"default/{key}", Body=broken)
    # CloudTrail beside the flow logs, as in a shared log bucket: not read.
    s3.put_object(Bucket=BUCKET, Key=f"default/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/11/20/trail.json.gz",
                  Body=broken)
    return BUCKET
