"""A Salesforce report export of many leads, written in slices so the generator's memory stays bounded.

    python benchmarks/big.py --leads 30000000            # -> benchmarks/.cache/salesforce-30000000-seed1
    python benchmarks/big.py --leads 30000000 --measure  # then load, metrics, review and report it

``funnelkit.sample`` draws a whole funnel in memory (about 1 GB per million
leads), so 30M leads are drawn as slices of ``--slice`` leads, each with its
own seed (``seed * 1000 + slice``), and appended to one ``leads.csv`` and one
``opportunities.csv`` with a single header and the report footer at the end,
as one Salesforce report export of that size. Ids are numbered across slices,
so every lead and opportunity id is unique.

``--measure`` runs each step in its own process and prints its wall time and
the peak memory of the process and its children (the report's kernel),
sampled every 50 ms: resident (``VmRSS``, which counts pages of memory-mapped
files the system can drop at any time) and the process's own (``RssAnon``,
what can run a machine out of memory). Steps: the first load from CSV (into a
fresh cache), the headline metrics and ``fk.review()`` on the loaded dataset
(metrics on DuckDB, the default), and ``funnelkit report`` of the funnel review.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
FOOTER_START = b'\n"Grand Totals ('


def _renumber(truth, lead_offset: int, opportunity_offset: int) -> int:
    """Shift the slice's lead and opportunity ids past the previous slices'; the slice's opportunity count."""
    from funnelkit import schema as s
    from funnelkit.sample import _ids

    def shifted(ids, prefix: str, offset: int):
        numbers = ids.str.slice(3, 15).astype("float64") + offset
        return np.where(ids.isna(), None, _ids(prefix, numbers.fillna(0).astype("int64").to_numpy()))

    leads, opps = truth.leads, truth.opportunities
    leads[s.LEAD_ID] = shifted(leads[s.LEAD_ID], "00Q", lead_offset)
    leads[s.OPPORTUNITY_ID] = shifted(leads[s.OPPORTUNITY_ID], "006", opportunity_offset)
    opps[s.OPPORTUNITY_ID] = shifted(opps[s.OPPORTUNITY_ID], "006", opportunity_offset)
    opps[s.LEAD_ID] = shifted(opps[s.LEAD_ID], "00Q", lead_offset)
    return len(opps)


def _append(target: Path, part: Path, *, first: bool) -> tuple[int, bytes]:
    """Append ``part`` to ``target`` without its footer (and without its header unless first); the footer."""
    data = part.read_bytes()
    cut = data.rfind(FOOTER_START)
    body, footer = data[:cut], data[cut:]
    if not first:
        body = body[body.index(b"\n") :]
    with target.open("ab") as out:
        out.write(body)
    return body.count(b"\n"), footer


def write_big(leads: int, seed: int, slice_leads: int) -> Path:
    from funnelkit.sample import _write_salesforce, generate_sample

    folder = CACHE / f"salesforce-{leads}-seed{seed}"
    if (folder / "opportunities.csv").exists():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    totals = {"leads.csv": 0, "opportunities.csv": 0}
    lead_offset = opportunity_offset = 0
    for number, start in enumerate(range(0, leads, slice_leads)):
        started = time.perf_counter()
        size = min(slice_leads, leads - start)
        truth = generate_sample(size, seed=seed * 1000 + number)
        opportunities = _renumber(truth, lead_offset, opportunity_offset)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            _write_salesforce(truth, Path(tmp))
            footers = {}
            for name in totals:
                _, footers[name] = _append(partial / name, Path(tmp) / name, first=number == 0)
        totals["leads.csv"] += size
        totals["opportunities.csv"] += opportunities
        lead_offset += size
        opportunity_offset += opportunities
        print(f"slice {number}: {size:,} leads in {time.perf_counter() - started:.0f}s", flush=True)
    for name, rows in totals.items():
        footer = footers[name]
        footer = footer.replace(footer[footer.index(b"(") : footer.index(b")") + 1], f"({rows} records)".encode())
        with (partial / name).open("ab") as out:
            out.write(footer)
    partial.rename(folder)
    return folder


def _tree_memory(pid: int) -> tuple[int, int]:
    """(resident, own) bytes of a process and its descendants: ``VmRSS`` and ``RssAnon`` summed.

    A child still running its parent's program (forked, not yet exec'd: Python's
    subprocess uses vfork) shares the parent's pages and is not counted again.
    """
    resident = own = 0
    todo = [(pid, None)]
    while todo:
        current, parent_program = todo.pop()
        try:
            with open(f"/proc/{current}/cmdline", "rb") as cmdline:
                program = cmdline.read()
            with open(f"/proc/{current}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            if program != parent_program:
                resident += int(fields["VmRSS"].split()[0]) * 1024
                own += int(fields["RssAnon"].split()[0]) * 1024
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [(int(c), program) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, KeyError):
            continue
    return resident, own


def _measured(command: list[str], env: dict) -> dict:
    """Run ``command``; its wall time, exit code, last output line and peak memory of its process tree."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks = [0, 0]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            for i, value in enumerate(_tree_memory(child.pid)):
                peaks[i] = max(peaks[i], value)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = child.communicate()[0]
    done.set()
    sampler.join()
    lines = output.strip().splitlines() or [""]
    return {
        "seconds": time.perf_counter() - started,
        "exit": child.returncode,
        "last_line": lines[-1][:300],
        "peak_resident_mb": peaks[0] / 2**20,
        "peak_own_mb": peaks[1] / 2**20,
    }


LOAD_STEP = """
import funnelkit as fk, sys
data = fk.load(sys.argv[1])
print(f"loaded {len(data.leads):,} leads, {len(data.opportunities):,} opportunities, balanced={data.summary.balanced}")
"""
METRICS_STEP = """
import funnelkit as fk, sys, time
data = fk.load(sys.argv[1])
times = {}
for name, options in [("conversion", {"by": "source", "period": "Q"}), ("win_rate", {"by": "source", "period": "Q"}),
                      ("lead_value", {"by": "source"}), ("time_to_close", {"by": "source"})]:
    started = time.perf_counter()
    table = getattr(fk, name)(data, **options)
    times[name] = round(time.perf_counter() - started, 2)
started = time.perf_counter()
review = fk.review(data, period="Q")
times["review"] = round(time.perf_counter() - started, 2)
print(times, "win rate overall:", fk.win_rate(data)["rate"].round(4).tolist())
"""


def measure(folder: Path) -> list[tuple[str, dict]]:
    """Each step in its own process with a fresh cache: (step, measurement)."""
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="funnelkit-big-", dir=CACHE) as tmp:
        env = {**os.environ, "FUNNELKIT_CACHE": str(Path(tmp) / "cache"), "FUNNELKIT_CACHE_MAX_BYTES": str(2**40)}
        reports = Path(tmp) / "reports"
        steps = [
            ("first load from CSV (parse, type, checks, write the cache)", [python, "-c", LOAD_STEP, str(folder)]),
            ("headline metrics + fk.review() on the cached dataset", [python, "-c", METRICS_STEP, str(folder)]),
            (
                "funnelkit report of the funnel review",
                [python, "-m", "funnelkit.cli", "report", str(HERE.parent / "notebooks" / "funnel_review.ipynb"),
                 "--data", str(folder), "--out", str(reports)],
            ),
        ]  # fmt: skip
        results = []
        for name, command in steps:
            results.append((name, _measured(command, env)))
            print(name, json.dumps(results[-1][1]), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=30_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slice", type=int, default=5_000_000, dest="slice_leads")
    parser.add_argument("--measure", action="store_true", help="load, compute and report it, measured")
    args = parser.parse_args(argv)
    folder = write_big(args.leads, args.seed, args.slice_leads)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**30
    print(f"{folder} ({size:.1f} GiB)")
    if args.measure:
        print("| step | wall s | peak resident MB | peak own (anonymous) MB | result |\n|---|---:|---:|---:|---|")
        for name, m in measure(folder):
            print(f"| {name} | {m['seconds']:.1f} | {m['peak_resident_mb']:,.0f} | {m['peak_own_mb']:,.0f} | "
                  f"{'exit ' + str(m['exit']) + ': ' if m['exit'] else ''}{m['last_line']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
