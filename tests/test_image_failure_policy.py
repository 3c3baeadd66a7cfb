"""The image failure policy: broken items warn, only a systemic loss of local images blocks."""

from __future__ import annotations

import dagster as dg
import polars as pl

from assets.image_checks import accept_local_images, accepted_local_images, check_results
from assets.images import ImageCacheConfig
from recsys.images.health import LocalImageLoss, local_image_loss, manifest_health, ok_local_products
from resources import default_resources


def _manifest(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(product_id, url, status) rows."""
    return pl.DataFrame(rows, schema={"product_id": pl.String, "url": pl.String, "status": pl.String}, orient="row")


def _local(n: int, broken: dict[str, int] | None = None, form: str = "file:///lake/raw/myntra/images/{}.jpg"):
    statuses = [s for status, count in (broken or {}).items() for s in [status] * count]
    statuses += ["ok"] * (n - len(statuses))
    return [(f"p{i}", form.format(i), status) for i, status in enumerate(statuses)]


def _checks(manifest: pl.DataFrame, previous: pl.DataFrame | None = None, catalog: pl.Series | None = None) -> dict:
    catalog = manifest["product_id"] if catalog is None else catalog
    loss = local_image_loss(None if previous is None else ok_local_products(previous), manifest, catalog)
    return {c.check_name: c for c in check_results(manifest, manifest_health(manifest), loss, ImageCacheConfig())}


def test_a_tenth_of_broken_images_on_a_first_build_warns_with_counts_by_status():
    manifest = _manifest(_local(100, {"corrupt": 5, "bomb": 3, "not_image": 2}) + [("a1", "https://x/1.jpg", "unreachable")])
    checks = _checks(manifest)
    warning, blocking = checks["local_image_failures"], checks["local_images_available"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert "10 of 100 local images failed" in warning.description
    assert "| corrupt | 5 |" in warning.metadata["by_status"].value
    assert blocking.passed and blocking.severity == dg.AssetCheckSeverity.ERROR


def test_a_clean_manifest_and_one_without_local_images_pass_both():
    for manifest in (_manifest(_local(20)), _manifest([("a1", "https://x/1.jpg", "unreachable")])):
        assert all(c.passed for c in _checks(manifest).values())


def test_every_local_image_failing_blocks_even_a_first_build():
    checks = _checks(_manifest(_local(30, {"not_found": 30})))
    assert not checks["local_images_available"].passed
    assert "30 of 30 local images failed" in checks["local_images_available"].description


def test_most_previous_images_gone_blocks_even_when_the_catalog_no_longer_references_them():
    previous = _manifest(_local(50))
    # The parser only lists files that exist: after a lost mount the products have no local URL at all.
    now = _manifest([("p0", "file:///lake/raw/myntra/images/0.jpg", "ok"), ("a1", "https://x/1.jpg", "unreachable")])
    catalog = pl.Series([f"p{i}" for i in range(50)] + ["a1"])
    checks = _checks(now, previous, catalog)
    assert not checks["local_images_available"].passed
    assert checks["local_images_available"].metadata["lost_products"].value == 49


def test_removed_products_and_a_new_form_of_local_reference_are_no_loss():
    previous = _manifest(_local(50))
    now = _manifest(_local(20, form="raw/myntra/images/{}.jpg"))    # lake-relative now; 30 products left
    assert local_image_loss(ok_local_products(previous), now, now["product_id"]) == LocalImageLoss(20, 0)
    assert _checks(now, previous)["local_images_available"].passed


def test_a_few_images_lost_since_the_previous_build_only_warn():
    previous = _manifest(_local(50))
    now = _manifest(_local(50, {"corrupt": 5}))
    checks = _checks(now, previous)
    assert checks["local_images_available"].passed and not checks["local_image_failures"].passed
    assert checks["local_images_available"].metadata["lost_products"].value == 5


def test_only_a_build_that_passed_becomes_the_reference_for_the_next(tmp_path):
    lake = default_resources(str(tmp_path))["lake"]
    good = _manifest(_local(50))
    assert accepted_local_images(lake) is None
    assert accept_local_images(lake, good, list(_checks(good).values()))
    gone = _manifest([("a1", "https://x/1.jpg", "unreachable")])
    catalog = pl.Series([f"p{i}" for i in range(50)])
    blocked = check_results(gone, manifest_health(gone), local_image_loss(accepted_local_images(lake), gone, catalog),
                            ImageCacheConfig())
    assert not accept_local_images(lake, gone, blocked)
    # The blocked build's manifest is on disk, but the next build still compares with the good one.
    assert accepted_local_images(lake).to_list() == ok_local_products(good).to_list()
