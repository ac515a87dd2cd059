"""Any CSV or Excel file, read through an explicit column mapping (dict, YAML or JSON file).

A mapping names, per canonical table, which export column feeds which
canonical column, plus optional funnel stages and reading options::

    tables:
      opportunities:
        columns:                  # canonical column: export header
          opportunity_id: opportunity_id
          owner: sales_agent
          stage_label: deal_stage
          engaging_at: engage_date   # a custom stage's entry date
          closed_at: close_date
          amount: close_value
        currency: USD             # when the file has no currency column
    stages:
      names: [prospecting, engaging, won]
      opportunity: prospecting
      labels: {Prospecting: prospecting, Engaging: engaging, Won: won, Lost: lost}
    date_order: ymd               # auto | mdy | dmy | ymd
    tz: UTC
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from ..errors import ParameterError, SchemaError
from .base import TABLE_KINDS, Adapter, register

MAPPING_KEYS = {"tables", "stages", "date_order", "tz", "currency", "source"}
TABLE_KEYS = {"columns", "currency", "file"}


def read_mapping(mapping: Mapping | str | Path | None) -> dict:
    """Load and check a mapping given as a dict or a YAML/JSON file path."""
    if mapping is None:
        return {}
    if isinstance(mapping, (str, Path)):
        path = Path(mapping)
        if not path.exists():
            raise ParameterError(f"mapping file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        try:
            config = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise SchemaError(f"{path}: the mapping file cannot be parsed: {exc}") from None
        source = str(path)
    else:
        config, source = dict(mapping), "mapping"
    if not isinstance(config, Mapping):
        raise SchemaError(f"{source}: a mapping must be a dictionary with a 'tables' section")
    unknown = set(config) - MAPPING_KEYS
    if unknown:
        raise SchemaError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(MAPPING_KEYS)}")
    tables = config.get("tables") or {}
    for kind, table in tables.items():
        if kind not in TABLE_KINDS:
            raise SchemaError(f"{source}: table {kind!r} is not one of {list(TABLE_KINDS)}")
        if not isinstance(table, Mapping) or not isinstance(table.get("columns"), Mapping):
            raise SchemaError(f"{source}: table {kind!r} needs a 'columns' dictionary (canonical: header)")
        extra = set(table) - TABLE_KEYS
        if extra:
            raise SchemaError(
                f"{source}: table {kind!r} has unknown keys {sorted(extra)}; allowed: {sorted(TABLE_KEYS)}"
            )
    return dict(config)


@register
class Mapped(Adapter):
    """An export read through a user's column mapping (``mapping=`` in :func:`funnelkit.load`)."""

    name = "mapped"

    def __init__(self, config: Mapping | None = None):
        config = config or {}
        self.config = config
        # instance attribute shadows the class-level declaration
        self.columns = {
            kind: {header: canonical for canonical, header in table["columns"].items()}
            for kind, table in (config.get("tables") or {}).items()
        }
        self.signature = {}

    def table_currency(self, kind: str) -> str | None:
        table = (self.config.get("tables") or {}).get(kind, {})
        return table.get("currency", self.config.get("currency"))
