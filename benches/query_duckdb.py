"""DuckDB's side of benches/query.sh, taken from ../shared/anchors/duckdb.sql.

    query_duckdb.py ANCHORS convert CORPUS OUTPUT   write OUTPUT.parquet
    query_duckdb.py ANCHORS q1|q2|q3 parquet OUTPUT  query OUTPUT.parquet
    query_duckdb.py ANCHORS q1|q2|q3 raw CORPUS      query the raw files (read_csv)

Query results go to stdout as CSV; the seconds the query took inside DuckDB
(without starting Python and loading DuckDB) go to stderr as
`query_seconds S`.
"""

import re
import sys
import time

import duckdb
import pyarrow.csv


def blocks(text):
    """The statements of the anchors file by their `-- name` header."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^-- (\w+)$", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif name and not line.startswith("--"):
            out[name].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def main():
    anchors, what, a, b = sys.argv[1:5]
    sql = blocks(open(anchors).read())
    convert = sql["convert"]
    settings, copy = convert.split("COPY", 1)
    con = duckdb.connect()
    con.execute(settings)
    if what == "convert":
        con.execute(("COPY" + copy).replace("INPUT", a + "/*").replace("OUTPUT", b))
        return
    query = sql[what]
    if a == "parquet":
        query = query.replace("OUTPUT", b)
    else:
        # The SELECT inside the COPY, over the raw files, in place of the
        # Parquet file.
        inner = re.search(r"^\s*\((SELECT .*)\) TO 'OUTPUT", copy, re.S).group(1)
        inner = inner.replace("INPUT", b + "/*")
        query = query.replace("read_parquet('OUTPUT.parquet')", "(" + inner + ")")
    started = time.perf_counter()
    table = con.execute(query).arrow()
    if not isinstance(table, __import__("pyarrow").Table):
        table = table.read_all()
    took = time.perf_counter() - started
    pyarrow.csv.write_csv(table, sys.stdout.buffer)
    print("query_seconds %.3f" % took, file=sys.stderr)


if __name__ == "__main__":
    main()
