"""Load every raw catalog file into one validated product table plus a quarantine table.

Row accounting: every record read from a raw file ends in exactly one of products or quarantine;
blank lines are the only skip, and they are counted. So for each file
``records == products_kept + quarantined`` and ``physical records + blank lines`` cover the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from recsys.catalog.csv_records import MAX_FIELD_CHARS, FileReadStats, RawRecord, read_csv_records
from recsys.catalog.enrich import enrich
from recsys.catalog.image_urls import ImageUrlReport
from recsys.catalog.schema import CONTENT_FIELDS, PRODUCT_SCHEMA, QUARANTINE_SCHEMA, QuarantineCounts
from recsys.catalog.sources import SOURCE_FORMATS, ParseContext, SourceFormat
from recsys.catalog.vocabulary import unified_vocabulary, unify_rows

log = logging.getLogger(__name__)


@dataclass
class IngestResult(QuarantineCounts):
    products: pl.DataFrame
    quarantine: pl.DataFrame
    files: list[FileReadStats]
    image_refs_dropped: Counter = field(default_factory=Counter)
    article_types_inferred: int = 0
    genders_inferred: int = 0
    # (source, raw field, raw value) -> products whose value the source's mapping does not know
    unmapped_vocabulary: Counter = field(default_factory=Counter)
    fields_truncated: Counter = field(default_factory=Counter)  # "<source>.<column>" -> records whose field was cut

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def blank_lines(self) -> int:
        return sum(f.blank_lines for f in self.files)

    def accounting_balanced(self) -> bool:
        """Every record is a product or a quarantine row, none twice, none lost."""
        return self.records == self.products.height + self.quarantine.height

    def products_by_source(self) -> dict[str, int]:
        return {s: int(n) for s, n in self.products["source"].value_counts().iter_rows()}


def content_hash(row: dict) -> str:
    """sha256 over the fields that feed the embeddings (see CONTENT_FIELDS)."""
    payload = json.dumps([row.get(k) for k in CONTENT_FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _quarantine_row(record: RawRecord, source: str, reason: str, now: datetime, product_id: str | None = None) -> dict:
    return {"source": source, "file": record.file, "line": record.line, "raw": record.raw,
            "reason": reason, "product_id": product_id, "quarantined_at": now}


def _load_file(fmt: SourceFormat, path: Path, raw_root: Path, images: ImageUrlReport, now: datetime,
               products: dict[str, dict], quarantine: list[dict], truncated: Counter) -> FileReadStats:
    display = path.relative_to(raw_root).as_posix()
    info, records = read_csv_records(path, display)
    missing_columns = [c for c in fmt.required_columns if c not in info.header]
    ctx = ParseContext(raw_root=raw_root, file_path=path, images=images)
    for record in records:
        truncated.update(f"{fmt.name}.{column}" for column in record.truncated)
        if missing_columns:
            quarantine.append(_quarantine_row(record, fmt.name, f"missing columns: {', '.join(missing_columns)}", now))
            continue
        parsed = fmt.parse(record, ctx)
        if isinstance(parsed, str):
            quarantine.append(_quarantine_row(record, fmt.name, parsed, now))
            continue
        product_id = f"{fmt.name}:{parsed['source_id']}"
        loser = products.get(product_id)
        if loser is not None:
            # Last row wins; the earlier one is kept in quarantine with a pointer to its winner.
            quarantine.append({**loser.pop("_quarantine_if_replaced"),
                               "reason": f"duplicate id: superseded by {display} line {record.line}"})
        products[product_id] = {
            **parsed, "product_id": product_id, "source": fmt.name,
            "source_file": display, "source_line": record.line,
            "_quarantine_if_replaced": _quarantine_row(record, fmt.name, "", now, product_id),
        }
    log.info("read %s: %d records, %d blank lines (%s)", display, info.stats.records,
             info.stats.blank_lines, info.stats.encoding)
    return info.stats


def _warn_truncated(truncated: Counter) -> None:
    for column, records in sorted(truncated.items()):
        log.warning("%s: %d records held a field over %d characters, cut to that length", column, records,
                    MAX_FIELD_CHARS)


def ingest_catalogs(raw_root: Path, previous: pl.DataFrame | None = None,
                    now: datetime | None = None) -> IngestResult:
    """Parse every raw catalog under ``raw_root`` into silver products + quarantine.

    ``previous`` (the last silver table, if any) keeps ``ingested_at`` stable for products
    whose content did not change, so downstream change detection sees only real changes.
    """
    raw_root = Path(raw_root)
    now = now or datetime.now(timezone.utc)
    images = ImageUrlReport()
    products: dict[str, dict] = {}
    quarantine: list[dict] = []
    files: list[FileReadStats] = []
    truncated: Counter = Counter()
    for fmt in SOURCE_FORMATS:
        for path in sorted(raw_root.glob(fmt.pattern)):
            files.append(_load_file(fmt, path, raw_root, images, now, products, quarantine, truncated))
    _warn_truncated(truncated)
    rows = list(products.values())
    for row in rows:
        row.pop("_quarantine_if_replaced")
    unmapped = unify_rows(rows)
    types_inferred, genders_inferred = enrich(rows, unified_vocabulary())
    if unmapped:
        log.warning("%d raw vocabulary values are not in their source's mapping (recsys/catalog/vocabularies), "
                    "most common: %s", len(unmapped),
                    ", ".join(f"{s}.{f}={v!r} ({n})" for (s, f, v), n in unmapped.most_common(10)))
    first_seen: dict[tuple[str, str], datetime] = {}
    if previous is not None and not previous.is_empty():
        first_seen = {(pid, h): ts for pid, h, ts in
                      previous.select("product_id", "content_hash", "ingested_at").iter_rows()}
    for row in rows:
        row["content_hash"] = content_hash(row)
        row["ingested_at"] = first_seen.get((row["product_id"], row["content_hash"]), now)
    product_df = pl.DataFrame(rows, schema=PRODUCT_SCHEMA).sort("product_id") if rows else pl.DataFrame(schema=PRODUCT_SCHEMA)
    quarantine_df = pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA).sort("source", "file", "line")
    return IngestResult(product_df, quarantine_df, files, images.dropped, types_inferred, genders_inferred, unmapped,
                        truncated)
