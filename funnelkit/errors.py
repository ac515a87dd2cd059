"""One exception family for everything funnelkit reports to a user.

Every error names what a sales-ops analyst can act on (the file, line, column,
parameter) and, where it concerns data, carries that data: ``failures`` is a
long DataFrame with one row per failing value, in the same shape as the
quarantine table.
"""

from __future__ import annotations

from enum import StrEnum

import pandas as pd


class Reason(StrEnum):
    """Why a row was quarantined or a value rejected (the quarantine's ``reason``)."""

    BAD_DATE = "bad_date"
    BAD_AMOUNT = "bad_amount"
    BAD_BOOLEAN = "bad_boolean"
    MISSING_ID = "missing_id"
    MISSING_VALUE = "missing_value"
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_ROW = "duplicate_row"
    UNKNOWN_STATUS = "unknown_status"
    RAGGED_ROW = "ragged_row"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    UNKNOWN_STAGE = "unknown_stage"
    DELETED = "deleted_record"
    DUPLICATE_HEADER = "repeated_header_row"
    LOST_DIGITS = "excel_lost_digits"

    def __str__(self) -> str:
        return self.value


class FunnelkitError(Exception):
    """Base class of every error funnelkit raises on purpose.

    Parameters
    ----------
    message : str
        A sentence the user can act on: what is wrong, where, how to fix it.
    failures : pandas.DataFrame, optional
        Long table of failing values (``file, line, column, value, reason``).
    """

    def __init__(self, message: str, *, failures: pd.DataFrame | None = None):
        super().__init__(message)
        self.message = message
        self.failures = failures

    def __str__(self) -> str:
        return self.message


class InputFileError(FunnelkitError):
    """A file cannot be read as an export (missing, empty, not text, bad encoding, ragged)."""


class SchemaError(FunnelkitError):
    """Columns are missing, duplicated or cannot be mapped to the canonical model."""


class AmbiguousDateError(SchemaError):
    """A date column could be day-first or month-first and nothing decides which."""


class StageError(SchemaError):
    """Stage labels in the data are not part of the configured funnel."""


class ParameterError(FunnelkitError, ValueError):
    """A function or report parameter has a wrong name, type or value."""


class NotMeasurableError(FunnelkitError):
    """A measure needs a column, a date or a table that this export does not fill.

    The message says which one is missing and, where there is one, what would
    work instead (another ``start=``, a mapping for the column, another metric).

    Parameters
    ----------
    message : str
    missing : tuple of str
        The funnel or table columns (or tables) whose absence stops the measure.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()):
        super().__init__(message)
        self.missing = tuple(missing)


class ReportError(FunnelkitError):
    """A report run failed (cell error, timeout, dead kernel, unwritable output)."""


class SmallSampleWarning(UserWarning):
    """A rate or statistic rests on so few observations that it is shaky."""


class FunnelkitWarning(UserWarning):
    """Something in the data deserves the analyst's attention but loading went on."""
