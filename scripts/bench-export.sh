#!/usr/bin/env bash
# The export benchmark of BENCHMARKS.md ("Glass AI export"): 10,000,000 points (1,000 series
# x 10,000) loaded with `clio import`, exported as CSV through GET /api/v1/export with the
# body read incrementally, the server's RSS sampled. Prints points/s, MB/s and the RSS growth.
#
#   scripts/bench-export.sh           # release build of the clio binary (slow to build)
#   scripts/bench-export.sh --debug   # the debug binary cargo test builds
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [[ "${1:-}" == "--debug" ]]; then
  cargo build -p clio
  bin="$CARGO_TARGET_DIR/debug/clio"
else
  cargo build --release -p clio
  bin="$CARGO_TARGET_DIR/release/clio"
fi
CLIO_BIN="$bin" cargo test -p clio-e2e --test export -- --ignored --nocapture \
  export_10m_points_with_bounded_memory
