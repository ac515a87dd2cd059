"""Resource budget: every hostile file through ``fk.load`` in its own process, under 1 GiB of memory.

Each file is built in ``tmp_path`` (a FIFO, ``/dev/zero``, workbooks reaching
column XFD or holding millions of cells, zip bombs, a 50,000-column CSV, an
8 MiB header, a 100 KB label) and loaded in a child process whose address
space is capped with ``resource.setrlimit(RLIMIT_AS, 1 GiB)`` and whose run
is cut at a generous wall-clock timeout. The child must end on its own with
the clean ``FunnelkitError`` message (or, for the 100 KB label, a loaded
funnel, a review and page-sized charts): never a ``MemoryError``, a kill or a
hang. Timings are not asserted here; ``benchmarks/hostile.py`` prints the
seconds and peak memory of each file (the target: under 10 s and 1 GiB).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import Workbook

from funnelkit import present

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 2**30
#: generous: CI machines are slow and shared; the 10 s target is measured in benchmarks/hostile.py
TIMEOUT_SECONDS = 60

#: the child: cap the address space before anything is imported, load, report what happened
CHILD = r"""
import json, resource, sys, time
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
start = time.perf_counter()
out = {}
try:
    import funnelkit as fk
    data = fk.load(sys.argv[1], cache=False)
    table = data.summary.table
    out["outcome"] = "loaded"
    out["rows"] = [int(table[c].sum()) for c in ("rows_read", "rows_kept", "rows_quarantined")]
    if sys.argv[3] == "report":
        import io, struct
        import matplotlib
        matplotlib.use("Agg")
        from funnelkit import plots, present
        review = fk.review(data, by="source")
        pages = [present.table_html(t) for t in review.sections.values()]
        out["longest_text_cell"] = max(len(m) for p in pages for m in __import__("re").findall(r">([^<]*)</", p))
        sizes = []
        for draw, section in ((plots.plot_funnel, "dropoff"), (plots.plot_lead_value, "lead_value")):
            buffer = io.BytesIO()
            draw(review.sections[section]).figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            sizes.append(list(struct.unpack(">II", buffer.getvalue()[16:24])))
        out["png_sizes"] = sizes
except Exception as exc:
    from funnelkit import FunnelkitError
    out["outcome"] = "error" if isinstance(exc, FunnelkitError) else "crash"
    out["error"] = type(exc).__name__
    out["message"] = str(exc)[:2000]
out["seconds"] = round(time.perf_counter() - start, 2)
print(json.dumps(out))
"""


@dataclass
class Run:
    """What a child process did with one hostile file."""

    outcome: str  # loaded, error (a FunnelkitError), crash (any other exception), killed, timeout
    seconds: float
    peak_rss_mib: float
    error: str = ""
    message: str = ""
    rows: list[int] | None = None
    details: dict | None = None


#: between the test and the child: a bare interpreter that runs the child and reports its peak RSS from
#: ``getrusage(RUSAGE_CHILDREN)``. A child forked straight from a large process (pytest, or the benchmark
#: holding a file it built) would count that process's resident pages as its own peak.
LAUNCHER = r"""
import json, resource, subprocess, sys
done = subprocess.run([sys.executable, "-c", *sys.argv[1:]])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"exit": done.returncode, "peak_rss_kib": peak}), flush=True)
"""


def run_child(path: str | Path, *, mode: str = "load", limit: int = MEMORY_LIMIT, timeout: float = TIMEOUT_SECONDS,
              workdir: Path) -> Run:  # fmt: skip
    """Load ``path`` in a child capped at ``limit`` bytes of address space, and say how it ended."""
    stdout, stderr = workdir / "child.out", workdir / "child.err"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-c", LAUNCHER, CHILD, str(path), str(limit), mode]
    started = time.perf_counter()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env, start_new_session=True)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the launcher and the child: one process group
            child.wait()
            return Run("timeout", time.perf_counter() - started, float("nan"))
    seconds = time.perf_counter() - started
    lines = stdout.read_text(encoding="utf-8").strip().splitlines()
    launcher = json.loads(lines[-1])
    peak = launcher["peak_rss_kib"] / 1024  # KiB on Linux
    if launcher["exit"] != 0 or len(lines) < 2:
        tail = stderr.read_text(encoding="utf-8", errors="replace")[-1500:]
        return Run("killed", seconds, peak, message=f"exit {launcher['exit']}: {tail}")
    report = json.loads(lines[-2])
    return Run(report.pop("outcome"), seconds, peak, report.pop("error", ""), report.pop("message", ""),
               report.pop("rows", None), report)  # fmt: skip


# ---------------------------------------------------------------- hostile files --

HS_HEADER = ["Record ID", "Deal Name", "Pipeline", "Deal Stage", "Amount", "Create Date", "Close Date"]


def workbook_with_sheet(path: Path, sheet_xml: bytes, *, level: int = 6) -> Path:
    """A valid workbook (written by openpyxl) whose first sheet's XML is ``sheet_xml``."""
    book = Workbook()
    book.active["A1"] = "Record ID"
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts["xl/worksheets/sheet1.xml"] = sheet_xml
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


def sheet_xml(rows, *, dimension: str | None) -> bytes:
    """Sheet XML from rows of ``(column letters, value)`` cells; numbers as numbers, text inline."""

    def cell(ref: str, value) -> str:
        if isinstance(value, str):
            return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
        return f'<c r="{ref}"><v>{value}</v></c>'

    body = "".join(
        f'<row r="{r}">' + "".join(cell(f"{col}{r}", value) for col, value in cells) + "</row>"
        for r, cells in enumerate(rows, start=1)
    )
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dim}<sheetData>{body}</sheetData></worksheet>"
    ).encode()


def xfd_workbook(folder: Path) -> Path:
    """10,000 rows, each with a cell in column A and one in XFD (the last), no declared dimension (~200 KB)."""
    rows = [[("A", "Record ID" if r == 1 else str(9000 + r)), ("XFD", r)] for r in range(1, 10_001)]
    return workbook_with_sheet(folder / "xfd.xlsx", sheet_xml(rows, dimension=None), level=9)


def declared_xfd_workbook(folder: Path) -> Path:
    rows = [[(c, h) for c, h in zip("ABCDEFG", HS_HEADER, strict=True)], [("A", 9001)]]
    return workbook_with_sheet(folder / "declared.xlsx", sheet_xml(rows, dimension="A1:XFD1048576"))


def deep_workbook(folder: Path) -> Path:
    """700,000 rows x 3 numbers (2,100,000 cells) under a dimension that says A1:A1."""
    rows = ([("A", r), ("B", r), ("C", r)] for r in range(1, 700_001))
    return workbook_with_sheet(folder / "deep.xlsx", sheet_xml(rows, dimension="A1:A1"))


def xlsx_bomb(folder: Path) -> Path:
    """A sheet padded to 96 MiB of spaces: a workbook part unzipping to over 100 times its size."""
    rows = [[(c, h) for c, h in zip("ABCDEFG", HS_HEADER, strict=True)]]
    xml = sheet_xml(rows, dimension="A1:G1").replace(b"<sheetData>", b" " * (96 * 2**20) + b"<sheetData>")
    return workbook_with_sheet(folder / "bomb.xlsx", xml, level=9)


def zip_bomb(folder: Path) -> Path:
    """A zipped CSV of 1.06 GiB that packs to some 5 MiB (written in chunks, never whole in memory)."""
    path = folder / "bomb.csv.zip"
    chunk = b"a,b\n" * (16 * 2**20)  # 64 MiB
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("leads.csv", "w", force_zip64=True) as member,
    ):
        for _ in range(17):
            member.write(chunk)
    return path


def wide_csv(folder: Path) -> Path:
    path = folder / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(50_000)) + "\n" + "1," * 49_999 + "1\n", encoding="utf-8")
    return path


def long_header_csv(folder: Path) -> Path:
    path = folder / "header.csv"
    path.write_bytes(b'"Record ID' + b"x" * (9 * 2**20) + b'"\n1\n')
    return path


def fifo(folder: Path) -> Path:
    path = folder / "leads.csv"
    os.mkfifo(path)
    return path


LONG_LABEL = "Trade show " * 10_000  # 110 KB


def long_label_export(folder: Path) -> Path:
    """The bundled sample export with one lead's source 110 KB long."""
    out = folder / "long_label"
    out.mkdir()
    for name in ("leads.csv", "opportunities.csv"):
        text = (ROOT / "data" / "sample" / name).read_text(encoding="utf-8")
        if name == "leads.csv":
            rows = list(csv.reader(io.StringIO(text)))
            column = rows[0].index("Lead Source")
            rows[1][column] = LONG_LABEL
            buffer = io.StringIO()
            csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
            text = buffer.getvalue()
        (out / name).write_text(text, encoding="utf-8")
    return out


#: name -> (builder, the exact message, or a pattern where a size depends on compression)
HOSTILE = {
    "fifo": (fifo, "{path}: is not a regular file (a named pipe (FIFO)); pass the export file itself"),
    "dev_zero": (lambda folder: Path("/dev/zero"),
                 "/dev/zero: is not a regular file (a device); pass the export file itself"),
    "xfd_workbook": (
        xfd_workbook,
        "{path}: row 1 of the first sheet reaches column 16,384; funnelkit reads at most 5,000 columns. "
        "Delete the unused columns",
    ),
    "declared_xfd_workbook": (
        declared_xfd_workbook,
        "{path}: the first sheet declares 1,048,576 rows x 16,384 columns; funnelkit reads at most 5,000 columns. "
        "Delete the unused columns (or save the sheet as CSV with the columns the funnel needs)",
    ),
    "deep_workbook": (
        deep_workbook,
        "{path}: the first sheet holds more than 2,000,000 cells; funnelkit reads at most 2,000,000 cells from a "
        "workbook. Save it as CSV, which has no such limit and reads many times faster",
    ),
    "xlsx_bomb": (
        xlsx_bomb,
        re.compile(
            r"{path}: the workbook's part xl/worksheets/sheet1\.xml would unzip from [\d.]+ KiB to 96 MiB "
            r"\(more than 100 times larger\): this looks like a zip bomb, not an export"
        ),
    ),
    "zip_bomb": (
        zip_bomb,
        re.compile(
            r"{path}!leads\.csv: [\d.]+ MiB compressed would unzip to 1\.1 GiB \(more than 100 times larger\): "
            r"this looks like a zip bomb, not an export"
        ),
    ),
    "wide_csv": (
        wide_csv,
        "{path}: the file has 50,000 columns; funnelkit reads at most 5,000. "
        "Export only the columns the funnel needs (ids, dates, stage, amount, source, owner)",
    ),
    "long_header_csv": (
        long_header_csv,
        "{path}: line 1: the header row is longer than 8 MiB; "
        "this is not a CSV export funnelkit can read (or a quote in the header is never closed)",
    ),
}  # fmt: skip


def expected_message(expected, path: Path):
    if isinstance(expected, re.Pattern):
        return re.compile(expected.pattern.replace("{path}", re.escape(str(path))))
    return expected.replace("{path}", str(path))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_file_ends_in_its_clean_error_within_1_gib(tmp_path, name):
    build, expected = HOSTILE[name]
    path = build(tmp_path)
    run = run_child(path, workdir=tmp_path)
    assert (run.outcome, run.error) != ("crash", "MemoryError")
    assert run.outcome == "error", (run.outcome, run.message)
    assert run.peak_rss_mib < 1024
    message = expected_message(expected, path)
    if isinstance(message, re.Pattern):
        assert message.fullmatch(run.message), run.message
    else:
        assert run.message == message


#: a review imports scipy and matplotlib, whose shared libraries and thread stacks reserve some 2 GiB of
#: address space while using a few hundred MiB: the cap is the address space, the budget the resident memory
REPORT_ADDRESS_SPACE = 3 * 2**30


@pytest.mark.slow
def test_a_110_kb_label_loads_and_reports_within_1_gib(tmp_path):
    folder = long_label_export(tmp_path)
    # the rows each report's footer states: "Grand Totals (6000 records)"
    rows = sum(int(re.search(r"Grand Totals \((\d+) records\)", p.read_text()).group(1)) for p in folder.iterdir())
    run = run_child(folder, mode="report", limit=REPORT_ADDRESS_SPACE, workdir=tmp_path)
    assert run.outcome == "loaded", run.message
    assert run.rows == [rows, rows, 0]  # 6,000 leads + 531 deals: the long label costs no row
    assert run.peak_rss_mib < 1024
    assert run.details["longest_text_cell"] <= present.SENTENCE_WIDTH  # the label is shortened in every table
    assert all(width < 2000 and height < 1500 for width, height in run.details["png_sizes"])


def test_the_child_reports_a_memory_error_as_a_crash(tmp_path):
    """The budget can fail: a child past its memory limit is reported, not passed."""
    path = tmp_path / "leads.csv"
    path.write_text("Record ID\n1\n", encoding="utf-8")
    run = run_child(path, limit=96 * 2**20, workdir=tmp_path)  # too small even to import pandas
    assert run.outcome in {"crash", "killed"}


def test_the_benchmark_prints_a_row_per_file(tmp_path):
    """``benchmarks/hostile.py`` runs (its timings are printed, never asserted)."""
    out = tmp_path / "hostile.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "hostile.py"), "--only", "fifo", "--only", "wide_csv"]
    done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [(r["file"], r["outcome"]) for r in rows] == [
        ("fifo", "error (InputFileError)"),
        ("wide_csv", "error (InputFileError)"),
    ]
    assert "wide.csv: the file has 50,000 columns" in done.stdout


def test_the_corpus_readme_names_only_tests_that_exist():
    readme = (ROOT / "tests" / "data" / "bad" / "README.md").read_text(encoding="utf-8")
    hostile = readme[readme.index("## Hostile files and hostile text") :]
    named = re.findall(r"`(tests/test_\w+\.py)::(\w+)(?:\[(\w+)\])?`", hostile)
    assert len(named) >= 40
    for module, function, case in named:
        source = (ROOT / module).read_text(encoding="utf-8")
        assert f"\ndef {function}(" in source, f"{module}::{function}"
        assert not case or module != "tests/test_resources.py" or case in HOSTILE, case
    cases = {case for module, _, case in named if module == "tests/test_resources.py" and case}
    assert cases == set(HOSTILE)  # every hostile file of the budget is listed
