"""Dagster resources: everything that touches the outside world (files, DuckDB, HTTP, models)."""

from __future__ import annotations

import os

from resources.encoders import EncoderResource
from resources.images import ImageFetcherResource
from resources.lake import LakeResource, WarehouseResource

LAKE_ENV_VAR = "RECSYS_LAKE_DIR"


def lake_root(lake_dir: str | None = None) -> str:
    """The lake root: the argument, else ``$RECSYS_LAKE_DIR``, else ``data_lake``."""
    return lake_dir or os.getenv(LAKE_ENV_VAR, "data_lake")


def default_resources(lake_dir: str | None = None) -> dict[str, object]:
    """Resources with defaults that run the embedded sample; read the environment when called."""
    root = lake_root(lake_dir)
    return {
        "lake": LakeResource(root=root),
        "warehouse": WarehouseResource(root=root),
        "image_fetcher": ImageFetcherResource(),
        "encoder": EncoderResource(),
    }


__all__ = ["EncoderResource", "ImageFetcherResource", "LakeResource", "WarehouseResource", "default_resources", "lake_root", "LAKE_ENV_VAR"]
