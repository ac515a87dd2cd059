"""The ``funnelkit`` command: a thin layer over one library call per sub-command.

Exit codes: 0 success, 1 a funnelkit error (bad data, a bad report parameter, a failed report), 2 usage,
143 a report run stopped by SIGTERM (recorded as killed in its run.json and the index first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import FunnelkitError


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _cmd_validate(args: argparse.Namespace) -> int:
    from .load import load
    from .report._data import is_tables

    if len(args.paths) == 1 and is_tables(args.paths[0], args.source):
        return _validate_tables(args)
    data = load(
        *args.paths,
        source=args.source,
        mapping=args.mapping,
        date_order=args.date_order,
        tz=args.tz,
        cache=False,
    )
    print(f"Loaded {data!r}\n")
    print(data.summary)
    for note in data.notes:
        print(f"note: {note}")
    if len(data.quarantine):
        print(f"\n{len(data.quarantine):,} values quarantined; the first {min(args.show, len(data.quarantine))}:")
        print(data.quarantine.head(args.show).to_string(index=False))
    return 0


def _validate_tables(args: argparse.Namespace) -> int:
    """Canonical tables read in place (as ``funnelkit report`` reads them): their rows, and what was checked."""
    from .engine import connect
    from .report._data import check_options

    given_date_order = None if args.date_order == "auto" else args.date_order
    given_tz = None if args.tz == "UTC" else args.tz
    check_options(args.paths[0], source=args.source, mapping=args.mapping, date_order=given_date_order, tz=given_tz)
    data = connect(Path(args.paths[0]))
    print(f"Read in place: {data!r}\n")
    print(data.table_rows.to_string(index=False))
    print(
        "\nNo export file was parsed, so nothing was quarantined; the tables' required columns were checked "
        "and their dates are typed timestamps, read as UTC."
    )
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .sample import write_sample

    paths = write_sample(args.leads, args.out, format=args.format, seed=args.seed)
    for path in paths:
        print(path)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import render_report

    result = render_report(
        args.notebook,
        data=args.data,
        out=args.out,
        parameters=dict(args.parameter),
        name=args.name,
        timeout=args.timeout,
        private=args.private,
    )
    print(result.html_path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="funnelkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="load exports and print the row accounting")
    validate.add_argument(
        "paths", nargs="+", type=Path, help="export files or folders; or one folder of canonical tables (read in place)"
    )
    validate.add_argument("--source", default="auto", help="adapter name (default: detect)")
    validate.add_argument("--mapping", type=Path, help="column mapping file (YAML or JSON)")
    validate.add_argument(
        "--date-order",
        choices=["auto", "mdy", "dmy", "ymd"],
        default="auto",
        help="how to read dates like 03/04/2025 (default: detect, fail if undecidable)",
    )
    validate.add_argument("--tz", default="UTC", help="time zone of naive timestamps (default UTC)")
    validate.add_argument("--show", type=int, default=20, help="quarantined rows to print")
    validate.set_defaults(run=_cmd_validate)

    sample = sub.add_parser("sample", help="write a realistic generated CRM export")
    sample.add_argument("--leads", type=int, default=5000)
    sample.add_argument("--format", choices=["salesforce", "hubspot"], default="salesforce")
    sample.add_argument("--out", type=Path, required=True)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=_cmd_sample)

    report = sub.add_parser("report", help="execute a report notebook and render HTML")
    report.add_argument(
        "notebook",
        nargs="?",
        default="notebooks/funnel_review.ipynb",
        type=Path,
        help="notebook to run (default: notebooks/funnel_review.ipynb)",
    )
    report.add_argument(
        "--data",
        required=True,
        type=Path,
        help="export file or folder; or a folder of canonical tables (Parquet, Delta Lake) or a DuckDB file, "
        "read in place",
    )
    report.add_argument("--out", default=Path("reports"), type=Path, help="reports folder")
    report.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        type=_parameter,
        metavar="NAME=VALUE",
        help="notebook parameter (name and type checked against the notebook's parameters cell, "
        "the value against its allowed values and the data, before any kernel starts); "
        "-p lang=zh-CN (zh-TW, tr; default en) writes the report in that language",
    )
    report.add_argument(
        "--name",
        help="report name: its folder in --out and what latest.html belongs to "
        "(default: NOTEBOOK--DATA, e.g. funnel_review--sample)",
    )
    report.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    report.add_argument(
        "--private",
        action="store_true",
        help="files of the run readable by you only (0600, folder 0700); default: as your umask gives",
    )
    report.add_argument("--format", choices=["html"], default="html")
    report.set_defaults(run=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FunnelkitError as exc:
        print(f"funnelkit {args.command}: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)  # 143 for a report stopped by SIGTERM


if __name__ == "__main__":
    sys.exit(main())
