"""The engine under the kit: the funnel view and the metrics as relational (Ibis) expressions.

One expression runs unchanged on DuckDB (embedded, the default), on Spark and
on the warehouses Ibis reaches; rows stay in the engine and only small
aggregates (counts per stage, group and period; per-duration counts for
Kaplan-Meier; sums per currency) come back, where :mod:`funnelkit.stats`
turns them into rates with intervals.

>>> import funnelkit as fk
>>> data = fk.connect("warehouse/funnel")      # doctest: +SKIP
>>> data.conversion(by="source", period="Q")   # doctest: +SKIP
"""

from .dataset import EngineDataset, connect
from .funnel import funnel, status_positions

__all__ = ["EngineDataset", "connect", "funnel", "status_positions"]
