"""Real events: id mapping, timestamp formats, quarantine reasons, row accounting, source choice."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from recsys.catalog.csv_records import MAX_FIELD_CHARS
from recsys.catalog.schema import QUARANTINE_SCHEMA
from recsys.interactions import INTERACTION_SCHEMA, SimulatorSettings, build_interactions, read_events
from recsys.interactions.events import parse_timestamps
from recsys.interactions.quality import interaction_problems, systemic_faults

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)
PRODUCTS = pl.DataFrame({
    "product_id": ["myntra_styles:100", "myntra_styles:200", "asos:200", "asos:300"],
    "source": ["myntra_styles", "myntra_styles", "asos", "asos"],
    "source_id": ["100", "200", "200", "300"],
    "gender": ["Men", "Women", None, None], "category": ["Apparel"] * 4, "article_type": ["Tshirts"] * 4,
    "colour": ["Black"] * 4, "usage": ["Casual"] * 4,
})

CSV = """user_id,product_id,event,ts,value
u1,myntra_styles:100,click,2024-03-01T10:00:00Z,
u1,100,Add To Cart,2024-03-01 10:05:00,
u1,myntra_styles:100,rating,2024-03-02,4
u1,myntra_styles:100,rating,2024-03-03,9
u2,nope,click,2024-03-01T10:00:00+02:00,
u2,300,click,yesterday,
u2,300,click,1709287200,
u2,asos:300,click,1709287200000,
u2,200,click,1709287200,
,300,click,1709287200,
u3,300,click,1709287200,abc
u3,300,click,1709287200,1,extra
u3,300,,1709287200
u3,300,view,1890-01-01
u3,300,view,2024-03-04T08:00:00.250+01:00
u3,,view,2024-03-04
u3,300,rating,2024-03-05,
"""

EXPECTED_REASONS = {
    5: "rating out of scale", 6: "unknown product", 7: "bad timestamp", 9: "duplicate event",
    10: "ambiguous product id", 11: "missing user_id", 12: "bad value", 13: "wrong field count",
    14: "missing event", 15: "bad timestamp", 17: "missing product_id", 18: "missing rating value",
}


@pytest.fixture
def events_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "raw" / "events"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(CSV)
    pl.DataFrame({
        "user_id": ["p1", "p1", "p2"],
        "product_id": ["asos:300", "asos:999", "myntra_styles:200"],
        "event": ["purchase", "click", "click"],
        "ts": [datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 1, 3, tzinfo=timezone.utc)],
    }).with_columns(pl.col("ts").dt.replace_time_zone(None)).write_parquet(folder / "b.parquet")
    return folder


def test_every_record_is_an_interaction_or_a_quarantine_row(events_dir):
    result = read_events(events_dir, PRODUCTS, now=NOW)
    assert result.files == {"events/a.csv": 17, "events/b.parquet": 3}
    assert result.accounting_balanced()
    assert result.interactions.schema == pl.Schema(INTERACTION_SCHEMA)
    assert result.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert set(result.quarantine["source"]) == {"events"}


def test_quarantine_reasons_point_at_the_lines(events_dir):
    quarantine = read_events(events_dir, PRODUCTS, now=NOW).quarantine
    csv_rows = quarantine.filter(pl.col("file") == "events/a.csv")
    reasons = dict(zip(csv_rows["line"].to_list(), csv_rows["reason"].to_list()))
    assert set(reasons) == set(EXPECTED_REASONS)
    for line, reason in EXPECTED_REASONS.items():
        assert reasons[line].startswith(reason), (line, reasons[line])
    assert "line 8" in reasons[9]                     # the duplicate names the row it duplicates
    assert "matches 2 products" in reasons[10]
    parquet_rows = quarantine.filter(pl.col("file") == "events/b.parquet")
    assert parquet_rows["line"].to_list() == [2] and parquet_rows["reason"][0].startswith("unknown product")
    assert csv_rows.filter(pl.col("line") == 11)["raw"][0] == ",300,click,1709287200,"


def test_kept_events_are_mapped_and_normalised(events_dir):
    kept = read_events(events_dir, PRODUCTS, now=NOW).interactions
    rows = {(r["user_id"], r["event"], r["ts"].isoformat()): r for r in kept.iter_rows(named=True)}
    assert rows[("u1", "add_to_cart", "2024-03-01T10:05:00+00:00")]["product_id"] == "myntra_styles:100"
    assert rows[("u1", "rating", "2024-03-02T00:00:00+00:00")]["value"] == 4.0
    assert rows[("u2", "click", "2024-03-01T10:00:00+00:00")]["product_id"] == "asos:300"     # epoch seconds
    assert rows[("u3", "view", "2024-03-04T07:00:00.250000+00:00")]["product_id"] == "asos:300"  # offset applied
    assert rows[("p1", "purchase", "2024-01-01T00:00:00+00:00")]["value"] == 1.0             # naive = UTC
    assert set(kept["origin"]) == {"real"}
    assert not any(interaction_problems(kept, PRODUCTS["product_id"]).values())


def test_timestamp_formats():
    texts = pl.DataFrame({"ts": ["2024-03-01T10:00:00Z", "2024-03-01 10:00", "2024-03-01", "1709287200",
                                 "1709287200000", "2024-13-01", "soon"]})
    parsed = texts.select(parse_timestamps(pl.col("ts"))).to_series()
    assert parsed[0] == parsed[3] == parsed[4] == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    assert parsed[1] == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    assert parsed[2] == datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert parsed[5] is None and parsed[6] is None


def test_missing_required_column_quarantines_the_file(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "x.csv").write_text("user_id,product_id,ts\nu1,asos:300,2024-01-01\n")
    result = read_events(folder, PRODUCTS, now=NOW, raw_root=tmp_path)
    assert result.interactions.is_empty()
    assert result.quarantine["reason"].to_list() == ["missing columns: event"]


def test_unusable_parquet_is_one_quarantine_row(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "broken.parquet").write_bytes(b"PAR1 not really")
    pl.DataFrame({"user_id": [["nested"]], "product_id": ["asos:300"], "event": ["click"],
                  "ts": ["2024-01-01"]}).write_parquet(folder / "nested.parquet")
    result = read_events(folder, PRODUCTS, now=NOW, raw_root=tmp_path)
    assert result.quarantine["reason"].str.starts_with("unreadable parquet").all()
    assert result.quarantine.height == 2 and result.accounting_balanced()


def test_source_choice(tmp_path, events_dir):
    raw_root = events_dir.parent
    real = build_interactions(raw_root, PRODUCTS, source="auto", now=NOW)
    assert real.origin == "real" and real.interactions.height > 0
    simulated = build_interactions(raw_root, PRODUCTS, source="simulated", simulator=SimulatorSettings(n_users=20))
    assert simulated.origin == "simulated" and simulated.quarantine.is_empty()
    empty_root = tmp_path / "empty_raw"
    empty_root.mkdir()
    assert build_interactions(empty_root, PRODUCTS, simulator=SimulatorSettings(n_users=20)).origin == "simulated"
    with pytest.raises(FileNotFoundError):
        build_interactions(empty_root, PRODUCTS, source="real")
    with pytest.raises(ValueError):
        build_interactions(empty_root, PRODUCTS, source="both")


def test_quality_counts_problems():
    bad = pl.DataFrame({"user_id": ["u", "u", "u", None], "product_id": ["asos:300", "asos:300", "x", "asos:300"],
                        "event": ["rating", "rating", "click", "click"], "value": [7.0, 7.0, 1.0, 1.0],
                        "ts": [NOW] * 4, "origin": ["real", "real", "real", "fake"]},
                       schema=INTERACTION_SCHEMA)
    problems = interaction_problems(bad, PRODUCTS["product_id"])
    assert problems == {"null_fields": 1, "unknown_products": 1, "ratings_out_of_scale": 2, "non_finite_values": 0,
                        "bad_origin": 1, "duplicate_events": 1}


def test_a_simulated_log_is_kept_by_later_builds_with_the_same_settings(tmp_path):
    from recsys.interactions.build import simulator_settings

    config = SimulatorSettings(n_users=30)
    first = build_interactions(tmp_path, PRODUCTS, source="simulated", simulator=config)
    settings = simulator_settings(config)
    # One product leaves the catalog and one arrives: the log is history, only the gone product's events go.
    changed = pl.concat([PRODUCTS.filter(pl.col("product_id") != "asos:300"),
                         PRODUCTS.head(1).with_columns(product_id=pl.lit("asos:999"), source_id=pl.lit("999"))])
    kept = build_interactions(tmp_path, changed, source="simulated", simulator=config, previous=first.interactions,
                              previous_settings=settings)
    gone = first.interactions.filter(pl.col("product_id") == "asos:300").height
    assert kept.kept_from_previous and gone > 0 and kept.dropped_removed_products == gone
    assert kept.interactions.equals(first.interactions.filter(pl.col("product_id") != "asos:300"))
    # Other settings simulate afresh.
    other = build_interactions(tmp_path, changed, source="simulated", simulator=SimulatorSettings(n_users=31),
                               previous=first.interactions, previous_settings=settings)
    assert not other.kept_from_previous and other.interactions["user_id"].n_unique() == 31


# --- repeated rows: quantity in a day log, double-send where the log writes times of day ---

HEADER = "user_id,product_id,event,ts,value\n"


def _read_csv(tmp_path: Path, text: str | bytes, name: str = "day.csv"):
    folder = tmp_path / "events"
    folder.mkdir(exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    (folder / name).write_bytes(data)
    return read_events(folder, PRODUCTS, now=NOW, raw_root=tmp_path)


@pytest.mark.parametrize("ts", ["2024-03-01", "2024-03-01T00:00:00Z", "2024-03-01 00:00:00.000",
                                "2024-03-01T00:00:00+02:00", "1709251200"])
def test_a_repeated_purchase_row_of_a_date_only_log_is_one_event_of_value_2(tmp_path, ts):
    result = _read_csv(tmp_path, HEADER + f"u1,asos:300,purchase,{ts},\nu1,asos:300,purchase,{ts},\n"
                                          f"u2,asos:300,purchase,{ts},\n")
    purchases = {r["user_id"]: r["value"] for r in result.interactions.iter_rows(named=True)}
    assert purchases == {"u1": 2.0, "u2": 1.0}
    assert result.quarantine.is_empty()
    assert result.merged.to_dicts() == [{"file": "events/day.csv", "line": 3, "event": "purchase",
                                         "merged_into_line": 2}]
    assert result.resolution == {"events/day.csv": "day"} and result.accounting_balanced()


@pytest.mark.parametrize("ts", ["2024-03-01T10:15:07Z", "2024-03-01 10:15:07.120", "1709288107", "1709288107120"])
def test_two_identical_rows_of_a_log_with_times_of_day_are_a_double_send(tmp_path, ts):
    result = _read_csv(tmp_path, HEADER + f"u1,asos:300,purchase,{ts},\nu1,asos:300,purchase,{ts},\n")
    assert result.interactions["value"].to_list() == [1.0]
    assert result.quarantine.select("line", "reason").rows() == [(3, "duplicate event: same as events/day.csv line 2")]
    assert result.merged.is_empty() and result.resolution == {"events/day.csv": "time of day"}
    assert result.accounting_balanced()


def test_one_time_of_day_makes_the_whole_file_a_time_log(tmp_path):
    result = _read_csv(tmp_path, HEADER + "u1,asos:300,purchase,2024-03-01,\nu1,asos:300,purchase,2024-03-01,\n"
                                          "u2,asos:300,click,2024-03-01T10:00:00Z,\n")
    assert result.interactions.filter(pl.col("user_id") == "u1")["value"].to_list() == [1.0]
    assert result.quarantine_by_reason() == {"duplicate event": 1} and result.merged.is_empty()


def test_day_log_repeats_by_event_value_and_file(tmp_path):
    """Clicks count like purchases, explicit values add up, a repeated rating stays one rating, and a
    row repeated in another file (a re-delivered export) is a duplicate, not more units."""
    _read_csv(tmp_path, HEADER + "u1,asos:300,purchase,2024-03-01,\n", name="a.csv")
    result = _read_csv(tmp_path, HEADER + (
        "u1,asos:300,click,2024-03-01,\n"
        "u1,asos:300,click,2024-03-01,\n"
        "u1,asos:300,click,2024-03-01,\n"
        "u2,100,purchase,2024-03-02,2\n"
        "u2,myntra_styles:100,purchase,2024-03-02,\n"      # the same product by its unified id
        "u2,100,rating,2024-03-03,4\n"
        "u2,100,rating,2024-03-03,4\n"
        "u1,asos:300,purchase,2024-03-01,\n"), name="b.csv")
    values = {(r["user_id"], r["event"]): r["value"] for r in result.interactions.iter_rows(named=True)}
    assert values == {("u1", "click"): 3.0, ("u2", "purchase"): 3.0, ("u2", "rating"): 4.0, ("u1", "purchase"): 1.0}
    reasons = dict(result.quarantine.select("line", "reason").iter_rows())
    assert reasons == {8: "duplicate event: same as events/b.csv line 7",
                       9: "duplicate event: same as events/a.csv line 2"}
    assert result.merged.select("file", "line").rows() == [("events/b.csv", 3), ("events/b.csv", 4),
                                                            ("events/b.csv", 6)]
    assert result.accounting_balanced()


def test_a_parquet_day_log_at_local_midnight_counts_quantity(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    midnight = datetime(2024, 3, 1)
    pl.DataFrame({"user_id": ["u1", "u1"], "product_id": ["asos:300"] * 2, "event": ["purchase"] * 2,
                  "ts": [midnight, midnight]}).with_columns(
        pl.col("ts").dt.replace_time_zone("Europe/Paris")).write_parquet(folder / "day.parquet")
    result = read_events(folder, PRODUCTS, now=NOW, raw_root=tmp_path)
    assert result.interactions.rows() == [("u1", "asos:300", "purchase", 2.0,
                                           datetime(2024, 2, 29, 23, tzinfo=timezone.utc), "real")]
    assert result.resolution == {"events/day.parquet": "day"} and result.accounting_balanced()


def _real_looking_day_log(seed: int = 3) -> tuple[str, dict[tuple, int], int]:
    """A retailer's day export: baskets written one row per unit (about one row in ten a repeat),
    rows of a day in no particular order, a few junk rows. Returns the CSV, the expected units per
    (user, product_id, event, day), and the number of junk rows."""
    import random

    rng = random.Random(seed)
    refs = {"asos:300": "asos:300", "300": "asos:300", "myntra_styles:100": "myntra_styles:100",
            "100": "myntra_styles:100", "myntra_styles:200": "myntra_styles:200"}
    rows, expected = [], {}
    for basket in range(400):
        user, ref = f"shopper{rng.randrange(60)}", rng.choice(list(refs))
        event = rng.choices(["view", "click", "add_to_cart", "purchase"], weights=[4, 3, 2, 2])[0]
        day = f"2024-05-{rng.randrange(1, 8):02d}"
        units = rng.choices([1, 2, 3], weights=[88, 10, 2])[0] if event == "purchase" else 1
        rows += [f"{user},{ref},{event},{day},"] * units
        key = (user, refs[ref], event, day)
        expected[key] = expected.get(key, 0) + units
    junk = ["shopper1,no-such-sku,purchase,2024-05-02,", "shopper2,300,purchase,2024-05-40,",
            ",300,purchase,2024-05-03,", "shopper3,300,purchase,2024-05-03,1,extra"]
    rows += junk
    rng.shuffle(rows)
    return HEADER + "\n".join(rows) + "\n", expected, len(junk)


def test_a_real_looking_day_log_keeps_every_unit(tmp_path):
    text, expected, junk = _real_looking_day_log()
    result = _read_csv(tmp_path, text)
    got = {(r["user_id"], r["product_id"], r["event"], r["ts"].date().isoformat()): r["value"]
           for r in result.interactions.iter_rows(named=True)}
    assert got == expected
    assert result.quarantine.height == junk and "duplicate event" not in result.quarantine_by_reason()
    rows = sum(expected.values())
    assert result.merged.height == rows - len(expected) > 0.05 * rows
    assert result.records == rows + junk and result.accounting_balanced()
    assert result.file_summary().row(0) == ("events/day.csv", rows + junk, junk, rows - len(expected), "day")


ROWS = "u1,asos:300,click,2024-03-01,\nu2,300,purchase,2024-03-02,\n"


@pytest.mark.parametrize("data", [
    b"\xef\xbb\xbf" + (HEADER + ROWS).encode(),
    b"\xef\xbb\xbf" + (HEADER + ROWS).replace("\n", "\r\n").encode(),
    b"\xef\xbb\xbf" + '"user_id","product_id","event","ts","value"\n'.encode() + ROWS.encode(),
    b"\xef\xbb\xbf" + (HEADER + ROWS).encode() + "jos\xe9,300,click,2024-03-03,\n".encode("cp1252"),
    b"\xef\xbb\xbf" + (HEADER + ROWS).encode() + b"x\x81y,300,click,2024-03-03,\n",
], ids=["utf8", "crlf", "quoted-header", "cp1252-fallback", "invalid-bytes"])
def test_a_file_starting_with_a_bom_loses_no_row(tmp_path, data):
    result = _read_csv(tmp_path, data)
    assert set(result.interactions["user_id"]) >= {"u1", "u2"}
    assert result.records == result.interactions.height + result.quarantine.height
    assert set(result.quarantine["reason"]) <= {"invalid UTF-8 bytes"}        # only the row with bad bytes


def test_only_an_empty_load_or_a_whole_rejected_file_is_systemic(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "noisy.csv").write_text(HEADER + "u1,asos:300,click,2024-03-01,\nu1,nope,click,2024-03-01,\n")
    (folder / "foreign.csv").write_text("customer,sku,when\nu1,300,2024-03-01\nu2,300,2024-03-01\n")
    result = read_events(folder, PRODUCTS, now=NOW, raw_root=tmp_path)
    assert systemic_faults(result.file_summary(), result.interactions.height) == [
        "file rejected: events/foreign.csv (2 of 2 records quarantined)"]
    noisy = result.file_summary().filter(pl.col("file") == "events/noisy.csv")
    assert systemic_faults(noisy, 1) == []
    assert systemic_faults(noisy, 1, rejected_file_share=0.5) == [
        "file rejected: events/noisy.csv (1 of 2 records quarantined)"]
    assert systemic_faults(noisy.clear(), 0) == ["empty load: 0 interactions, at least 1 needed"]
SMALL_EVENTS = "user_id,product_id,event,ts\nu1,asos:300,click,2024-03-01\nu2,myntra_styles:200,purchase,2024-03-02\n"


@pytest.mark.parametrize("encoded", [
    b"\xef\xbb\xbf" + SMALL_EVENTS.encode(),
    b"\xef\xbb\xbf" + SMALL_EVENTS.replace("u2", "u\xe92").encode("cp1252"),    # the BOM and a stray cp1252 byte
    b"\xff\xfe" + SMALL_EVENTS.replace(",", "\t").replace("\n", "\r\n").encode("utf-16-le"),  # Excel "Unicode text"
], ids=["utf-8 BOM", "utf-8 BOM, cp1252 byte", "utf-16 tabs"])
def test_an_events_csv_with_a_byte_order_mark_loses_no_row(tmp_path: Path, encoded):
    folder = tmp_path / "raw" / "events"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_bytes(encoded)
    result = read_events(folder, PRODUCTS, now=NOW)
    assert result.quarantine.is_empty(), result.quarantine["reason"].to_list()
    assert result.interactions["product_id"].to_list() == ["asos:300", "myntra_styles:200"]


def test_an_events_parquet_whose_first_column_kept_a_byte_order_mark_loses_no_row(tmp_path: Path):
    folder = tmp_path / "raw" / "events"
    folder.mkdir(parents=True)
    pl.DataFrame({"\ufeffuser_id": ["u1"], "product_id": ["asos:300"], "event": ["click"], "ts": ["2024-03-01"]}
                 ).write_parquet(folder / "b.parquet")
    result = read_events(folder, PRODUCTS, now=NOW)
    assert result.quarantine.is_empty(), result.quarantine["reason"].to_list()
    assert result.interactions["user_id"].to_list() == ["u1"]


def test_an_event_with_a_huge_field_is_quarantined_alone(tmp_path: Path):
    folder = tmp_path / "raw" / "events"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(SMALL_EVENTS + f"{'u' * (MAX_FIELD_CHARS + 1)},asos:300,click,2024-03-03\n")
    result = read_events(folder, PRODUCTS, now=NOW)
    assert result.interactions.height == 2
    assert result.quarantine["reason"].to_list() == [f"field too large: user_id over {MAX_FIELD_CHARS} characters"]
