"""What the app shows of a product, and the filters every list takes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

import polars as pl

FILTER_COLUMNS = ("gender", "category", "article_type", "brand")
IMAGE_CACHE_DIR = "images"


@dataclass(frozen=True)
class ProductCard:
    product_id: str
    name: str | None
    brand: str | None
    gender: str | None
    category: str | None
    article_type: str | None
    colour: str | None
    price: float | None
    currency: str | None
    description: str | None
    image_url: str | None

    def fields(self) -> dict:
        return asdict(self)


def image_url(image_path: str | None) -> str | None:
    """``/images/<name>`` for a cached image (``images/<sha[:2]>/<name>`` in the lake), else None."""
    if not image_path:
        return None
    path = PurePosixPath(image_path)
    if len(path.parts) != 3 or path.parts[0] != IMAGE_CACHE_DIR:
        return None
    return f"/images/{path.name}"


def card_from_row(row: dict) -> ProductCard:
    return ProductCard(**{k: row.get(k) for k in ProductCard.__dataclass_fields__ if k != "image_url"},
                       image_url=image_url(row.get("image_path")))


@dataclass(frozen=True)
class Filters:
    """Attribute values (canonical spelling, as in the catalog) and a price range; None = any."""

    gender: str | None = None
    category: str | None = None
    article_type: str | None = None
    brand: str | None = None
    min_price: float | None = None
    max_price: float | None = None

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)

    def given(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if getattr(self, name) is not None}

    def matches(self, card: ProductCard) -> bool:
        for column in FILTER_COLUMNS:
            wanted = getattr(self, column)
            if wanted is not None and getattr(card, column) != wanted:
                return False
        if self.min_price is not None and (card.price is None or card.price < self.min_price):
            return False
        return not (self.max_price is not None and (card.price is None or card.price > self.max_price))

    def expression(self) -> pl.Expr:
        conditions = [pl.col(c) == getattr(self, c) for c in FILTER_COLUMNS if getattr(self, c) is not None]
        if self.min_price is not None:
            conditions.append(pl.col("price") >= self.min_price)
        if self.max_price is not None:
            conditions.append(pl.col("price") <= self.max_price)
        return pl.all_horizontal(conditions) if conditions else pl.lit(True)


class UnknownFilterValue(ValueError):
    def __init__(self, column: str, value: str):
        super().__init__(f"unknown {column} {value!r}: not in this build's catalog")
        self.column, self.value = column, value


def resolve_filters(vocabulary: dict[str, dict[str, str]], min_price: float | None = None,
                    max_price: float | None = None, **values: str | None) -> Filters:
    """Filters with each value in the catalog's spelling (matched case-insensitively);
    UnknownFilterValue for a value no product has, ValueError for an empty price range."""
    canonical = {}
    for column in FILTER_COLUMNS:
        value = values.get(column)
        if value is None or value == "":
            continue
        found = vocabulary[column].get(value.strip().casefold())
        if found is None:
            raise UnknownFilterValue(column, value)
        canonical[column] = found
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValueError(f"min_price {min_price} is above max_price {max_price}")
    return Filters(**canonical, min_price=min_price, max_price=max_price)
