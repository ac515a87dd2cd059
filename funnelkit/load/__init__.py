"""Loading CRM exports: one adapter module per CRM, registered by name.

``funnelkit.load(...)`` detects each file's adapter from its headers (or uses
``source=`` / ``mapping=``), types every column, quarantines bad rows with
their file, line, column and reason, and assembles the canonical Dataset.
"""

from . import hubspot, mapped, pipedrive, salesforce  # noqa: F401  (register the adapters)
from ._load import load
from .base import ADAPTERS, Adapter, register

__all__ = ["ADAPTERS", "Adapter", "load", "register"]
