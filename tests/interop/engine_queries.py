"""Runs SQL over an s3logs lake in another engine, registered with the DDL
`s3logs ddl` prints for it, and prints what the engine returns.

Usage: engine_queries.py sail|duckdb JOB.json
JOB.json holds {"ddl": "...", "queries": {"name": "SQL", ...}}.
- sail: Sail's Spark Connect server (PyPI pysail), started here, driven
  through the PySpark Connect client (pyspark-client), as a Spark user
  would; the session runs in UTC.
- duckdb: DuckDB with its delta extension from PyPI (the DDL's INSTALL and
  LOAD are replaced by loading that file: the machine has no network).
Each query runs in the database the DDL created. Prints one JSON object,
{name: [row, ...]} (or {name: {"error": "..."}} when the engine refused
it), each row an object with dates as YYYY-MM-DD and times as
YYYY-MM-DDTHH:MM:SSZ, as `s3logs query --format json` prints them.
"""
import datetime
import decimal
import glob
import json
import os
import sys


def value(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        text = v.strftime("%Y-%m-%dT%H:%M:%S")
        if v.microsecond:
            text = (text + ".%06d" % v.microsecond).rstrip("0")
        return text + "Z"
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def statements(ddl):
    for statement in ddl.split(";\n"):
        lines = [l for l in statement.splitlines() if l.strip() and not l.startswith("--")]
        if lines:
            yield "\n".join(lines).rstrip(";")


def sail(job):
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    _, port = server.listening_address
    spark = (
        SparkSession.builder.remote(f"sc://127.0.0.1:{port}")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    database = None
    for sql in statements(job["ddl"]):
        spark.sql(sql)
        if sql.startswith("CREATE DATABASE IF NOT EXISTS "):
            database = sql.split()[-1]
    if database:
        spark.sql(f"USE DATABASE {database}")
    out = {}
    for name, sql in job["queries"].items():
        try:
            rows = spark.sql(sql).collect()
            out[name] = [{k: value(v) for k, v in r.asDict().items()} for r in rows]
        except Exception as e:  # the engine refused the query: say why
            out[name] = {"error": str(e).splitlines()[0] if str(e) else repr(e)}
    return out


def duck(job):
    import duckdb
    import duckdb_extension_delta

    ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__),
                                 "extensions", "*", "delta.duckdb_extension"))[0]
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute("SET TimeZone = 'UTC'")
    database = None
    for sql in statements(job["ddl"]):
        if sql in ("INSTALL delta", "LOAD delta"):
            if sql == "LOAD delta":
                con.execute(f"LOAD '{ext}'")
            continue
        con.execute(sql)
        if sql.startswith("CREATE SCHEMA IF NOT EXISTS "):
            database = sql.split()[-1]
    if database:
        con.execute(f"USE {database}")
    out = {}
    for name, sql in job["queries"].items():
        try:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            out[name] = [{c: value(v) for c, v in zip(cols, r)} for r in cur.fetchall()]
        except Exception as e:
            out[name] = {"error": str(e).splitlines()[0]}
    return out


def main():
    engine, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        job = json.load(f)
    out = {"sail": sail, "duckdb": duck}[engine](job)
    print(json.dumps(out))
    sys.stdout.flush()
    # The engines' native threads can outlive the interpreter's teardown.
    os._exit(0)


main()
