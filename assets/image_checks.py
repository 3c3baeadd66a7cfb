"""The image cache's checks on local images, shared by images/manifest and images/manifest_shards.

A broken local file degrades its product alone (served text-only): ``local_image_failures`` warns
with the counts by status. ``local_images_available`` blocks only a systemic fault, when the
build would otherwise quietly lose its images: nearly every local image failing, or most products
that had a local image in the last accepted build having none now (a lost mount, moved folder).

The last accepted build's products with a local image are kept in ``state/images/local_images``,
written by images/manifest only when its blocking check passed: a blocked manifest is still
written, but the next build compares with the set before it, so it blocks again until the images
are back (or the loss is accepted once with ``max_local_image_loss: 1.0``).
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from assets import keys, metadata
from recsys.images.health import LocalImageLoss, ManifestHealth, local_failures_by_status, ok_local_products
from resources import LakeResource



def check_specs(asset: dg.AssetKey, blocks: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("local_image_failures", asset=asset, blocking=False,
                          description="Local image files that failed (corrupt, truncated, bombs, not images, "
                                      "missing), counted by status; their products are served text-only (a warning)."),
        dg.AssetCheckSpec("local_images_available", asset=asset, blocking=True,
                          description="No systemic loss of local images: fewer than systemic_local_failure_rate of "
                                      "them fail, and at most max_local_image_loss of the products that had one in "
                                      f"the last accepted build lost it (blocks {blocks})."),
    ]


def check_results(manifest: pl.DataFrame, health: ManifestHealth, loss: LocalImageLoss,
                  config) -> list[dg.AssetCheckResult]:
    """``config``: an ImageShardConfig (its systemic_local_failure_rate and max_local_image_loss)."""
    by_status = local_failures_by_status(manifest)
    systemic_failures = health.local_failed > 0 and health.local_failure_rate >= config.systemic_local_failure_rate
    lost_too_many = loss.rate > config.max_local_image_loss
    problems = [f"{health.local_failed:,} of {health.local_rows:,} local images failed "
                f"(blocks at {config.systemic_local_failure_rate:.0%})" if systemic_failures else "",
                f"{loss.lost:,} of {loss.previously_ok:,} products with a local image in the last accepted build have "
                f"none now (blocks above {config.max_local_image_loss:.0%})" if lost_too_many else ""]
    problems = [p for p in problems if p]
    return [
        dg.AssetCheckResult(
            check_name="local_image_failures", passed=health.local_failed == 0, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{health.local_failed:,} of {health.local_rows:,} local images failed "
                         f"({health.local_failure_rate:.1%}); their products are served text-only"),
            metadata={"local_rows": health.local_rows, "failed": health.local_failed,
                      "failure_rate": round(health.local_failure_rate, 4),
                      "by_status": metadata.counts(by_status, "status", "images")}),
        dg.AssetCheckResult(
            check_name="local_images_available", passed=not problems,
            description="; ".join(problems) or "no systemic loss of local images",
            metadata={"failure_rate": round(health.local_failure_rate, 4),
                      "previously_ok_products": loss.previously_ok, "lost_products": loss.lost,
                      "loss_rate": round(loss.rate, 4)}),
    ]


def accepted_local_images(lake: LakeResource) -> pl.Series | None:
    """The products that had an ok local image in the last build whose blocking check passed (None: no such build)."""
    accepted = lake.read_if_exists(keys.ACCEPTED_LOCAL_IMAGES)
    return None if accepted is None else accepted["product_id"]


def accept_local_images(lake: LakeResource, manifest: pl.DataFrame, checks: list[dg.AssetCheckResult]) -> bool:
    """Record ``manifest``'s products with an ok local image as the next build's reference, if it passed."""
    if not all(c.passed for c in checks if c.check_name == "local_images_available"):
        return False
    lake.write(ok_local_products(manifest).to_frame("product_id"), keys.ACCEPTED_LOCAL_IMAGES)
    return True
