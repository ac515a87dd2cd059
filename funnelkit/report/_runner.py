"""The report runner: execute a parameterized notebook with papermill, publish HTML with nbconvert.

A run goes into ``<out>/<notebook>/<run-id>/`` (executed ``.ipynb``, ``.html``,
``run.json``); ``<out>/<notebook>/latest.html`` is replaced only after a
successful run, atomically, so a failed run never overwrites the last good
report; ``<out>/index.html`` lists every run. Parameters are checked against
the notebook's ``parameters`` cell before anything runs, and passed to
papermill as values (papermill writes them as Python literals), never as code.

What a reader sees is only what the notebook displays: the kernel's warnings,
stderr and tracebacks stay in the executed notebook and in ``run.json`` (per
cell), never in the HTML; no control character reaches the page; the only
images are the notebook's own outputs, embedded as data URIs (no file named
by an output is ever opened).

File modes follow one rule: every file of a run (``.ipynb``, ``.html``,
``run.json``, ``latest.html``, ``index.html``) gets the mode the user's umask
gives a new file (0644 under the usual 022), as the executed notebook always
did. ``private=True`` (``funnelkit report --private``) makes them all 0600 and
the run folder 0700.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import fcntl
import hashlib
import html
import json
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import FunnelkitError, ParameterError, ReportError
from ..safety import ANSI_ESCAPE, CONTROL

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FACTS_ENV = "FUNNELKIT_RUN_FACTS"
#: characters of a cell's stderr or traceback kept in run.json (the executed notebook keeps them whole)
LOG_CHARS = 4000
#: characters of a funnelkit error's message kept in a failed run's reason
REASON_CHARS = 500
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


@dataclass(frozen=True)
class RunResult:
    """Where a successful run put its files."""

    html_path: Path
    notebook_path: Path
    run_dir: Path
    manifest: dict


# ---------------------------------------------------------------- parameters --


def notebook_parameters(notebook: str | Path) -> dict[str, object]:
    """Defaults declared in the notebook's ``parameters`` cell (name -> value)."""
    nb = _read_notebook(Path(notebook))
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        raise ReportError(f"{notebook}: no cell is tagged 'parameters'; tag the cell that sets the defaults")
    defaults: dict[str, object] = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    try:
                        defaults[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        raise ReportError(f"{notebook}: parameter {target.id} must default to a plain value") from None
    return defaults


def convert_parameters(given: dict[str, object], defaults: dict[str, object]) -> dict[str, object]:
    """Check names and convert values (strings from the command line) to the defaults' types."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ParameterError(f"unknown report parameter(s) {unknown}; this notebook takes {sorted(defaults)}")
    return {name: _convert(name, value, defaults[name]) for name, value in given.items()}


def _convert(name: str, value, default):
    if not isinstance(value, str):
        return value
    expected = type(default)
    try:
        if default is None or expected is str:
            return value
        if expected is bool:
            low = value.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError
        if expected is int:
            return int(value.strip())
        if expected is float:
            number = float(value.strip())
            if number != number:  # NaN
                raise ValueError
            return number
        if expected in (list, dict):
            parsed = json.loads(value)
            if not isinstance(parsed, expected):
                raise ValueError
            return parsed
    except ValueError:
        raise ParameterError(
            f"parameter {name} must be {expected.__name__} (like its default {default!r}); got {value!r}"
        ) from None
    raise ParameterError(f"parameter {name} has a default of unsupported type {expected.__name__}")


# ---------------------------------------------------------------- running --


def render_report(
    notebook: str | Path,
    *,
    data: str | Path,
    out: str | Path = "reports",
    parameters: dict[str, object] | None = None,
    timeout: int = 600,
    kernel_name: str = "python3",
    progress: bool | None = None,
    private: bool = False,
) -> RunResult:
    """Execute ``notebook`` on ``data`` and publish it as a self-contained HTML report.

    Parameters
    ----------
    notebook : path
        A notebook with a cell tagged ``parameters`` that declares ``data_path``.
    data : path
        Export file or folder; passed to the notebook as an absolute ``data_path``.
    out : path
        Reports folder.
    parameters : dict
        Other notebook parameters, as values or strings (converted to the type
        of each parameter's default).
    timeout : int
        Seconds any one cell may run.
    private : bool
        Files of the run 0600 and its folder 0700 (also ``latest.html`` and
        ``index.html``); otherwise every file gets the mode of the user's umask.

    Returns
    -------
    RunResult

    Raises
    ------
    ParameterError
        Unknown parameter or a value of the wrong type (before anything runs).
    ReportError
        Missing notebook or data, a notebook name that cannot name a folder, a
        cell error, a timeout, a dead kernel, a notebook that stopped early, or
        an unwritable output folder.
    """
    notebook = Path(notebook).resolve()
    data = Path(data)
    if not notebook.exists():
        raise ReportError(f"notebook {notebook} does not exist")
    if not data.exists():
        raise ReportError(f"data path {data} does not exist")
    defaults = notebook_parameters(notebook)
    if "data_path" not in defaults:
        raise ReportError(f"{notebook.name}: the parameters cell does not declare data_path")
    values = convert_parameters(dict(parameters or {}), defaults)
    values["data_path"] = str(data.resolve())

    stem = _report_name(notebook)
    mode = _file_mode(private=private)
    out = Path(out).resolve()  # the kernel runs in the notebook's folder: hand it absolute paths
    report_dir = out / stem
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=report_dir, delete=True)  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise ReportError(f"cannot write to the reports folder {report_dir}: {exc.strerror}") from None

    with _lock(report_dir):
        run_dir = _new_run_dir(report_dir, private=private)
        run_id = run_dir.name
        executed = run_dir / f"{stem}.ipynb"
        facts = run_dir / "facts.json"
        manifest = _manifest_start(notebook, data, {**defaults, **values}, run_id)
        manifest["parameters_given"] = {name: values[name] for name in sorted(values)}
        started = time.monotonic()
        try:
            _execute(notebook, executed, values, facts, timeout, kernel_name, progress)
            _check_every_cell_ran(executed)
            html_path = run_dir / f"{stem}.html"
            _write_atomic(html_path, export_html(executed), mode=mode)
        except ReportError as exc:
            stopped = exc.cell_status if isinstance(exc, _StoppedRun) else None
            _finish_manifest(
                manifest,
                run_dir,
                executed,
                facts,
                started,
                status="failed",
                reason=str(exc),
                stopped=stopped,
                mode=mode,
            )
            write_index(out, private=private)
            raise
        _finish_manifest(manifest, run_dir, executed, facts, started, status="succeeded", mode=mode)
        _write_atomic(report_dir / "latest.html", html_path.read_text(encoding="utf-8"), mode=mode)
        write_index(out, private=private)
    return RunResult(html_path=html_path, notebook_path=executed, run_dir=run_dir, manifest=manifest)


class _StoppedRun(ReportError):
    """A run stopped in the middle of a cell (timeout, dead kernel): that cell's status in run.json."""

    def __init__(self, message: str, *, cell_status: str):
        super().__init__(message)
        self.cell_status = cell_status


def _report_name(notebook: Path) -> str:
    """The report's folder name: the notebook's name without ``.ipynb``, which must stay inside ``out``."""
    stem = notebook.stem
    if not stem.strip(".") or CONTROL.search(stem):
        raise ReportError(
            f"the notebook name {notebook.name!r} cannot name a report folder (it would point outside the "
            "reports folder); rename the notebook, e.g. to funnel_review.ipynb"
        )
    return stem


def _file_mode(*, private: bool) -> int:
    """0600 for private runs, otherwise what the user's umask gives a new file (as for the executed notebook)."""
    if private:
        return 0o600
    mask = _umask()
    return 0o666 & ~mask


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # the only portable way to read it is to set it; put it back at once
    os.umask(mask)
    return mask


def _run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _new_run_dir(report_dir: Path, *, private: bool = False, attempts: int = 5) -> Path:
    """A new, empty run folder; an id already taken (two runs in the same second) is drawn again."""
    for _ in range(attempts):
        run_dir = report_dir / _run_id()
        try:
            run_dir.mkdir(mode=0o700 if private else 0o777)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ReportError(f"cannot create a run folder in {report_dir}: {exc.strerror}") from None
        return run_dir
    raise ReportError(f"could not find a free run id in {report_dir} after {attempts} tries; run it again")


@contextlib.contextmanager
def _lock(report_dir: Path):
    """One run per report at a time: a second one fails at once rather than interleaving files."""
    handle = (report_dir / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ReportError(
            f"another run of the {report_dir.name} report is in progress (lock {report_dir / '.lock'}); "
            "try again when it has finished"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _execute(notebook, executed, values, facts, timeout, kernel_name, progress) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    os.environ[FACTS_ENV] = str(facts)
    try:
        pm.execute_notebook(
            str(notebook),
            str(executed),
            parameters=values,
            kernel_name=kernel_name,
            progress_bar=sys.stderr.isatty() if progress is None else progress,
            execution_timeout=timeout,
            cwd=str(notebook.parent),
            log_output=False,
        )
    except PapermillExecutionError as exc:
        cell = _source_index(executed, exc.cell_index)
        if exc.ename in _funnelkit_error_names():
            # funnelkit's messages are written for the analyst (the column, the parameter, how to fix it)
            raise ReportError(f"{notebook.name}: cell {cell} failed: {exc.ename}: {_one_line(exc.evalue)}") from None
        # ename only: other messages and tracebacks can quote raw CRM values
        raise ReportError(f"{notebook.name}: cell {cell} failed with {exc.ename}") from None
    except Exception as exc:  # nbclient's timeout and dead-kernel errors, among others
        name = type(exc).__name__
        if "Timeout" in name:
            cell = _running_cell(executed)
            raise _StoppedRun(
                f"{notebook.name}: cell {cell} ran longer than {timeout} s and was stopped", cell_status="timed out"
            ) from None
        if "DeadKernel" in name:
            raise _StoppedRun(
                f"{notebook.name}: the kernel died during cell {_running_cell(executed)}", cell_status="kernel died"
            ) from None
        raise _StoppedRun(f"{notebook.name}: the run failed ({name})", cell_status="stopped") from None
    finally:
        os.environ.pop(FACTS_ENV, None)


def _funnelkit_error_names() -> set[str]:
    """Class names of FunnelkitError and its subclasses (the kernel reports an error by class name)."""
    names, todo = set(), [FunnelkitError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _one_line(text: str, limit: int = REASON_CHARS) -> str:
    text = " ".join(CONTROL.sub("", ANSI_ESCAPE.sub("", str(text))).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _clip(text: str, limit: int = LOG_CHARS) -> str:
    text = CONTROL.sub("", ANSI_ESCAPE.sub("", text))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _source_index(executed: Path, index: int) -> int:
    """Position of an executed cell in the user's notebook (papermill inserts a parameters cell)."""
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return index
    return _source_index_in(_cells(nb), index)


def _running_cell(executed: Path) -> str:
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return "?"
    for index, cell in enumerate(_cells(nb)):
        # the stopped cell is the first that did not complete or that ends in an error
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if cell.cell_type == "code" and (status != "completed" or errored):
            return str(_source_index(executed, index))
    return "?"


def _check_every_cell_ran(executed: Path) -> None:
    """A notebook that stops early (``sys.exit(0)``) looks like success to papermill."""
    nb = _read_notebook(executed)
    for position, cell in enumerate(_cells(nb)):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        index = _source_index(executed, position)
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if cell.get("execution_count") is None or status != "completed" or errored:
            raise ReportError(f"{executed.name}: cell {index} did not complete; nothing was published")


#: what report outputs may contain after sanitizing: text structure and tables, nothing active
REPORT_TAGS = frozenset(
    {"a", "abbr", "b", "blockquote", "br", "caption", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
     "hr", "i", "li", "ol", "p", "pre", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
     "th", "thead", "tr", "ul"}
)  # fmt: skip
REPORT_ATTRIBUTES = {
    "*": ["class", "id"],
    "a": ["href", "title"],
    "span": ["title"],  # the full value of a shortened label
    "td": ["colspan", "rowspan"],
    "th": ["colspan", "rowspan"],
}


def clean_html(element) -> str:
    """Sanitize HTML from Markdown cells and outputs: anything not on the allowlist is removed,
    links may only be http(s) or mailto (no ``javascript:``), no ``on*=`` attribute survives."""
    import bleach

    text = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(
        text,
        tags=REPORT_TAGS,
        attributes=REPORT_ATTRIBUTES,
        protocols={"http", "https", "mailto"},
        strip=True,
        strip_comments=True,
    )


def export_html(executed: Path) -> str:
    """Self-contained HTML without code for readers: the notebook's own images embedded as data URIs,
    outputs sanitized, no remote assets, no kernel warnings, stderr or tracebacks, no control characters.

    nbconvert's ``embed_images`` is off: it opens any path an ``<img src>`` in a
    Markdown output names (a directory fails the export, a FIFO hangs it).
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        filters={"clean_html": clean_html},
        template_name="funnelkit_report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        sanitize_html=True,
        embed_images=False,
    )
    body, _ = exporter.from_notebook_node(for_readers(_read_notebook(executed)))
    return _final_guard(body)


def for_readers(nb):
    """A copy of an executed notebook holding only what its readers see.

    Dropped: ``stderr`` streams (warnings with the server's paths, progress
    bars) and ``error`` outputs (tracebacks); both stay in the executed
    notebook and in ``run.json``. Output metadata naming image files
    (``filenames``) is dropped, so every image is the output's own data.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error" or (kind == "stream" and output.get("name") != "stdout"):
                continue
            output.get("metadata", {}).pop("filenames", None)
            output.pop("svg_filename", None)
            kept.append(output)
        cell.outputs = kept
    return nb


_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r"\ssrc\s*=", re.IGNORECASE)
_DATA_SRC = re.compile(r"""\ssrc\s*=\s*["']?data:image/(png|jpeg|gif|svg\+xml);base64,""", re.IGNORECASE)


def _final_guard(page: str) -> str:
    """Last pass over the page: control characters out, and every image a data URI (others removed)."""
    page = CONTROL.sub("", page)

    def keep_data_images(match: re.Match) -> str:
        tag = match.group(0)
        return tag if len(_SRC.findall(tag)) == len(_DATA_SRC.findall(tag)) >= 1 else ""

    return _IMG_TAG.sub(keep_data_images, page)


def _read_notebook(path: Path):
    import nbformat  # imported here: it takes a second to import and only reports need it

    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read the notebook ({type(exc).__name__})") from None


def _write_atomic(path: Path, text: str, *, mode: int) -> None:
    """Write next to ``path`` and rename, so readers see the old file or the new one, never half.

    ``mode`` is set before the rename (a temporary file is created 0600).
    """
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp")  # noqa: SIM115
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)
        os.replace(handle.name, path)
    except OSError as exc:
        Path(handle.name).unlink(missing_ok=True)
        raise ReportError(f"cannot write {path}: {exc.strerror}") from None


# ---------------------------------------------------------------- manifest --


def _manifest_start(notebook: Path, data: Path, values: dict, run_id: str) -> dict:
    from .. import __version__

    files = sorted(p for p in (data.rglob("*") if data.is_dir() else [data]) if p.is_file())
    return {
        "run_id": run_id,
        "notebook": str(notebook),
        "parameters": values,
        "data_files": [{"path": str(p.resolve()), "sha256": _sha256(p), "bytes": p.stat().st_size} for p in files],
        "funnelkit_version": __version__,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _finish_manifest(manifest, run_dir, executed, facts, started, *, status, mode, reason=None, stopped=None) -> None:
    manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    manifest["seconds"] = round(time.monotonic() - started, 2)
    manifest["status"] = status
    manifest["exit_code"] = 0 if status == "succeeded" else 1
    if reason:
        manifest["reason"] = reason
    if facts.exists():
        manifest.update(json.loads(facts.read_text()))
        facts.unlink()
    manifest["cells"] = _cell_log(executed, stopped=stopped)
    if executed.exists():
        executed.chmod(mode)  # papermill wrote it with the umask's mode
    _write_atomic(run_dir / "run.json", json.dumps(manifest, indent=2, default=str), mode=mode)


def _cell_log(executed: Path, *, stopped: str | None = None) -> list[dict]:
    """Per code cell: its status, seconds, and the stderr and traceback a reader never sees (clipped).

    Status is ``completed``, ``failed``, ``not run`` (the run ended before it)
    or, for the cell a run was stopped in, ``timed out``, ``kernel died`` or
    ``stopped``.
    """
    if not executed.exists():
        return []
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return []
    cells = _cells(nb)
    code = [(position, cell) for position, cell in enumerate(cells) if cell.cell_type == "code"]
    started = [position for position, cell in code if _papermill(cell).get("start_time") is not None]
    last_started = started[-1] if started else None
    log = []
    for position, cell in code:
        meta = _papermill(cell)
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if meta.get("start_time") is None:
            status = "not run"  # papermill marks cells after a stopped one "completed" when none "failed"
        elif stopped and position == last_started:
            status = stopped
        else:
            status = "failed" if errors else meta.get("status")
        injected = "injected-parameters" in cell.get("metadata", {}).get("tags", [])
        entry = {
            # numbered as in the user's notebook (the cell papermill injects is named, not counted)
            "cell": "injected-parameters" if injected else _source_index_in(cells, position),
            "status": status,
            "seconds": None if meta.get("duration") is None else round(meta["duration"], 3),
        }
        stderr = "".join(
            _text(o.get("text", "")) for o in outputs if o.get("output_type") == "stream" and o.get("name") != "stdout"
        )
        if stderr:
            entry["stderr"] = _clip(stderr)
        if errors:
            entry["error"] = _clip(
                "\n".join(f"{o.get('ename')}: {o.get('evalue')}\n" + "\n".join(o.get("traceback", [])) for o in errors)
            )
        log.append(entry)
    return log


def _papermill(cell) -> dict:
    return cell.get("metadata", {}).get("papermill", {})


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _cells(nb) -> list:
    """The executed notebook's cells without the error banners papermill adds (they are not the user's)."""
    return [cell for cell in nb.cells if "papermill-error-cell-tag" not in cell.get("metadata", {}).get("tags", [])]


def _source_index_in(cells: list, position: int) -> int:
    """Position in the user's notebook of ``cells[position]``: the cell papermill injects is not counted."""
    return position - sum(
        1 for cell in cells[:position] if "injected-parameters" in cell.get("metadata", {}).get("tags", [])
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_run_facts(data) -> None:
    """Called by a report notebook: hand the row accounting and as-of to the runner's run.json."""
    target = os.environ.get(FACTS_ENV)
    if not target:
        return  # run interactively, not by the runner
    summary = data.summary.table
    facts = {
        "as_of": str(data.as_of),
        "rows": {
            "read": int(summary["rows_read"].sum()),
            "kept": int(summary["rows_kept"].sum()),
            "quarantined": int(summary["rows_quarantined"].sum()),
            "footer_lines": int(summary["footer_lines"].sum()),
        },
        "tables": {"leads": len(data.leads), "opportunities": len(data.opportunities)},
    }
    Path(target).write_text(json.dumps(facts))


def write_index(out: Path, *, private: bool = False) -> Path:
    """``<out>/index.html``: every run of every report, newest first (mode as for the runs' files)."""
    runs = []
    for manifest_path in out.glob("*/*/run.json"):
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            continue
        runs.append((manifest_path.parent, manifest))
    runs.sort(key=lambda item: item[1].get("started_at", ""), reverse=True)
    rows = []
    for run_dir, m in runs:
        link = run_dir / f"{run_dir.parent.name}.html"
        name = html.escape(run_dir.parent.name)
        target = f"<a href='{html.escape(str(link.relative_to(out)))}'>{name}</a>" if link.exists() else name
        rows.append(
            f"<tr><td>{target}</td><td>{html.escape(m.get('started_at', ''))}</td>"
            f"<td>{html.escape(m.get('status', ''))}</td><td>{html.escape(m.get('reason', ''))}</td>"
            f"<td>{m.get('rows', {}).get('read', '')}</td><td>{html.escape(str(m.get('as_of', '')))}</td></tr>"
        )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>funnelkit reports</title></head><body>"
        "<h1>funnelkit reports</h1><table border='1' cellpadding='4'><tr><th>report</th><th>started (UTC)</th>"
        "<th>status</th><th>reason</th><th>rows read</th><th>data as of</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
    index = out / "index.html"
    _write_atomic(index, page, mode=_file_mode(private=private))
    return index
