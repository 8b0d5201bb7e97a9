#!/usr/bin/env bash
# Installs Debian's chromium package, the headless browser that the console's browser test
# (console/browsertest, chromedp) drives, when /usr/bin/chromium is missing. Idempotent
# and quiet: does nothing when the browser is there. Needs root (apt-get); without it, it
# says so and exits 0, and the browser test skips (or fails when CI=true).
# Called by scripts/test.sh before `go test`.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "chromium/install.sh: /usr/bin/chromium is missing and apt-get as root is not available; the browser test will not run" >&2
	exit 0
fi
echo "chromium/install.sh: apt-get install chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version >&2
