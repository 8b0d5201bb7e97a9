#!/usr/bin/env bash
# Runs the benchmarks quoted in BENCHMARKS.md and summarises them with benchstat.
# Usage: scripts/bench.sh [COUNT]   (default 6 runs of each benchmark; results in bench/)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-6}
mkdir -p bench
GOBIN="$(go env GOPATH)/bin"
[ -x "$GOBIN/benchstat" ] || go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
run() { # package, regexp, benchtime, output
  # Rounds of -count 1 interleave the benchmarks that are compared with each other, so a
  # slow spell of a shared machine hits both sides of a ratio alike.
  go test -c -o "bench/$4.test" "$1"
  : > "bench/$4.txt"
  for _ in $(seq "$COUNT"); do
    (cd "$1" && "$OLDPWD/bench/$4.test" -test.run '^$' -test.bench "$2" -test.benchtime "$3" -test.count 1) >> "bench/$4.txt"
  done
  grep -E '^Benchmark' "bench/$4.txt" || true
}
run ./signature/ 'RawHMAC|Verify/standard|Sign/' 1s signature
run ./event/ 'Parse|Encode|AppendBody|FilterMatch' 1s event
run ./receiver/ '^Benchmark(Middleware|Bare)' 1s receiver
run ./receiver/ 'Loopback' 3000x receiver-loopback
run ./sender/ 'Deliver/|SendOverhead' 2000x sender
run ./sender/ 'DeliverPaired' 6000x sender-paired
run ./sender/ 'TokenPerLifetime' 5x sender-token
run ./sender/ 'Publish|DispatchEndToEnd|DispatchPendingMemory' 1s dispatcher
for f in bench/*.txt; do echo "== $f"; "$GOBIN/benchstat" "$f"; done
