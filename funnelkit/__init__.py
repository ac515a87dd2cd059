"""funnelkit: funnel analytics for revenue teams.

Load CRM exports into one canonical model, measure the funnel with honest
uncertainty, and render reports leadership can read.

>>> import funnelkit as fk
>>> data = fk.load("data/sample")                       # doctest: +SKIP
>>> fk.win_rate(data, by="source", period="Q")          # doctest: +SKIP
"""

from .dataset import Dataset, LoadSummary
from .errors import (
    AmbiguousDateError,
    FunnelkitError,
    FunnelkitWarning,
    InputFileError,
    NotMeasurableError,
    ParameterError,
    Reason,
    ReportError,
    SchemaError,
    SmallSampleWarning,
    StageError,
)
from .i18n import get_locale, set_locale
from .load import ADAPTERS, load
from .metrics import (
    SLAResult,
    conversion,
    coverage,
    drift,
    dropoff,
    km_curve,
    lead_value,
    lost_reasons,
    mix_decomposition,
    overall_conversion,
    pipeline,
    plan,
    qualify,
    revenue_change,
    sla,
    stage_durations,
    stalled_deals,
    time_to_close,
    velocity,
    win_rate,
)
from .metrics._engines import get_engine, set_engine
from .report import RunResult, render_report
from .review import Review, review
from .safety import redact_dataset, to_csv_safe, to_excel_safe
from .sample import SampleTruth, generate_sample, write_sample
from .schema import Stages

__version__ = "0.1.0"


def _notebook_display() -> None:
    """Inside IPython, show results formatted by unit (:mod:`funnelkit.display`); elsewhere nothing."""
    import sys

    if "IPython" in sys.modules:
        from .display import register

        register()


_notebook_display()


def __getattr__(name: str):
    # plots imports matplotlib and the engine Ibis (each slow); load them on first use
    if name in ("plots", "plot"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in ("connect", "EngineDataset"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'funnelkit' has no attribute {name!r}")


__all__ = [
    # loading
    "load",
    "ADAPTERS",
    "Dataset",
    "LoadSummary",
    "Stages",
    "generate_sample",
    "write_sample",
    "SampleTruth",
    # canonical tables already in an engine (DuckDB, Spark, Parquet)
    "connect",
    "EngineDataset",
    "set_engine",
    "get_engine",
    # metrics
    "conversion",
    "overall_conversion",
    "dropoff",
    "win_rate",
    "time_to_close",
    "km_curve",
    "stage_durations",
    "lead_value",
    "velocity",
    "drift",
    "mix_decomposition",
    "sla",
    "SLAResult",
    "plan",
    "qualify",
    "revenue_change",
    "pipeline",
    "coverage",
    "stalled_deals",
    "lost_reasons",
    # reports
    "review",
    "Review",
    "render_report",
    "RunResult",
    "plots",
    "plot",
    "redact_dataset",
    "to_csv_safe",
    "to_excel_safe",
    "set_locale",
    "get_locale",
    # errors and warnings
    "FunnelkitError",
    "InputFileError",
    "SchemaError",
    "AmbiguousDateError",
    "StageError",
    "ParameterError",
    "NotMeasurableError",
    "ReportError",
    "Reason",
    "SmallSampleWarning",
    "FunnelkitWarning",
    "__version__",
]
