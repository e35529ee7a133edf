"""A local Amazon Athena for flowgate's end-to-end tests: the SQL flowgate sends really runs, in DuckDB.

    python tests/data/athena_duckdb.py CONFIG.json   serve (protocol of tests/data/moto_shop.py)
    python tests/data/athena_duckdb.py --self-test   check the loader and the SQL rewrites

Serving binds 127.0.0.1 on a free port, prints `endpoint http://127.0.0.1:PORT` and `ready`, and serves
until its standard input closes. It speaks Athena's awsJson1_1 (StartQueryExecution,
GetQueryExecution, GetQueryResults, StopQueryExecution, GetTableMetadata) and STS's
GetCallerIdentity (query protocol) on the same port; anything else is a 400 UnknownOperationException.

Each query is parsed as Trino by sqlglot, the Trino features DuckDB lacks are rewritten on the AST
(contains(cidr, ipaddress), TRY_CAST(... AS IPADDRESS)), then transpiled to DuckDB and run over
tables loaded from flow-log files (text, gzip or Parquet) the way Athena's text SerDe reads them.
tests/data/athena/README.md describes the configuration and what is and is not modelled.

Nothing here opens a connection anywhere: the only socket is the loopback listener.
"""

import base64
import datetime
import functools
import gzip
import ipaddress
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Hive/Glue column types of the configuration -> (DuckDB type, pyarrow type, text parser).
# `int` stays a 32-bit INTEGER so that ColumnInfo says "integer" for it, as Athena does.
def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


TYPES = {
    "int": ("INTEGER", pa.int32(), _int),
    "integer": ("INTEGER", pa.int32(), _int),
    "bigint": ("BIGINT", pa.int64(), _int),
    "string": ("VARCHAR", pa.string(), str),
    "varchar": ("VARCHAR", pa.string(), str),
    "double": ("DOUBLE", pa.float64(), _float),
    "date": ("DATE", pa.date32(), None),
}

# Where AWS puts a flow-log object in S3: the partition values of its records come from here
# (AWS places a record by its delivery time, which the path tells), not from the record's times.
S3_PATHS = [
    re.compile(r"AWSLogs/(?P<account>\d{12})/vpcflowlogs/(?P<region>[a-z0-9-]+)/"
               r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?:(?P<h>\d{2})/)?[^/]+$"),
    re.compile(r"AWSLogs/aws-account-id=(?P<account>\d{12})/aws-service=vpcflowlogs/"
               r"aws-region=(?P<region>[a-z0-9-]+)/year=(?P<y>\d{4})/month=(?P<m>\d{2})/"
               r"day=(?P<d>\d{2})/(?:hour=(?P<h>\d{2})/)?[^/]+$"),
]

TEMPLATE = re.compile(r"\{(account|region|delivered)(?::([^}]*))?\}")


class Table:
    """One configured table: its Glue metadata, and how its records were loaded."""

    def __init__(self, key, cfg):
        self.db, _, self.name = key.lower().rpartition(".")
        self.db = self.db or "default"
        self.key = f"{self.db}.{self.name}"
        self.columns = [(n.lower(), t.lower()) for n, t in cfg["columns"]]
        self.partitions = [(n.lower(), t.lower()) for n, t in cfg.get("partitions", [])]
        self.parameters = cfg.get("parameters", {})
        self.templates = cfg.get("partition_values", {})
        self.files = cfg.get("files", [])
        self.create_time = time.time()
        self.malformed = 0  # lines whose field count is not the header's
        self.records = 0
        for n, t in self.columns + self.partitions:
            if t not in TYPES:
                raise SystemExit(f"athena_duckdb: {key}: column {n} has type {t}, not one of {sorted(TYPES)}")

    @property
    def scan_table(self):
        # Per-partition byte counts, for DataScannedInBytes: kept apart so `SELECT *` sees none of it.
        return f'"__flowgate_scan"."{self.db}__{self.name}"'

    def partition_names(self):
        return {n for n, _ in self.partitions}


def resolve(path):
    """Config paths are relative to the working directory, or else to the repository."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(ROOT, path)


def walk(paths):
    for p in paths:
        p = resolve(p)
        if os.path.isdir(p):
            for d, _, names in sorted(os.walk(p)):
                for n in sorted(names):
                    yield os.path.join(d, n)
        elif os.path.exists(p):
            yield p
        else:
            raise SystemExit(f"athena_duckdb: no such file or directory: {p}")


def path_partition(path):
    """(account, region, delivery datetime or None, has hour) from an S3-style path, or None."""
    norm = path.replace(os.sep, "/")
    for pattern in S3_PATHS:
        m = pattern.search(norm)
        if m:
            return m["account"], m["region"], (int(m["y"]), int(m["m"]), int(m["d"])), m["h"]
    return None


def read_text(path, table):
    """Yield (fields, raw line bytes) the way ROW FORMAT DELIMITED FIELDS TERMINATED BY ' ' reads them."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        header = None
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip():
                continue
            tokens = line.split(" ")
            if header is None:
                # AWS writes the format's field names (dashes) as the first line of every object.
                header = [t.replace("-", "_").lower() for t in tokens]
                header_line = line
                continue
            if line == header_line:
                continue  # objects concatenated into one file
            if len(tokens) != len(header):
                table.malformed += 1
                continue
            yield dict(zip(header, tokens)), len(raw)


def read_parquet(path):
    import pyarrow.parquet as pq

    data = pq.read_table(path).to_pylist()
    for row in data:
        fields = {k.replace("-", "_").lower(): v for k, v in row.items()}
        # No raw line in Parquet: bill the record as the text line it would have been.
        text = " ".join("-" if v is None else str(v) for v in row.values())
        yield fields, len(text) + 1


def convert(value, typ):
    """Athena's text SerDe: `-` (or any unparsable text) in a numeric column is NULL; strings keep it."""
    if value is None:
        return None
    if typ in ("string", "varchar"):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return TYPES[typ][2](value)


def render_template(template, account, region, delivered, typ):
    def sub(m):
        if m[1] == "account":
            return account
        if m[1] == "region":
            return region
        if delivered is None:
            raise LookupError
        return delivered.strftime(m[2] or "%Y-%m-%dT%H:%M:%SZ")

    try:
        text = TEMPLATE.sub(sub, template)
    except LookupError:
        return None
    if typ == "date":
        return datetime.date.fromisoformat(text)
    return convert(text, typ)


def load(con, table, config):
    """Read every file of the table into DuckDB, plus its per-partition byte counts."""
    delay = config.get("delivery_delay", 300)
    names = [n for n, _ in table.columns]
    parts = [n for n, _ in table.partitions]
    values = {n: [] for n in names + parts}
    scanned = {}  # partition tuple -> [bytes, records]
    for path in walk(table.files):
        if path.endswith(".parquet"):
            records = read_parquet(path)
        else:
            records = read_text(path, table)
        placed = path_partition(path)
        for fields, nbytes in records:
            row = {n: convert(fields.get(n), t) for n, t in table.columns}
            when = fields.get("end")
            when = _int(when) if when not in (None, "-") else _int(fields.get("start"))
            delivered = None
            if when is not None:
                delivered = datetime.datetime.fromtimestamp(when + delay, datetime.timezone.utc)
            account, region = config["account"], config["region"]
            if placed:
                account, region, (y, m, d), hour = placed
                h = int(hour) if hour is not None else (delivered.hour if delivered else 0)
                delivered = datetime.datetime(y, m, d, h, tzinfo=datetime.timezone.utc)
            for n, t in table.partitions:
                template = table.templates.get(n)
                row[n] = None if template is None else render_template(template, account, region, delivered, t)
            for n in names + parts:
                values[n].append(row[n])
            key = tuple(row[n] for n in parts)
            entry = scanned.setdefault(key, [0, 0])
            entry[0] += nbytes
            entry[1] += 1
            table.records += 1

    def arrow(cols, source):
        return pa.table({n: pa.array(source[n], TYPES[t][1]) for n, t in cols})

    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.db}"')
    data = arrow(table.columns + table.partitions, values)
    con.register("__load", data)
    con.execute(f'CREATE OR REPLACE TABLE "{table.db}"."{table.name}" AS SELECT * FROM __load')
    con.unregister("__load")
    keys = list(scanned)
    scan = {n: [k[i] for k in keys] for i, n in enumerate(parts)}
    scan["__bytes"] = [scanned[k][0] for k in keys]
    scan["__records"] = [scanned[k][1] for k in keys]
    scan_cols = table.partitions + [("__bytes", "bigint"), ("__records", "bigint")]
    con.execute('CREATE SCHEMA IF NOT EXISTS "__flowgate_scan"')
    con.register("__load", arrow(scan_cols, scan))
    con.execute(f"CREATE OR REPLACE TABLE {table.scan_table} AS SELECT * FROM __load")
    con.unregister("__load")
    print(f"athena_duckdb: {table.key}: {table.records} records in {len(keys)} partitions, "
          f"{table.malformed} malformed lines skipped", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Trino features DuckDB lacks, rewritten on sqlglot's AST.

@functools.lru_cache(maxsize=65536)
def _network(cidr):
    # Trino keeps every address as IPv6 (IPv4 mapped into ::ffff:0:0/96), so an IPv4 address is
    # never in an IPv6 network and vice versa unless the network is the mapped range. Host bits
    # are allowed in the CIDR (Trino masks them), hence strict=False.
    net = ipaddress.ip_network(cidr, strict=False)
    if net.version == 4:
        net = ipaddress.ip_network(f"::ffff:{net.network_address}/{96 + net.prefixlen}")
    return net


def _address(text):
    addr = ipaddress.ip_address(text)
    return ipaddress.IPv6Address(f"::ffff:{addr}") if addr.version == 4 else addr


def flowgate_ip_in(cidr, addr):
    """Trino's contains(network varchar, TRY_CAST(addr AS IPADDRESS)): NULL for a NULL or bad address."""
    if cidr is None or addr is None:
        return None
    try:
        net = _network(cidr)
    except ValueError:
        raise ValueError(f"INVALID_FUNCTION_ARGUMENT: Invalid CIDR: {cidr}")
    try:
        address = _address(addr.strip())
    except ValueError:
        return None  # what TRY_CAST(... AS IPADDRESS) gives
    return address in net


def is_ip_type(node):
    return isinstance(node, exp.DataType) and node.this == exp.DataType.Type.IPADDRESS


def is_ip_cast(node):
    return isinstance(node, exp.Cast) and is_ip_type(node.args.get("to"))


def rewrite_ip(tree):
    # sqlglot's Trino dialect reads every contains(a, b) as ArrayContains; it is the IP-address
    # one when b is cast to IPADDRESS or a is a CIDR literal.
    for node in list(tree.find_all(exp.ArrayContains)):
        network, address = node.this, node.expression
        literal_cidr = isinstance(network, exp.Literal) and network.is_string and "/" in network.this
        if is_ip_cast(address) or literal_cidr:
            node.replace(exp.Anonymous(this="flowgate_ip_in", expressions=[network.copy(), address.copy()]))
    # Addresses stay VARCHAR: TRY_CAST(x AS IPADDRESS) -> x, IPADDRESS '10.0.0.1' -> '10.0.0.1'.
    for node in list(tree.find_all(exp.Cast)):
        if is_ip_cast(node):
            node.replace(node.this.copy())
    return tree


def conjuncts(where):
    """The top-level AND terms of a WHERE, parentheses around ANDs opened."""
    if where is None:
        return []
    out, todo = [], [where.this]
    while todo:
        node = todo.pop(0)
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.And):
            todo[:0] = [node.this, node.expression]
        else:
            out.append(node)
    return out


def direct_tables(select):
    """The tables a SELECT reads itself (FROM and JOINs), not those of its subqueries."""
    sources = []
    if select.args.get("from_") is not None:
        sources.append(select.args["from_"].this)
    sources += [j.this for j in select.args.get("joins") or []]
    return [s for s in sources if isinstance(s, exp.Table)]


def result_type(duck_type):
    """DuckDB's type -> (Athena's ColumnInfo Type, Precision, Scale, CaseSensitive)."""
    t = str(duck_type).upper()
    if t.endswith("[]"):
        return "array", 0, 0, False
    m = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m:
        return "decimal", int(m[1]), int(m[2]), False
    simple = {
        "BOOLEAN": ("boolean", 0), "TINYINT": ("tinyint", 3), "SMALLINT": ("smallint", 5),
        "INTEGER": ("integer", 10), "BIGINT": ("bigint", 19),
        # DuckDB widens sum(BIGINT) to HUGEINT; Trino's sum(bigint) is bigint.
        "HUGEINT": ("bigint", 19), "UBIGINT": ("bigint", 19), "DOUBLE": ("double", 17), "FLOAT": ("real", 17),
        "DATE": ("date", 0), "TIMESTAMP": ("timestamp", 3), "TIMESTAMP WITH TIME ZONE": ("timestamp with time zone", 3),
    }
    if t in simple:
        name, precision = simple[t]
        return name, precision, 0, False
    if t.startswith("STRUCT"):
        return "row", 0, 0, False
    if t.startswith("MAP"):
        return "map", 0, 0, False
    return "varchar", 2147483647, 0, True


def render(value):
    """A value as Athena's GetQueryResults gives it: text, or no VarCharValue at all for NULL."""
    if value is None:
        return {}
    return {"VarCharValue": text_of(value)}


def text_of(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Java's Double.toString, as Trino prints doubles: 1.5, 2.0, 1.0E7, 1.0E-4.
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
        if value == 0 or 1e-3 <= abs(value) < 1e7:
            r = repr(value)
            return r if ("." in r or "e" in r) else r + ".0"
        mantissa, exponent = f"{value:.16e}".split("e")
        mantissa = mantissa.rstrip("0")
        mantissa = mantissa + "0" if mantissa.endswith(".") else mantissa
        return f"{mantissa}E{int(exponent)}"
    if isinstance(value, datetime.datetime):
        zone = " UTC" if value.tzinfo is not None else ""  # timestamp(3) with time zone
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}{zone}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join("null" if v is None else text_of(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={'null' if v is None else text_of(v)}" for k, v in value.items()) + "}"
    return str(value)


class AthenaError(Exception):
    """An API error: HTTP 400 with awsJson's {"__type", "Message"}."""

    def __init__(self, kind, message, **extra):
        super().__init__(message)
        self.kind, self.message, self.extra = kind, message, extra


class Query:
    def __init__(self, qid, text, workgroup, output, context):
        self.id, self.text, self.workgroup, self.output, self.context = qid, text, workgroup, output, context
        self.submitted = time.time()
        self.completed = None
        self.polls = 0
        self.final = "SUCCEEDED"  # the state it ends in once its polls are over
        self.reason = None
        self.error_category = None
        self.cancelled = False
        self.columns, self.rows = [], []
        self.bytes = 0
        self.partitions = []
        self.duckdb_sql = None
        self.engine_ms = 0


class Athena:
    """The service: the loaded tables, the queries, the faults. Callers hold `lock`."""

    def __init__(self, config):
        self.config = config
        self.faults = config.get("faults", {})
        self.lock = threading.Lock()
        self.queries = {}
        self.tokens = {}  # ClientRequestToken -> (query text, id): Athena's idempotency
        self.start_failures = 0
        self.con = duckdb.connect(":memory:")
        # Trino divides integers as integers; DuckDB's `/` would give a double.
        self.con.execute("SET integer_division = true")
        # Athena's session time zone; DuckDB's default is the machine's.
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.create_function("flowgate_ip_in", flowgate_ip_in, ["VARCHAR", "VARCHAR"], "BOOLEAN",
                                 null_handling="special", side_effects=False)
        self.tables = {}
        for key, cfg in config.get("tables", {}).items():
            table = Table(key, cfg)
            load(self.con, table, config)
            self.tables[table.key] = table

    # -- the log ---------------------------------------------------------------------------------
    def log(self, entry):
        path = self.config.get("log")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(entry, default=str) + "\n")

    def caller_arn(self):
        return f"arn:aws:iam::{self.config['account']}:user/flowgate-test"

    def workgroup_arn(self, workgroup):
        return f"arn:aws:athena:{self.config['region']}:{self.config['account']}:workgroup/{workgroup}"

    def denied(self, action, workgroup):
        return AthenaError("AccessDeniedException",
                           f"User: {self.caller_arn()} is not authorized to perform: athena:{action} on resource: "
                           f"{self.workgroup_arn(workgroup)} because no identity-based policy allows the "
                           f"athena:{action} action")

    # -- GetTableMetadata ------------------------------------------------------------------------
    def get_table_metadata(self, req):
        key = f"{req.get('DatabaseName', '').lower()}.{req.get('TableName', '').lower()}"
        table = self.tables.get(key)
        if table is None:
            raise AthenaError("MetadataException",
                              "Entity Not Found (Service: AmazonDataCatalog; Status Code: 400; "
                              f"Error Code: EntityNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)")
        return {"TableMetadata": {
            "Name": table.name,
            "CreateTime": table.create_time,
            "TableType": "EXTERNAL_TABLE",
            "Columns": [{"Name": n, "Type": t} for n, t in table.columns],
            "PartitionKeys": [{"Name": n, "Type": t} for n, t in table.partitions],
            "Parameters": table.parameters,
        }}

    # -- StartQueryExecution ---------------------------------------------------------------------
    def start_query_execution(self, req):
        text = req.get("QueryString", "")
        workgroup = req.get("WorkGroup") or "primary"
        output = (req.get("ResultConfiguration") or {}).get("OutputLocation") or \
            self.config.get("workgroup_output", "s3://athena-results/")
        context = req.get("QueryExecutionContext") or {}
        rejected = self.start_fault(workgroup)
        if rejected is None and not output:
            # Real Athena refuses the call itself (it does not start a query that then fails).
            rejected = AthenaError("InvalidRequestException",
                                   "No output location provided. An output location is required either through "
                                   "the Workgroup result configuration setting or as an API input.")
        if rejected is not None:
            self.log({"op": "StartQueryExecution", "id": None, "query": text, "workgroup": workgroup,
                      "output_location": output, "duckdb_sql": None, "state": "REJECTED",
                      "reason": f"{rejected.kind}: {rejected.message}", "rows": None, "bytes_scanned": 0,
                      "partitions_touched": []})
            raise rejected
        token = req.get("ClientRequestToken")
        if token and token in self.tokens:
            known_text, known_id = self.tokens[token]
            if known_text != text:
                raise AthenaError("InvalidRequestException", "Idempotent parameters do not match")
            return {"QueryExecutionId": known_id}
        q = Query(str(uuid.uuid4()), text, workgroup, output, context)
        if token:
            self.tokens[token] = (text, q.id)
        self.queries[q.id] = q
        self.execute(q)
        fault_state = self.faults.get("state")
        if q.final == "SUCCEEDED" and fault_state in ("FAILED", "CANCELLED"):
            q.final = fault_state
            q.reason = self.faults.get("reason") or f"Query {fault_state.lower()} by the test's fault"
            q.error_category = 2 if fault_state == "FAILED" else None
        hang = bool(self.faults.get("hang"))
        self.log({"op": "StartQueryExecution", "id": q.id, "query": text, "workgroup": workgroup,
                  "output_location": output, "duckdb_sql": q.duckdb_sql,
                  "state": "RUNNING" if hang else q.final, "reason": q.reason,
                  "rows": len(q.rows) if q.final == "SUCCEEDED" else None,
                  "bytes_scanned": q.bytes, "partitions_touched": q.partitions,
                  "malformed_lines": sum(t.malformed for t in self.tables.values())})
        return {"QueryExecutionId": q.id}

    def start_fault(self, workgroup):
        kind = self.faults.get("start")
        if kind == "ThrottlingOnce":
            if self.start_failures >= int(self.faults.get("start_failures", 1)):
                return None
            self.start_failures += 1
            kind = "TooManyRequestsException"
        if kind == "TooManyRequestsException":
            return AthenaError(kind, "Rate exceeded", Reason="CONCURRENT_QUERY_LIMIT_EXCEEDED")
        if kind == "AccessDeniedException":
            return self.denied("StartQueryExecution", workgroup)
        if kind == "InvalidRequestException":
            return AthenaError(kind, self.faults.get("message") or f"WorkGroup {workgroup} is disabled.")
        return None

    def fail(self, q, reason):
        q.final, q.reason, q.error_category = "FAILED", reason, 2

    def execute(self, q):
        """Parse, check, rewrite, transpile and run the query; the outcome waits for the polls."""
        try:
            tree = sqlglot.parse_one(q.text, read="trino")
        except sqlglot.errors.SqlglotError as e:
            return self.fail(q, f"sqlglot could not parse the query as Trino: {e}")
        inner = tree.this if isinstance(tree, exp.Subquery) else tree
        if not isinstance(inner, (exp.Select, exp.SetOperation)):
            return self.fail(q, f"The local Athena runs only SELECT statements, not {type(tree).__name__.upper()}")
        try:
            self.qualify(tree, q.context)
        except LookupError as e:
            return self.fail(q, str(e))
        mismatch = self.type_mismatch(tree)
        if mismatch:
            return self.fail(q, mismatch)
        rewrite_ip(tree)
        q.duckdb_sql = tree.sql(dialect="duckdb", identify=True)
        began = time.time()
        try:
            q.bytes, q.partitions = self.scanned(tree)
            result = self.con.sql(q.duckdb_sql)
            rows = result.fetchall() if result is not None else []
            types = result.types if result is not None else []
            names = result.columns if result is not None else []
        except (duckdb.Error, ValueError) as e:
            q.bytes, q.partitions = 0, []
            return self.fail(q, f"DuckDB could not run the query: {e}")
        q.engine_ms = int((time.time() - began) * 1000)
        names = trino_names(inner, names)
        q.columns = [(n, t) for n, t in zip(names, types)]
        q.rows = rows

    def qualify(self, tree, context):
        """Point every table at its DuckDB schema; an unknown one fails the query as in Athena."""
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        default_db = (context.get("Database") or "default").lower()
        for t in tree.find_all(exp.Table):
            if not t.args.get("db") and t.name.lower() in ctes:
                continue
            db = (t.db or default_db).lower()
            key = f"{db}.{t.name.lower()}"
            if key not in self.tables:
                raise LookupError(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{key}' does not exist")
            t.set("catalog", None)
            t.set("db", exp.to_identifier(db))
            t.set("this", exp.to_identifier(t.name.lower()))

    def type_mismatch(self, tree):
        """Trino's strictness that DuckDB lacks: a column compared with a literal of another kind.

        DuckDB casts '80' to a number, or a string literal to a DATE, where Trino refuses the query
        (TYPE_MISMATCH: Cannot apply operator: integer = varchar(2)); a query flowgate sends to
        Athena must fail here too. Only column-versus-literal comparisons are checked.
        """
        types = {}
        for t in tree.find_all(exp.Table):
            table = self.tables.get(f"{t.db}.{t.name}".lower())
            for n, typ in (table.columns + table.partitions if table else []):
                types.setdefault(n, set()).add({"int": "integer", "string": "varchar"}.get(typ, typ))
        kinds = {"integer": "number", "bigint": "number", "double": "number", "varchar": "string", "date": "date"}
        operators = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}

        def literal_type(node):
            if isinstance(node, exp.Neg):
                node = node.this
            if not isinstance(node, exp.Literal):
                return None
            if node.is_string:
                return f"varchar({len(node.this)})"
            return "double" if any(c in node.this for c in ".eE") else \
                ("integer" if abs(int(node.this)) < 2 ** 31 else "bigint")

        def check(column, others, op):
            if not isinstance(column, exp.Column) or len(types.get(column.name.lower(), ())) != 1:
                return None
            (ctype,) = types[column.name.lower()]
            for other in others:
                ltype = literal_type(other)
                if ltype and kinds.get(ctype) != kinds.get(ltype.split("(")[0]):
                    return f"TYPE_MISMATCH: Cannot apply operator: {ctype} {op} {ltype}"
            return None

        for node in tree.find_all(*operators, exp.In, exp.Between):
            if isinstance(node, exp.In):
                problem = check(node.this, node.expressions, "=")
            elif isinstance(node, exp.Between):
                problem = check(node.this, [node.args.get("low"), node.args.get("high")], "BETWEEN")
            else:
                op = operators[type(node)]
                problem = check(node.this, [node.expression], op) or check(node.expression, [node.this], op)
            if problem:
                return problem
        return None

    def scanned(self, tree):
        """What Athena would bill and read: the bytes of the partitions each table read's WHERE allows.

        Only the WHERE terms (top-level ANDs) that use nothing but partition columns prune, as in
        Athena; a table read with none of them reads every partition.
        """
        total, touched = 0, set()
        for select in tree.find_all(exp.Select):
            tables = direct_tables(select)
            terms = conjuncts(select.args.get("where"))
            for t in tables:
                table = self.tables.get(f"{t.db}.{t.name}".lower())
                if table is None:
                    continue  # a CTE
                alias = t.alias_or_name.lower()
                parts = table.partition_names()
                pruning = []
                for term in terms:
                    if term.find(exp.Select) is not None:
                        continue
                    cols = list(term.find_all(exp.Column))
                    if all(c.name.lower() in parts and (c.table.lower() == alias if c.table else len(tables) == 1)
                           for c in cols):
                        term = term.copy()
                        for c in term.find_all(exp.Column):
                            c.set("table", None)
                        pruning.append(term)
                names = [n for n, _ in table.partitions]
                where = f" WHERE {exp.and_(*pruning).sql(dialect='duckdb', identify=True)}" if pruning else ""
                select_list = ", ".join([f'"{n}"' for n in names] + ["__bytes"])
                for row in self.con.sql(f"SELECT {select_list} FROM {table.scan_table}{where}").fetchall():
                    total += row[-1]
                    touched.add((table.key,) + tuple(text_of(v) if v is not None else None for v in row[:-1]))
        return total, [list(p) for p in sorted(touched, key=lambda p: tuple("" if v is None else v for v in p))]

    # -- GetQueryExecution -----------------------------------------------------------------------
    def find(self, req):
        qid = req.get("QueryExecutionId", "")
        q = self.queries.get(qid)
        if q is None:
            raise AthenaError("InvalidRequestException", f"QueryExecution {qid} was not found")
        return q

    def state(self, q):
        if q.cancelled:
            return "CANCELLED"
        if self.faults.get("hang"):
            return "RUNNING"
        done = int(self.config.get("polls_before_done", 2))
        if q.polls < done:
            return "QUEUED" if q.polls == 0 else "RUNNING"
        return q.final

    def get_query_execution(self, req):
        q = self.find(req)
        state = self.state(q)
        q.polls += 1
        final = state in ("SUCCEEDED", "FAILED", "CANCELLED")
        if final and q.completed is None:
            q.completed = time.time()
        status = {"State": state, "SubmissionDateTime": q.submitted}
        if final:
            status["CompletionDateTime"] = q.completed
            if state != "SUCCEEDED" and q.reason:
                status["StateChangeReason"] = q.reason
            if state == "FAILED":
                status["AthenaError"] = {"ErrorCategory": q.error_category or 2, "ErrorType": 1000,
                                         "Retryable": False, "ErrorMessage": q.reason or ""}
        total_ms = int(((q.completed or time.time()) - q.submitted) * 1000)
        return {"QueryExecution": {
            "QueryExecutionId": q.id,
            "Query": q.text,
            "StatementType": "DML",
            # Athena names the result object after the query.
            "ResultConfiguration": {"OutputLocation": q.output.rstrip("/") + f"/{q.id}.csv"},
            "QueryExecutionContext": q.context,
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": q.engine_ms if final else 0,
                "DataScannedInBytes": q.bytes if final and state != "FAILED" else 0,
                "TotalExecutionTimeInMillis": total_ms,
                "QueryQueueTimeInMillis": 0,
                "ServicePreProcessingTimeInMillis": 0,
                "QueryPlanningTimeInMillis": 0,
                "ServiceProcessingTimeInMillis": 0,
            },
            "WorkGroup": q.workgroup,
            "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"},
        }}

    # -- GetQueryResults -------------------------------------------------------------------------
    def get_query_results(self, req):
        q = self.find(req)
        if self.faults.get("results") == "AccessDeniedException":
            raise self.denied("GetQueryResults", q.workgroup)
        if self.faults.get("results"):
            raise AthenaError(self.faults["results"], self.faults.get("message") or "GetQueryResults failed")
        state = self.state(q)
        if state in ("QUEUED", "RUNNING"):
            raise AthenaError("InvalidRequestException", f"Query has not yet finished. Current state: {state}")
        if state != "SUCCEEDED":
            raise AthenaError("InvalidRequestException",
                              f"Query did not finish successfully. Final query state: {state}")
        # The header row comes first, as in Athena's result file.
        rows = [[{"VarCharValue": n} for n, _ in q.columns]] + [[render(v) for v in r] for r in q.rows]
        start = 0
        if req.get("NextToken"):
            try:
                qid, offset = base64.urlsafe_b64decode(req["NextToken"].encode()).decode().split(":")
                assert qid == q.id
                start = int(offset)
            except Exception:
                raise AthenaError("InvalidRequestException", "Invalid NextToken")
        size = int(self.config.get("page_size", 1000))
        if req.get("MaxResults"):
            size = min(size, int(req["MaxResults"]))
        page = rows[start:start + size]
        info = []
        for name, typ in q.columns:
            athena_type, precision, scale, case = result_type(typ)
            info.append({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name,
                         "Type": athena_type, "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN",
                         "CaseSensitive": case})
        out = {"UpdateCount": 0, "ResultSet": {"Rows": [{"Data": r} for r in page],
                                               "ResultSetMetadata": {"ColumnInfo": info}}}
        if start + size < len(rows):
            out["NextToken"] = base64.urlsafe_b64encode(f"{q.id}:{start + size}".encode()).decode()
        return out

    # -- StopQueryExecution ----------------------------------------------------------------------
    def stop_query_execution(self, req):
        q = self.find(req)
        if self.state(q) in ("QUEUED", "RUNNING"):
            q.cancelled = True
            q.completed = time.time()
            q.reason = "Query was cancelled by user"
        self.log({"op": "StopQueryExecution", "id": q.id})
        return {}

    OPERATIONS = {
        "GetTableMetadata": get_table_metadata,
        "StartQueryExecution": start_query_execution,
        "GetQueryExecution": get_query_execution,
        "GetQueryResults": get_query_results,
        "StopQueryExecution": stop_query_execution,
    }

    def caller_identity(self):
        account = self.config["account"]
        return (f'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                f"<GetCallerIdentityResult><Arn>{self.caller_arn()}</Arn>"
                f"<UserId>AIDAFLOWGATETEST00001</UserId><Account>{account}</Account>"
                f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
                f"</ResponseMetadata></GetCallerIdentityResponse>")


def trino_names(select, names):
    """Result column names as Trino gives them: lower case; `_colN` for an unnamed expression."""
    while isinstance(select, exp.SetOperation):
        select = select.this
    exprs = select.expressions if isinstance(select, exp.Select) else []
    if len(exprs) != len(names) or any(isinstance(e, exp.Star) or e.find(exp.Star) and not
                                       isinstance(e, (exp.Alias, exp.Count)) for e in exprs):
        return [n.lower() for n in names]
    out = []
    for i, (e, n) in enumerate(zip(exprs, names)):
        if isinstance(e, exp.Alias):
            out.append(e.alias.lower())
        elif isinstance(e, exp.Column):
            out.append(e.name.lower())
        else:
            out.append(f"_col{i}")
    return out


# ---------------------------------------------------------------------------------------------
# HTTP

def make_handler(service):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs expect

        def log_message(self, *args):
            pass

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def send(self, status, payload, content_type, headers=()):
            data = payload.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def error(self, e):
            payload = {"__type": e.kind, "Message": e.message, **e.extra}
            self.send(400, json.dumps(payload), "application/x-amz-json-1.1", [("x-amzn-ErrorType", e.kind)])

        def do_POST(self):
            data = self.body()
            target = self.headers.get("X-Amz-Target", "")
            if target.startswith("AmazonAthena."):
                op = target.split(".", 1)[1]
                handler = Athena.OPERATIONS.get(op)
                if handler is not None:
                    try:
                        req = json.loads(data or b"{}")
                        with service.lock:
                            out = handler(service, req)
                        return self.send(200, json.dumps(out), "application/x-amz-json-1.1")
                    except AthenaError as e:
                        return self.error(e)
            elif not target:
                form = urllib.parse.parse_qs(data.decode("utf-8", "replace"))
                if form.get("Action") == ["GetCallerIdentity"]:
                    return self.send(200, service.caller_identity(), "text/xml")
            self.unknown(data)

        def do_GET(self):
            self.unknown(b"")

        def unknown(self, data):
            what = f"{self.command} {self.path} X-Amz-Target={self.headers.get('X-Amz-Target')!r} body={data[:300]!r}"
            print(f"athena_duckdb: unknown operation: {what}", file=sys.stderr, flush=True)
            self.error(AthenaError("UnknownOperationException", f"The local Athena does not serve {what}"))

    return Handler


def serve(config_path):
    with open(config_path) as f:
        config = json.load(f)
    service = Athena(config)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(service))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"endpoint http://127.0.0.1:{server.server_address[1]}", flush=True)
    print("ready", flush=True)
    # The test process holds our stdin: its end (or the test's) is ours.
    sys.stdin.read()
    server.shutdown()


# ---------------------------------------------------------------------------------------------
# Self-test: the loader and the rewrites against counts computed here from the same files.

FLOW_COLUMNS = [["version", "int"], ["account_id", "string"], ["interface_id", "string"], ["srcaddr", "string"],
                ["dstaddr", "string"], ["srcport", "int"], ["dstport", "int"], ["protocol", "bigint"],
                ["packets", "bigint"], ["bytes", "bigint"], ["start", "bigint"], ["end", "bigint"],
                ["action", "string"], ["log_status", "string"]]


def self_test():
    examples = os.path.join(ROOT, "examples", "after-fixes")
    # Independent reading of the same files: plain split, nothing shared with the loader.
    records = []
    for d, _, names in os.walk(examples):
        for n in names:
            with gzip.open(os.path.join(d, n), "rb") as f:
                lines = f.read().split(b"\n")
            header = lines[0].decode().replace("-", "_").split()
            day = "/".join(d.replace(os.sep, "/").split("/")[-3:])
            for raw in lines[1:]:
                if raw:
                    rec = dict(zip(header, raw.decode().split()))
                    rec["_day"], rec["_bytes"] = day, len(raw) + 1
                    records.append(rec)
    assert records, "no example records"

    scratch = tempfile.mkdtemp(prefix="athena-selftest-")
    # A file outside any S3 path (partitions from the records' delivery times), with IPv6
    # addresses, `-` fields, and a malformed line.
    with open(os.path.join(scratch, "v6.log"), "w") as f:
        f.write("version interface-id srcaddr dstaddr srcport start end action\n")
        f.write("2 eni-1 2001:db8:0:1::10 2001:db8:0:2::1 443 1795183200 1795183260 ACCEPT\n")
        f.write("2 eni-1 2001:db8:0:1:ffff::1 10.0.0.1 - 1795183200 1795183260 REJECT\n")
        f.write("2 eni-1 2001:db8:0:9::1 not-an-ip 22 1795269600 1795269660 -\n")
        f.write("2 eni-1 too few\n")
    log = os.path.join(scratch, "log.jsonl")
    config = {
        "account": "123456789012", "region": "eu-west-1", "delivery_delay": 300, "page_size": 3,
        "polls_before_done": 0, "log": log,
        "tables": {
            "flowlogs.vpc_flow_logs": {
                "columns": FLOW_COLUMNS, "partitions": [["accid", "string"], ["region", "string"], ["day", "string"]],
                "parameters": {"projection.enabled": "true"},
                "partition_values": {"accid": "{account}", "region": "{region}", "day": "{delivered:%Y/%m/%d}"},
                "files": [examples],
            },
            "flowlogs.v6": {
                "columns": [["version", "int"], ["interface_id", "string"], ["srcaddr", "string"],
                            ["dstaddr", "string"], ["srcport", "int"], ["start", "bigint"], ["end", "bigint"],
                            ["action", "string"], ["log_status", "string"]],
                "partitions": [["date", "date"], ["hour", "string"]],
                "partition_values": {"date": "{delivered:%Y-%m-%d}", "hour": "{delivered:%H}"},
                "files": [scratch],
            },
        },
    }
    athena = Athena(config)

    def run(sql, expect="SUCCEEDED"):
        qid = athena.start_query_execution({"QueryString": sql, "QueryExecutionContext": {"Database": "flowlogs"}})[
            "QueryExecutionId"]
        ex = athena.get_query_execution({"QueryExecutionId": qid})["QueryExecution"]
        assert ex["Status"]["State"] == expect, (sql, ex["Status"])
        if expect != "SUCCEEDED":
            return ex, None
        rows, token = [], None
        while True:
            page = athena.get_query_results({"QueryExecutionId": qid, **({"NextToken": token} if token else {})})
            rows += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
            token = page.get("NextToken")
            if not token:
                break
        return ex, rows

    table = '"flowlogs"."vpc_flow_logs"'
    ex, rows = run(f"SELECT count(*) AS n FROM {table}")
    assert rows == [["n"], [str(len(records))]], rows
    assert ex["Statistics"]["DataScannedInBytes"] == sum(r["_bytes"] for r in records)

    # The illustrative query of flowgate's Athena source, pruned to the one day the files hold.
    sql = f"""
    SELECT interface_id AS "interfaceId", srcaddr AS "srcAddr", dstaddr AS "dstAddr", protocol AS "protocol",
      action AS "action", log_status AS "logStatus", count(*) AS "records", min(start) AS "first",
      max("end") AS "last", min(srcport) AS "srcPortLow", count(DISTINCT srcport) AS "srcPorts",
      min_by(concat_ws(' ', coalesce(CAST(version AS varchar), '-'), coalesce(interface_id, '-')), start) AS "sample"
    FROM {table}
    WHERE "accid" IN ('123456789012') AND "region" IN ('eu-west-1') AND "day" IN ('2026/11/20', '2026/11/21')
      AND start BETWEEN 0 AND 9999999999
      AND (srcaddr IN ('10.0.1.10') OR contains('10.0.2.0/24', TRY_CAST(dstaddr AS IPADDRESS)))
      AND action = 'ACCEPT'
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4"""
    ex, rows = run(sql)
    assert rows[0] == ["interfaceid", "srcaddr", "dstaddr", "protocol", "action", "logstatus", "records", "first",
                       "last", "srcportlow", "srcports", "sample"], rows[0]
    chosen = [r for r in records if r["action"] == "ACCEPT" and (
        r["srcaddr"] == "10.0.1.10" or ipaddress.ip_address(r["dstaddr"]) in ipaddress.ip_network("10.0.2.0/24"))]
    groups = {}
    for r in chosen:
        groups.setdefault((r["interface_id"], r["srcaddr"], r["dstaddr"], r["protocol"]), []).append(r)
    assert len(rows) - 1 == len(groups), (len(rows) - 1, len(groups))
    for row in rows[1:]:
        g = groups[(row[0], row[1], row[2], row[3])]
        assert int(row[6]) == len(g)
        assert int(row[7]) == min(int(r["start"]) for r in g)
        assert int(row[8]) == max(int(r["end"]) for r in g)
        assert int(row[10]) == len({r["srcport"] for r in g})
        assert row[11] in {f"{r['version']} {r['interface_id']}" for r in g
                           if int(r["start"]) == min(int(x["start"]) for x in g)}
    assert ex["Statistics"]["DataScannedInBytes"] == sum(r["_bytes"] for r in records if r["_day"] == "2026/11/20")
    info = athena.get_query_results({"QueryExecutionId": ex["QueryExecutionId"]})["ResultSet"]["ResultSetMetadata"]
    types = [c["Type"] for c in info["ColumnInfo"]]
    assert types == ["varchar"] * 3 + ["bigint", "varchar", "varchar", "bigint", "bigint", "bigint", "integer",
                                       "bigint", "varchar"], types

    # A day with no files: nothing read, nothing billed.
    ex, rows = run(f"SELECT count(*) FROM {table} WHERE day = '2026/11/19'")
    assert rows == [["_col0"], ["0"]] and ex["Statistics"]["DataScannedInBytes"] == 0, (rows, ex["Statistics"])

    # contains() with IPv6 networks; NULL (not an error) for an unparsable address; `-` is NULL
    # in a numeric column but the string '-' in a string column; partitions from delivery time.
    ex, rows = run('SELECT srcaddr, contains(\'2001:db8:0:1::/64\', TRY_CAST(srcaddr AS IPADDRESS)) AS in64, '
                   'contains(\'10.0.0.0/8\', TRY_CAST(dstaddr AS IPADDRESS)) AS in8, srcport, action, "date", hour '
                   'FROM v6 ORDER BY start, srcaddr')
    assert rows[1:] == [["2001:db8:0:1::10", "true", "false", "443", "ACCEPT", "2026-11-20", "14"],
                        ["2001:db8:0:1:ffff::1", "true", "true", None, "REJECT", "2026-11-20", "14"],
                        ["2001:db8:0:9::1", "false", None, "22", "-", "2026-11-21", "14"]], rows
    assert athena.tables["flowlogs.v6"].malformed == 1
    ex, rows = run('SELECT count(*) AS n FROM v6 WHERE "date" = DATE \'2026-11-21\' AND log_status IS NULL')
    assert rows[1] == ["1"]
    with open(log) as f:
        last = json.loads(f.read().splitlines()[-1])
    assert last["partitions_touched"] == [["flowlogs.v6", "2026-11-21", "14"]], last
    ex, rows = run("SELECT 7 / 2 AS q, 7.0 / 2 AS d, true AS t")
    assert rows[1] == ["3", "3.5", "true"], rows

    # Refusals become FAILED queries, as in Athena.
    ex, _ = run("SELEC 1", expect="FAILED")
    assert ex["Status"]["StateChangeReason"].startswith("sqlglot could not parse the query as Trino: ")
    ex, _ = run(f"DROP TABLE {table}", expect="FAILED")
    ex, _ = run("SELECT * FROM nowhere", expect="FAILED")
    assert "TABLE_NOT_FOUND" in ex["Status"]["StateChangeReason"]
    print("athena_duckdb: self-test passed", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    elif len(sys.argv) == 2:
        serve(sys.argv[1])
    else:
        raise SystemExit(__doc__)
