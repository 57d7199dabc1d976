#!/usr/bin/env bash
# README's first command: build rota and run its daemon on examples/quickstart.toml
# (built-in local CA, SQLite, certificates under ./quickstart/certs). Needs only Node.js and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v bun >/dev/null 2>&1 || npm i -g bun >&2
bun install --frozen-lockfile >&2
bun scripts/build-binary.ts >&2
echo "rota: certificates appear under $(pwd)/quickstart/certs; try: dist/rota list --config examples/quickstart.toml" >&2
exec dist/rota daemon --config examples/quickstart.toml
