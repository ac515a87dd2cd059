"""Reports: run a parameterized notebook with papermill and publish sanitized, self-contained HTML.

:func:`render_report` is the runner (``funnelkit report`` on the command line);
:mod:`funnelkit.report.sections` holds what the report notebooks call so their
cells carry no logic.
"""

from ._checks import check_values
from ._data import open_data
from ._index import write_index
from ._runner import (
    RunKilled,
    RunResult,
    clean_html,
    convert_parameters,
    export_html,
    notebook_parameters,
    record_run_facts,
    render_report,
    report_name,
)
from .sections import Section, attempt, on_track_html, quota_html

__all__ = [
    "RunKilled",
    "RunResult",
    "Section",
    "attempt",
    "check_values",
    "clean_html",
    "convert_parameters",
    "export_html",
    "notebook_parameters",
    "on_track_html",
    "open_data",
    "quota_html",
    "record_run_facts",
    "render_report",
    "report_name",
    "write_index",
]
