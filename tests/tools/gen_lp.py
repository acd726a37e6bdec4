#!/usr/bin/env python3
"""Writes realistic InfluxDB line protocol to stdout, for import and bytes-per-point benchmarks.

The output looks like telegraf's: measurements cpu, mem, disk, net and system for a fleet of
hosts, several fields per line, one line per (measurement, host) per interval. Every Clio
series (measurement + tags + one field) follows its own noisy random walk with two decimals,
so compression sees the kind of data real metrics have. Timestamps are milliseconds
(import with precision `ms`). The same arguments always produce the same bytes.

Examples:
    gen_lp.py --series 1000 --points 10000000 > /tmp/10m.lp
    gen_lp.py --series 13 --points 26 --interval 1m --start 0

Only the Python 3 standard library is used.
"""

import argparse
import math
import random
import re
import sys

# (measurement, extra tags, [(field, start, low, high, step)]): a field's walk starts at
# `start`, moves by a normal step of `step` and is reflected at `low` and `high`.
TEMPLATES = [
    ("cpu", "cpu=cpu-total", [
        ("usage_user", 20.0, 0.0, 100.0, 1.5),
        ("usage_system", 5.0, 0.0, 100.0, 0.5),
        ("usage_idle", 70.0, 0.0, 100.0, 2.0),
        ("usage_iowait", 0.5, 0.0, 100.0, 0.1),
    ]),
    ("mem", "", [
        ("used_percent", 40.0, 0.0, 100.0, 0.3),
        ("available_percent", 60.0, 0.0, 100.0, 0.3),
    ]),
    ("disk", "device=sda1,fstype=ext4,path=/", [
        ("used_percent", 55.0, 0.0, 100.0, 0.02),
        ("inodes_used_percent", 12.0, 0.0, 100.0, 0.01),
    ]),
    ("net", "interface=eth0", [
        ("bytes_recv_rate", 125000.0, 0.0, 1.25e9, 5000.0),
        ("bytes_sent_rate", 64000.0, 0.0, 1.25e9, 3000.0),
    ]),
    ("system", "", [
        ("load1", 0.8, 0.0, 64.0, 0.15),
        ("load5", 0.7, 0.0, 64.0, 0.05),
        ("load15", 0.6, 0.0, 64.0, 0.02),
    ]),
]

SERIES_PER_HOST = sum(len(fields) for _, _, fields in TEMPLATES)
REGIONS = ["eu-central-1", "eu-west-1", "us-east-1", "us-west-2", "ap-south-1"]

UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text):
    """Parses `10s`, `500ms`, `1m`, `2h`, `1d` or a bare number of milliseconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 10s, 500ms, 1m)")
    value = float(m.group(1)) * UNITS_MS[m.group(2) or "ms"]
    if value < 1:
        raise argparse.ArgumentTypeError("the interval must be at least 1ms")
    return int(value)


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


class Group:
    """One line per interval: a measurement on a host with some of its fields."""

    __slots__ = ("prefix", "names", "values", "lows", "highs", "steps")

    def __init__(self, prefix, fields, rng):
        self.prefix = prefix
        self.names = [f[0] for f in fields]
        # Hosts do not all start at the same value.
        self.values = [max(f[2], min(f[3], f[1] * rng.uniform(0.5, 1.5))) for f in fields]
        self.lows = [f[2] for f in fields]
        self.highs = [f[3] for f in fields]
        self.steps = [f[4] for f in fields]


def build_groups(series, rng):
    """Spreads `series` series over hosts, SERIES_PER_HOST per host; the last host may get
    only the first measurements/fields."""
    groups = []
    left = series
    hosts = math.ceil(series / SERIES_PER_HOST)
    for h in range(hosts):
        host = f"host-{h:05d}"
        region = REGIONS[h % len(REGIONS)]
        for measurement, extra, fields in TEMPLATES:
            if left == 0:
                break
            take = fields[:left]
            left -= len(take)
            tags = f"{extra}," if extra else ""
            # Tags in sorted order, as telegraf writes them.
            tagset = ",".join(sorted(f"{tags}host={host},region={region}".split(",")))
            groups.append(Group(f"{measurement},{tagset} ", take, rng))
    return groups


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=positive, default=1000,
                        help="number of series (measurement+tags+field), default 1000")
    parser.add_argument("--points", type=non_negative, default=None,
                        help="total points to write (default: 100 per series)")
    parser.add_argument("--interval", type=duration_ms, default=duration_ms("10s"),
                        help="time between a series' points, e.g. 10s (default), 500ms, 1m")
    parser.add_argument("--start", type=int, default=1_700_000_000_000,
                        help="first timestamp in ms since the epoch (default 1700000000000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)

    total = args.points if args.points is not None else args.series * 100
    rng = random.Random(args.seed)
    groups = build_groups(args.series, rng)
    gauss = rng.gauss
    out = sys.stdout
    written = 0
    ts = args.start
    while written < total:
        chunk = []
        for g in groups:
            if written >= total:
                break
            n = min(len(g.names), total - written)
            values = g.values
            parts = []
            for i in range(n):
                v = values[i] + gauss(0.0, g.steps[i])
                lo, hi = g.lows[i], g.highs[i]
                # Reflect at the bounds so the walk stays in range without sticking there.
                if v < lo:
                    v = min(hi, 2 * lo - v)
                elif v > hi:
                    v = max(lo, 2 * hi - v)
                values[i] = v
                parts.append(f"{g.names[i]}={v:.2f}")
            chunk.append(f"{g.prefix}{','.join(parts)} {ts}\n")
            written += n
        out.write("".join(chunk))
        ts += args.interval
    out.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # `gen_lp.py | head` is fine; keep Python from complaining on exit.
        sys.stderr.close()
        sys.exit(0)
