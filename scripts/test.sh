#!/usr/bin/env bash
# Runs hookkit's whole test suite: installs the real OAuth2 authorization server the
# end-to-end tests use (npm package oauth2-mock-server, pinned by its lock file), provides
# PostgreSQL and Redis (internal/testenv/services/start.sh), then
# `go test -race ./...` in every module of the workspace (go.work: the library and the
# modules that keep drivers out of it). Extra arguments are passed to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash internal/testenv/oauth2mock/install.sh
bash internal/testenv/chromium/install.sh   # headless Chromium for the console's browser test (console/browsertest)
# PostgreSQL and Redis for the tests that need them (HOOKKIT_TEST_POSTGRES, HOOKKIT_TEST_REDIS):
# the variables when set, else the local defaults, else throwaway servers stopped at exit.
source internal/testenv/services/start.sh
status=0
for dir in $(go list -m -f '{{.Dir}}'); do
  echo "== go test -race ./... in ${dir#"$PWD"}/"
  (cd "$dir" && go test -race "$@" ./...) || status=1
done
exit $status
