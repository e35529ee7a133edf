#!/usr/bin/env python3
"""Writes the example flow logs for specs/shop.yaml, as S3 delivers them.

    python3 examples/make_examples.py        # rewrites examples/troubled-cutover and examples/after-fixes

Deterministic: the same files (byte for byte) on every run. Each interface logs what it sees, as
AWS does: a connection between two interfaces of the VPC appears on both (egress at the client,
ingress at the server, and the replies likewise); one with an on-premises end appears once.
"""

import gzip
import hashlib
import os
import random
import shutil
from datetime import datetime, timezone

ACCOUNT = "123456789012"
REGION = "eu-west-1"
VPC = "vpc-0f1e2d3c4b5a69788"
HERE = os.path.dirname(os.path.abspath(__file__))

# address -> (interface, subnet, instance)
ENIS = {
    "10.0.1.10": ("eni-0a1f3c5e7b9d1a101", "subnet-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60101"),
    "10.0.1.11": ("eni-0a1f3c5e7b9d1a102", "subnet-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60102"),
    "10.0.2.20": ("eni-0b2e4d6f8a0c2b201", "subnet-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60201"),
    "10.0.2.21": ("eni-0b2e4d6f8a0c2b202", "subnet-0a1b2c3d4e5f60002", "i-0a1b2c3d4e5f60202"),
    "10.0.3.30": ("eni-0c3d5e7f9b1d3c301", "subnet-0a1b2c3d4e5f60003", "i-0a1b2c3d4e5f60301"),
    "10.0.4.40": ("eni-0d4e6f8a0c2e4d401", "subnet-0a1b2c3d4e5f60004", "i-0a1b2c3d4e5f60401"),
}

DEFAULT_FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
    "packets bytes start end action log-status"
)
CUSTOM_FIELDS = DEFAULT_FIELDS + (
    " vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction"
)

TCP, UDP, ICMP = 6, 17, 1
# tcp-flags as AWS reports them: the OR of FIN 1, SYN 2, RST 4, SYN-ACK 18 seen in the interval.
SYN, SYN_FIN, SYNACK_FIN, SYNACK, RST = 2, 3, 19, 18, 4


class Log:
    def __init__(self, custom, rng):
        self.custom = custom
        self.rng = rng
        self.records = []  # (start, interface, line)

    def record(self, eni_addr, direction, src, dst, sport, dport, proto, action, start, flags):
        eni, subnet, instance = ENIS[eni_addr]
        packets = self.rng.randint(2, 40) if action == "ACCEPT" else self.rng.randint(1, 3)
        size = self.rng.randint(60, 1400) * packets
        fields = ["5" if self.custom else "2", ACCOUNT, eni, src, dst, str(sport), str(dport), str(proto),
                  str(packets), str(size), str(start), str(start + 60), action, "OK"]
        if self.custom:
            tcp_flags = str(flags) if proto == TCP else "0"
            fields += [VPC, subnet, instance, tcp_flags, "IPv6" if ":" in src else "IPv4", src, dst, direction]
        self.records.append((start, eni, " ".join(fields)))

    def nodata(self, eni_addr, start):
        eni, subnet, instance = ENIS[eni_addr]
        fields = ["5" if self.custom else "2", ACCOUNT, eni, "-", "-", "-", "-", "-", "-", "-",
                  str(start), str(start + 60), "-", "NODATA"]
        if self.custom:
            fields += [VPC, subnet, instance, "-", "-", "-", "-", "-"]
        self.records.append((start, eni, " ".join(fields)))

    def connection(self, client, server, dport, proto, start, request="ACCEPT", reply="ACCEPT",
                   server_in="ACCEPT", sport=None):
        """Logs one connection on every VPC interface it crosses.

        request: the client interface's egress action; server_in: the server interface's ingress
        action; reply: the server's answer as the server interface logs it (None: no answer).
        """
        sport = sport or self.rng.randint(32768, 60999)
        if proto == ICMP:
            sport = dport = 0
        delivered = request == "ACCEPT" and server_in == "ACCEPT"
        answered = delivered and reply == "ACCEPT"
        req_flags = SYN_FIN if answered else SYN
        rep_flags = SYNACK_FIN if answered else SYNACK
        if client in ENIS:
            self.record(client, "egress", client, server, sport, dport, proto, request, start, req_flags)
        if server in ENIS and request == "ACCEPT":
            self.record(server, "ingress", client, server, sport, dport, proto, server_in, start, req_flags)
        if delivered and reply is not None:
            if server in ENIS:
                self.record(server, "egress", server, client, dport, sport, proto, reply, start, rep_flags)
            if client in ENIS and reply == "ACCEPT":
                self.record(client, "ingress", server, client, dport, sport, proto, "ACCEPT", start, rep_flags)
        return sport

    def write(self, out_dir, day_start, minutes, flow_log_id):
        fields = CUSTOM_FIELDS if self.custom else DEFAULT_FIELDS
        for window in range(0, minutes, 5):
            lo, hi = day_start + window * 60, day_start + (window + 5) * 60
            lines = [line for start, eni, line in sorted(self.records) if lo <= start < hi]
            if not lines:
                continue
            body = (fields + "\n" + "\n".join(lines) + "\n").encode()
            stamp = datetime.fromtimestamp(hi, timezone.utc)
            digest = hashlib.sha1(body).hexdigest()[:8]
            folder = os.path.join(out_dir, "AWSLogs", ACCOUNT, "vpcflowlogs", REGION,
                                  stamp.strftime("%Y"), stamp.strftime("%m"), stamp.strftime("%d"))
            os.makedirs(folder, exist_ok=True)
            name = f"{ACCOUNT}_vpcflowlogs_{REGION}_{flow_log_id}_{stamp.strftime('%Y%m%dT%H%MZ')}_{digest}.log.gz"
            with open(os.path.join(folder, name), "wb") as f:
                # mtime=0 and no file name keep the bytes the same on every run.
                with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
                    gz.write(body)


WEB = ["10.0.1.10", "10.0.1.11"]
APP = ["10.0.2.20", "10.0.2.21"]
DB, FILES = "10.0.3.30", "10.0.4.40"
USERS = [f"192.168.10.{n}" for n in (21, 34, 57, 88)]
BATCH, DNS, SYSLOG, MONITORING = "192.168.20.15", "192.168.0.53", "192.168.30.10", "192.168.30.5"
SCANNERS = ["198.51.100.23", "203.0.113.77"]
S3 = "52.218.48.7"  # an AWS public address the app uploads to: traffic no expectation covers


def epoch(text):
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def cutover(log, day_start, fixed):
    rng = log.rng
    for minute in range(30):
        t = day_start + minute * 60
        for _ in range(2):
            log.connection(rng.choice(USERS), rng.choice(WEB), 443, TCP, t)
        for w in WEB:
            # Before the fixes the app service is not listening yet: SYNs get through, nothing answers.
            log.connection(w, rng.choice(APP), 8080, TCP, t, reply="ACCEPT" if fixed else None)
            log.connection(w, DNS, 53, UDP, t)
        for a in APP:
            # Before the fixes the db security group lacks the app subnet.
            log.connection(a, DB, 1433, TCP, t, server_in="ACCEPT" if fixed else "REJECT", reply="ACCEPT")
            if minute % 3 == 0:
                log.connection(a, FILES, 445, TCP, t)
            log.connection(a, SYSLOG, 514, UDP, t, reply=None)
            if minute % 10 == 0:
                log.connection(a, S3, 443, TCP, t)
        if minute % 5 == 0:
            # Before the fixes the file share's subnet NACL lacks outbound ephemeral ports to on premises.
            log.connection(BATCH, FILES, 445, TCP, t, reply="ACCEPT" if fixed else "REJECT")
        if fixed and minute % 2 == 0:
            # Monitoring was pointed at the new addresses only with the fixes.
            for a in APP:
                log.connection(MONITORING, a, 0, ICMP, t)
        if minute % 4 == 1:
            scanner = rng.choice(SCANNERS)
            log.connection(scanner, DB, 1433, TCP, t, server_in="REJECT")
            # Before the fixes the file share's security group allowed 0.0.0.0/0 on 445.
            log.connection(scanner, FILES, 445, TCP, t, server_in="ACCEPT" if not fixed else "REJECT")
        if minute % 7 == 3:
            log.nodata(DB, t)

    # A packet after the connection closed: the same 5-tuple as an established connection, refused.
    # AWS logs these as REJECT; they are not a block.
    user, web = USERS[0], WEB[0]
    t = day_start + 12 * 60
    sport = log.connection(user, web, 443, TCP, t)
    log.record(web, "ingress", user, web, sport, 443, TCP, "REJECT", t + 60, RST)


def main():
    for name, fixed, custom, start, seed in [
        ("troubled-cutover", False, True, "2026-11-20T09:00:00", 7),
        ("after-fixes", True, False, "2026-11-20T14:00:00", 11),
    ]:
        out = os.path.join(HERE, name)
        shutil.rmtree(out, ignore_errors=True)
        log = Log(custom, random.Random(seed))
        day_start = epoch(start)
        cutover(log, day_start, fixed)
        log.write(out, day_start, 30, "fl-0123456789abcdef0")
        print(f"{name}: {len(log.records)} records")


if __name__ == "__main__":
    main()
