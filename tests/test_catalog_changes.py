"""Catalog change detection: what a load added, changed (content_hash) and removed."""

import polars as pl

from recsys.catalog.changes import catalog_changes, change_counts


def _products(rows: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"product_id": list(rows), "content_hash": list(rows.values()), "price": [1.0] * len(rows)})


def test_new_changed_and_removed_products_are_listed_and_unchanged_ones_are_not():
    before = _products({"a": "h1", "b": "h2", "c": "h3"})
    after = _products({"a": "h1", "b": "h2-edited", "d": "h4"}).with_columns(price=pl.lit(9.0))
    changes = catalog_changes(before, after)
    assert dict(changes.iter_rows()) == {"b": "changed", "c": "removed", "d": "new"}
    assert change_counts(changes) == {"new": 1, "changed": 1, "removed": 1}


def test_the_first_load_is_all_new_and_a_repeat_load_changes_nothing():
    products = _products({"a": "h1", "b": "h2"})
    assert change_counts(catalog_changes(None, products)) == {"new": 2, "changed": 0, "removed": 0}
    assert catalog_changes(products, products).is_empty()
