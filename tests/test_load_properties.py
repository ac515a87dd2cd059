"""Property-based tests of loading: rows balance, or a funnelkit error says why."""

from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnelkit as fk

HEADER = ["id", "status", "add_time", "value", "currency", "org_name"]

cell_text = st.one_of(
    st.sampled_from(["", " ", "won", "lost", "open", "abc", "=cmd()", "1,5", '"', "\n", "€", "(12.00)"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)
dates = st.one_of(
    st.dates(min_value=pd.Timestamp("1985-01-01").date(), max_value=pd.Timestamp("2030-12-31").date()).map(
        lambda d: d.isoformat()
    ),
    st.sampled_from(["", "13/13/2025", "2025-02-30", "01/02/2025", "31/12/2024", "not a date", "2999-01-01"]),
)
amounts = st.one_of(
    st.floats(min_value=-1e7, max_value=1e7, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["", "USD 1,234.00", "$1.234,50", "abc", "(5)", "1e3"]),
)
rows = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 40).map(str), st.just(""), st.just(" 7 ")),
        st.sampled_from(["won", "lost", "open", "WON", "weird"]),
        dates,
        amounts,
        st.sampled_from(["", "USD", "EUR", "usd"]),
        cell_text,
    ),
    max_size=25,
)


def to_csv(records, *, ragged_every: int = 0) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for i, record in enumerate(records):
        record = list(record)
        if ragged_every and i % ragged_every == 0:
            record = record[:-1]
        writer.writerow(record)
    return buffer.getvalue().encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=rows, ragged_every=st.integers(0, 5))
def test_rows_always_balance_or_a_funnelkit_error_explains(tmp_path_factory, records, ragged_every):
    path = tmp_path_factory.mktemp("prop") / "deals.csv"
    path.write_bytes(to_csv(records, ragged_every=ragged_every))
    try:
        data = fk.load(path, source="pipedrive", date_order="mdy", cache=False)
    except fk.FunnelkitError:
        return  # a clear, typed error is an acceptable outcome; anything else fails the test
    row = data.summary.table.iloc[0]
    assert row["rows_read"] == len(records)
    assert row["rows_read"] == row["rows_kept"] + row["rows_quarantined"]
    assert len(data.opportunities) == row["rows_kept"]
    quarantined_lines = data.quarantine["line"].nunique()
    assert quarantined_lines == row["rows_quarantined"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_a_bare_exception(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("bytes") / "export.csv"
    path.write_bytes(content)
    try:
        data = fk.load(path, cache=False)
    except fk.FunnelkitError:
        return
    assert data.summary.balanced


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=rows, seed=st.integers(0, 10_000))
def test_shuffling_rows_changes_no_count(tmp_path_factory, records, seed):
    records = [r for r in records if r[0].strip()]
    folder = tmp_path_factory.mktemp("shuffle")
    (folder / "a.csv").write_bytes(to_csv(records))
    shuffled = pd.Series(range(len(records))).sample(frac=1, random_state=seed).tolist()
    (folder / "b.csv").write_bytes(to_csv([records[i] for i in shuffled]))
    try:
        a = fk.load(folder / "a.csv", source="pipedrive", date_order="mdy", cache=False)
        b = fk.load(folder / "b.csv", source="pipedrive", date_order="mdy", cache=False)
    except fk.FunnelkitError:
        return
    ra, rb = a.summary.table.iloc[0], b.summary.table.iloc[0]
    assert (ra["rows_kept"], ra["rows_quarantined"]) == (rb["rows_kept"], rb["rows_quarantined"])
    # which duplicate is kept depends on order, and so whether a later one repeats it exactly or
    # conflicts with it; the number of repeated ids and the set of ids do not
    same_family = {"duplicate_row": "duplicate_id"}
    assert sorted(a.quarantine["reason"].replace(same_family)) == sorted(b.quarantine["reason"].replace(same_family))
    assert set(a.opportunities["opportunity_id"]) == set(b.opportunities["opportunity_id"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1000), cut=st.floats(0.1, 0.9))
def test_splitting_an_export_into_two_files_changes_no_metric(tmp_path_factory, seed, cut):
    truth = fk.generate_sample(400, seed=seed)
    whole = tmp_path_factory.mktemp("whole")
    fk.write_sample(truth, whole, format="salesforce")
    split = tmp_path_factory.mktemp("split")
    for name in ("leads.csv", "opportunities.csv"):
        lines = (whole / name).read_bytes().decode("utf-8").split("\n")
        header, body = lines[0], [line for line in lines[1:] if line.startswith('"00')]
        k = int(len(body) * cut)
        for part, rows in (("a", body[:k]), ("b", body[k:])):
            (split / f"{part}_{name}").write_text("\n".join([header, *rows]) + "\n")
    a = fk.load(whole, date_order="mdy", cache=False)  # a small part may hold only ambiguous dates
    b = fk.load(split, date_order="mdy", cache=False)
    assert a.summary.table["rows_kept"].sum() == b.summary.table["rows_kept"].sum()
    for metric in (
        lambda d: fk.conversion(d, by="source"),
        lambda d: fk.win_rate(d, period="Q"),
        lambda d: fk.time_to_close(d),
        lambda d: fk.lead_value(d),
    ):
        pd.testing.assert_frame_equal(metric(a), metric(b))
