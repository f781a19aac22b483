"""Shared benchmark plumbing: run each variant in a fresh process, report time and peak memory.

A variant is a Python snippet that sets up (untimed) and then runs a timed body;
the child prints its wall time and peak RSS as JSON. Variants are interleaved
over the repetitions, each repetition in a rotated order, so slow drift of the
machine and what the previous process left behind hit them all alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
from dataclasses import dataclass

# Peak memory is VmHWM from /proc (reset when the process image is replaced), not ru_maxrss,
# which Linux carries over from the forking parent across exec. ``cpu_s`` is the body's user+sys time
# (all its threads), which a loaded machine inflates far less than wall time.
CHILD = """
import json, time, sys, gc
def _hwm_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
{setup}
gc.collect()
base = _hwm_mb()
_cpu0 = time.process_time()
_usr0 = __import__("os").times().user
t0 = time.perf_counter()
{body}
elapsed = time.perf_counter() - t0
_cpu = time.process_time() - _cpu0
_usr = __import__("os").times().user - _usr0
print("__RESULT__" + json.dumps({{"seconds": elapsed, "peak_mb": _hwm_mb(), "base_mb": base, "cpu_s": _cpu,
                                  "user_s": _usr}}))
"""


#: set-up for a unistore variant: a first read of a one-row file imports the read path (engine, record,
#: lineage; ``import unistore`` imports them on first use), as a reference's set-up imports its library,
#: so the timed body is the read alone
UNISTORE_WARM = ("import os, tempfile, pyarrow as pa, pyarrow.parquet as pq, unistore\n"
                 "warm = os.path.join(tempfile.mkdtemp(), 'warm.parquet')\n"
                 "pq.write_table(pa.table({'a': [1]}), warm)\nunistore.read(warm)\n")


@dataclass
class Variant:
    name: str
    body: str
    setup: str = ""
    reference: bool = False  # a direct path the others are compared with


def engine_variants(location: str, columns: list[str] | None, filters: object, setup: str) -> list[Variant]:
    """unistore.read of one Parquet read shape with each ``engine=`` ("auto" first, the one judged)."""
    return [Variant(f"unistore.read (engine {engine})", setup=setup,
                    body=f"t = unistore.read({location!r}, columns={columns!r}, filter={filters!r}, engine={engine!r})")
            for engine in ("auto", "pyarrow", "duckdb")]


def run_variant(v: Variant) -> dict:
    code = CHILD.format(setup=textwrap.dedent(v.setup), body=textwrap.indent(textwrap.dedent(v.body), ""))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{v.name} failed:\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("__RESULT__")][-1]
    return json.loads(line[len("__RESULT__"):])


def compare(title: str, variants: list[Variant], repeat: int = 3, *, memory_against: str | None = None) -> list[dict]:
    """Run every variant ``repeat`` times (interleaved); print medians and ratios to the fastest reference.

    ``growth MB`` is the peak above the child's baseline after its setup (imports, connections);
    ``cpu s`` the child's user + system CPU seconds in the timed body (a steadier figure than wall
    time on a shared machine; a server's own CPU is not in it); ``user s`` its user-mode part. On this VM
    the kernel's part is bimodal: the same read faults in fresh memory in 0.15 s or in 2 s of system time
    (the host backing guest pages), so a variant that allocates more is hit more often.
    Memory ratios are to the fastest reference, or to the variant named ``memory_against`` (a prefix).
    """
    runs: dict[str, list[dict]] = {v.name: [] for v in variants}
    for rep in range(repeat):
        # each repetition starts one variant later: on this VM a process's page faults cost more or less
        # depending on what the one before it freed, so no variant may always follow the same one
        shift = rep % len(variants)
        for v in variants[shift:] + variants[:shift]:
            runs[v.name].append(run_variant(v))
    rows = []
    for v in variants:
        rs = runs[v.name]
        rows.append({"variant": v.name, "reference": v.reference,
                     "seconds": statistics.median(r["seconds"] for r in rs),
                     "cpu_s": statistics.median(r["cpu_s"] for r in rs),
                     "user_s": statistics.median(r["user_s"] for r in rs),
                     "peak_mb": max(r["peak_mb"] for r in rs),
                     "growth_mb": max(r["peak_mb"] - r["base_mb"] for r in rs)})
    refs = [r for r in rows if r["reference"]] or rows
    fastest = min(refs, key=lambda r: r["seconds"])
    memory = next((r for r in rows if memory_against and r["variant"].startswith(memory_against)), fastest)
    print(f"\n## {title}  (median of {repeat}; ratio = time / {fastest['variant']}; "
          f"mem ratio = peak / {memory['variant']})")
    print(f"{'variant':<44} {'seconds':>9} {'ratio':>7} {'cpu s':>7} {'user s':>7} {'peak MB':>9} {'growth MB':>10} "
          f"{'mem ratio':>9}")
    for r in rows:
        r["ratio"] = r["seconds"] / fastest["seconds"]
        r["mem_ratio"] = r["peak_mb"] / memory["peak_mb"]
        print(f"{r['variant']:<44} {r['seconds']:>9.3f} {r['ratio']:>7.2f} {r['cpu_s']:>7.2f} {r['user_s']:>7.2f} {r['peak_mb']:>9.0f} "
              f"{r['growth_mb']:>10.0f} {r['mem_ratio']:>9.2f}")
    return rows


def against_best(rows: list[dict], name: str) -> tuple[float, float]:
    """``name``'s time over the fastest reference's, and its peak memory over the lowest reference peak."""
    refs = [r for r in rows if r["reference"]]
    mine = next(r for r in rows if r["variant"] == name)
    return (mine["seconds"] / min(r["seconds"] for r in refs), mine["peak_mb"] / min(r["peak_mb"] for r in refs))


def print_targets(title: str, results: dict[str, list[dict]], name: str, *, time_target: float,
                  memory_target: float, notes: dict[str, str] | None = None) -> None:
    """One line per shape: ``name``'s time and peak-memory ratios against the best references, and the target."""
    print(f"\n## {title}: {name} against the faster reference (time) and the lower reference peak (memory); "
          f"targets {time_target:.2f}x / {memory_target:.2f}x")
    print(f"{'shape':<28} {'time ratio':>10} {'mem ratio':>10} {'met':>5}  note")
    for shape, rows in results.items():
        t, m = against_best(rows, name)
        met = "yes" if t <= time_target and m <= memory_target else "no"
        print(f"{shape:<28} {t:>10.2f} {m:>10.2f} {met:>5}  {(notes or {}).get(shape, '')}")
