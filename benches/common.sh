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

# Starts moto's S3 server (the one the tests use) on a free port of
# 127.0.0.1 for the rest of the script, and points the AWS variables at it:
# sets $endpoint.
start_s3_server() {
  local port
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  coproc SERVER { exec "$py" tests/s3/s3_server.py "$port" 2> /dev/null; }
  # shellcheck disable=SC2064
  trap "kill $SERVER_PID 2> /dev/null || true" EXIT
  local ready
  read -r ready <&"${SERVER[0]}"
  [ "$ready" = ready ] || { echo "the S3 server did not start" >&2; exit 2; }
  endpoint="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$endpoint"
}
