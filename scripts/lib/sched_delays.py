#!/usr/bin/env python3
"""Where the request path waited for a CPU: reads a `perf sched record -a` file and prints,
for the threads of the server and of the load generator, how long each waited between being
woken and running (the scheduler delay), and for the long waits what ran on that CPU in the
meantime and whether the other CPUs were idle.

Usage: scripts/lib/sched_delays.py PERF_DATA SERVER_PID GENERATOR_PID [LONG_MS]  (LONG_MS 0.3)

A long wait behind another request thread, behind the flush's threads or behind a kernel
thread (writeback, kdamond) are different problems; the counts below tell which one a run had.
"""
import bisect
import collections
import re
import subprocess
import sys

# `perf sched timehist`: time, [cpu], comm[tid/pid] (or comm[tid]), wait, sch delay, run time.
LINE = re.compile(
    r"^\s*([\d.]+)\s+\[(\d+)\]\s+(.+?)\[(\d+)(?:/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
)


def pct(sorted_xs, q):
    return sorted_xs[min(len(sorted_xs) - 1, int(q * len(sorted_xs)))]


def main():
    data, server, generator = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    long_ms = float(sys.argv[4]) if len(sys.argv) > 4 else 0.3
    out = subprocess.run(
        ["perf", "sched", "timehist", "-i", data], capture_output=True, text=True, check=True
    ).stdout
    runs = []  # (start, end, cpu, comm, tid, pid, delay), seconds
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        end, cpu, comm, tid, pid, _wait, delay, run = m.groups()
        end, run, delay = float(end), float(run) / 1e3, float(delay) / 1e3
        runs.append((end - run, end, int(cpu), comm.strip(), int(tid), int(pid or tid), delay))
    role = {server: "server", generator: "generator"}
    delays = collections.defaultdict(list)
    busy = collections.Counter()
    for start, end, _cpu, comm, _tid, pid, delay in runs:
        busy["idle" if pid == 0 else role.get(pid, comm)] += end - start
        if pid in role:
            delays[(role[pid], comm)].append(delay * 1e3)
    total = sum(busy.values())
    print("busy CPU time in the window: " + ", ".join(
        f"{k} {100 * v / total:.1f} %" for k, v in busy.most_common(8)))
    for (who, comm), v in sorted(delays.items()):
        v.sort()
        print(f"{who:9} {comm:16} runs {len(v):7}  delay p50 {pct(v, .5):.3f}  p99 {pct(v, .99):.3f}"
              f"  max {v[-1]:.3f} ms  over {long_ms} ms: {sum(1 for x in v if x > long_ms)}")
    # Runs on one CPU do not overlap and come in the order they ended, so the runs that
    # overlap a wait are found by bisecting their ends, not by a pass over the whole trace.
    by_cpu = collections.defaultdict(list)
    for r in runs:
        by_cpu[r[2]].append(r)
    ends = {cpu: [r[1] for r in rs] for cpu, rs in by_cpu.items()}

    def on(cpu, a, b):
        seen = collections.Counter()
        rs = by_cpu[cpu]
        for i in range(bisect.bisect_right(ends[cpu], a), len(rs)):
            start, end, _c, comm, _tid, pid, _d = rs[i]
            if start >= b:
                break
            overlap = min(end, b) - max(start, a)
            if overlap > 0 and pid:
                seen[f"{role[pid]} {comm}" if pid in role else comm] += overlap
        return seen

    long = [r for r in runs if r[5] in role and r[6] * 1e3 > long_ms]
    blamed, other_idle = collections.Counter(), 0
    for start, _end, cpu, _comm, _tid, _pid, delay in long:
        a = start - delay
        here = on(cpu, a, start)
        others = [c for c in by_cpu if c != cpu]
        if sum(sum(on(c, a, start).values()) for c in others) < 0.5 * delay * len(others):
            other_idle += 1
        if here:
            blamed[here.most_common(1)[0][0]] += 1
    # A stop-class thread (migration/N) runs the moment it is woken, ahead of everything:
    # when one waited milliseconds, the vCPU itself was not running (the hypervisor's steal),
    # and every thread queued on that CPU waited with it.
    absent = sorted((r[6] * 1e3 for r in runs if r[3].startswith("migration/")), reverse=True)
    print(f"migration/N threads waited over 1 ms {sum(1 for d in absent if d > 1)} times"
          f" (the vCPU was not running), the longest {absent[0] if absent else 0:.1f} ms")
    print(f"waits over {long_ms} ms: {len(long)}; another CPU mostly idle meanwhile: {other_idle}")
    for who, n in blamed.most_common(10):
        print(f"  mostly behind {who}: {n}")


if __name__ == "__main__":
    main()
