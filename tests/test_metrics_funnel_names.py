"""Metrics name funnel columns through the declaration in ``funnelkit/funnel.py``, never as quoted literals."""

from __future__ import annotations

import ast
from pathlib import Path

import funnelkit
from funnelkit import funnel

METRICS_DIR = Path(funnelkit.__file__).parent / "metrics"

#: Result columns that only share a name with a funnel column: (file, literal) -> why.
ALLOWED = {
    ("sla.py", "status"): "the SLA delivery table's verdict (under / within / over), not a lead's CRM status",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def funnel_literals(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string constant in ``source`` equal to a funnel column name, docstrings aside."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
        if id(node) not in docs
    ]


def test_the_scan_catches_a_planted_literal_and_spares_docstrings():
    names = {c.name for c in funnel.COLUMNS}
    planted = 'def f(frame):\n    """Uses ``is_won`` ("is_won")."""\n    return frame["is_won"], frame[k], f"{x}_at"\n'
    assert funnel_literals(planted, names) == [(3, "is_won")]


def test_metrics_name_no_funnel_column_as_a_literal():
    names = {c.name for c in funnel.COLUMNS}
    assert {"is_won", "closed_at", "opportunity_created_at", "amount", "entity_id"} <= names
    files = sorted(METRICS_DIR.glob("*.py"))
    # the scan must see the metrics themselves, or it would pass on nothing
    assert {"conversion.py", "win_rate.py", "time_to_close.py", "drift.py", "_common.py"} <= {p.name for p in files}
    found = {}
    for path in files:
        for line, literal in funnel_literals(path.read_text(encoding="utf-8"), names):
            found.setdefault((path.name, literal), []).append(line)
    offending = {key: lines for key, lines in found.items() if key not in ALLOWED}
    assert not offending, f"use the constants of funnelkit/funnel.py instead of these literals: {offending}"
    # an allowance nobody needs any more is removed, not kept
    assert set(ALLOWED) <= set(found)
