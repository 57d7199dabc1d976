#!/usr/bin/env bash
# README's second command: install what the tests start for real (Bun via npm; pebble,
# nginx and friends via apt-get), build dist/rota, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
bun install --frozen-lockfile
bun scripts/build-binary.ts
bunx tsc --noEmit -p .
# The preload's setDefaultTimeout reaches only the first test file of a run (Bun 1.4):
# end-to-end tests elsewhere would get 5 s. The flag reaches every file.
exec bun test --timeout 120000 "$@"
