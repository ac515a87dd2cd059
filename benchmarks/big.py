"""A Salesforce report export of many leads, written in slices so the generator's memory stays bounded.

    python benchmarks/big.py --leads 30000000          # -> benchmarks/.cache/salesforce-30000000-seed1

``funnelkit.sample`` draws a whole funnel in memory (about 1 GB per million
leads), so 30M leads are drawn as slices of ``--slice`` leads, each with its
own seed (``seed * 1000 + slice``), and appended to one ``leads.csv`` and one
``opportunities.csv`` with a single header and the report footer at the end,
as one Salesforce report export of that size. Ids are numbered across slices,
so every lead and opportunity id is unique.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=30_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slice", type=int, default=5_000_000, dest="slice_leads")
    args = parser.parse_args(argv)
    folder = write_big(args.leads, args.seed, args.slice_leads)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**30
    print(f"{folder} ({size:.1f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
