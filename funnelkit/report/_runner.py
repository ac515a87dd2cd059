"""The report runner: execute a parameterized notebook with papermill, publish HTML with nbconvert.

A report is a notebook run on a dataset, named ``<notebook>--<dataset>``
(the dataset is the ``--data`` folder's name or the file's stem) unless a
name is given. A run goes into ``<out>/<report>/<run-id>/`` (executed
``.ipynb``, ``.html``, ``run.json``, ``kernel.log``);
``<out>/<report>/latest.html`` is replaced only after a successful run,
atomically, so a failed run never overwrites the last good report and a run on
other data never replaces this data's report; ``<out>/index.html`` lists every
run. Parameters are checked against the notebook's ``parameters`` cell (names
and types) and their values against the allowed sets and the data before a
kernel starts, and passed to papermill as values (papermill writes them as
Python literals), never as code.

What a reader sees is only what the notebook displays: the kernel's warnings,
stderr and tracebacks stay in the executed notebook and in ``run.json`` (per
cell), never in the HTML; no control character reaches the page; the only
images are the notebook's own outputs, embedded as data URIs (no file named
by an output is ever opened), each with alt text. The kernel's own log (its
start-up warnings, the noise of a shutdown after a timeout) goes to
``kernel.log``, never to the terminal.

Cells are named as people count them: ``code cell 3`` is the notebook's third
code cell (the parameters cell papermill injects is not counted), in the
one-line failure message and in ``run.json`` alike.

File modes follow one rule: every file of a run (``.ipynb``, ``.html``,
``run.json``, ``latest.html``, ``index.html``) gets the mode the user's umask
gives a new file (0644 under the usual 022), as the executed notebook always
did. ``private=True`` (``funnelkit report --private``) makes them all 0600 and
the run folder 0700.

A run ended by SIGTERM writes ``run.json`` with status ``killed``, shuts the
kernel down and rebuilds the index before the command exits (code 143); a run ended by SIGKILL or a
power cut leaves ``run.json`` saying ``running``, which the index shows as
failed (interrupted) once no process holds the report's lock, and which the
next run of the same report closes.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import fcntl
import functools
import hashlib
import html
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import i18n
from ..errors import FunnelkitError, ParameterError, ReportError
from ..i18n import _
from ..metrics._engines import checked_engine
from ..safety import ANSI_ESCAPE, CONTROL
from ..units import format_value
from ._checks import check_values

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
    name: str | None = None,
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
        Export file or folder, or canonical tables read in place (see
        :func:`funnelkit.report.open_data`); passed to the notebook as an absolute ``data_path``.
    out : path
        Reports folder.
    parameters : dict
        Other notebook parameters, as values or strings (converted to the type
        of each parameter's default, then checked: ``period`` one of W, M, Q, Y,
        ``by`` a column the data fills, stage parameters stages of the funnel,
        numbers finite and in range). ``lang`` (``en``, ``zh-CN``, ``zh-TW``,
        ``tr``) is the report's language: the notebook's Markdown is translated
        through the catalogs before the run, the kernel calls
        ``fk.set_locale(lang)``, the page carries ``<html lang=...>`` and the
        index is written in it.
    name : str, optional
        The report's name: its folder in ``out`` and what ``latest.html``
        belongs to. Default ``<notebook>--<dataset>`` (the dataset is the data
        folder's name or the file's stem), so runs on other data keep their own
        latest report.
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
        Unknown parameter, a value of the wrong type or outside its allowed
        values, or a bad report name (before any kernel starts).
    ReportError
        Missing notebook or data, a notebook name that cannot name a folder, a
        cell error, a timeout, a dead kernel, a notebook that stopped early, or
        an unwritable output folder.
    RunKilled
        The process received SIGTERM during the run: the run is recorded as
        killed (``run.json`` and the index) before this is raised, the kernel
        shut down; ``funnelkit report`` exits 143, as for a process ended by
        SIGTERM.
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
    given = dict(parameters or {})
    values = absolute_path_parameters(convert_parameters(given, defaults))
    values["data_path"] = str(data.resolve())
    checked = check_values({key: values[key] for key in given}, {**defaults, **values})
    values = {key: checked[key] for key in values}
    lang = report_language({**defaults, **values})
    if "engine" in values:  # a typo stops here, before a kernel starts
        checked_engine(values["engine"])
    with i18n.using_locale(lang):
        return _render(notebook, data, out, values, defaults, lang=lang, name=name, timeout=timeout,
                       kernel_name=kernel_name, progress=progress, private=private)  # fmt: skip


def report_language(values: dict[str, object]) -> str:
    """The report's language: its ``lang`` parameter (given or the notebook's default), else English.

    Examples
    --------
    >>> report_language({"lang": "zh_cn"}), report_language({"data_path": "x"})
    ('zh-CN', 'en')
    """
    lang = values.get("lang")
    return i18n.DEFAULT if lang is None or not str(lang).strip() else i18n.supported_language(str(lang))


def _render(notebook, data, out, values, defaults, *, lang, name, timeout, kernel_name, progress, private):
    """:func:`render_report` once its parameters are checked, in the report's language."""
    from ._index import close_interrupted_runs, write_index

    stem = _notebook_stem(notebook)
    report = report_name(notebook, data, name=name)
    mode = _file_mode(private=private)
    out = Path(out).resolve()  # the kernel runs in the notebook's folder: hand it absolute paths
    report_dir = out / report
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=report_dir, delete=True)  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise ReportError(f"cannot write to the reports folder {report_dir}: {exc.strerror}") from None

    with _lock(report_dir):
        close_interrupted_runs(report_dir, mode=mode)
        run_dir = _new_run_dir(report_dir, private=private)
        executed = run_dir / f"{stem}.ipynb"
        facts = run_dir / "facts.json"
        manifest = _manifest_start(notebook, data, {**defaults, **values}, run_dir.name)
        manifest.update(report=report, title=_title(notebook, data, name=name), executed_notebook=executed.name)
        manifest["parameters_given"] = {key: values[key] for key in sorted(values)}
        # killed before this file is written or after the run is final, the run shows as interrupted or as it ended
        _write_atomic(run_dir / "run.json", json.dumps({**manifest, "status": "running"}, indent=2), mode=mode)
        started = time.monotonic()
        finish = functools.partial(_finish_manifest, manifest, run_dir, executed, facts, started, mode=mode)
        with _sigterm_raises():
            try:
                source = translated_notebook(notebook)
                _execute(source, executed, values, facts, timeout, kernel_name, progress, log=run_dir / "kernel.log",
                         notebook_name=notebook.name, cwd=notebook.parent)  # fmt: skip
                _check_every_cell_ran(executed)
                html_path = run_dir / f"{stem}.html"
                _write_atomic(html_path, export_html(executed, title=manifest["title"], lang=lang), mode=mode)
            except ReportError as exc:
                stopped = exc.cell_status if isinstance(exc, _StoppedRun) else None
                finish(status="failed", reason=str(exc), stopped=stopped, failed_cell=getattr(exc, "cell", None))
                write_index(out, private=private, lang=lang)
                raise
            except _Terminated as stop:
                cell = _running_cell(executed)
                during = "" if cell is None else f" during code cell {cell}"
                reason = f"{notebook.name}: the run was stopped by {stop.name}{during}"
                finish(status="killed", reason=reason, stopped="killed", failed_cell=cell, exit_code=stop.code)
                write_index(out, private=private, lang=lang)
                raise RunKilled(reason, exit_code=stop.code) from None
        manifest["html"] = html_path.name
        finish(status="succeeded")
        _write_atomic(report_dir / "latest.html", html_path.read_text(encoding="utf-8"), mode=mode)
        write_index(out, private=private, lang=lang)
    return RunResult(html_path=html_path, notebook_path=executed, run_dir=run_dir, manifest=manifest)


class _StoppedRun(ReportError):
    """A run stopped in the middle of a cell (timeout, dead kernel): that cell's status in run.json."""

    def __init__(self, message: str, *, cell_status: str, cell: int | None = None):
        super().__init__(message)
        self.cell_status = cell_status
        self.cell = cell


class _CellFailed(ReportError):
    """A cell raised: ``cell`` is its code cell number (as in the message and in run.json)."""

    def __init__(self, message: str, *, cell: int | None):
        super().__init__(message)
        self.cell = cell


class RunKilled(ReportError):
    """The run was stopped by SIGTERM and recorded as killed; ``exit_code`` is what the command exits with (143)."""

    def __init__(self, message: str, *, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class _Terminated(BaseException):
    """SIGTERM arrived during a run (a BaseException, so no ``except Exception`` on the way swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.name = signal.Signals(signum).name
        self.code = 128 + signum  # the exit status a shell reports for a process ended by the signal


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM raises :class:`_Terminated` in the main thread, so the run is recorded before the process ends.

    A second SIGTERM while the run is being recorded ends the process at once.
    Outside the main thread (where Python cannot handle signals) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise _Terminated(signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: characters a report name may hold (it names a folder); others in a dataset's name become "-"
_NAME_CHARACTERS = re.compile(r"[^\w.-]+")


def report_name(notebook: str | Path, data: str | Path, *, name: str | None = None) -> str:
    """The report's name and folder: ``name`` if given, else ``<notebook>--<dataset>``.

    Parameters
    ----------
    notebook : path
        The report notebook; its stem starts the default name.
    data : path
        Export file or folder: the folder's name or the file's stem ends the default name.
    name : str, optional
        A name of the caller's: letters, digits, ``.``, ``_`` and ``-`` only.

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        ``name`` holds other characters (a path separator, a space) or only dots.
    ReportError
        The notebook's name cannot name a folder.

    Examples
    --------
    >>> report_name("notebooks/funnel_review.ipynb", "data/sample")
    'funnel_review--sample'
    >>> report_name("notebooks/funnel_review.ipynb", "exports/Q3 pipeline.csv")
    'funnel_review--Q3-pipeline'
    >>> report_name("notebooks/funnel_review.ipynb", "data/sample", name="weekly")
    'weekly'
    """
    if name is not None:
        if not name.strip(".") or _NAME_CHARACTERS.search(name):
            raise ParameterError(
                f"report name {name!r} cannot name a folder; use letters, digits, '.', '_' and '-' "
                "(e.g. funnel_review-maven)"
            )
        return name
    return f"{_notebook_stem(Path(notebook))}--{dataset_name(data)}"


def dataset_name(data: str | Path) -> str:
    """The dataset's short name: the data folder's name, or the file's name up to its first dot.

    ``data/sample`` -> ``sample``; ``sales_pipeline.csv`` -> ``sales_pipeline``; characters
    other than letters, digits, ``.``, ``_`` and ``-`` become ``-``.
    """
    path = Path(data).resolve()
    stem = path.name if path.is_dir() else path.name.split(".")[0] or path.stem
    return _NAME_CHARACTERS.sub("-", stem).strip("-.") or "data"


def _notebook_stem(notebook: Path) -> str:
    """The notebook's name without ``.ipynb``, which must stay inside ``out``."""
    stem = notebook.stem
    if not stem.strip(".") or CONTROL.search(stem):
        raise ReportError(
            f"the notebook name {notebook.name!r} cannot name a report folder (it would point outside the "
            "reports folder); rename the notebook, e.g. to funnel_review.ipynb"
        )
    return stem


def _title(notebook: Path, data: Path, *, name: str | None) -> str:
    """The page title: the notebook's first heading, the dataset (or the report's given name) and the day."""
    heading = ""
    with contextlib.suppress(ReportError):
        for cell in _read_notebook(notebook).cells:
            source = i18n.translate_markdown(cell.source) if cell.cell_type == "markdown" else ""
            match = _HEADING.search(source)
            if match:
                heading = _plain(match.group(1))
                break
    heading = heading or notebook.stem.replace("_", " ").capitalize()
    day = format_value(datetime.now(UTC), "timestamp")
    return f"{heading} \u2014 {name or dataset_name(data)} \u2014 {day}"


_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def _plain(markdown: str) -> str:
    """A heading's text without emphasis or code marks, on one line."""
    return _one_line(re.sub(r"[*_`]+", "", markdown), limit=120)


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
    for _attempt in range(attempts):
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


def translated_notebook(notebook: Path):
    """The notebook with each Markdown cell in the current language (:func:`funnelkit.i18n.translate_markdown`).

    The notebook file is not touched: the run executes this copy, so the
    executed notebook and the HTML hold the translated narrative.
    """
    nb = _read_notebook(notebook)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = i18n.translate_markdown(cell.source)
    return nb


def _execute(
    source, executed, values, facts, timeout, kernel_name, progress, *, log: Path, notebook_name: str, cwd: Path
):
    """Run ``source`` (a notebook node) with papermill into ``executed``; ``notebook_name`` names it in messages."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    os.environ[FACTS_ENV] = str(facts)
    try:
        with _kernel_log(log) as kernel_manager:
            pm.execute_notebook(
                source,
                str(executed),
                parameters=values,
                kernel_name=kernel_name,
                progress_bar=sys.stderr.isatty() if progress is None else progress,
                execution_timeout=timeout,
                cwd=str(cwd),
                log_output=False,
                kernel_manager_class=kernel_manager,
            )
    except PapermillExecutionError as exc:
        cell = _code_cell_number(executed, exc.cell_index)
        where = f"{notebook_name}: code cell {'?' if cell is None else cell}"
        if exc.ename in _funnelkit_error_names():
            # funnelkit's messages are written for the analyst (the column, the parameter, how to fix it)
            raise _CellFailed(f"{where} failed: {exc.ename}: {_one_line(exc.evalue)}", cell=cell) from None
        # ename only: other messages and tracebacks can quote raw CRM values
        raise _CellFailed(f"{where} failed with {exc.ename}", cell=cell) from None
    except Exception as exc:  # nbclient's timeout and dead-kernel errors, among others
        name = type(exc).__name__
        cell = _running_cell(executed)
        where = "?" if cell is None else cell
        if "Timeout" in name:
            raise _StoppedRun(
                f"{notebook_name}: code cell {where} ran longer than {timeout} s and was stopped",
                cell_status="timed out",
                cell=cell,
            ) from None
        if "DeadKernel" in name:
            raise _StoppedRun(
                f"{notebook_name}: the kernel died during code cell {where}", cell_status="kernel died", cell=cell
            ) from None
        raise _StoppedRun(f"{notebook_name}: the run failed ({name})", cell_status="stopped", cell=cell) from None
    finally:
        os.environ.pop(FACTS_ENV, None)


@contextlib.contextmanager
def _kernel_log(path: Path):
    """The kernel's own stdout/stderr and papermill's log lines go to ``path``, not to the terminal.

    The kernel inherits the runner's stderr: its start-up warnings and, after a
    cell timeout, the ZMQ tracebacks of its shutdown would reach a cron job's
    mail. What a cell prints is not affected (it travels in the notebook).
    Yields the kernel manager class papermill is to use.
    """
    import logging

    from jupyter_client import AsyncKernelManager

    handle = path.open("ab")

    class LoggingKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            kw.setdefault("stdout", handle)
            kw.setdefault("stderr", handle)
            await super()._async_launch_kernel(kernel_cmd, **kw)

    loggers = [logging.getLogger(name) for name in ("papermill", "nbclient", "traitlets")]
    saved = [(logger.handlers[:], logger.propagate) for logger in loggers]
    to_file = logging.StreamHandler(open(path, "a", encoding="utf-8"))  # noqa: SIM115 - closed below
    to_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for logger in loggers:
        logger.handlers = [to_file]
        logger.propagate = False
    try:
        yield LoggingKernelManager
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate
        to_file.close()
        to_file.stream.close()
        handle.close()


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


def _code_cell_number(executed: Path, index: int) -> int | None:
    """The code cell number, as people count them, of the executed notebook's cell ``index``."""
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return None
    return code_cell_number(_cells(nb), index)


def _running_cell(executed: Path) -> int | None:
    """Code cell number of the cell a run stopped in: the first that did not complete or ends in an error."""
    try:
        nb = _read_notebook(executed)
    except ReportError:
        return None
    cells = _cells(nb)
    for position, cell in enumerate(cells):
        status = _papermill(cell).get("status")
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if cell.cell_type == "code" and (status != "completed" or errored):
            return code_cell_number(cells, position)
    return None


def _check_every_cell_ran(executed: Path) -> None:
    """A notebook that stops early (``sys.exit(0)``) looks like success to papermill."""
    nb = _read_notebook(executed)
    cells = _cells(nb)
    for position, cell in enumerate(cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        status = _papermill(cell).get("status")
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if cell.get("execution_count") is None or status != "completed" or errored:
            raise ReportError(
                f"{executed.name}: code cell {code_cell_number(cells, position)} did not complete; "
                "nothing was published"
            )


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


def export_html(executed: Path, *, title: str | None = None, lang: str | None = None) -> str:
    """Self-contained HTML without code for readers: the notebook's own images embedded as data URIs,
    outputs sanitized, no remote assets, no kernel warnings, stderr or tracebacks, no control characters.

    ``title`` is the page's ``<title>`` (the runner passes "Funnel review — sample — 2026-11-29");
    without it, the notebook's first heading. Every image has alt text (see :func:`for_readers`).
    ``lang`` is the page's ``<html lang=...>`` and the language of the texts the runner adds (alt
    text, the fallback title); default: the current language (:func:`funnelkit.set_locale`).

    nbconvert's ``embed_images`` is off: it opens any path an ``<img src>`` in a
    Markdown output names (a directory fails the export, a FIFO hangs it).
    """
    from nbconvert import HTMLExporter

    lang = i18n.supported_language(lang) if lang is not None else i18n.get_locale()
    exporter = HTMLExporter(
        language_code=lang.split("-")[0],  # nbconvert takes ISO 639-1 only; the region is put back below
        filters={"clean_html": clean_html},
        template_name="funnelkit_report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        sanitize_html=True,
        embed_images=False,
    )
    with i18n.using_locale(lang):
        body, _resources = exporter.from_notebook_node(for_readers(_read_notebook(executed), title=title))
    body = _HTML_LANG.sub(f'<html lang="{lang}">', body, count=1)
    return _final_guard(body)


_HTML_LANG = re.compile(r'<html lang="[^"]*">')


def for_readers(nb, *, title: str | None = None):
    """A copy of an executed notebook holding only what its readers see.

    Dropped: ``stderr`` streams (warnings with the server's paths, progress
    bars) and ``error`` outputs (tracebacks); both stay in the executed
    notebook and in ``run.json``. Output metadata naming image files
    (``filenames``) is dropped, so every image is the output's own data.
    Every image output gets alt text: the chart's title where the notebook
    recorded it (:func:`record_run_facts` does, for matplotlib figures), else
    "Chart 2 of Win rate" (its place under the nearest heading). ``title``
    (default: the first heading) becomes the page title.
    """
    nb = copy.deepcopy(nb)
    section, count, first_heading = "", 0, None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = _HEADING.search(cell.source)
            if match:
                section, count = _plain(match.group(1)), 0
                first_heading = first_heading or section
            continue
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error" or (kind == "stream" and output.get("name") != "stdout"):
                continue
            output.get("metadata", {}).pop("filenames", None)
            output.pop("svg_filename", None)
            for mime in IMAGE_TYPES:
                if mime in output.get("data", {}):
                    count += 1
                    where = section or _("the report")
                    _set_alt(output, mime, _("Chart {number} of {section}").format(number=count, section=where))
            kept.append(output)
        cell.outputs = kept
    nb.metadata["title"] = title or first_heading or _("Report")
    return nb


IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def _set_alt(output, mime: str, fallback: str) -> None:
    """The image's alt text: what the kernel recorded (the figure's title), else ``fallback``; one line."""
    metadata = output.setdefault("metadata", {})
    per_type = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
    recorded = per_type.get("alt") if isinstance(per_type.get("alt"), str) else ""
    metadata[mime] = {**per_type, "alt": _one_line(recorded, limit=200) or fallback}


_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r"\ssrc\s*=", re.IGNORECASE)
_DATA_SRC = re.compile(r"""\ssrc\s*=\s*["']?data:image/(png|jpeg|gif|svg\+xml);base64,""", re.IGNORECASE)
_ALT = re.compile(r"""\salt\s*=\s*(?:"[^"]*\S[^"]*"|'[^']*\S[^']*')""", re.IGNORECASE)


def _final_guard(page: str) -> str:
    """Last pass over the page: control characters out, every image a data URI (others removed) with alt text."""
    page = CONTROL.sub("", page)

    def keep_data_images(match: re.Match) -> str:
        tag = match.group(0)
        if len(_SRC.findall(tag)) != len(_DATA_SRC.findall(tag)) or not _DATA_SRC.search(tag):
            return ""
        if _ALT.search(tag):
            return tag
        # TRANSLATORS: alt text of a picture that has none
        alt = html.escape(_("image"))
        return tag[:4] + f' alt="{alt}"' + tag[4:]

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
        "data": str(data.resolve()),
        "parameters": values,
        "data_files": [{"path": str(p.resolve()), "sha256": _sha256(p), "bytes": p.stat().st_size} for p in files],
        "funnelkit_version": __version__,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _finish_manifest(
    manifest, run_dir, executed, facts, started, *, status, mode, reason=None, stopped=None, failed_cell=None,
    exit_code=None,
) -> None:  # fmt: skip
    """Write the run's final ``run.json``: status, exit code, reason, the cell that failed, facts and cells."""
    manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    manifest["seconds"] = None if started is None else round(time.monotonic() - started, 2)
    manifest["status"] = status
    manifest["exit_code"] = exit_code if exit_code is not None else 0 if status == "succeeded" else 1
    if reason:
        manifest["reason"] = reason
    if failed_cell is not None:
        manifest["failed_cell"] = failed_cell  # the code cell number the one-line message names
    if facts.exists():
        try:
            recorded = json.loads(facts.read_text())
        except (OSError, ValueError):  # cut short by a kill while it was written
            recorded = {"facts": "unreadable (the run stopped while writing them)"}
        manifest.update(recorded if isinstance(recorded, dict) else {})
        facts.unlink()
    manifest["cells"] = _cell_log(executed, stopped=stopped)
    for written in (executed, run_dir / "kernel.log"):
        if written.exists():
            written.chmod(mode)  # papermill and the kernel wrote them with the umask's mode
    _write_atomic(run_dir / "run.json", json.dumps(manifest, indent=2, default=str), mode=mode)


def _cell_log(executed: Path, *, stopped: str | None = None) -> list[dict]:
    """Per code cell: its status, seconds, and the stderr and traceback a reader never sees (clipped).

    Status is ``completed``, ``failed``, ``not run`` (the run ended before it)
    or, for the cell a run was stopped in, ``timed out``, ``kernel died``,
    ``killed`` (SIGTERM), ``interrupted`` (the process vanished) or
    ``stopped``. ``cell`` is the code cell number people use (see
    :func:`code_cell_number`); the cell papermill injects is named, not counted.
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
            "cell": "injected-parameters" if injected else code_cell_number(cells, position),
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


def code_cell_number(cells: list, position: int) -> int | None:
    """The number people give ``cells[position]``: its place among the notebook's code cells, from 1.

    The parameters cell papermill injects is not counted (it is not in the
    user's notebook; ``None`` for it), nor are Markdown cells: code cell 3 is
    the cell JupyterLab shows as ``[3]`` when the notebook is run top to bottom.
    """
    if "injected-parameters" in cells[position].get("metadata", {}).get("tags", []):
        return None
    return sum(
        1
        for cell in cells[: position + 1]
        if cell.cell_type == "code" and "injected-parameters" not in cell.get("metadata", {}).get("tags", [])
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_run_facts(data) -> None:
    """Called by a report notebook once its data is loaded: hand the row accounting and as-of to run.json,
    and label the notebook's charts with their titles (the report's alt text). Does nothing outside a run."""
    target = os.environ.get(FACTS_ENV)
    if not target:
        return  # run interactively, not by the runner
    Path(target).write_text(json.dumps(_run_facts(data)))
    _label_figures()


def _run_facts(data) -> dict:
    """The row accounting and as-of of a run: of the load, or of tables read in place (rows read only: nothing
    was parsed, so nothing was kept or quarantined by funnelkit)."""
    facts: dict = {"as_of": str(data.as_of)}
    if not hasattr(data, "table_rows"):  # loaded, not tables read in place
        summary = data.summary.table
        facts["rows"] = {
            "read": int(summary["rows_read"].sum()),
            "kept": int(summary["rows_kept"].sum()),
            "quarantined": int(summary["rows_quarantined"].sum()),
            "footer_lines": int(summary["footer_lines"].sum()),
        }
        facts["tables"] = {"leads": len(data.leads), "opportunities": len(data.opportunities)}
    else:
        rows = dict(zip(data.table_rows["table"], data.table_rows["rows"].astype(int).tolist(), strict=True))
        facts["rows"] = {"read": sum(rows.values())}
        facts["tables"] = rows
        facts["read_in_place"] = data.backend.name
    return facts


def figure_title(figure) -> str:
    """A matplotlib figure's title: its suptitle, else its axes' titles joined by "; " (empty when none)."""
    suptitle = getattr(figure, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        return _one_line(suptitle.get_text(), limit=200)
    titles = []
    for ax in figure.get_axes():
        for loc in ("center", "left", "right"):
            text = ax.get_title(loc=loc).strip()
            if text and text not in titles:
                titles.append(text)
    return _one_line("; ".join(titles), limit=200)


def _label_figures() -> None:
    """In the kernel: each figure displayed from now on carries its title as alt text in the output's metadata.

    The inline backend may register its figure formatters after this runs (on
    the first plot), so the wrapping is checked again before every cell.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return

    def wrap(*_):
        from matplotlib.figure import Figure

        for mime in IMAGE_TYPES:
            formatter = shell.display_formatter.formatters.get(mime)
            try:
                draw = formatter.lookup_by_type(Figure)
            except (AttributeError, KeyError):
                continue
            if getattr(draw, "_funnelkit_alt", False):
                continue

            def labelled(figure, draw=draw):
                data = draw(figure)
                title = figure_title(figure)
                return (data, {"alt": title}) if data is not None and title else data

            labelled._funnelkit_alt = True
            formatter.for_type(Figure, labelled)

    with contextlib.suppress(ImportError):
        import matplotlib.pyplot as plt

        plt.get_backend()  # the inline backend registers its formatters when first asked for
        wrap()
        shell.events.register("pre_execute", wrap)
