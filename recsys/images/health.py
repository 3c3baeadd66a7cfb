"""How healthy a manifest is, split by where the images come from (local files vs remote URLs).

Local images are ours, but a broken file is still one item's problem: its product is served
text-only. Only a systemic fault is worth stopping for: nearly every local image failing (a lost
mount, wrong permissions) or most of the products that had a local image in the last accepted
build having none now (``local_image_loss``: products compared, so it holds whatever form the
local references take, and also when the catalog no longer references the missing files). Remote images fail for two
different reasons: the network (unreachable, timeout, server_error: nothing is known about the
image yet, and a later run retries) and the content (404, not an image, corrupt, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from recsys.images.outcome import Status

NETWORK_STATUSES = frozenset({Status.UNREACHABLE, Status.TIMEOUT, Status.SERVER_ERROR})
# Same rule as local.is_local_ref: file: URIs and scheme-less paths are local, any scheme else remote.
_LOCAL = pl.col("url").str.contains(r"^(?i)file:") | ~pl.col("url").str.contains(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def with_origin(manifest: pl.DataFrame) -> pl.DataFrame:
    """The manifest plus an ``origin`` column: ``local`` or ``remote``."""
    return manifest.with_columns(pl.when(_LOCAL).then(pl.lit("local")).otherwise(pl.lit("remote")).alias("origin"))


@dataclass(frozen=True)
class ManifestHealth:
    local_rows: int
    local_failed: int
    remote_rows: int
    remote_network_failed: int   # unreachable / timeout / server_error
    remote_content_failed: int   # every other non-ok status

    @property
    def local_failure_rate(self) -> float:
        return self.local_failed / self.local_rows if self.local_rows else 0.0

    @property
    def remote_unreached_rate(self) -> float:
        return self.remote_network_failed / self.remote_rows if self.remote_rows else 0.0

    @property
    def remote_content_failure_rate(self) -> float:
        """Among remote URLs that got an answer: the share whose answer was not a usable image."""
        answered = self.remote_rows - self.remote_network_failed
        return self.remote_content_failed / answered if answered else 0.0


def manifest_health(manifest: pl.DataFrame) -> ManifestHealth:
    frame = with_origin(manifest)
    failed = pl.col("status") != Status.OK.value
    network = pl.col("status").is_in([s.value for s in NETWORK_STATUSES])
    local = frame.filter(pl.col("origin") == "local")
    remote = frame.filter(pl.col("origin") == "remote")
    return ManifestHealth(
        local_rows=local.height,
        local_failed=local.filter(failed).height,
        remote_rows=remote.height,
        remote_network_failed=remote.filter(network).height,
        remote_content_failed=remote.filter(failed & ~network).height,
    )


def counts_by_origin(manifest: pl.DataFrame) -> pl.DataFrame:
    """``status, local, remote``: manifest rows per status and origin."""
    frame = with_origin(manifest)
    if frame.is_empty():
        return pl.DataFrame(schema={"status": pl.String, "local": pl.UInt32, "remote": pl.UInt32})
    table = frame.pivot(on="origin", index="status", values="url", aggregate_function="len").fill_null(0)
    for origin in ("local", "remote"):
        if origin not in table.columns:
            table = table.with_columns(pl.lit(0, pl.UInt32).alias(origin))
    return table.select("status", "local", "remote").sort(pl.col("local") + pl.col("remote"), descending=True)


def local_failures_by_status(manifest: pl.DataFrame) -> dict[str, int]:
    """Failed local image rows per status, most frequent first."""
    failed = with_origin(manifest).filter(pl.col("origin") == "local", pl.col("status") != Status.OK.value)
    counts = failed.group_by("status").len().sort(["len", "status"], descending=[True, False])
    return {status: int(n) for status, n in counts.iter_rows()}


@dataclass(frozen=True)
class LocalImageLoss:
    """Catalog products that had an ok local image in the last accepted build, and how many have none now."""

    previously_ok: int
    lost: int

    @property
    def rate(self) -> float:
        return self.lost / self.previously_ok if self.previously_ok else 0.0


def ok_local_products(manifest: pl.DataFrame) -> pl.Series:
    """``product_id`` of every product with an ok local image in ``manifest``, sorted."""
    ok_local = with_origin(manifest).filter(pl.col("origin") == "local", pl.col("status") == Status.OK.value)
    return ok_local["product_id"].unique().sort()


def local_image_loss(accepted: pl.Series | None, manifest: pl.DataFrame, product_ids: pl.Series) -> LocalImageLoss:
    """Of ``accepted`` (``ok_local_products`` of the last build that passed; None: no such build), the products
    still in the catalog (``product_ids``: removed products are no loss) that have no ok local image in
    ``manifest``."""
    if accepted is None:
        return LocalImageLoss(0, 0)
    before = accepted.filter(accepted.is_in(product_ids.implode()))
    lost = before.filter(~before.is_in(ok_local_products(manifest).implode()))
    return LocalImageLoss(previously_ok=before.len(), lost=lost.len())
