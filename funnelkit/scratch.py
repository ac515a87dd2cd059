"""Scratch files in the temporary folder (``TMPDIR``), named after the process that made them.

The engine keeps its funnel view as a Parquet file and gives DuckDB a folder
to spill to; a large export's text is set aside in an Arrow file. Each is
removed when its owner goes, but a process that is killed (a scheduled report
stopped by its timeout, a kernel restarted, out of memory) removes nothing,
and at ten million leads that leaves gigabytes behind each time. So every
scratch name carries the machine's name and the process id, and the first
scratch a process makes sweeps away those of this machine's processes that
no longer run.

Examples
--------
>>> folder = scratch_folder("example")
>>> Path(folder).name.startswith(f"funnelkit-example-{socket.gethostname()}-{os.getpid()}-")
True
>>> os.rmdir(folder)
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

PREFIX = "funnelkit-"
_swept_by: int | None = None  # the process that has swept (a forked child sweeps again)


def scratch_folder(kind: str) -> str:
    """A new folder ``funnelkit-<kind>-<host>-<pid>-*`` in the temporary folder, after a first sweep."""
    _sweep_once()
    return tempfile.mkdtemp(prefix=_prefix(kind))


def scratch_file(kind: str, suffix: str) -> tuple[int, str]:
    """A new file ``funnelkit-<kind>-<host>-<pid>-*<suffix>`` (its open descriptor and path), after a first sweep."""
    _sweep_once()
    return tempfile.mkstemp(prefix=_prefix(kind), suffix=suffix)


def sweep(folder: str | os.PathLike | None = None) -> list[str]:
    """Remove the scratch files and folders of this machine's funnelkit processes that no longer run.

    Parameters
    ----------
    folder : path, optional
        Where to look; the temporary folder by default.

    Returns
    -------
    list of str
        The names removed.
    """
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows, not ask about it
        return []
    root = Path(folder or tempfile.gettempdir())
    owned = re.compile(rf"{re.escape(PREFIX)}[a-z]+-{re.escape(_host())}-(\d+)-")
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = owned.match(entry.name)
        if match is None or _running(int(match.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:  # another user's, or removed meanwhile
            continue
        removed.append(entry.name)
    return removed


def _sweep_once() -> None:
    global _swept_by
    if _swept_by != os.getpid():
        _swept_by = os.getpid()
        sweep()


def _prefix(kind: str) -> str:
    return f"{PREFIX}{kind}-{_host()}-{os.getpid()}-"


def _host() -> str:
    """This machine's name as a file name allows (containers sharing a folder have names of their own)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
