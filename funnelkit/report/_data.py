"""The data a report notebook reports on: a CRM export funnelkit loads, or canonical tables read in place.

Every report notebook opens its data with one call, :func:`open_data`, and the
runner's parameter checks open it the same way, so the two can never differ.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ParameterError

#: ``source=`` for canonical tables read in place by the engine (:func:`funnelkit.connect`), not loaded
TABLES = "tables"

#: the options of :func:`funnelkit.load` that read text, and so have no meaning for typed tables
_TEXT_OPTIONS = ("mapping", "date_order", "tz")


def open_data(
    data_path,
    *,
    source: str = "auto",
    mapping=None,
    as_of=None,
    currency=None,
    date_order=None,
    tz=None,
    redact: bool = False,
):
    """The dataset of a report: an export loaded with :func:`funnelkit.load`, or tables read in place.

    Parameters
    ----------
    data_path : str or Path
        An export file or folder; or, with ``source="tables"``, a folder of
        funnelkit's canonical tables (``leads`` and ``opportunities``, and
        optionally ``history``: Parquet files or folders, or Delta Lake tables)
        or a DuckDB database file holding them.
    source : str
        An adapter name, ``"auto"`` (an adapter chosen by the export's columns;
        a folder holding no export and canonical tables, or a DuckDB file, is
        read in place as ``"tables"``), or ``"tables"``.
    mapping, date_order, tz : optional
        As :func:`funnelkit.load`; they read text, so tables refuse them.
    as_of : date-like, optional
    currency : str, optional
        As :func:`funnelkit.load` for an export. Tables say each amount's
        currency themselves: there it is only the quota's currency, which the
        notebook passes on.
    redact : bool
        Replace people's names, e-mails and phone numbers with stable
        pseudonyms (:func:`funnelkit.redact_dataset`). Tables read in place
        never come to Python row by row, so they cannot be redacted here:
        refused.

    Returns
    -------
    Dataset or EngineDataset
        Empty strings count as not given (a notebook's ``mapping = ""``).

    Raises
    ------
    ParameterError
        An option tables cannot honour (:func:`check_options`); what the path
        holds raises as :func:`funnelkit.load` or :func:`funnelkit.connect` do.

    Examples
    --------
    >>> data = open_data("data/sample")
    >>> type(data).__name__
    'Dataset'
    """
    given = {"mapping": mapping, "date_order": date_order, "tz": tz, "as_of": as_of, "currency": currency}
    given = {name: None if is_empty(value) else value for name, value in given.items()}
    if is_tables(data_path, source):
        check_options(data_path, source=source, redact=redact, **given)
        from ..engine import connect

        return connect(Path(data_path), as_of=given["as_of"])
    from ..load import load
    from ..safety import redact_dataset

    data = load(data_path, source=source, **given)
    return redact_dataset(data) if redact else data


def is_tables(data_path, source: str = "auto") -> bool:
    """Whether :func:`open_data` reads ``data_path`` in place as canonical tables (``source`` ``"tables"``, or
    ``"auto"`` on a DuckDB database file, or a folder holding no export and some canonical table)."""
    if source == TABLES:
        return True
    if source != "auto":
        return False
    from ..load._load import DATA_SUFFIXES  # the engine (and Ibis) is imported only where tables may be

    path = Path(data_path)
    if path.is_file():
        if path.suffix.lower() in DATA_SUFFIXES:
            return False
        from ..engine.source import DUCKDB_SUFFIXES

        return path.suffix.lower() in DUCKDB_SUFFIXES
    if not path.is_dir() or any(p.is_file() and p.suffix.lower() in DATA_SUFFIXES for p in path.iterdir()):
        return False
    from ..engine.source import tables_in

    return bool(tables_in(path))  # any canonical table: connect then says which one is missing


def check_options(data_path, *, source: str = "auto", redact: bool = False, **options) -> None:
    """Refuse, for tables read in place (:func:`is_tables`), the options of :func:`open_data` they cannot honour:
    those that read an export's text (``mapping``, ``date_order``, ``tz``), and ``redact``.

    Raises
    ------
    ParameterError
        Naming the option and why; nothing for an export.
    """
    if not is_tables(data_path, source):
        return
    refused = [name for name in _TEXT_OPTIONS if not is_empty(options.get(name))]
    if refused:
        raise ParameterError(
            f"{' and '.join(refused)}: {Path(data_path).name} is read in place as canonical tables, whose columns "
            "are named and whose dates are typed already, and there is no export text to read; leave it empty"
        )
    if redact:
        raise ParameterError(
            f"redact: {Path(data_path).name} is read in place as tables, whose rows never come to Python, so "
            "funnelkit cannot replace the names in them; redact them where they live, or report on an export"
        )


def is_empty(value) -> bool:
    """Whether a parameter's value means "not given": None, or text of spaces only (a notebook's ``mapping = ""``)."""
    return value is None or (isinstance(value, str) and not value.strip())
