#!/usr/bin/env bash
# Creates (once) a virtualenv with the pinned Python packages the interop
# test, the DuckDB benchmarks, the S3 tests (moto's S3 server) and the
# report's browser tests (Playwright, driving Debian's Chromium) and the
# distributed-engine test (Sail's Spark Connect server with the PySpark
# Connect client; pandas below 3, which PySpark supports) use.
# Usage: python-env.sh VENV_DIR
set -euo pipefail
venv="$1"
want="duckdb==1.5.5 duckdb-extension-delta==1.5.5 deltalake==1.6.6 pyarrow==26.0.1 moto[server]==5.2.5 playwright==1.65.2 pysail==0.7.2 pyspark-client==4.2.0 pandas==2.3.3"
stamp="$venv/.s3logs-packages"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/pip" install --quiet --disable-pip-version-check $want
echo "$want" > "$stamp"
