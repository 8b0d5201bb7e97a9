#!/usr/bin/env bash
# Installs the pinned oauth2-mock-server (see package-lock.json) that hookkit's
# end-to-end tests run as a real OAuth2 authorization server. Idempotent: runs
# `npm ci` only when node_modules is missing or older than the lock file.
# Called by scripts/test.sh before `go test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "oauth2mock/install.sh: node and npm are required (Node.js ^20.19, ^22.12 or ^24)" >&2
	exit 1
fi

# npm writes node_modules/.package-lock.json on every install; it is the marker.
marker=node_modules/.package-lock.json
if [[ -f "$marker" && -f node_modules/oauth2-mock-server/package.json && ! package-lock.json -nt "$marker" ]]; then
	exit 0
fi

echo "oauth2mock/install.sh: npm ci in $(pwd)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
# Make the marker newer than the lock even if npm kept an older mtime.
touch "$marker"
