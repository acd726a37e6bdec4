#!/usr/bin/env python3
"""Summarises a `clio bench query --samples` file: latency and generator-lag percentiles, and
when the slow requests came (clusters of slow requests under 5 ms apart).

Usage: scripts/lib/samples.py FILE [SLOW_US]   (SLOW_US default 1000)
"""
import csv
import sys


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    slow_us = float(sys.argv[2]) if len(sys.argv) > 2 else 1000.0
    if not rows:
        print("no requests")
        return
    due = [int(r["due_us"]) for r in rows]
    lag = [int(r["lag_us"]) for r in rows]
    lat = [int(r["latency_us"]) for r in rows]
    both = [a + b for a, b in zip(lag, lat)]
    print(f"latency p50 {pct(lat, .5)} p99 {pct(lat, .99)} p99.9 {pct(lat, .999)} max {max(lat)} us; "
          f"generator lag p50 {pct(lag, .5)} p99 {pct(lag, .99)} max {max(lag)} us; "
          f"lag + latency p99 {pct(both, .99)} us")
    slow = [(d, l, g) for d, l, g in zip(due, lat, lag) if l > slow_us]
    clusters = []
    for d, l, g in slow:
        if clusters and d - clusters[-1][1] <= 5000:
            c = clusters[-1]
            c[1], c[2], c[3], c[4] = d, c[2] + 1, max(c[3], l), max(c[4], g)
        else:
            clusters.append([d, d, 1, l, g])
    print(f"{len(slow)} over {slow_us:.0f} us ({100 * len(slow) / len(rows):.2f} %) in {len(clusters)} clusters; the largest:")
    for c in sorted(clusters, key=lambda c: -c[2])[:5]:
        print(f"  at {c[0] / 1e6:7.3f} s: {c[2]} requests over {(c[1] - c[0]) / 1000:.1f} ms, "
              f"latency up to {c[3] / 1000:.2f} ms, generator lag up to {c[4] / 1000:.2f} ms")


if __name__ == "__main__":
    main()
