"""Dagster resources: everything that touches the outside world (files, DuckDB, HTTP, models)."""

from __future__ import annotations

import os

import dagster as dg

from resources.encoders import EncoderResource
from resources.images import ImageFetcherResource
from resources.lake import LakeResource, WarehouseResource

LAKE_ENV_VAR = "RECSYS_LAKE_DIR"


def lake_root(lake_dir: str | None = None) -> str | dg.EnvVar:
    """The lake root: the argument, else ``$RECSYS_LAKE_DIR`` (as an EnvVar, so the UI shows where the
    value comes from and each process reads it when the resource is built), else ``data_lake``."""
    if lake_dir:
        return lake_dir
    return dg.EnvVar(LAKE_ENV_VAR) if os.getenv(LAKE_ENV_VAR) else "data_lake"


def default_resources(lake_dir: str | None = None) -> dict[str, object]:
    """Resources with defaults that run the embedded sample."""
    root = lake_root(lake_dir)
    return {
        "lake": LakeResource(root=root),
        "warehouse": WarehouseResource(root=root),
        "image_fetcher": ImageFetcherResource(),
        "encoder": EncoderResource(),
    }


__all__ = ["EncoderResource", "ImageFetcherResource", "LakeResource", "WarehouseResource", "default_resources", "lake_root", "LAKE_ENV_VAR"]
