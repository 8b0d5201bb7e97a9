#!/usr/bin/env python3
"""Paired ratios from interleaved benchmark rounds (scripts/bench.sh output).

usage: ratio.py FILE METRIC NUMERATOR DENOMINATOR
       ratio.py FILE METRIC NAME
Each round of FILE holds one result per benchmark; the ratio NUMERATOR/DENOMINATOR of
METRIC (a unit such as ns/op or deliveries/s) is taken within each round, so a slow spell
of a shared machine cancels out, and the median and range of the rounds are printed.
With one name, the median and range of METRIC itself are printed (for benchmarks that
report a paired ratio themselves, such as DeliverPaired's sender/raw).
"""
import re
import statistics
import sys

path, metric, num = sys.argv[1:4]
den = sys.argv[4] if len(sys.argv) > 4 else None
rounds, cur = [], {}
for line in open(path):
    if not line.startswith("Benchmark"):
        continue
    fields = line.split()
    name = re.sub(r"-\d+$", "", fields[0][len("Benchmark"):])
    vals = {fields[i + 1]: float(fields[i]) for i in range(2, len(fields) - 1, 2)}
    if name in cur:
        rounds.append(cur)
        cur = {}
    cur[name] = vals.get(metric)
rounds.append(cur)
if den is None:
    vals = [r[num] for r in rounds if r.get(num) is not None]
    if not vals:
        sys.exit("no results for %s" % num)
    print("%s (%s): median %.3f, min %.3f, max %.3f over %d rounds" % (
        num, metric, statistics.median(vals), min(vals), max(vals), len(vals)))
    sys.exit(0)
ratios = [r[num] / r[den] for r in rounds if r.get(num) and r.get(den)]
if not ratios:
    sys.exit("no paired results for %s and %s" % (num, den))
print("%s / %s (%s): median %.3f, min %.3f, max %.3f over %d rounds" % (
    num, den, metric, statistics.median(ratios), min(ratios), max(ratios), len(ratios)))
