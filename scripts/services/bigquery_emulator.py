"""A small BigQuery REST emulator for tests: GoogleSQL in, DuckDB underneath.

@google-cloud/bigquery, pointed here with `apiEndpoint: 'http://127.0.0.1:PORT'`, sends its REST calls under
`/bigquery/v2`. This server answers the ones Trellis uses:

  POST   /projects/{p}/queries                      jobs.query
  POST   /projects/{p}/jobs                         jobs.insert (query jobs)
  GET    /projects/{p}/jobs/{job}                   jobs.get
  POST   /projects/{p}/jobs/{job}/cancel            jobs.cancel
  GET    /projects/{p}/queries/{job}                jobs.getQueryResults (maxResults, pageToken, startIndex)
  GET    /projects/{p}/datasets                     datasets.list
  POST   /projects/{p}/datasets                     datasets.insert
  GET    /projects/{p}/datasets/{d}                 datasets.get
  DELETE /projects/{p}/datasets/{d}                 datasets.delete (deleteContents)
  GET    /projects/{p}/datasets/{d}/tables          tables.list
  POST   /projects/{p}/datasets/{d}/tables          tables.insert (schema)
  GET    /projects/{p}/datasets/{d}/tables/{t}      tables.get
  DELETE /projects/{p}/datasets/{d}/tables/{t}      tables.delete
  POST   /projects/{p}/datasets/{d}/tables/{t}/insertAll   tabledata.insertAll
  GET    /projects/{p}/datasets/{d}/tables/{t}/data        tabledata.list
  GET    /healthz

How a query runs: the GoogleSQL text is parsed with sqlglot (`read='bigquery'`); named parameters (`@p1`) are
replaced by typed literals from `queryParameters` (a STRING parameter becomes a string literal, which DuckDB
coerces to the compared column's type as BigQuery coerces STRING parameters); `project.dataset.table` loses its
project (one DuckDB database; a dataset is a DuckDB schema; the job's `defaultDataset` becomes the schema search
path); `dataset.INFORMATION_SCHEMA.TABLES|COLUMNS` become queries over DuckDB's information_schema with
BigQuery's column names and type names; then the tree is written as DuckDB SQL and executed. Results come back
BigQuery-shaped: `schema.fields` with BigQuery types and rows as `{f: [{v: "…"}]}` strings.

Known gaps (the tests say which constructs they need): sqlglot 30.22 does not read backslash escapes inside
backtick identifiers, so identifiers containing a backtick or backslash are swapped for placeholders before
parsing and swapped back in the DuckDB text; no scripting, sessions, TEMP tables, MERGE, ARRAY/STRUCT
parameters, partitioning or views that check BigQuery's "must be qualified with a dataset" rule.

Usage: python bigquery_emulator.py --port 59050 --database /tmp/trellis-services/bigquery/bigquery.duckdb
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import json
import math
import re
import threading
import time
import uuid
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import duckdb
import sqlglot
from sqlglot import exp

API_PREFIX = "/bigquery/v2"
DEFAULT_PAGE_ROWS = 100_000
MAX_STORED_JOBS = 500


class BigQueryError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, Any]:
        status_names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 500: "INTERNAL"}
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
                "status": status_names.get(self.status, "UNKNOWN"),
            }
        }


# ------------------------------------------------------------------------------------------------ SQL translation

_IDENT_PLACEHOLDER = "__bq_ident_{}__"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "`": "`", "'": "'", '"': '"', "?": "?", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def protect_identifiers(sql: str) -> tuple[str, dict[str, str]]:
    """Replaces backtick identifiers that hold a backtick or backslash (escaped as in string literals, which
    sqlglot does not read) with placeholders. Returns the new text and placeholder → real name."""
    out: list[str] = []
    names: dict[str, str] = {}
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            raw = i > 0 and sql[i - 1] in "rR"
            quote = sql[i : i + 3] if sql[i : i + 3] in ("'''", '"""') else c
            j = i + len(quote)
            while j < n and sql[j : j + len(quote)] != quote:
                j += 2 if sql[j] == "\\" and not raw else 1
            out.append(sql[i : j + len(quote)])
            i = j + len(quote)
        elif sql.startswith("--", i) or c == "#":
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j])
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j])
            i = j
        elif c == "`":
            j = i + 1
            name: list[str] = []
            while j < n and sql[j] != "`":
                if sql[j] == "\\" and j + 1 < n:
                    name.append(_ESCAPES.get(sql[j + 1], sql[j + 1]))
                    j += 2
                else:
                    name.append(sql[j])
                    j += 1
            text = "".join(name)
            if "`" in text or "\\" in text:
                key = _IDENT_PLACEHOLDER.format(len(names))
                names[key] = text
                out.append(f"`{key}`")
            else:
                out.append(sql[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), names


def restore_identifiers(sql: str, names: dict[str, str]) -> str:
    for key, name in names.items():
        quoted = '"' + name.replace('"', '""') + '"'
        sql = sql.replace(f'"{key}"', quoted).replace(key, quoted)
    return sql


def parse_bigquery(sql: str) -> tuple[exp.Expr, dict[str, str]]:
    protected, names = protect_identifiers(sql)
    try:
        statements = [s for s in sqlglot.parse(protected, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as e:
        raise BigQueryError(400, "invalidQuery", f"Syntax error: {e}") from None
    if len(statements) != 1:
        raise BigQueryError(400, "invalidQuery", f"expected one statement, got {len(statements)} (scripts are not emulated)")
    return statements[0], names


_PARAM_TYPES = {
    "INT64": "INT64",
    "INTEGER": "INT64",
    "FLOAT64": "FLOAT64",
    "FLOAT": "FLOAT64",
    "NUMERIC": "NUMERIC",
    "BIGNUMERIC": "BIGNUMERIC",
    "BOOL": "BOOL",
    "BOOLEAN": "BOOL",
    "STRING": "STRING",
    "BYTES": "BYTES",
    "DATE": "DATE",
    "DATETIME": "DATETIME",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP",
    "JSON": "JSON",
}


def parameter_literal(param: dict[str, Any]) -> exp.Expr:
    ptype = param.get("parameterType") or {}
    kind = str(ptype.get("type", "STRING")).upper()
    if kind not in _PARAM_TYPES:
        raise BigQueryError(400, "invalidQuery", f"parameter type {kind} is not emulated")
    kind = _PARAM_TYPES[kind]
    value = (param.get("parameterValue") or {}).get("value")
    if value is None:
        return exp.cast(exp.null(), exp.DataType.build(kind, dialect="bigquery"))
    if kind == "STRING":
        return exp.Literal.string(value)
    if kind == "BOOL":
        return exp.Boolean(this=str(value).lower() == "true")
    if kind == "INT64":
        return exp.cast(exp.Literal.number(int(value)), exp.DataType.build("INT64", dialect="bigquery"))
    if kind == "FLOAT64":
        f = float(value)
        if math.isfinite(f):
            return exp.cast(exp.Literal.number(repr(f)), exp.DataType.build("FLOAT64", dialect="bigquery"))
        return exp.cast(exp.Literal.string(str(value)), exp.DataType.build("FLOAT64", dialect="bigquery"))
    if kind == "BYTES":
        return exp.cast(exp.Literal.string(base64.b64decode(value).decode("latin-1")), exp.DataType.build("BYTES", dialect="bigquery"))
    text = str(value)
    if kind == "TIMESTAMP" and re.search(r"[zZ]$|[+-]\d\d(:?\d\d)?$", text) is None:
        text += "+00:00"
    return exp.cast(exp.Literal.string(text), exp.DataType.build(kind, dialect="bigquery"))


def bind_parameters(tree: exp.Expr, params: list[dict[str, Any]], mode: str | None) -> exp.Expr:
    named = {str(p.get("name", "")).lower(): p for p in params if p.get("name")}
    positional = [p for p in params if not p.get("name")]
    counter = iter(range(len(positional)))

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Parameter):
            name = node.name.lower()
            if name not in named:
                raise BigQueryError(400, "invalidQuery", f"Query parameter '{node.name}' not found")
            return parameter_literal(named[name])
        if isinstance(node, exp.Placeholder) and not node.name:
            index = next(counter, None)
            if index is None:
                raise BigQueryError(400, "invalidQuery", "too few positional query parameters")
            return parameter_literal(positional[index])
        return node

    return tree.transform(replace)


_INFO_TABLES = """(
  SELECT {project} AS table_catalog, table_schema, table_name,
    CASE table_type WHEN 'VIEW' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type
  FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = {dataset}
)"""

_INFO_COLUMNS = """(
  SELECT {project} AS table_catalog, table_schema, table_name, column_name, ordinal_position,
    is_nullable, {bq_type} AS data_type
  FROM information_schema.columns WHERE table_catalog = current_database() AND table_schema = {dataset}
)"""

_BQ_TYPE_SQL = """CASE
      WHEN data_type IN ('BIGINT', 'INTEGER', 'SMALLINT', 'TINYINT', 'HUGEINT', 'UBIGINT', 'UINTEGER', 'USMALLINT', 'UTINYINT') THEN 'INT64'
      WHEN data_type IN ('DOUBLE', 'FLOAT', 'REAL') THEN 'FLOAT64'
      WHEN data_type = 'VARCHAR' THEN 'STRING'
      WHEN data_type = 'BOOLEAN' THEN 'BOOL'
      WHEN data_type = 'TIMESTAMP WITH TIME ZONE' THEN 'TIMESTAMP'
      WHEN data_type LIKE 'TIMESTAMP%' THEN 'DATETIME'
      WHEN data_type = 'DATE' THEN 'DATE'
      WHEN data_type = 'TIME' THEN 'TIME'
      WHEN data_type = 'BLOB' THEN 'BYTES'
      WHEN data_type = 'JSON' THEN 'JSON'
      WHEN data_type LIKE 'DECIMAL%' THEN 'NUMERIC'
      ELSE data_type END"""


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def rewrite_tables(tree: exp.Expr, project: str, default_dataset: str | None) -> exp.Expr:
    """Drops the project part of table names and turns INFORMATION_SCHEMA views into DuckDB queries."""

    def replace(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Table):
            return node
        parts = [p for p in (node.catalog, node.db, node.name) if p]
        dotted = ".".join(parts).split(".")
        upper = [p.upper() for p in dotted]
        if "INFORMATION_SCHEMA" in upper:
            at = upper.index("INFORMATION_SCHEMA")
            view = upper[at + 1] if at + 1 < len(upper) else ""
            dataset = dotted[at - 1] if at >= 1 else default_dataset
            if dataset is None:
                raise BigQueryError(400, "invalidQuery", "INFORMATION_SCHEMA needs a dataset qualifier or a default dataset")
            template = {"TABLES": _INFO_TABLES, "COLUMNS": _INFO_COLUMNS}.get(view)
            if template is None:
                raise BigQueryError(400, "invalidQuery", f"INFORMATION_SCHEMA.{view} is not emulated")
            sql = template.format(project=sql_string(project), dataset=sql_string(dataset), bq_type=_BQ_TYPE_SQL)
            alias = node.alias or view
            subquery = sqlglot.parse_one(f"SELECT * FROM {sql} AS x", read="duckdb").args["from_"].this
            subquery.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
            return subquery
        if node.catalog:
            node.set("catalog", None)
        elif node.db and "." in node.db:
            node.set("db", exp.to_identifier(node.db.split(".")[-1]))
        return node

    tree = tree.transform(replace)
    # CREATE/DROP SCHEMA `project.dataset` and `project`.`dataset` name the dataset alone here.
    if isinstance(tree, (exp.Create, exp.Drop)) and str(tree.args.get("kind", "")).upper() == "SCHEMA":
        target = tree.this
        table = target if isinstance(target, exp.Table) else target.find(exp.Table) if target else None
        if table is not None:
            name = ".".join(p for p in (table.catalog, table.db, table.name) if p).split(".")[-1]
            table.set("catalog", None)
            table.set("db", None)
            table.set("this", exp.to_identifier(name, quoted=True))
    return tree


def numeric_types(tree: exp.Expr) -> exp.Expr:
    """Numeric types as GoogleSQL has them: NUMERIC is DECIMAL(38, 9) (sqlglot leaves a bare DECIMAL, which DuckDB
    reads as DECIMAL(18, 3)); BIGNUMERIC (76 digits) has no DuckDB equal, DECIMAL(38, 9) is the nearest; and
    literals with a point or exponent are FLOAT64."""

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL) and not node.expressions:
            return exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb")
        # A GoogleSQL literal with a point or exponent is FLOAT64; DuckDB would read 0.1 as DECIMAL(2, 1).
        if isinstance(node, exp.Literal) and node.is_number and re.search(r"[.eE]", node.this) and not isinstance(node.parent, exp.Cast):
            return exp.cast(node.copy(), exp.DataType.build("DOUBLE", dialect="duckdb"))
        return node

    return tree.transform(replace)


def translate(sql: str, params: list[dict[str, Any]], mode: str | None, project: str, default_dataset: str | None) -> tuple[str, exp.Expr, exp.Expr]:
    """GoogleSQL → (DuckDB SQL, the translated tree, the bound GoogleSQL tree for type checks)."""
    tree, names = parse_bigquery(sql)
    bound = bind_parameters(tree, params, mode)
    tree = numeric_types(bound.copy())
    tree = rewrite_tables(tree, project, default_dataset)
    try:
        duck = tree.sql(dialect="duckdb")
    except sqlglot.errors.SqlglotError as e:
        raise BigQueryError(400, "invalidQuery", f"cannot translate to DuckDB: {e}") from None
    return restore_identifiers(duck, names), tree, bound


_DUCK_TO_BQ_TYPE = {
    "BIGINT": "INT64", "INTEGER": "INT64", "SMALLINT": "INT64", "TINYINT": "INT64", "HUGEINT": "INT64",
    "DOUBLE": "FLOAT64", "FLOAT": "FLOAT64", "VARCHAR": "STRING", "BOOLEAN": "BOOL", "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "TIMESTAMP": "DATETIME", "TIMESTAMP_NS": "DATETIME", "TIME": "TIME",
    "BLOB": "BYTES", "JSON": "JSON",
}


def type_check(tree: exp.Expr, cur: duckdb.DuckDBPyConnection, default_dataset: str | None) -> None:
    """Refuses what GoogleSQL refuses but DuckDB would run: TIMESTAMP_ADD/SUB on a DATETIME or DATE (GoogleSQL
    has DATETIME_ADD/SUB and `-` INTERVAL for those), DATETIME_ADD/SUB on a TIMESTAMP, and comparing a DATETIME
    with a TIMESTAMP. Types come from sqlglot's annotator over the tables' columns; a statement it cannot
    qualify (e.g. unknown tables) is not checked."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    schema: dict[str, dict[str, dict[str, str]]] = {}
    for dataset, table, column, data_type in cur.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall():
        kind = "NUMERIC" if data_type.startswith("DECIMAL") else _DUCK_TO_BQ_TYPE.get(data_type)
        if kind is not None:
            schema.setdefault(dataset, {}).setdefault(table, {})[column] = kind
    try:
        copy = tree.copy()
        for table in copy.find_all(exp.Table):
            table.set("catalog", None)
        qualified = qualify(copy, schema=schema, db=default_dataset, dialect="bigquery", validate_qualify_columns=False,
                            identify=False, quote_identifiers=False)
        typed = annotate_types(qualified, schema=schema, dialect="bigquery")
    except Exception:
        return

    def type_name(node: exp.Expr) -> str:
        return node.type.sql("bigquery").upper() if node.type is not None else ""

    for node in typed.find_all(exp.TimestampAdd, exp.TimestampSub, exp.DatetimeAdd, exp.DatetimeSub):
        arg = type_name(node.this)
        name = {exp.TimestampAdd: "TIMESTAMP_ADD", exp.TimestampSub: "TIMESTAMP_SUB", exp.DatetimeAdd: "DATETIME_ADD", exp.DatetimeSub: "DATETIME_SUB"}[type(node)]
        wrong = ("DATETIME", "DATE") if name.startswith("TIMESTAMP") else ("TIMESTAMP",)
        if arg in wrong:
            raise BigQueryError(400, "invalidQuery", f"No matching signature for function {name} for argument types: {arg}, INTERVAL INT64 DATE_TIME_PART (emulator type check)")
    for node in typed.find_all(exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE):
        left, right = type_name(node.left), type_name(node.right)
        if {left, right} == {"DATETIME", "TIMESTAMP"}:
            raise BigQueryError(400, "invalidQuery", f"No matching signature for operator {node.key.upper()} for argument types: {left}, {right} (emulator type check)")


def statement_type(tree: exp.Expr) -> str:
    kind = str(tree.args.get("kind", "")).upper()
    if isinstance(tree, exp.Create):
        replace = "CREATE_OR_REPLACE" if tree.args.get("replace") else "CREATE"
        if kind == "TABLE" and tree.expression is not None:
            return f"{replace}_TABLE_AS_SELECT"
        return f"{replace}_{kind or 'TABLE'}" if kind != "SCHEMA" else "CREATE_SCHEMA"
    if isinstance(tree, exp.Drop):
        return f"DROP_{kind or 'TABLE'}"
    if isinstance(tree, exp.Insert):
        return "INSERT"
    if isinstance(tree, exp.Update):
        return "UPDATE"
    if isinstance(tree, exp.Delete):
        return "DELETE"
    if isinstance(tree, exp.Merge):
        return "MERGE"
    if isinstance(tree, exp.Alter):
        return "ALTER_TABLE"
    return "SELECT"


# ------------------------------------------------------------------------------------------------ values

def bq_field(name: str, duck_type: Any) -> dict[str, Any]:
    type_id = getattr(duck_type, "id", str(duck_type).lower())
    text = str(duck_type).upper()
    if type_id == "list" or text.endswith("[]"):
        child = duck_type.children[0][1] if hasattr(duck_type, "children") else text[:-2]
        inner = bq_field(name, child)
        inner["mode"] = "REPEATED"
        return inner
    if type_id == "struct":
        return {"name": name, "type": "RECORD", "mode": "NULLABLE", "fields": [bq_field(n, t) for n, t in duck_type.children]}
    if text in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", '"NULL"', "NULL"):
        bq = "INTEGER"
    elif text in ("DOUBLE", "FLOAT", "REAL"):
        bq = "FLOAT"
    elif text.startswith("DECIMAL"):
        m = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", text)
        bq = "BIGNUMERIC" if m and (int(m.group(2)) > 9 or int(m.group(1)) - int(m.group(2)) > 29) else "NUMERIC"
    elif text == "BOOLEAN":
        bq = "BOOLEAN"
    elif text == "TIMESTAMP WITH TIME ZONE":
        bq = "TIMESTAMP"
    elif text.startswith("TIMESTAMP"):
        bq = "DATETIME"
    elif text == "DATE":
        bq = "DATE"
    elif text == "TIME":
        bq = "TIME"
    elif text == "BLOB":
        bq = "BYTES"
    elif text == "JSON":
        bq = "JSON"
    else:
        bq = "STRING"
    return {"name": name, "type": bq, "mode": "NULLABLE"}


def bq_value(field: dict[str, Any], value: Any, formats: dict[str, Any]) -> Any:
    if value is None:
        return None
    if field.get("mode") == "REPEATED":
        single = {**field, "mode": "NULLABLE"}
        return [{"v": bq_value(single, v, formats)} for v in value]
    kind = field["type"]
    if kind == "RECORD":
        return {"f": [{"v": bq_value(f, value.get(f["name"]), formats)} for f in field["fields"]]}
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind == "FLOAT":
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        if isinstance(value, float) and math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(float(value))
    if kind in ("NUMERIC", "BIGNUMERIC"):
        text = format(decimal.Decimal(value), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if kind == "TIMESTAMP":
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
            micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
            output = formats.get("timestampOutputFormat")
            if output == "ISO8601_STRING":
                return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if formats.get("useInt64Timestamp") is False and output in (None, "FLOAT64", "TIMESTAMP_OUTPUT_FORMAT_UNSPECIFIED"):
                return f"{micros / 1e6:.6E}"
            return str(micros)
        return str(value)
    if kind == "DATETIME":
        if isinstance(value, dt.datetime):
            text = value.strftime("%Y-%m-%dT%H:%M:%S")
            return text + (f".{value.microsecond:06d}" if value.microsecond else "")
        return str(value)
    if kind == "DATE":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == "TIME":
        return value.isoformat() if isinstance(value, dt.time) else str(value)
    if kind == "BYTES":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "JSON":
        return value if isinstance(value, str) else json.dumps(value)
    if kind == "INTEGER":
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


# ------------------------------------------------------------------------------------------------ engine


class Emulator:
    def __init__(self, database: str):
        self.db = duckdb.connect(database)
        self.db.execute("SET TimeZone = 'UTC'")
        self.lock = threading.RLock()
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def cursor(self, dataset: str | None) -> duckdb.DuckDBPyConnection:
        cur = self.db.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        # A missing default dataset only matters once an unqualified name needs it (then DuckDB's lookup fails).
        if dataset and self.dataset_exists(cur, dataset):
            cur.execute(f"SET schema = {sql_string(dataset)}")
        return cur

    @staticmethod
    def dataset_exists(cur: duckdb.DuckDBPyConnection, dataset: str) -> bool:
        row = cur.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE catalog_name = current_database() AND schema_name = ?",
            [dataset],
        ).fetchone()
        return bool(row and row[0])

    def run_query(self, project: str, config: dict[str, Any], job_ref: dict[str, Any]) -> dict[str, Any]:
        if config.get("useLegacySql"):
            raise BigQueryError(400, "invalidQuery", "legacy SQL is not emulated; set useLegacySql: false")
        default = config.get("defaultDataset") or {}
        dataset = default.get("datasetId")
        sql = config.get("query") or ""
        duck_sql, tree, checked = translate(sql, config.get("queryParameters") or [], config.get("parameterMode"), project, dataset)
        stype = statement_type(tree)
        started = time.time()
        with self.lock:
            cur = self.cursor(dataset)
            try:
                type_check(checked, cur, dataset)
                cur.execute(duck_sql)
                description = cur.description or []
                rows = cur.fetchall() if description else []
            except duckdb.Error as e:
                message = str(e)
                reason = "notFound" if "does not exist" in message and "Catalog Error" in message else "invalidQuery"
                raise BigQueryError(404 if reason == "notFound" else 400, reason, f"{message}\n-- DuckDB SQL: {duck_sql}") from None
            finally:
                cur.close()
        job: dict[str, Any] = {
            "jobReference": {
                "projectId": project,
                "jobId": job_ref.get("jobId") or f"job_{uuid.uuid4().hex}",
                "location": job_ref.get("location") or "US",
            },
            "configuration": {"query": config, "jobType": "QUERY"},
            "statementType": stype,
            "created": started,
            "ended": time.time(),
            "fields": [],
            "rows": [],
        }
        if stype == "SELECT":
            job["fields"] = [bq_field(d[0], d[1]) for d in description]
            job["rows"] = rows
        elif stype in ("INSERT", "UPDATE", "DELETE", "MERGE"):
            job["dml"] = int(rows[0][0]) if rows else 0
        with self.lock:
            self.jobs[job["jobReference"]["jobId"]] = job
            while len(self.jobs) > MAX_STORED_JOBS:
                self.jobs.popitem(last=False)
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise BigQueryError(404, "notFound", f"Not found: Job {job_id}")
        return job


def job_resource(job: dict[str, Any]) -> dict[str, Any]:
    ref = job["jobReference"]
    stats: dict[str, Any] = {"statementType": job["statementType"], "totalBytesProcessed": "0", "cacheHit": False}
    if "dml" in job:
        stats["numDmlAffectedRows"] = str(job["dml"])
        stats["dmlStats"] = {"insertedRowCount": str(job["dml"])} if job["statementType"] == "INSERT" else {}
    if job["fields"]:
        stats["schema"] = {"fields": job["fields"]}
    return {
        "kind": "bigquery#job",
        "id": f"{ref['projectId']}:{ref['location']}.{ref['jobId']}",
        "selfLink": "",
        "jobReference": ref,
        "configuration": job["configuration"],
        "status": {"state": "DONE"},
        "statistics": {
            "creationTime": str(int(job["created"] * 1000)),
            "startTime": str(int(job["created"] * 1000)),
            "endTime": str(int(job["ended"] * 1000)),
            "totalBytesProcessed": "0",
            "query": stats,
        },
    }


def results_page(job: dict[str, Any], query: dict[str, Any], formats: dict[str, Any], kind: str) -> dict[str, Any]:
    rows = job["rows"]
    start = int(query.get("pageToken") or query.get("startIndex") or 0)
    max_results = query.get("maxResults")
    size = int(max_results) if max_results not in (None, "") else DEFAULT_PAGE_ROWS
    page = rows[start : start + max(size, 0)]
    body: dict[str, Any] = {
        "kind": kind,
        "jobReference": job["jobReference"],
        "jobComplete": True,
        "totalRows": str(len(rows)),
        "totalBytesProcessed": "0",
        "cacheHit": False,
    }
    if job["fields"]:
        body["schema"] = {"fields": job["fields"]}
        if page:
            body["rows"] = [{"f": [{"v": bq_value(f, v, formats)} for f, v in zip(job["fields"], row)]} for row in page]
    if start + len(page) < len(rows):
        body["pageToken"] = str(start + len(page))
    if "dml" in job:
        body["numDmlAffectedRows"] = str(job["dml"])
    return body


def formats_from_query(query: dict[str, Any]) -> dict[str, Any]:
    use_int64 = query.get("formatOptions.useInt64Timestamp")
    return {
        "useInt64Timestamp": None if use_int64 is None else str(use_int64).lower() == "true",
        "timestampOutputFormat": query.get("formatOptions.timestampOutputFormat"),
    }


# ------------------------------------------------------------------------------------------------ HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = "trellis-bigquery-emulator/1"
    protocol_version = "HTTP/1.1"
    emulator: Emulator

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def send_json(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise BigQueryError(400, "parseError", f"invalid JSON body: {e}") from None

    def dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = self.read_json() if method in ("POST", "PATCH") else {}
            if url.path == "/healthz":
                self.send_json(200, {"ok": True})
                return
            path = url.path[len(API_PREFIX) :] if url.path.startswith(API_PREFIX) else url.path
            parts = [unquote(p) for p in path.strip("/").split("/")]
            if len(parts) < 2 or parts[0] != "projects":
                raise BigQueryError(404, "notFound", f"no such endpoint: {method} {url.path}")
            status, result = route(self.emulator, method, parts[1], parts[2:], query, body)
            self.send_json(status, result)
        except BigQueryError as e:
            self.send_json(e.status, e.body())
        except Exception as e:  # an emulator bug: say so, loudly
            self.send_json(500, BigQueryError(500, "internalError", f"emulator error: {type(e).__name__}: {e}").body())


def route(em: Emulator, method: str, project: str, rest: list[str], query: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    head = rest[0] if rest else ""
    if head == "queries" and len(rest) == 1 and method == "POST":
        ref = {"jobId": f"job_{uuid.uuid4().hex}", "location": body.get("location")}
        config = {k: body.get(k) for k in ("query", "queryParameters", "parameterMode", "defaultDataset", "useLegacySql")}
        job = em.run_query(project, config, ref)
        fmt = body.get("formatOptions") or {}
        page_query = {"maxResults": body.get("maxResults")}
        return 200, results_page(job, page_query, {"useInt64Timestamp": fmt.get("useInt64Timestamp"), "timestampOutputFormat": fmt.get("timestampOutputFormat")}, "bigquery#queryResponse")
    if head == "queries" and len(rest) == 2 and method == "GET":
        return 200, results_page(em.job(rest[1]), query, formats_from_query(query), "bigquery#getQueryResultsResponse")
    if head == "jobs" and len(rest) == 1 and method == "POST":
        config = (body.get("configuration") or {}).get("query")
        if config is None:
            raise BigQueryError(400, "invalid", "only query jobs are emulated")
        job = em.run_query(project, config, body.get("jobReference") or {})
        return 200, job_resource(job)
    if head == "jobs" and len(rest) == 2 and method == "GET":
        return 200, job_resource(em.job(rest[1]))
    if head == "jobs" and len(rest) == 3 and rest[2] == "cancel" and method == "POST":
        return 200, {"kind": "bigquery#jobCancelResponse", "job": job_resource(em.job(rest[1]))}
    if head == "jobs" and len(rest) == 3 and rest[2] == "delete" and method == "DELETE":
        with em.lock:
            em.jobs.pop(rest[1], None)
        return 204, None
    if head == "datasets":
        return datasets(em, method, project, rest[1:], query, body)
    raise BigQueryError(404, "notFound", f"no such endpoint: {method} /projects/{project}/{'/'.join(rest)}")


def dataset_resource(project: str, dataset: str) -> dict[str, Any]:
    return {
        "kind": "bigquery#dataset",
        "id": f"{project}:{dataset}",
        "datasetReference": {"projectId": project, "datasetId": dataset},
        "location": "US",
    }


def table_fields(cur: duckdb.DuckDBPyConnection, dataset: str, table: str) -> tuple[list[dict[str, Any]], str] | None:
    kind = cur.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [dataset, table],
    ).fetchone()
    if kind is None:
        return None
    rel = cur.execute(f"SELECT * FROM {quote_duck(dataset)}.{quote_duck(table)} LIMIT 0")
    fields = [bq_field(d[0], d[1]) for d in (rel.description or [])]
    return fields, ("VIEW" if kind[0] == "VIEW" else "TABLE")


def quote_duck(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_BQ_TO_DUCK = {
    "STRING": "VARCHAR",
    "INTEGER": "BIGINT",
    "INT64": "BIGINT",
    "FLOAT": "DOUBLE",
    "FLOAT64": "DOUBLE",
    "NUMERIC": "DECIMAL(38,9)",
    "BIGNUMERIC": "DECIMAL(38,18)",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATETIME": "TIMESTAMP",
    "DATE": "DATE",
    "TIME": "TIME",
    "BYTES": "BLOB",
    "JSON": "JSON",
}


def duck_type(field: dict[str, Any]) -> str:
    kind = str(field.get("type", "STRING")).upper()
    if kind in ("RECORD", "STRUCT"):
        inner = ", ".join(f"{quote_duck(f['name'])} {duck_type(f)}" for f in field.get("fields", []))
        base = f"STRUCT({inner})"
    elif kind in _BQ_TO_DUCK:
        base = _BQ_TO_DUCK[kind]
    else:
        raise BigQueryError(400, "invalid", f"field type {kind} is not emulated")
    return f"{base}[]" if str(field.get("mode", "")).upper() == "REPEATED" else base


def datasets(em: Emulator, method: str, project: str, rest: list[str], query: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    with em.lock:
        cur = em.db.cursor()
        try:
            if not rest:
                if method == "GET":
                    names = [r[0] for r in cur.execute(
                        "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database() "
                        "AND schema_name NOT IN ('main', 'information_schema', 'pg_catalog') ORDER BY 1"
                    ).fetchall()]
                    return 200, {"kind": "bigquery#datasetList", "datasets": [dataset_resource(project, n) for n in names]}
                if method == "POST":
                    dataset = (body.get("datasetReference") or {}).get("datasetId")
                    if not dataset:
                        raise BigQueryError(400, "invalid", "datasetReference.datasetId is required")
                    if em.dataset_exists(cur, dataset):
                        raise BigQueryError(409, "duplicate", f"Already Exists: Dataset {project}:{dataset}")
                    cur.execute(f"CREATE SCHEMA {quote_duck(dataset)}")
                    return 200, dataset_resource(project, dataset)
            dataset = rest[0]
            if not em.dataset_exists(cur, dataset):
                raise BigQueryError(404, "notFound", f"Not found: Dataset {project}:{dataset}")
            if len(rest) == 1:
                if method == "GET":
                    return 200, dataset_resource(project, dataset)
                if method == "DELETE":
                    cascade = " CASCADE" if str(query.get("deleteContents", "")).lower() == "true" else ""
                    try:
                        cur.execute(f"DROP SCHEMA {quote_duck(dataset)}{cascade}")
                    except duckdb.Error as e:
                        raise BigQueryError(400, "resourceInUse", f"Dataset {project}:{dataset} is still in use: {e}") from None
                    return 204, None
            if len(rest) >= 2 and rest[1] == "tables":
                return tables(cur, method, project, dataset, rest[2:], query, body)
        finally:
            cur.close()
    raise BigQueryError(404, "notFound", f"no such endpoint: {method} datasets/{'/'.join(rest)}")


def tables(cur: duckdb.DuckDBPyConnection, method: str, project: str, dataset: str, rest: list[str], query: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    def resource(table: str, fields: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        return {
            "kind": "bigquery#table",
            "id": f"{project}:{dataset}.{table}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": fields},
            "type": kind,
        }

    if not rest:
        if method == "GET":
            rows = cur.execute(
                "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = ? ORDER BY 1",
                [dataset],
            ).fetchall()
            return 200, {
                "kind": "bigquery#tableList",
                "tables": [
                    {"kind": "bigquery#table", "id": f"{project}:{dataset}.{n}", "type": "VIEW" if t == "VIEW" else "TABLE",
                     "tableReference": {"projectId": project, "datasetId": dataset, "tableId": n}}
                    for n, t in rows
                ],
                "totalItems": len(rows),
            }
        if method == "POST":
            table = (body.get("tableReference") or {}).get("tableId")
            fields = (body.get("schema") or {}).get("fields") or []
            if not table or not fields:
                raise BigQueryError(400, "invalid", "tableReference.tableId and schema.fields are required")
            if table_fields(cur, dataset, table) is not None:
                raise BigQueryError(409, "duplicate", f"Already Exists: Table {project}:{dataset}.{table}")
            columns = ", ".join(f"{quote_duck(f['name'])} {duck_type(f)}" for f in fields)
            cur.execute(f"CREATE TABLE {quote_duck(dataset)}.{quote_duck(table)} ({columns})")
            described = table_fields(cur, dataset, table)
            assert described is not None
            return 200, resource(table, described[0], described[1])
    table = rest[0]
    described = table_fields(cur, dataset, table)
    if described is None:
        raise BigQueryError(404, "notFound", f"Not found: Table {project}:{dataset}.{table}")
    fields, kind = described
    target = f"{quote_duck(dataset)}.{quote_duck(table)}"
    if len(rest) == 1 and method == "GET":
        return 200, resource(table, fields, kind)
    if len(rest) == 1 and method == "DELETE":
        cur.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {target}")
        return 204, None
    if len(rest) == 2 and rest[1] == "insertAll" and method == "POST":
        names = [f["name"] for f in fields]
        errors = []
        values = []
        for index, row in enumerate(body.get("rows") or []):
            record = row.get("json") or {}
            unknown = [k for k in record if k not in names]
            if unknown and not body.get("ignoreUnknownValues"):
                errors.append({"index": index, "errors": [{"reason": "invalid", "location": unknown[0], "message": f"no such field: {unknown[0]}."}]})
                continue
            values.append([record.get(n) for n in names])
        if errors and not body.get("skipInvalidRows"):
            return 200, {"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": [
                *errors, *({"index": i, "errors": [{"reason": "stopped", "message": ""}]} for i in range(len(body.get("rows") or [])) if all(e["index"] != i for e in errors))
            ]}
        if values:
            placeholders = ", ".join("?" for _ in names)
            cur.executemany(f"INSERT INTO {target} VALUES ({placeholders})", values)
        response: dict[str, Any] = {"kind": "bigquery#tableDataInsertAllResponse"}
        if errors:
            response["insertErrors"] = errors
        return 200, response
    if len(rest) == 2 and rest[1] == "data" and method == "GET":
        rows = cur.execute(f"SELECT * FROM {target}").fetchall()
        fake_job = {"jobReference": {}, "fields": fields, "rows": rows}
        page = results_page(fake_job, query, formats_from_query(query), "bigquery#tableDataList")
        return 200, {k: v for k, v in page.items() if k in ("kind", "totalRows", "rows", "pageToken")}
    raise BigQueryError(404, "notFound", f"no such endpoint: {method} tables/{'/'.join(rest)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=59050)
    parser.add_argument("--database", default=":memory:", help="DuckDB file (default: in memory)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    Handler.emulator = Emulator(args.database)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.verbose = args.verbose  # type: ignore[attr-defined]
    print(f"bigquery emulator listening on http://{args.host}:{args.port} (DuckDB {duckdb.__version__}, sqlglot {sqlglot.__version__}, database {args.database})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
