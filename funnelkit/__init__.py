"""funnelkit: funnel analytics for revenue teams.

Load CRM exports into one canonical model, measure the funnel with honest
uncertainty, and render reports leadership can read.

>>> import funnelkit as fk
>>> data = fk.load("data/sample")                       # doctest: +SKIP
>>> fk.win_rate(data, by="source", period="Q")          # doctest: +SKIP
"""

# --- plots and reports (funnelkit/plots.py, funnelkit/report.py) ---
from .dataset import Dataset, LoadSummary
from .errors import (
    AmbiguousDateError,
    FunnelkitError,
    FunnelkitWarning,
    InputFileError,
    ParameterError,
    Reason,
    ReportError,
    SchemaError,
    SmallSampleWarning,
    StageError,
)

# --- loading (funnelkit/load) ---
from .load import ADAPTERS, load

# --- metrics (funnelkit/metrics) ---
from .metrics import (
    SLAResult,
    conversion,
    drift,
    dropoff,
    km_curve,
    lead_value,
    mix_decomposition,
    overall_conversion,
    plan,
    qualify,
    sla,
    stage_durations,
    time_to_close,
    velocity,
    win_rate,
)
from .report import RunResult, render_report
from .review import Review, review
from .safety import redact_dataset, to_csv_safe

# --- sample data (funnelkit/sample.py) ---
from .sample import SampleTruth, generate_sample, write_sample
from .schema import Stages

__version__ = "0.1.0"


def __getattr__(name: str):
    # plots imports matplotlib (slow); load it on first use of fk.plots
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'funnelkit' has no attribute {name!r}")


__all__ = [
    "Review",
    "RunResult",
    "plots",
    "redact_dataset",
    "render_report",
    "review",
    "to_csv_safe",
    "SLAResult",
    "conversion",
    "dropoff",
    "drift",
    "km_curve",
    "lead_value",
    "mix_decomposition",
    "overall_conversion",
    "plan",
    "qualify",
    "sla",
    "stage_durations",
    "time_to_close",
    "velocity",
    "win_rate",
    "SampleTruth",
    "generate_sample",
    "write_sample",
    "ADAPTERS",
    "load",
    "AmbiguousDateError",
    "Dataset",
    "FunnelkitError",
    "FunnelkitWarning",
    "InputFileError",
    "LoadSummary",
    "ParameterError",
    "Reason",
    "ReportError",
    "SchemaError",
    "SmallSampleWarning",
    "StageError",
    "Stages",
    "__version__",
]
