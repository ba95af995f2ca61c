# Sourced by the benchmark scripts: the release binary, the pinned Python
# and the working folder.
#   S3LOGS_BIN     a release binary already built (skips the build)
#   S3LOGS_BENCH_DIR  where corpora and outputs go (default $TMPDIR/s3logs-bench)
#   S3LOGS_VENV    the virtualenv (default ~/.cache/s3logs-venv)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${S3LOGS_BENCH_TARGET_DIR:-$HOME/.cache/s3logs-target-release}"
base="${S3LOGS_BENCH_DIR:-${TMPDIR:-/tmp}/s3logs-bench}"
venv="${S3LOGS_VENV:-$HOME/.cache/s3logs-venv}"
if [ -z "${S3LOGS_BIN:-}" ]; then
  cargo build --release --quiet --bin s3logs
fi
bin="${S3LOGS_BIN:-$CARGO_TARGET_DIR/release/s3logs}"
bash benches/python-env.sh "$venv"
py="$venv/bin/python"
mkdir -p "$base"
