#!/usr/bin/env bash
# Runs hookkit's whole test suite: installs the real OAuth2 authorization server the
# end-to-end tests use (npm package oauth2-mock-server, pinned by its lock file), then
# `go test -race ./...`. Extra arguments are passed to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash internal/testenv/oauth2mock/install.sh
go test -race "$@" ./...
