"""The image cache: the only component that touches image bytes.

Products reference images by http(s) URL or by local file inside raw/: a lake-relative path
(``raw/myntra/images/10000.jpg``, what the catalog stores) or a ``file://`` URI.
``update_image_cache`` fetches or reads each one safely, normalizes it (RGB JPEG, longest side
<= 320, EXIF orientation applied), stores it content-addressed under
``<lake>/images/<sha[:2]>/<sha256>.jpg`` and records every (product, url) in
``images/manifest.parquet`` (a catalog shard's run: ``images/manifests/<shard>.parquet``).
Downstream reads ``primary_images(manifest)``.

The names below are imported on first use (PEP 562): a decode worker process imports only the
modules it runs (Pillow, the checks, the store), not polars and httpx, which took it a second.
"""

import importlib

_HOMES = {
    "MANIFEST_FILE": "cache", "CacheResult": "cache", "CacheSettings": "cache", "CacheStats": "cache",
    "manifest_file": "cache", "update_image_cache": "cache",
    "LocalFiles": "local",
    "MANIFEST_SCHEMA": "manifest", "primary_images": "manifest", "status_counts": "manifest",
    "NORMALIZED_MAX_SIDE": "normalize", "normalize_image": "normalize",
    "RETRYABLE": "outcome", "Outcome": "outcome", "Status": "outcome",
    "HttpFetcher": "remote", "HttpSettings": "remote",
    "ImageStore": "store",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
