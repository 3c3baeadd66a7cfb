"""The catalog load's own checks, beside the expectation suite: did the files load, and how much
of the sources' vocabulary did the mappings know.

Blocking policy: a row is quarantined only when it lacks what makes a product (an id, a name, a
missing or valid price). A blocking check guards only what would make the tables wrong or empty:
the id contract, the schema and row accounting, an empty load, or a file whose records were
mostly rejected (a wrong export, a changed header), which would otherwise silently drop that
file's products. Everything else (an unknown category, a bad image) degrades one field and is
reported, never blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.catalog.ingest import IngestResult

DEFAULT_MAX_REJECTED_SHARE = 0.5
# A duplicate id leaves its product in the table (the last row wins), so it is not a rejection.
NOT_A_REJECTION = "duplicate id"


@dataclass(frozen=True)
class FileLoad:
    file: str
    records: int
    rejected: int

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.records if self.records else 0.0


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    rows: dict[str, int]  # what the check's metadata table lists


def file_loads(result: IngestResult) -> list[FileLoad]:
    """Records read and records rejected (quarantined for a reason other than a duplicate id), per file."""
    quarantine = result.quarantine
    rejected = quarantine.filter(~quarantine["reason"].str.starts_with(NOT_A_REJECTION))["file"].value_counts()
    by_file = dict(rejected.iter_rows())
    return [FileLoad(f.file, f.records, int(by_file.get(f.file, 0))) for f in result.files]


def files_loaded(result: IngestResult, max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE) -> CheckOutcome:
    """Fails on an empty load, or when a file's records were all, or more than
    ``max_rejected_share`` of them, rejected."""
    loads = file_loads(result)
    failed = [f for f in loads if f.records and (f.rejected == f.records or f.rejected_share > max_rejected_share)]
    empty = [f.file for f in loads if not f.records]
    problems = [f"{f.file}: {f.rejected:,} of {f.records:,} records rejected" for f in failed]
    if result.products.is_empty():
        problems.insert(0, f"no products loaded from {len(loads)} raw files")
    summary = problems or [f"{result.products.height:,} products from {len(loads)} files, none over "
                           f"{max_rejected_share:.0%} rejected"]
    notes = [f"files without records: {', '.join(empty)}"] if empty else []
    return CheckOutcome(passed=not problems, description="; ".join(summary + notes),
                        rows={f.file: f.rejected for f in loads})


def degraded_rows_and_fields(result: IngestResult) -> CheckOutcome:
    """Passes when the load degraded nothing: no row quarantined, no field cut, no image reference
    dropped. Otherwise it lists what was, with counts (the policy's warning for row and field faults)."""
    rows = {f"row quarantined: {reason}": n for reason, n in result.quarantine_by_reason().items()}
    rows |= {f"field cut: {column}": n for column, n in result.fields_truncated.most_common()}
    rows |= {f"image reference dropped: {reason}": n for reason, n in result.image_refs_dropped.most_common()}
    if not rows:
        return CheckOutcome(True, "no row quarantined, no field cut, no image reference dropped", rows)
    quarantined, cut = result.quarantine.height, sum(result.fields_truncated.values())
    dropped = sum(result.image_refs_dropped.values())
    description = (f"{quarantined:,} rows quarantined (silver/quarantine.parquet has each with its reason), "
                   f"{cut:,} fields cut, {dropped:,} image references dropped")
    return CheckOutcome(False, description, rows)


def vocabulary_coverage(result: IngestResult) -> CheckOutcome:
    """Passes when every raw category/gender/department value was in its source's mapping."""
    unmapped = result.unmapped_vocabulary
    rows = {f"{source} {field} {value!r}": count for (source, field, value), count in unmapped.most_common()}
    if not unmapped:
        return CheckOutcome(True, "every raw vocabulary value is in its source's mapping", rows)
    description = (f"{len(unmapped)} raw values in no mapping ({sum(unmapped.values()):,} products; their unified "
                   f"field was inferred from the name or left null): add them to recsys/catalog/vocabularies/")
    return CheckOutcome(False, description, rows)
