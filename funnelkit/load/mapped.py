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
        constants:                # one value for every row, when the file has no column for it
          stage_label: Won        # (e.g. an export of won deals only; "stage: Won" also works)
        file: "deals*.csv"        # which files of a folder hold this table (others are left out)
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
from dataclasses import replace
from pathlib import Path

import yaml

from .. import schema as s
from ..errors import ParameterError, SchemaError
from .base import (
    HISTORY,
    LEADS,
    OPPORTUNITIES,
    OUTCOME,
    REQUIRED,
    TABLE_KINDS,
    Adapter,
    Context,
    Role,
    normalise_header,
    register,
)

MAPPING_KEYS = {"tables", "stages", "date_order", "tz", "currency", "source"}
TABLE_KEYS = {"columns", "currency", "file", "constants"}


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
    """An export read through a user's column mapping (``mapping=`` in :func:`funnelkit.load`).

    The mapping is the file's contract: every column it names must be in the
    file (a renamed header is a SchemaError, never an empty column), plus an id
    and, for opportunities, a stage or won/closed flags, from a column or from
    a constant (``constants: {stage_label: Won}`` for a file of won deals).
    One export column may feed several canonical columns.
    """

    name = "mapped"
    close_date_when_open = "the mapping's stage column says the deal is still open"

    def __init__(self, config: Mapping | None = None):
        self.config = dict(config or {})
        self.tables = {kind: dict(table) for kind, table in (self.config.get("tables") or {}).items()}
        # instance attributes shadow the class-level declarations: headers as declared, for scoring
        self.columns = {kind: {header: canonical for canonical, header in t["columns"].items()}
                        for kind, t in self.tables.items()}  # fmt: skip
        self.signature = {}
        self.required = {kind: self._contract(kind) for kind in self.tables}

    def _contract(self, kind: str) -> tuple[Role, ...]:
        named = tuple(Role.of(f"{canonical} column", canonical) for canonical in self.tables[kind]["columns"])
        essential = {
            LEADS: (Role.of("lead id", s.LEAD_ID),),
            OPPORTUNITIES: (Role.of("opportunity id", s.OPPORTUNITY_ID), OUTCOME),
            HISTORY: REQUIRED[HISTORY],
        }[kind]
        return essential + named

    def header_map(self, kind: str, headers: list[str]) -> dict[str, str]:
        present = {normalise_header(h): h for h in reversed(headers)}
        wanted = self.tables.get(kind, {}).get("columns", {})
        return {c: present[normalise_header(h)] for c, h in wanted.items() if normalise_header(h) in present}

    def aliases_of(self, kind: str, canonical: str) -> tuple[str, ...]:
        header = self.tables.get(kind, {}).get("columns", {}).get(canonical)
        return (header,) if header else ()

    def kind_for(self, path: Path, headers: list[str]) -> str | None:
        """The table whose ``file:`` pattern the file matches; the only table; else by headers.

        When the mapping gives ``file:`` patterns, a file matching none of them
        is not part of the load (None).
        """
        patterns = {kind: t["file"] for kind, t in self.tables.items() if t.get("file")}
        for kind, pattern in patterns.items():
            if path.match(pattern):
                return kind
        if patterns:
            return None
        if len(self.tables) == 1:
            return next(iter(self.tables))
        return self.score(headers)[1]

    def context_for(self, kind: str, ctx: Context) -> Context:
        currency = self.tables.get(kind, {}).get("currency", self.config.get("currency"))
        return replace(ctx, currency=currency or ctx.currency)

    def constants(self, kind: str) -> dict[str, str]:
        given = dict(self.tables.get(kind, {}).get("constants") or {})
        if "stage" in given:  # the readable spelling of "every row is in this stage"
            given.setdefault(s.STAGE_LABEL, given.pop("stage"))
        return given
