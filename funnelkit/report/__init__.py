"""Reports: run a parameterized notebook with papermill and publish sanitized, self-contained HTML.

:func:`render_report` is the runner (``funnelkit report`` on the command line);
:mod:`funnelkit.report.sections` holds what the report notebooks call so their
cells carry no logic.
"""

from ._runner import (
    RunResult,
    clean_html,
    convert_parameters,
    export_html,
    notebook_parameters,
    record_run_facts,
    render_report,
    write_index,
)
from .sections import Section, attempt, quota_html

__all__ = [
    "RunResult",
    "Section",
    "attempt",
    "clean_html",
    "convert_parameters",
    "export_html",
    "notebook_parameters",
    "quota_html",
    "record_run_facts",
    "render_report",
    "write_index",
]
