"""Reads an s3logs lake with two other Delta readers and prints what they see.

Usage: read_lake.py LAKE_DIR
Prints one JSON object: for DuckDB's delta_scan and for the Python deltalake
package, the row count, the sum of bytes_sent, the number of distinct
request ids, the rows per date and the rejects count.
"""
import glob
import json
import os
import sys

import deltalake
import duckdb
import duckdb_extension_delta

lake = sys.argv[1]
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__),
                             "extensions", "*", "delta.duckdb_extension"))[0]

con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{ext}'")
logs = os.path.join(lake, "logs")
q = lambda sql: con.execute(sql.replace("{T}", f"delta_scan('{logs}')")).fetchall()
duck = {
    "rows": q("SELECT count(*) FROM {T}")[0][0],
    "bytes_sent": int(q("SELECT coalesce(sum(bytes_sent), 0) FROM {T}")[0][0]),
    "request_ids": q("SELECT count(DISTINCT request_id) FROM {T}")[0][0],
    "per_date": {str(d): n for d, n in q("SELECT date, count(*) FROM {T} GROUP BY date ORDER BY date")},
    "max_time": q("SELECT CAST(epoch_us(max(request_time)) AS BIGINT) FROM {T}")[0][0],
    "rejects": con.execute(f"SELECT count(*) FROM delta_scan('{os.path.join(lake, 'rejects')}')").fetchall()[0][0],
}

dt = deltalake.DeltaTable(logs)
t = dt.to_pyarrow_table()
import pyarrow.compute as pc  # noqa: E402  (pyarrow comes with deltalake)
per_date = {}
for d in t.column("date").to_pylist():
    per_date[str(d)] = per_date.get(str(d), 0) + 1
py = {
    "rows": t.num_rows,
    "bytes_sent": int(pc.sum(t.column("bytes_sent")).as_py() or 0),
    "request_ids": len(set(t.column("request_id").to_pylist())),
    "per_date": dict(sorted(per_date.items())),
    "rejects": deltalake.DeltaTable(os.path.join(lake, "rejects")).to_pyarrow_table().num_rows,
}
print(json.dumps({"duckdb": duck, "deltalake": py}))
sys.stdout.flush()
# DuckDB's delta extension and the deltalake package both run native thread
# pools; tearing both down at interpreter exit can abort ("terminate called
# without an active exception") after everything is printed. Leave at once.
os._exit(0)
