"""The MQL-definition workbench on the engine: a candidate rule's volume and yield, counted per period there.

A rule written as text (``"employees >= 100 and source != 'Trade Show'"``,
the pandas query syntax :func:`funnelkit.qualify` takes) is translated into
an engine expression with pandas' meaning of a missing value: a comparison
with a missing value is false, except ``!=`` and ``not in``, which are true.
"""

from __future__ import annotations

import ast
import io
import operator
import tokenize
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from .. import _params as params
from ..errors import NotMeasurableError, ParameterError
from ..metrics.qualify import qualify_table
from ..schema import stage_column
from ._common import fetch, reached
from .periods import period_label

if TYPE_CHECKING:
    from .dataset import EngineDataset


@params.renamed(mql_stage="stage")
def qualify(
    data: EngineDataset, rule, *, period: str = params.DEFAULT_PERIOD, stage: str = "mql", fiscal_year_start: int = 1
) -> pd.DataFrame:
    """:func:`funnelkit.qualify` on the engine: the same options, checks, columns, numbers, notes and units.

    ``rule`` is the same text as on a loaded dataset (comparisons, ``and``,
    ``or``, ``not``, ``in``, arithmetic over the funnel's columns), or a
    function taking the engine's lead table (an Ibis table) and returning a
    boolean column expression.

    Examples
    --------
    >>> data = fk.connect("warehouse/funnel")                      # doctest: +SKIP
    >>> data.qualify("employees >= 100 and source != 'Trade Show'")  # doctest: +SKIP
    """
    p = params.check_options(data, what="qualify()", period=params.period(period, required=True), stage=stage,
                             fiscal_year_start=fiscal_year_start)  # fmt: skip
    period, mql_stage, fiscal_year_start = p.period, p.stage, p.fiscal_year_start
    f = data.funnel_table
    leads = f.filter(f["entity"] == "lead")
    if not int(fetch(leads.aggregate(n=leads.count()))["n"].iloc[0]):
        raise NotMeasurableError(
            "qualify() tries an MQL rule on leads, and this export has none (opportunities only): load the leads",
            missing=("leads",),
        )
    mask = rule_mask(leads, rule)
    first = stage_column(data.stages.first)
    definitions = {
        "rule": (mask, leads[first]),
        "current": (reached(leads, data.stages, mql_stage), leads[stage_column(mql_stage)]),
    }
    counts = {}
    for name, (selected, when) in definitions.items():
        chosen = leads.filter(selected)
        label = period_label(chosen[when.get_name()], period, fiscal_year_start=fiscal_year_start)
        counts[name] = fetch(
            chosen.group_by(period=label).aggregate(
                leads=chosen.count(),
                opportunities=reached(chosen, data.stages, data.stages.opportunity).cast("int64").sum(),
                won=chosen["is_won"].cast("int64").sum(),
            )
        )
    return qualify_table(counts, first=first, mql_stage=mql_stage)


def rule_mask(leads: ir.Table, rule) -> ir.BooleanValue:
    """The leads a rule selects, as an engine expression (never missing: a missing answer is no)."""
    try:
        if isinstance(rule, str):
            mask = _Translate(leads).visit(ast.parse(_pandas_booleans(rule), mode="eval").body)
        else:
            mask = rule(leads)
        if not isinstance(mask, ir.BooleanValue):
            raise TypeError(f"the rule gives {type(mask).__name__}, not a true/false value per lead")
    except Exception as exc:  # a bad expression fails in many ways: each said the same way
        raise ParameterError(f"the rule {rule!r} cannot be evaluated on the lead table: {exc}") from None
    return ibis.coalesce(mask, False)


def _pandas_booleans(rule: str) -> str:
    """``&`` and ``|`` read as ``and`` and ``or`` (below comparisons), as pandas' query parser reads them."""
    tokens = tokenize.generate_tokens(io.StringIO(rule.strip()).readline)
    words = {"&": " and ", "|": " or "}
    # put back in place, so the columns of the other tokens (and the rule's spacing) stay as written
    return tokenize.untokenize(
        (kind, words.get(text, text) if kind == tokenize.OP else text, *where) for kind, text, *where in tokens
    )


_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}  # fmt: skip
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.Mod: operator.mod, ast.Pow: operator.pow}  # fmt: skip


class _Translate(ast.NodeVisitor):
    """The pandas query syntax over a table's columns, as an Ibis expression."""

    def __init__(self, table: ir.Table):
        self.table = table

    def generic_visit(self, node):
        raise SyntaxError(f"{ast.unparse(node)!r} is not supported in a rule on an engine")

    def visit_Name(self, node):
        if node.id not in self.table.columns:
            raise NameError(f"name {node.id!r} is not defined")
        return self.table[node.id]

    def visit_Constant(self, node):
        return node.value

    def visit_List(self, node):
        return [self.visit(item) for item in node.elts]

    visit_Tuple = visit_List

    def visit_BoolOp(self, node):
        values = [self.visit(v) for v in node.values]
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        out = values[0]
        for value in values[1:]:
            out = combine(out, value)
        return out

    def visit_UnaryOp(self, node):
        value = self.visit(node.operand)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            return ~value
        if isinstance(node.op, ast.USub):
            return -value
        return value

    def visit_BinOp(self, node):
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.BitAnd):
            return left & right
        if isinstance(node.op, ast.BitOr):
            return left | right
        if type(node.op) in _ARITHMETIC:
            return _ARITHMETIC[type(node.op)](left, right)
        return self.generic_visit(node)

    def visit_Compare(self, node):
        out, left = None, self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            if isinstance(op, (ast.In, ast.NotIn)):
                values = right if isinstance(right, list) else [right]
                test = ibis.coalesce(left.isin(values), False)
                test = ~test if isinstance(op, ast.NotIn) else test
            elif type(op) in _COMPARE:
                # pandas: a missing value equals nothing and differs from everything
                test = ibis.coalesce(_COMPARE[type(op)](left, right), isinstance(op, ast.NotEq))
            else:
                return self.generic_visit(node)
            out = test if out is None else out & test
            left = right
        return out
