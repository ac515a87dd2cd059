"""``<out>/index.html``, every run of every report newest first, and runs that never finished.

The page is styled with the reports' own stylesheet
(``templates/funnelkit_report/report.css``). A run folder whose ``run.json``
is not final (``running``, or missing: a run from before ``running`` was
written) is a run in progress while some process holds its report's lock, and
otherwise a run that was interrupted (SIGKILL, a power cut): the index shows
it as failed (interrupted), and the next run of the same report closes it
(final ``run.json``, ``facts.json`` folded in and removed).
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from .. import i18n
from ..i18n import N_, _, ngettext
from ..units import format_number
from . import _runner

#: a run folder's name: ``20251129T064501Z-3fa9c2``
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
FINAL = frozenset({"succeeded", "failed", "killed", "interrupted"})
#: what the index says for each status of run.json (in the index's language: ``_(SHOWN[status])``)
SHOWN = {
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "killed": N_("failed (killed)"),
    "interrupted": N_("failed (interrupted)"),
    "running": N_("running"),
}
#: run.json keeps it in English (as every reason); the index shows it translated
INTERRUPTED_REASON = N_(
    "the run ended without finishing: its process was killed (SIGKILL, out of memory) or the machine stopped"
)


def run_folders(out: Path) -> list[Path]:
    """Every run folder under ``out`` (``<out>/<report>/<run-id>/``)."""
    return sorted(p for p in out.glob("*/*") if p.is_dir() and RUN_ID.match(p.name))


def read_run(run_dir: Path) -> dict:
    """A run's ``run.json`` (empty when missing or unreadable), with ``status`` as the index shows it.

    A run whose ``run.json`` is not final is ``running`` while its report's
    lock is held, and ``interrupted`` otherwise.
    """
    try:
        manifest = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    if manifest.get("status") not in FINAL:
        manifest["status"] = "running" if _lock_is_held(run_dir.parent) else "interrupted"
        manifest.setdefault("reason", INTERRUPTED_REASON if manifest["status"] == "interrupted" else "")
    return manifest


def _lock_is_held(report_dir: Path) -> bool:
    """Whether a process holds the report's lock (a run of it is in progress)."""
    try:
        fd = os.open(report_dir / ".lock", os.O_RDONLY)
    except OSError:
        return False  # never locked, or unreadable: no run can be shown as in progress
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def close_interrupted_runs(report_dir: Path, *, mode: int) -> list[Path]:
    """Give every unfinished run of a report a final ``run.json`` (status ``interrupted``).

    Called by a run that holds the report's lock, so no other run of it can be
    in progress: a run folder without a final ``run.json`` belongs to a process
    that is gone. Its facts are folded in, ``facts.json`` removed, and its
    cells logged as far as the executed notebook got.

    Returns
    -------
    list of Path
        The run folders closed.
    """
    closed = []
    for run_dir in sorted(p for p in report_dir.iterdir() if p.is_dir() and RUN_ID.match(p.name)):
        try:
            manifest = json.loads((run_dir / "run.json").read_text())
        except (OSError, ValueError):
            manifest = {}
        if not isinstance(manifest, dict) or manifest.get("status") in FINAL:
            continue
        manifest.setdefault("run_id", run_dir.name)
        executed = run_dir / manifest.get("executed_notebook", "-")
        if not executed.is_file():
            executed = next(iter(sorted(run_dir.glob("*.ipynb"))), executed)
        with contextlib.suppress(OSError):
            _runner._finish_manifest(
                manifest, run_dir, executed, run_dir / "facts.json", None, status="interrupted", mode=mode,
                reason=INTERRUPTED_REASON, stopped="interrupted",
            )  # fmt: skip
            closed.append(run_dir)
    return closed


def write_index(out: Path, *, private: bool = False, lang: str | None = None) -> Path:
    """Write ``<out>/index.html``: every run of every report, newest first, styled like the reports.

    Parameters
    ----------
    out : Path
        The reports folder.
    private : bool
        0600 (else the mode the user's umask gives, as for the runs' files).
    lang : str, optional
        The page's language (``<html lang=...>``, headings, statuses, numbers and
        times); default the current one (:func:`funnelkit.set_locale`). The runner
        passes the run's ``lang``, so the index speaks the language of the latest run.
        Failure reasons stay as ``run.json`` has them (English, as the command prints them).

    Returns
    -------
    Path
        The index page. Per run: report name, data (folder and files),
        parameters given, status (and why it failed), start, duration, and
        links to the HTML, the executed notebook and ``run.json``; above, each
        report's latest good page. Every value is escaped.
    """
    out = Path(out)
    with i18n.using_locale(lang) as lang:
        page = _page(out, lang)
    index = out / "index.html"
    _runner._write_atomic(index, page, mode=_runner._file_mode(private=private))
    return index


#: the index table's column headings
COLUMNS = (N_("report"), N_("data"), N_("parameters"), N_("status"), N_("started (UTC)"), N_("duration"), N_("files"))


def _page(out: Path, lang: str) -> str:
    runs = [(run_dir, read_run(run_dir)) for run_dir in run_folders(out)]
    # started_at is to the second: runs started within one second are told apart by when their folder
    # last changed (a run writes its files in order), not by their random id suffix
    runs.sort(key=lambda item: (_started(*item), item[0].stat().st_mtime_ns, item[0].name), reverse=True)
    latest = sorted(p.parent.name for p in out.glob("*/latest.html"))
    count = ngettext("{count} run, newest first; times in UTC.", "{count} runs, newest first; times in UTC.", len(runs))
    title, runs_heading = _e(_("funnelkit reports")), _e(_("Runs"))  # _() outside f-strings: the extractor skips those
    return "".join(
        [
            f"<!DOCTYPE html>\n<html lang='{_e(lang)}'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{title}</title><style>",
            (_runner.TEMPLATES / "funnelkit_report" / "report.css").read_text(encoding="utf-8"),
            "</style></head><body class='fk-index'><main class='jp-RenderedHTMLCommon'>",
            f"<h1>{title}</h1>",
            _latest_list(latest),
            f"<h2>{runs_heading}</h2><p class='fk-note'>{_e(count.format(count=format_number(len(runs))))}</p>",
            "<table class='fk-table fk-index-table'><thead><tr>",
            *("<th>" + _e(_(column)) + "</th>" for column in COLUMNS),
            "</tr></thead><tbody>",
            *(_row(out, run_dir, manifest) for run_dir, manifest in runs),
            "</tbody></table></main></body></html>\n",
        ]
    )


def _latest_list(reports: list[str]) -> str:
    heading = "<h2>" + _e(_("Latest reports")) + "</h2>"
    if not reports:
        return heading + "<p class='fk-note'>" + _e(_("No run has succeeded yet.")) + "</p>"
    items = "".join(f"<li>{_link(f'{name}/latest.html', name)}</li>" for name in reports)
    return f"{heading}<ul>{items}</ul>"


def _row(out: Path, run_dir: Path, m: dict) -> str:
    report = str(m.get("report") or run_dir.parent.name)
    title = str(m.get("title") or "")
    status = str(m.get("status", ""))
    shown = _(SHOWN[status]) if status in SHOWN else status
    kind = "succeeded" if status == "succeeded" else "running" if status == "running" else "failed"
    reason = str(m.get("reason") or "")
    reason = _(INTERRUPTED_REASON) if reason == INTERRUPTED_REASON else reason
    cells = [
        f"{_e(report)}<br><span class='fk-files'>{_e(title)}</span>" if title else _e(report),
        _data(m),
        _parameters(m),
        f"<span class='fk-status fk-status-{kind}'>{_e(shown)}</span>"
        + (f"<br><span class='fk-files'>{_e(reason)}</span>" if reason else ""),
        _e(_shown_time(_started(run_dir, m))),
        _duration(m.get("seconds")),
        _files(out, run_dir, m),
    ]
    numeric = {5}  # the duration
    tds = (f"<td class='fk-num'>{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells))
    return "<tr>" + "".join(tds) + "</tr>"


def _started(run_dir: Path, m: dict) -> str:
    """When the run started, UTC, as ``2025-11-29 06:45:01``: from run.json, else from the run id."""
    started = str(m.get("started_at") or "")
    if not started:
        with contextlib.suppress(ValueError):
            started = datetime.strptime(run_dir.name[:16], "%Y%m%dT%H%M%SZ").isoformat()
    return started.replace("+00:00", "").replace("T", " ")


def _shown_time(started: str) -> str:
    """A start time as the index shows it: as stored in English, the locale's medium date and time elsewhere."""
    if i18n.get_locale() == i18n.DEFAULT or not started:
        return started
    from babel.dates import format_datetime

    try:
        moment = datetime.fromisoformat(started)
    except ValueError:
        return started
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return format_datetime(moment, format="medium", tzinfo=UTC, locale=i18n.babel_locale())


def _data(m: dict) -> str:
    """The data folder (with its files) or file, and the rows read and as-of the notebook recorded."""
    files = [Path(str(f.get("path", ""))) for f in m.get("data_files", []) if isinstance(f, dict)]
    root = Path(str(m["data"])) if m.get("data") else None
    if root is not None and [root] != files:  # a folder: its name, then its files
        head = root.name + "/"
        names = [str(f.relative_to(root)) if f.is_relative_to(root) else f.name for f in files]
    else:  # one file (or run.json of an older funnelkit, which lists the files only)
        head, names = ", ".join(f.name for f in files[:8]), []
    text = _e(head)
    if names:
        more = len(names) - 8
        # TRANSLATORS: follows a list of eight file names ("a.csv, b.csv, ... and 3 more")
        listed = ", ".join(names[:8]) + (_(" and {count} more").format(count=format_number(more)) if more > 0 else "")
        text += f"<br><span class='fk-files'>{_e(listed)}</span>"
    rows = m.get("rows", {}).get("read") if isinstance(m.get("rows"), dict) else None
    if isinstance(rows, int):
        read = ngettext("{rows} row read; as of {day}", "{rows} rows read; as of {day}", rows)
        read = read.format(rows=format_number(rows), day=_shown_day(str(m.get("as_of", ""))[:10]))
        text += f"<br><span class='fk-files'>{_e(read)}</span>"
    return text


def _shown_day(day: str) -> str:
    """``2025-10-31`` as stored in English; the locale's medium date elsewhere."""
    from ..units import format_value

    try:
        return format_value(datetime.fromisoformat(day), "timestamp") if day else day
    except ValueError:
        return day


def _parameters(m: dict) -> str:
    given = m.get("parameters_given") or {}
    shown = (
        [f"{name}={value}" for name, value in sorted(given.items()) if name != "data_path"]
        if isinstance(given, dict)
        else []
    )
    return _e(", ".join(shown)) if shown else "<span class='fk-files'>" + _e(_("defaults")) + "</span>"


def _duration(seconds) -> str:
    if not isinstance(seconds, int | float):
        return ""
    if seconds < 60:
        return _e(_("{seconds} s").format(seconds=format_number(seconds, decimals=1)))
    minutes, rest = divmod(round(seconds), 60)
    return _e(_("{minutes} min {seconds} s").format(minutes=format_number(minutes), seconds=f"{rest:02d}"))


def _files(out: Path, run_dir: Path, m: dict) -> str:
    links = []
    executed = str(m.get("executed_notebook") or "")
    html_name = str(m.get("html") or (Path(executed).with_suffix(".html").name if executed else ""))
    candidates = [
        (html_name or next((p.name for p in sorted(run_dir.glob("*.html"))), ""), _("report")),
        (executed or next((p.name for p in sorted(run_dir.glob("*.ipynb"))), ""), _("notebook")),
        ("run.json", "run.json"),
    ]
    for name, label in candidates:
        if name and "/" not in name and (run_dir / name).is_file():
            links.append(_link(f"{run_dir.relative_to(out).as_posix()}/{name}", label))
    return f"<span class='fk-links'>{''.join(links)}</span>"


def _link(href: str, text: str) -> str:
    return f"<a href='{_e(quote(href))}'>{_e(text)}</a>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
