"""One module per question a revenue team asks of its funnel.

Every function takes the loaded :class:`~funnelkit.Dataset` and keyword-only
options, and returns a tidy DataFrame (or a small result object holding
them) whose columns are listed in its docstring.
"""

from ._common import period_labels
from .conversion import conversion, dropoff, overall_conversion
from .drift import drift, mix_decomposition
from .lead_value import lead_value
from .lost_reasons import lost_reasons
from .pipeline import coverage, pipeline, stalled_deals
from .plan import plan
from .qualify import qualify
from .sla import SLAResult, sla
from .time_to_close import km_curve, stage_durations, time_to_close
from .velocity import velocity
from .win_rate import win_rate

__all__ = [
    "SLAResult",
    "conversion",
    "coverage",
    "dropoff",
    "drift",
    "km_curve",
    "lead_value",
    "lost_reasons",
    "mix_decomposition",
    "overall_conversion",
    "pipeline",
    "period_labels",
    "plan",
    "qualify",
    "sla",
    "stage_durations",
    "stalled_deals",
    "time_to_close",
    "velocity",
    "win_rate",
]
