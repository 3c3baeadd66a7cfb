"""images/manifest.parquet: one row per (product_id, url) the cache considered (docs/lake.md: images/).

Besides the contract columns the manifest keeps ``position`` (the URL's index in the product's
``image_urls``, so "the first ok image" needs nothing but the manifest), ``format`` (sniffed from
the magic bytes) and ``source_mtime_ns`` (local files: the mtime the row was computed from, which
with ``bytes`` tells a rerun whether the file changed).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

import polars as pl

from recsys.images.outcome import Outcome, Status

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "product_id": pl.String(),
    "position": pl.Int64(),
    "url": pl.String(),
    "status": pl.String(),
    "sha256": pl.String(),
    "path": pl.String(),
    "format": pl.String(),
    "width": pl.Int64(),
    "height": pl.Int64(),
    "bytes": pl.Int64(),
    "fetched_at": pl.Datetime("us", "UTC"),
    "attempts": pl.Int64(),
    "error": pl.String(),
    "source_mtime_ns": pl.Int64(),
}

_OUTCOME_COLUMNS = [c for c in MANIFEST_SCHEMA if c not in ("product_id", "position", "url")]

PRIMARY_SCHEMA: dict[str, pl.DataType] = {"product_id": pl.String(), "image_path": pl.String(), "sha256": pl.String()}


def build_manifest(rows: Iterable[tuple[str, int, str, Outcome]]) -> pl.DataFrame:
    """The manifest frame from (product_id, position, url, outcome) tuples, sorted for stable diffs."""
    rows = list(rows)
    outcomes = [o for _, _, _, o in rows]
    # Column by column: a third of the time of one dict per row, on the cache's serial tail.
    columns = {"product_id": [r[0] for r in rows], "position": [r[1] for r in rows], "url": [r[2] for r in rows],
               "status": [o.status.value for o in outcomes]}
    columns.update({name: list(map(attrgetter(name), outcomes)) for name in _OUTCOME_COLUMNS if name != "status"})
    return pl.DataFrame(columns, schema=MANIFEST_SCHEMA).sort("product_id", "position")


def outcomes_by_url(*manifests: pl.DataFrame | None, urls: pl.Series | None = None) -> dict[str, Outcome]:
    """The last recorded outcome of every URL in previous manifests (for incremental reruns): per
    URL the latest ``fetched_at``; on a tie, the manifest given last wins. ``urls``: only these
    (a shard's run reads every manifest, but needs outcomes for its own URLs alone)."""
    frames = [m.select("url", *_OUTCOME_COLUMNS) for m in manifests if m is not None and not m.is_empty()]
    if urls is not None:
        frames = [frame.filter(pl.col("url").is_in(urls.implode())) for frame in frames]
    if not frames:
        return {}
    latest = pl.concat(frames, how="vertical_relaxed").sort("fetched_at", maintain_order=True).unique(
        "url", keep="last", maintain_order=True)
    known = {s.value for s in Status}
    outcomes = {}
    for row in latest.iter_rows(named=True):
        url, status = row.pop("url"), row.pop("status")
        if status in known:  # a status this version does not know is simply fetched again
            outcomes[url] = Outcome(status=Status(status), **row)
    return outcomes


def ok_paths(*manifests: pl.DataFrame) -> set[str]:
    """The stored files the manifests name (the ok rows' lake-relative paths)."""
    return {path for m in manifests for path in m.filter(pl.col("status") == Status.OK.value)["path"].to_list()}


def primary_images(manifest: pl.DataFrame) -> pl.DataFrame:
    """``product_id, image_path, sha256``: each product's first ok image in its ``image_urls`` order.

    Products without an ok image have no row. ``image_path`` is lake-relative
    (``images/ab/ab12....jpg``); join it to the lake root to open the normalized JPEG.
    """
    return (
        manifest.filter(pl.col("status") == Status.OK.value)
        .sort("product_id", "position")
        .unique("product_id", keep="first", maintain_order=True)
        .select("product_id", pl.col("path").alias("image_path"), "sha256")
        .cast(PRIMARY_SCHEMA)
    )


def status_counts(manifest: pl.DataFrame) -> dict[str, int]:
    """Rows per status, most frequent first."""
    counts = manifest.group_by("status").len().sort(["len", "status"], descending=[True, False])
    return {status: int(n) for status, n in counts.iter_rows()}
