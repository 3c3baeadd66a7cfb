"""Real interaction events from ``raw/events/*.csv|*.parquet`` to silver rows plus quarantine.

Columns: ``user_id``, ``product_id`` (the unified id ``<source>:<source id>`` or the raw source id),
``event``, ``ts``, and optionally ``value``; header names are matched without case, surrounding
blanks or a byte-order mark. Every record read ends in exactly one of three places: an
interaction, a quarantine row (with its file, line (data row number for Parquet) and raw text),
or the quantity of an earlier identical row (see below). A quarantined record gets the first
reason that applies:

- the record itself is broken (wrong field count, invalid bytes, a field over ``MAX_FIELD_CHARS``:
  no id or timestamp is that long) or the file lacks a column (names are matched without the
  byte-order mark a tool may have left on the first one, in CSV and Parquet alike);
- ``missing user_id`` / ``missing product_id`` / ``missing event``;
- ``unknown product`` (no such product_id or source id), ``ambiguous product id`` (a raw
  source id shared by products of several sources);
- ``bad timestamp`` (unparseable, or outside [2000-01-01, now + 1 day]);
- ``bad value`` (not a finite number), ``rating out of scale`` / ``missing rating value``;
- ``duplicate event`` (a repeat of an earlier record that is not a quantity, below).

Repeated rows: a record with the same user, product, event and timestamp as an earlier one is
either one more unit of that event or a double-send, and the timestamp's resolution decides.
A file whose valid timestamps are all dates (a plain date, or midnight on the clock it is written
in; epoch numbers in UTC) is a *day log*: it cannot tell two purchases of one day apart, so real
logs repeat the row for each unit bought. In a day log a repeat of an earlier row of the same file
is merged into it, and the event's ``value`` is the sum of its rows' values (a row without a value
counts 1): two identical purchase rows are one purchase of value 2. This holds for every event
kind (two clicks of a day are two clicks) except ``rating``, a statement rather than a count.
A file that writes times of day can tell two events apart, so there an identical row is a
double-send, quarantined as ``duplicate event`` (the first wins). So is a repeat of an event read
from another file (a re-delivered export must not double the quantities) and a repeated rating.

Timestamps: ISO 8601 with or without an offset (no offset means UTC), a plain date, or Unix
epoch seconds / milliseconds. Event names are normalised (lower case, ``add to cart`` ->
``add_to_cart``); unknown event names are kept, since the models weigh them with a default.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from recsys.catalog.csv_records import MAX_FIELD_CHARS, read_csv_records
from recsys.catalog.schema import QUARANTINE_SCHEMA, QuarantineCounts, reason_codes
from recsys.interactions.schema import INTERACTION_SCHEMA, RATING_SCALE

log = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = ("user_id", "product_id", "event", "ts")
EVENT_COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, "value")
QUARANTINE_SOURCE = "events"
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_RAW_CHARS = 1_000

# Explicit formats tried in order; each yields UTC. Offsets are converted, naive times are UTC.
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                  "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_EPOCH_TEXT = r"^\d{9,13}$"                    # Unix seconds or milliseconds
# A date, or midnight on the clock the text is written in (whatever its offset).
_DATE_ONLY_TEXT = r"^\d{4}-\d{2}-\d{2}(?:[T ]00:00(?::00(?:\.0*)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?$"
DAY_LOG, TIME_LOG = "day", "time of day"     # a file's timestamp resolution
MERGED_SCHEMA = {"file": pl.String, "line": pl.Int64, "event": pl.String, "merged_into_line": pl.Int64}
FILE_SUMMARY_SCHEMA = {"file": pl.String, "records": pl.Int64, "quarantined": pl.Int64,
                       "merged_as_quantity": pl.Int64, "resolution": pl.String}


@dataclass
class EventsResult(QuarantineCounts):
    interactions: pl.DataFrame   # INTERACTION_SCHEMA, origin 'real'
    quarantine: pl.DataFrame     # QUARANTINE_SCHEMA, source 'events'
    files: dict[str, int]        # file -> records read
    # records counted as one more unit of an earlier identical row of a day log (MERGED_SCHEMA)
    merged: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MERGED_SCHEMA))
    resolution: dict[str, str] = field(default_factory=dict)   # file -> DAY_LOG | TIME_LOG (files with valid rows)

    @property
    def records(self) -> int:
        return sum(self.files.values())

    def accounting_balanced(self) -> bool:
        return self.records == self.interactions.height + self.quarantine.height + self.merged.height

    def file_summary(self) -> pl.DataFrame:
        """Per file: records read, quarantined, merged as quantity, and the timestamp resolution."""
        quarantined = Counter(self.quarantine["file"].to_list())
        merged = Counter(self.merged["file"].to_list())
        return pl.DataFrame(
            [(name, records, quarantined[name], merged[name], self.resolution.get(name))
             for name, records in self.files.items()], schema=FILE_SUMMARY_SCHEMA, orient="row")


def event_files(events_dir: Path) -> list[Path]:
    events_dir = Path(events_dir)
    if not events_dir.is_dir():
        return []
    return sorted(p for p in events_dir.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".parquet"))


_RECORD_SCHEMA = {"file": pl.String, "line": pl.Int64, "raw": pl.String, "problem": pl.String,
                  **{c: pl.String for c in EVENT_COLUMNS}}


def _csv_records(path: Path, display: str) -> pl.DataFrame:
    info, records = read_csv_records(path, display)
    columns = _event_columns(info.header)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    optional = {columns[c] for c in EVENT_COLUMNS[len(REQUIRED_COLUMNS):] if c in columns}
    rows = []
    for record in records:
        problem = record.problem
        if problem is None and record.truncated:
            problem = f"field too large: {', '.join(record.truncated)} over {MAX_FIELD_CHARS} characters"
        elif problem is None and missing:
            problem = f"missing columns: {', '.join(missing)}"
        elif problem is None and (record.extra or any(c not in record.fields and c not in optional
                                                      for c in info.header)):
            # a short record is fine when only the optional trailing column (``value``) is absent
            width = len(record.fields) + len(record.extra)
            problem = f"wrong field count: {width} fields, expected {len(info.header)}"
        rows.append({"file": display, "line": record.line, "raw": record.raw, "problem": problem,
                     **{c: record.fields.get(columns[c]) if c in columns else None for c in EVENT_COLUMNS}})
    return pl.DataFrame(rows, schema=_RECORD_SCHEMA)


def _event_columns(header: list[str]) -> dict[str, str]:
    """Event column -> the header name holding it, compared without case, blanks, quotes or a byte-order
    mark: a BOM'd file that is not clean UTF-8 is decoded with the mark left on its first name
    (``\ufeff`` or, as cp1252, ``ï»¿``), and that must not cost the file its ``user_id`` column."""
    found: dict[str, str] = {}
    for name in header:
        plain = name.replace("\ufeff", "").removeprefix("ï»¿").strip().strip('"').strip().lower()
        found.setdefault(plain, name)
    return {c: found[c] for c in EVENT_COLUMNS if c in found}


def _parquet_records(path: Path, display: str) -> pl.DataFrame:
    try:
        return _parquet_as_text(pl.read_parquet(path), display)
    except Exception as exc:   # a corrupt file or unusable column types: one quarantine row, not a crashed run
        return pl.DataFrame([{"file": display, "line": 0, "raw": "", "problem": f"unreadable parquet: {exc}"[:300]}],
                            schema=_RECORD_SCHEMA)


def _parquet_as_text(frame: pl.DataFrame, display: str) -> pl.DataFrame:
    """The event columns as text (as a CSV would give them), with 1-based data row numbers."""
    frame = _bare_column_names(frame)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    as_text = []
    for column in EVENT_COLUMNS:
        if column not in frame.columns:
            as_text.append(pl.lit(None, dtype=pl.String).alias(column))
        elif isinstance(frame.schema[column], pl.Datetime):
            # keep the instant and the clock: naive datetimes are UTC, aware ones keep their zone's offset
            # (a day log written at local midnight stays midnight)
            dtype = frame.schema[column]
            expr = pl.col(column) if dtype.time_zone else pl.col(column).dt.replace_time_zone("UTC")
            as_text.append(expr.dt.strftime("%Y-%m-%dT%H:%M:%S%.f%z").alias(column))
        else:
            as_text.append(pl.col(column).cast(pl.String).alias(column))
    text = frame.select(as_text)
    raw = pl.concat_str([pl.col(c).fill_null("") for c in EVENT_COLUMNS], separator=",").str.slice(0, MAX_RAW_CHARS)
    too_long = pl.any_horizontal([pl.col(c).str.len_chars() > MAX_FIELD_CHARS for c in EVENT_COLUMNS])
    problem = (pl.lit(f"missing columns: {', '.join(missing)}") if missing else
               pl.when(too_long.fill_null(False)).then(pl.lit(f"field too large: over {MAX_FIELD_CHARS} characters")))
    return text.with_row_index("line", offset=1).select(
        pl.lit(display).alias("file"), pl.col("line").cast(pl.Int64), raw.alias("raw"),
        problem.cast(pl.String).alias("problem"), *EVENT_COLUMNS,
    )


def _bare_column_names(frame: pl.DataFrame) -> pl.DataFrame:
    """Column names without the byte-order mark or blanks a CSV converted by a BOM-unaware tool
    leaves on its first header."""
    renames: dict[str, str] = {}
    for column in frame.columns:
        bare = column.replace("\ufeff", "").strip()
        if bare != column and bare not in frame.columns and bare not in renames.values():
            renames[column] = bare
    return frame.rename(renames)


def parse_timestamps(text: pl.Expr) -> pl.Expr:
    """UTC datetimes from strings in the accepted formats (null where none applies)."""
    stripped = text.str.strip_chars().str.replace(r"Z$", "+0000")
    candidates = [stripped.str.to_datetime(f, strict=False, time_unit="us").dt.convert_time_zone("UTC")
                  for f in _AWARE_FORMATS]
    candidates += [stripped.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
                   for f in _NAIVE_FORMATS]
    digits = stripped.str.contains(_EPOCH_TEXT)
    epoch = stripped.cast(pl.Int64, strict=False)
    epoch_us = pl.when(stripped.str.len_chars() >= 12).then(epoch * 1_000).otherwise(epoch * 1_000_000)
    candidates.append(pl.when(digits).then(epoch_us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")))
    return pl.coalesce(candidates)


def carries_no_time_of_day(text: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """True where a timestamp is only a date: a plain date or midnight as written; epoch numbers in UTC."""
    stripped = text.str.strip_chars()
    return (pl.when(stripped.str.contains(_EPOCH_TEXT)).then(parsed == parsed.dt.truncate("1d"))
            .otherwise(stripped.str.contains(_DATE_ONLY_TEXT)))


def _product_lookup(products: pl.DataFrame) -> pl.DataFrame:
    """ref -> product_id for unified ids and unambiguous source ids; ambiguous refs get a null id."""
    unified = products.select(ref=pl.col("product_id"), matched=pl.col("product_id"), matches=pl.lit(1, pl.UInt32))
    by_source_id = (products.group_by(ref=pl.col("source_id"))
                    .agg(matched=pl.col("product_id").first(), matches=pl.len())
                    .with_columns(matched=pl.when(pl.col("matches") == 1).then(pl.col("matched")))
                    .join(unified.select("ref"), on="ref", how="anti"))
    return pl.concat([unified, by_source_id.select("ref", "matched", "matches")])


def _stripped(column: str) -> pl.Expr:
    """The column's text without surrounding blanks; empty strings become null."""
    return pl.col(column).str.strip_chars().replace("", None)


def _reason(now: datetime) -> pl.Expr:
    lo, hi = RATING_SCALE
    value_given = pl.col("value_text").is_not_null()
    bad_number = value_given & (pl.col("number").is_null() | ~pl.col("number").is_finite())
    return (
        pl.when(pl.col("problem").is_not_null()).then(pl.col("problem"))
        .when(pl.col("user").is_null()).then(pl.lit("missing user_id"))
        .when(pl.col("ref").is_null()).then(pl.lit("missing product_id"))
        .when(pl.col("matches").is_null()).then(pl.lit("unknown product: ") + pl.col("ref").fill_null(""))
        .when(pl.col("matched").is_null())
        .then(pl.format("ambiguous product id: {} matches {} products", pl.col("ref"), pl.col("matches")))
        .when(pl.col("kind").is_null()).then(pl.lit("missing event"))
        .when(pl.col("when").is_null()).then(pl.lit("bad timestamp: ") + pl.col("ts").fill_null("(empty)"))
        .when((pl.col("when") < EARLIEST_TS) | (pl.col("when") > now + timedelta(days=1)))
        .then(pl.lit("bad timestamp: out of range: ") + pl.col("ts"))
        .when(bad_number).then(pl.lit("bad value: ") + pl.col("value_text"))
        .when((pl.col("kind") == "rating") & ~value_given).then(pl.lit("missing rating value"))
        .when((pl.col("kind") == "rating") & ((pl.col("number") < lo) | (pl.col("number") > hi)))
        .then(pl.format("rating out of scale: {} not in [{}, {}]", pl.col("number"), pl.lit(lo), pl.lit(hi)))
    )


def _checked(records: pl.DataFrame, lookup: pl.DataFrame, now: datetime, first_order: int) -> pl.DataFrame:
    """One file's records with their ``order`` in the whole read, the parsed fields and the first
    ``reason`` that rejects them (null = valid so far; duplicates are found across files later)."""
    return (records.with_row_index("order", offset=first_order)
            .with_columns(user=_stripped("user_id"), ref=_stripped("product_id"), value_text=_stripped("value"),
                          kind=_stripped("event").str.to_lowercase().str.replace_all(r"[\s\-]+", "_"))
            .join(lookup, on="ref", how="left")
            .with_columns(when=parse_timestamps(pl.col("ts")),
                          number=pl.col("value_text").cast(pl.Float64, strict=False))
            .with_columns(reason=_reason(now), dated=carries_no_time_of_day(pl.col("ts"), pl.col("when")))
            .sort("order"))


def _quarantine_rows(rows: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """QUARANTINE_SCHEMA rows (plus ``order``) for rejected records."""
    return rows.select(
        "order", source=pl.lit(QUARANTINE_SOURCE), file=pl.col("file").cast(pl.String), line="line", raw="raw",
        reason="reason", product_id=pl.col("matched"), quarantined_at=pl.lit(now).cast(pl.Datetime("us", "UTC")),
    )


def read_events(events_dir: Path, products: pl.DataFrame, now: datetime | None = None,
                raw_root: Path | None = None) -> EventsResult:
    """Read every events file under ``events_dir``; map products against ``products`` (silver).

    Files are checked one at a time and only the parsed fields of valid records are kept across
    files (raw text of valid records too, for a later duplicate's quarantine row), so memory grows
    with the valid events, not with every intermediate text column of every record.
    """
    now = now or datetime.now(timezone.utc)
    raw_root = Path(raw_root) if raw_root else Path(events_dir).parent
    paths = event_files(events_dir)
    if not paths:
        return EventsResult(pl.DataFrame(schema=INTERACTION_SCHEMA), pl.DataFrame(schema=QUARANTINE_SCHEMA), {})
    displays = [path.relative_to(raw_root).as_posix() if path.is_relative_to(raw_root) else path.name for path in paths]
    file_enum = pl.Enum(list(dict.fromkeys(displays)))
    lookup = _product_lookup(products)
    files, resolution, valid_parts, rejected_parts, records_read = {}, {}, [], [], 0
    for path, display in zip(paths, displays):
        frame = _csv_records(path, display) if path.suffix.lower() == ".csv" else _parquet_records(path, display)
        files[display] = frame.height
        rows = _checked(frame.with_columns(pl.col("file").cast(file_enum)), lookup, now, records_read)
        records_read += frame.height
        del frame
        rejected = rows.filter(pl.col("reason").is_not_null())
        valid = rows.filter(pl.col("reason").is_null())
        del rows
        if valid.height:
            resolution[display] = DAY_LOG if valid["dated"].all() else TIME_LOG
        log.info("read %s: %d event records, %d valid, timestamps: %s", display, files[display], valid.height,
                 resolution.get(display, "none valid"))
        if rejected.height:
            log.warning("%s: %d of %d event records quarantined (%s)", display, rejected.height, files[display],
                        ", ".join(f"{code} {n}" for code, n in reason_codes(rejected["reason"]).most_common()))
        rejected_parts.append(_quarantine_rows(rejected, now))
        valid_parts.append(valid.select("order", "file", "line", "raw", "user", "matched", "kind", "when", "number",
                                        day_log=pl.lit(resolution.get(display) == DAY_LOG)))
        del rejected, valid
    valid = pl.concat(valid_parts)          # in record order: files in order, each sorted by order
    del valid_parts
    interactions, duplicates, merged = _settle_repeats(valid)
    del valid
    rejected_parts.append(_quarantine_rows(duplicates, now))
    if merged.height:
        log.info("%d repeated rows of day logs counted as quantity", merged.height)
    quarantine = pl.concat(rejected_parts).sort("order").drop("order").cast(QUARANTINE_SCHEMA)
    return EventsResult(interactions, quarantine, files, merged, resolution)


def _settle_repeats(valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The interactions, the duplicates (with their ``reason``) and the records merged as quantity.

    A repeat (same user, product, event and timestamp as an earlier valid record) is one more
    unit of the first record when both come from the same day log and the event is not a rating;
    otherwise it is a duplicate of the first record.
    """
    key = ["user", "matched", "kind", "when"]
    first = valid.select(pl.struct(key).is_first_distinct()).to_series()
    repeats = valid.filter(~first)
    if repeats.height:
        originals = (valid.lazy().filter(first).select(*key, first_file="file", first_line="line")
                     .join(repeats.lazy().select(key).unique(), on=key, how="semi").collect())
        repeats = repeats.join(originals, on=key, how="left")
    else:
        repeats = repeats.with_columns(first_file="file", first_line="line")
    as_unit = (pl.col("file") == pl.col("first_file")) & pl.col("day_log") & (pl.col("kind") != "rating")
    duplicates = repeats.filter(~as_unit).with_columns(reason=pl.format(
        "duplicate event: same as {} line {}", pl.col("first_file").cast(pl.String), pl.col("first_line")))
    merged = repeats.filter(as_unit)
    events = valid.lazy().filter(first).with_columns(value=pl.col("number").fill_null(1.0))
    if merged.height:
        units = merged.group_by(key).agg(more=pl.col("number").fill_null(1.0).sum())
        events = events.join(units.lazy(), on=key, how="left").with_columns(
            value=pl.col("value") + pl.col("more").fill_null(0.0))
    interactions = events.select(
        user_id=pl.col("user"), product_id=pl.col("matched"), event=pl.col("kind"), value="value",
        ts=pl.col("when"), origin=pl.lit("real"),
    ).cast(INTERACTION_SCHEMA).sort("user_id", "ts", "product_id", "event").collect()
    merged_rows = merged.sort("order").select(file=pl.col("file").cast(pl.String), line="line", event="kind",
                                              merged_into_line="first_line").cast(MERGED_SCHEMA)
    return interactions, duplicates, merged_rows
