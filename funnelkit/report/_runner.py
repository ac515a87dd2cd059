"""The report runner: execute a parameterized notebook with papermill, publish HTML with nbconvert.

A run goes into ``<out>/<notebook>/<run-id>/`` (executed ``.ipynb``, ``.html``,
``run.json``); ``<out>/<notebook>/latest.html`` is replaced only after a
successful run, atomically, so a failed run never overwrites the last good
report; ``<out>/index.html`` lists every run. Parameters are checked against
the notebook's ``parameters`` cell before anything runs, and passed to
papermill as values (papermill writes them as Python literals), never as code.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import html
import json
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ParameterError, ReportError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FACTS_ENV = "FUNNELKIT_RUN_FACTS"
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


#: Parameters naming a file: read from the caller's working directory, as ``data`` is (the kernel
#: runs in the notebook's folder).
PATH_PARAMETERS = ("mapping",)


def absolute_path_parameters(values: dict[str, object]) -> dict[str, object]:
    """Make file parameters (``mapping``) absolute against the caller's working directory.

    Parameters
    ----------
    values : dict
        Converted parameters (name -> value); an empty value means "none" and stays as it is.

    Returns
    -------
    dict
        The same parameters, each file parameter an absolute path.

    Raises
    ------
    ParameterError
        A file parameter names a file that does not exist (before anything runs).

    Examples
    --------
    >>> absolute_path_parameters({"mapping": "", "title": "Q3"})  # no mapping: nothing to resolve
    {'mapping': '', 'title': 'Q3'}
    """
    out = dict(values)
    for name in PATH_PARAMETERS:
        value = out.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        path = Path(value).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            raise ParameterError(
                f"parameter {name}: the file {value} does not exist (relative paths are read from the "
                f"folder the command runs in, {Path.cwd()})"
            )
        out[name] = str(path.resolve())
    return out


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

    Returns
    -------
    RunResult

    Raises
    ------
    ParameterError
        Unknown parameter or a value of the wrong type (before anything runs).
    ReportError
        Missing notebook or data, a cell error, a timeout, a dead kernel, a
        notebook that stopped early, or an unwritable output folder.
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
    values = absolute_path_parameters(convert_parameters(dict(parameters or {}), defaults))
    values["data_path"] = str(data.resolve())

    stem = notebook.stem
    out = Path(out).resolve()  # the kernel runs in the notebook's folder: hand it absolute paths
    report_dir = out / stem
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=report_dir, delete=True)  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise ReportError(f"cannot write to the reports folder {report_dir}: {exc.strerror}") from None

    with _lock(report_dir):
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        run_dir = report_dir / run_id
        run_dir.mkdir()
        executed = run_dir / f"{stem}.ipynb"
        facts = run_dir / "facts.json"
        manifest = _manifest_start(notebook, data, {**defaults, **values}, run_id)
        manifest["parameters_given"] = {name: values[name] for name in sorted(values)}
        started = time.monotonic()
        try:
            _execute(notebook, executed, values, facts, timeout, kernel_name, progress)
            _check_every_cell_ran(executed)
            html_path = run_dir / f"{stem}.html"
            _write_atomic(html_path, export_html(executed))
        except ReportError as exc:
            _finish_manifest(manifest, run_dir, executed, facts, started, status="failed", reason=str(exc))
            write_index(out)
            raise
        _finish_manifest(manifest, run_dir, executed, facts, started, status="succeeded")
        _write_atomic(report_dir / "latest.html", html_path.read_text(encoding="utf-8"))
        write_index(out)
    return RunResult(html_path=html_path, notebook_path=executed, run_dir=run_dir, manifest=manifest)


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
        # ename only: evalue and tracebacks can quote raw CRM values
        cell = _source_index(executed, exc.cell_index)
        raise ReportError(f"{notebook.name}: cell {cell} failed with {exc.ename}") from None
    except Exception as exc:  # nbclient's timeout and dead-kernel errors, among others
        name = type(exc).__name__
        if "Timeout" in name:
            cell = _running_cell(executed)
            raise ReportError(f"{notebook.name}: cell {cell} ran longer than {timeout} s and was stopped") from None
        if "DeadKernel" in name:
            raise ReportError(f"{notebook.name}: the kernel died during cell {_running_cell(executed)}") from None
        raise ReportError(f"{notebook.name}: the run failed ({name})") from None
    finally:
        os.environ.pop(FACTS_ENV, None)


def _source_index(executed: Path, index: int) -> int:
    """Position of an executed cell in the user's notebook (papermill inserts a parameters cell)."""
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return index
    injected = sum(1 for cell in nb.cells[:index] if "injected-parameters" in cell.get("metadata", {}).get("tags", []))
    return index - injected


def _running_cell(executed: Path) -> str:
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return "?"
    for index, cell in enumerate(nb.cells):
        # the stopped cell is the first that did not complete or that ends in an error
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if cell.cell_type == "code" and (status != "completed" or errored):
            return str(_source_index(executed, index))
    return "?"


def _check_every_cell_ran(executed: Path) -> None:
    """A notebook that stops early (``sys.exit(0)``) looks like success to papermill."""
    nb = _read_notebook(executed)
    for position, cell in enumerate(nb.cells):
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
    """Self-contained HTML without code: images embedded, outputs sanitized, no remote assets."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        filters={"clean_html": clean_html},
        template_name="funnelkit_report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        sanitize_html=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(_read_notebook(executed))
    return body


def _read_notebook(path: Path):
    import nbformat  # imported here: it takes a second to import and only reports need it

    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read the notebook ({type(exc).__name__})") from None


def _write_atomic(path: Path, text: str) -> None:
    """Write next to ``path`` and rename, so readers see the old file or the new one, never half."""
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp")  # noqa: SIM115
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
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


def _finish_manifest(manifest, run_dir, executed, facts, started, *, status, reason=None) -> None:
    manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    manifest["seconds"] = round(time.monotonic() - started, 2)
    manifest["status"] = status
    manifest["exit_code"] = 0 if status == "succeeded" else 1
    if reason:
        manifest["reason"] = reason
    if facts.exists():
        manifest.update(json.loads(facts.read_text()))
        facts.unlink()
    manifest["cells"] = _cell_log(executed)
    (run_dir / "run.json").write_text(json.dumps(manifest, indent=2, default=str))


def _cell_log(executed: Path) -> list[dict]:
    if not executed.exists():
        return []
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return []
    log, injected_before = [], 0
    for position, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("papermill", {})
        injected = "injected-parameters" in cell.get("metadata", {}).get("tags", [])
        injected_before += injected
        if cell.cell_type != "code":
            continue
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        status = "failed" if errored else meta.get("status")
        log.append(
            {
                # numbered as in the user's notebook (the cell papermill injects is named, not counted)
                "cell": "injected-parameters" if injected else position - injected_before,
                "status": status,
                "seconds": None if meta.get("duration") is None else round(meta["duration"], 3),
            }
        )
    return log


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


def write_index(out: Path) -> Path:
    """``<out>/index.html``: every run of every report, newest first."""
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
    _write_atomic(index, page)
    return index
