"""Which engine runs the metrics: pandas in process, or DuckDB embedded (and the engines of fk.connect)."""

from __future__ import annotations

import functools
import os

from .. import _params as params
from ..dataset import Dataset
from ..errors import ParameterError

#: engines that can run the metrics of a loaded dataset (``fk.load``); a dataset from ``fk.connect`` runs in its own
ENGINES = ("pandas", "duckdb")
#: DuckDB: at 1M leads the review takes 1.6 s there against 2.4 s in pandas, the headline metrics 0.6 s against 0.7 s
DEFAULT_ENGINE = "duckdb"
_chosen: str | None = None


def set_engine(engine: str | None) -> None:
    """Choose the engine that runs the metrics of loaded datasets for the rest of the session.

    Parameters
    ----------
    engine : {"pandas", "duckdb"} or None
        ``"duckdb"`` hands a loaded dataset's tables to an embedded DuckDB
        (registered once per dataset) and runs each metric there as
        relational expressions; ``"pandas"`` runs them in process. ``None``
        goes back to the ``FUNNELKIT_ENGINE`` environment variable, else
        DuckDB. Both give identical tables (the test suite runs every metric
        test on both). A dataset from :func:`funnelkit.connect` always runs
        in its own engine.

    Raises
    ------
    ParameterError
        For any other name.

    Examples
    --------
    >>> import funnelkit as fk
    >>> fk.set_engine("pandas")
    >>> fk.get_engine()
    'pandas'
    >>> fk.set_engine(None)
    """
    global _chosen
    _chosen = None if engine is None else checked_engine(engine)


def get_engine() -> str:
    """The engine that runs the metrics of loaded datasets: :func:`set_engine`'s, ``FUNNELKIT_ENGINE``, or DuckDB."""
    return _chosen or checked_engine(os.environ.get("FUNNELKIT_ENGINE") or DEFAULT_ENGINE, name="FUNNELKIT_ENGINE")


def checked_engine(engine, *, name: str = "engine") -> str:
    text = str(engine).strip().casefold()
    if text not in ENGINES:
        raise ParameterError(f"{name} must be one of {list(ENGINES)}; got {engine!r}")
    return text


def runs_on_engines(metric):
    """Let a public metric run in an engine: a dataset from :func:`funnelkit.connect`, or DuckDB by choice.

    A dataset from ``fk.connect`` carries the same metric as a method with
    the same parameters (:class:`funnelkit.engine.EngineDataset`): the call is
    handed to it, so the work runs in the engine and only aggregates come
    back. With :func:`set_engine` ``("duckdb")`` a loaded dataset is first
    handed to an embedded DuckDB. The module name is checked instead of the
    class so that a pandas-only session never imports Ibis.

    Examples
    --------
    >>> @runs_on_engines
    ... def win_rate(data, *, by=None):
    ...     return "pandas"
    >>> win_rate(object())
    'pandas'
    """

    @functools.wraps(metric)
    def call(*args, **kwargs):
        data = args[0] if args else kwargs.get("data")
        if isinstance(data, Dataset) and get_engine() == "duckdb":
            from ..engine.memory import in_duckdb

            if kwargs.get("by") is not None:
                params.by(data, kwargs["by"])  # checked on the pandas tables: a cell holding a dict names no group
            data = in_duckdb(data)
        if type(data).__module__.startswith("funnelkit.engine"):
            if not args:
                kwargs.pop("data")
            return getattr(data, metric.__name__)(*args[1:], **kwargs)
        return metric(*args, **kwargs)

    return call
