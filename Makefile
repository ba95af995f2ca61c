# The CI contract and the two set-up commands of the README.
#
#   make demo         run the main job on sample-logs/
#   make test         every test (what .ci/run runs)
#   make check        fmt, clippy, tests
#   make bench        parser benchmarks and a whole-file `check` run against a baseline
#   make fuzz         run the fuzz target for a minute (needs cargo-fuzz and nightly)

CARGO ?= cargo
# Keep builds outside the clone so every clone and CI reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/s3logs-target
BIN := $(CARGO_TARGET_DIR)/debug/s3logs

.PHONY: demo test check fmt clippy bench bench-check fuzz

demo:
	$(CARGO) build --quiet
	@echo "== s3logs check sample-logs/ (exit 1: the sample holds 5 deliberately broken lines)" >&2
	$(BIN) check sample-logs --format table --rejects || test $$? -eq 1

test:
	$(CARGO) test --all-targets --quiet
	$(CARGO) test --doc --quiet

check: fmt clippy test

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets --quiet -- -D warnings

bench:
	$(CARGO) bench --bench parse
	bash benches/check.sh

bench-check:
	bash benches/check.sh

fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run parse_line -- -max_total_time=60
