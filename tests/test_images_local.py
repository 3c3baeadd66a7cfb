"""Local images (lake-relative and file://): confinement to raw/, incrementality, the store."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import polars as pl
import pytest

from recsys.images import (CacheSettings, HttpFetcher, HttpSettings, ImageStore, LocalFiles, Status, primary_images,
                           update_image_cache)
from recsys.images import processing as processing_module
from recsys.images.manifest import MANIFEST_SCHEMA
from recsys.images.outcome import ImageRejected
from tests.image_samples import jpeg, png_bomb, truncated


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    images = root / "raw" / "shop" / "images"
    images.mkdir(parents=True)
    (images / "big.jpg").write_bytes(jpeg((600, 400)))
    (images / "small.jpg").write_bytes(jpeg((224, 224), color=(10, 200, 10)))
    (images / "broken.jpg").write_bytes(truncated(jpeg()))
    (images / "bomb.jpg").write_bytes(png_bomb())  # a PNG named .jpg: sniffed, then refused as a bomb
    return root


def _uri(lake: Path, name: str) -> str:
    return (lake / "raw" / "shop" / "images" / name).as_uri()


def _run(lake: Path, products: pl.DataFrame, **settings):
    with HttpFetcher(HttpSettings(offline=True)) as http:
        return update_image_cache(products, store=ImageStore(lake), local=LocalFiles(lake, 5_000_000), remote=http,
                                  settings=CacheSettings(**settings))


def _products(lake: Path, names: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"product_id": [f"shop:{n}" for n in names], "image_urls": [[_uri(lake, n)] for n in names]})


def test_local_images_are_cached_with_their_status(lake):
    result = _run(lake, _products(lake, ["big.jpg", "small.jpg", "broken.jpg", "bomb.jpg", "gone.jpg"]))
    rows = {r["product_id"].split(":")[1]: r for r in result.manifest.iter_rows(named=True)}
    assert {k: r["status"] for k, r in rows.items()} == {
        "big.jpg": "ok", "small.jpg": "ok", "broken.jpg": "corrupt", "bomb.jpg": "bomb", "gone.jpg": "not_found"}
    big = rows["big.jpg"]
    assert (big["width"], big["height"], big["bytes"]) == (600, 400, (lake / "raw/shop/images/big.jpg").stat().st_size)
    assert big["path"] == f"images/{big['sha256'][:2]}/{big['sha256']}.jpg"
    assert (lake / big["path"]).is_file()
    assert rows["bomb.jpg"]["format"] == "PNG"
    assert result.manifest.schema == pl.Schema(MANIFEST_SCHEMA)


def test_lake_relative_paths_are_local_too(lake):
    products = pl.DataFrame({"product_id": ["x"], "image_urls": [["raw/shop/images/small.jpg"]]})
    assert _run(lake, products).manifest["status"].to_list() == ["ok"]


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "raw/../../../../etc/passwd",
    "raw/shop/images/../../../secret.jpg",
    "file://otherhost/raw/x.jpg",
    "images/ab/abc.jpg",            # inside the lake but outside raw/
])
def test_paths_outside_raw_are_refused_without_reading(lake, url):
    (lake / "secret.jpg").write_bytes(jpeg())
    products = pl.DataFrame({"product_id": ["x"], "image_urls": [[url]]})
    row = _run(lake, products).manifest.row(0, named=True)
    assert row["status"] == "refused" and row["bytes"] is None


@pytest.mark.parametrize("tail", ["small.jpg", "sm%61ll.jpg", "small.jpg?v=2", "small.jpg#front", "sm\tall.jpg",
                                  "../../../../secret.jpg", "..%2F..%2F..%2F..%2Fsecret.jpg"])
def test_plain_file_uris_locate_as_the_url_parser_reads_them(lake, tail):
    """``locate`` skips urlsplit for plain ``file:///`` URIs; the ``file://localhost/`` spelling of the
    same URI still goes through it, so both must name the same file, or refuse both."""
    (lake / "secret.jpg").write_bytes(jpeg())
    local = LocalFiles(lake, 1_000_000)
    folder = (lake / "raw" / "shop" / "images").as_posix()

    def located(url: str):
        try:
            return local.locate(url)
        except ImageRejected as rejected:
            return rejected.status

    fast = located(f"file://{folder}/{tail}")
    assert fast == located(f"file://localhost{folder}/{tail}")
    assert fast == (Status.REFUSED if "secret" in tail else local.locate(_uri(lake, "small.jpg")))


def test_a_symlink_out_of_raw_is_refused(lake, tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg())
    (lake / "raw" / "shop" / "images" / "link.jpg").symlink_to(outside)
    with pytest.raises(ImageRejected) as caught:
        LocalFiles(lake, 1_000_000).locate(_uri(lake, "link.jpg"))
    assert caught.value.status is Status.REFUSED


def test_a_symlink_inside_raw_is_followed(lake):
    (lake / "raw" / "shop" / "images" / "alias.jpg").symlink_to(lake / "raw" / "shop" / "images" / "small.jpg")
    assert _run(lake, _products(lake, ["alias.jpg"])).manifest["status"].to_list() == ["ok"]


def test_a_raw_folder_mounted_by_symlink_works(lake, tmp_path):
    elsewhere = tmp_path / "dataset"
    (lake / "raw").rename(elsewhere)
    (lake / "raw").symlink_to(elsewhere)
    products = pl.DataFrame({"product_id": ["a", "b"],
                             "image_urls": [[(elsewhere / "shop" / "images" / "small.jpg").as_uri()],
                                            ["raw/shop/images/big.jpg"]]})
    assert _run(lake, products).manifest["status"].to_list() == ["ok", "ok"]


def test_files_over_the_byte_limit_are_not_read(lake):
    with HttpFetcher(HttpSettings(offline=True)) as http:
        result = update_image_cache(_products(lake, ["big.jpg"]), store=ImageStore(lake),
                                    local=LocalFiles(lake, max_bytes=100), remote=http, settings=CacheSettings())
    assert result.manifest["status"].to_list() == ["too_large"]
    assert result.stats.bytes_read == 0


@pytest.mark.parametrize("grown_to, status", [(150, None), (5_001, Status.TOO_LARGE)])
def test_a_file_grown_since_it_was_planned_is_read_to_the_limit(lake, grown_to, status):
    local = LocalFiles(lake, max_bytes=5_000)
    path = lake / "raw" / "shop" / "images" / "growing.jpg"
    path.write_bytes(b"x" * 100)
    planned = local.locate(path.as_uri())
    path.write_bytes(b"y" * grown_to)
    if status is None:
        assert local.read(planned) == b"y" * grown_to
    else:
        with pytest.raises(ImageRejected) as caught:
            local.read(planned)
        assert caught.value.status is status


def test_second_run_reads_and_decodes_nothing(lake, monkeypatch):
    products = _products(lake, ["big.jpg", "small.jpg", "broken.jpg", "gone.jpg"])
    first = _run(lake, products)
    manifest_file = lake / "images" / "manifest.parquet"
    written_at = manifest_file.stat().st_mtime_ns

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded on a rerun")

    monkeypatch.setattr(processing_module, "normalize_image", no_decoding)
    monkeypatch.setattr(LocalFiles, "read", no_decoding)
    second = _run(lake, products)
    assert second.stats.reused == 4 and second.stats.local_processed == 0
    assert not second.manifest_written and manifest_file.stat().st_mtime_ns == written_at
    assert second.manifest.equals(first.manifest)


def test_a_changed_file_is_read_again_and_only_it(lake):
    products = _products(lake, ["big.jpg", "small.jpg", "broken.jpg"])
    first = _run(lake, products)
    broken = lake / "raw" / "shop" / "images" / "broken.jpg"
    broken.write_bytes(jpeg((300, 300)))          # fixed upstream
    os.utime(broken, ns=(1, 1))                     # even with an old mtime, the size differs
    second = _run(lake, products)
    assert second.stats.local_processed == 1 and second.stats.reused == 2
    statuses = dict(second.manifest.select("product_id", "status").iter_rows())
    assert statuses == {"shop:big.jpg": "ok", "shop:small.jpg": "ok", "shop:broken.jpg": "ok"}
    assert first.manifest.filter(pl.col("product_id") == "shop:big.jpg").equals(
        second.manifest.filter(pl.col("product_id") == "shop:big.jpg"))


def test_a_deleted_cached_file_is_stored_again(lake):
    products = _products(lake, ["big.jpg"])
    first = _run(lake, products)
    (lake / first.manifest["path"].item()).unlink()
    second = _run(lake, products)
    assert second.stats.local_processed == 1
    assert (lake / second.manifest["path"].item()).is_file()


def test_the_same_picture_under_two_names_is_stored_once(lake):
    images = lake / "raw" / "shop" / "images"
    (images / "copy.jpg").write_bytes((images / "small.jpg").read_bytes())
    result = _run(lake, _products(lake, ["small.jpg", "copy.jpg"]))
    assert result.manifest["sha256"].n_unique() == 1
    assert len(list((lake / "images").glob("??/*.jpg"))) == 1


def test_products_that_leave_take_their_orphan_files_with_them(lake):
    _run(lake, _products(lake, ["big.jpg", "small.jpg"]))
    result = _run(lake, _products(lake, ["small.jpg"]))
    assert result.pruned == 1
    assert [p.name for p in (lake / "images").glob("??/*.jpg")] == [f"{result.manifest['sha256'].item()}.jpg"]


def test_a_half_written_store_file_is_repaired(lake):
    products = _products(lake, ["big.jpg"])
    first = _run(lake, products)
    stored = lake / first.manifest["path"].item()
    good = stored.read_bytes()
    stored.write_bytes(good[:100])  # what a crash mid-write leaves
    ImageStore(lake).put(good)
    assert stored.read_bytes() == good


def test_a_second_concurrent_build_waits_for_the_first(lake):
    entered = threading.Event()

    def second_build():
        with ImageStore(lake).lock():
            entered.set()

    with ImageStore(lake).lock():
        other = threading.Thread(target=second_build)
        other.start()
        assert not entered.wait(0.3)        # still held: the second build is waiting, not writing
    other.join()
    assert entered.is_set()


def test_primary_images_follow_image_url_order():
    manifest = pl.DataFrame({
        "product_id": ["a", "a", "a", "b", "c"],
        "position": [2, 0, 1, 0, 0],
        "status": ["ok", "not_found", "ok", "ok", "corrupt"],
        "path": ["images/2", None, "images/1", "images/b", None],
        "sha256": ["s2", None, "s1", "sb", None],
    })
    primary = primary_images(manifest)
    assert primary.rows() == [("a", "images/1", "s1"), ("b", "images/b", "sb")]
    assert primary.columns == ["product_id", "image_path", "sha256"]


def test_products_without_images_have_no_rows(lake):
    products = pl.DataFrame({"product_id": ["none", "empty"], "image_urls": [None, []]},
                            schema={"product_id": pl.String, "image_urls": pl.List(pl.String)})
    result = _run(lake, products)
    assert result.manifest.is_empty() and result.manifest.schema == pl.Schema(MANIFEST_SCHEMA)


def _relative(names: list[str]) -> pl.DataFrame:
    """Products as the catalog writes them today: local images as lake-relative paths."""
    return pl.DataFrame({"product_id": [f"shop:{n}" for n in names],
                         "image_urls": [[f"raw/shop/images/{n}"] for n in names]})


def test_a_lake_copied_with_its_file_times_reads_and_decodes_nothing(lake, tmp_path, monkeypatch):
    products = _relative(["big.jpg", "small.jpg", "broken.jpg", "gone.jpg"])
    first = _run(lake, products)
    copy = Path(shutil.copytree(lake, tmp_path / "restored" / "lake", copy_function=shutil.copy2))
    image = "raw/shop/images/big.jpg"
    assert (copy / image).stat().st_mtime_ns == (lake / image).stat().st_mtime_ns   # as `cp -a` keeps them
    monkeypatch.setattr(processing_module, "normalize_image", lambda *a, **k: pytest.fail("decoded in the copy"))
    second = _run(copy, products)
    assert second.stats.reused == 4 and second.stats.local_processed == 0 and not second.manifest_written
    assert second.manifest.equals(first.manifest)
    assert not any(str(root) in str(value) for root in (lake, copy) for value in second.manifest.rows())


def test_stored_errors_name_files_lake_relative(lake):
    (lake / "outside.jpg").write_bytes(jpeg())
    products = pl.DataFrame({"product_id": ["gone", "out"],
                             "image_urls": [["raw/shop/images/gone.jpg"], ["raw/shop/../../outside.jpg"]]})
    errors = dict(_run(lake, products).manifest.select("product_id", "error").iter_rows())
    assert errors == {"gone": "no file at raw/shop/images/gone.jpg", "out": "outside.jpg is outside raw/"}


def test_a_manifest_of_absolute_file_uris_still_answers_for_lake_relative_references(lake, monkeypatch):
    """A lake built before local images were stored lake-relative: its manifest names them by
    file:// URI. The first build after the change reuses those outcomes and rewrites the manifest."""
    names = ["big.jpg", "small.jpg", "broken.jpg"]
    old = _run(lake, _products(lake, names))
    assert old.manifest["url"].str.starts_with("file://").all()
    monkeypatch.setattr(processing_module, "normalize_image", lambda *a, **k: pytest.fail("decoded again"))
    new = _run(lake, _relative(names))
    assert new.stats.reused == 3 and new.stats.local_processed == 0 and new.pruned == 0
    assert new.manifest_written and new.manifest["url"].to_list() == [f"raw/shop/images/{n}" for n in sorted(names)]
    assert new.manifest.drop("url").equals(old.manifest.drop("url"))
