"""Metrics that also run inside an engine: ``fk.win_rate(data)`` on a dataset from :func:`funnelkit.connect`."""

from __future__ import annotations

import functools
import os

from ..dataset import Dataset


def runs_on_engines(metric):
    """Let a public metric take a dataset that lives in an engine (DuckDB, Spark; :func:`funnelkit.connect`).

    Such a dataset carries the same metric as a method with the same
    parameters (:class:`funnelkit.engine.EngineDataset`): the call is handed
    to it, so the work runs in the engine and only aggregates come back. The
    module name is checked instead of the class so that a pandas-only session
    never imports Ibis.

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
        if os.environ.get("FUNNELKIT_ENGINE") == "duckdb" and isinstance(data, Dataset):
            from ..engine.memory import in_duckdb

            data = in_duckdb(data)
        if type(data).__module__.startswith("funnelkit.engine"):
            if not args:
                kwargs.pop("data")
            return getattr(data, metric.__name__)(*args[1:], **kwargs)
        return metric(*args, **kwargs)

    return call
