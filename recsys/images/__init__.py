"""The image cache: the only component that touches image bytes.

Products reference images by http(s) URL or by local file (``file://`` inside the lake's raw/,
or a lake-relative path). ``update_image_cache`` fetches or reads each one safely, normalizes it
(RGB JPEG, longest side <= 320, EXIF orientation applied), stores it content-addressed under
``<lake>/images/<sha[:2]>/<sha256>.jpg`` and records every (product, url) in
``images/manifest.parquet``. Downstream reads ``primary_images(manifest)``.
"""

from recsys.images.cache import MANIFEST_FILE, CacheResult, CacheSettings, CacheStats, update_image_cache
from recsys.images.local import LocalFiles
from recsys.images.manifest import MANIFEST_SCHEMA, primary_images, status_counts
from recsys.images.normalize import NORMALIZED_MAX_SIDE, normalize_image
from recsys.images.outcome import RETRYABLE, Outcome, Status
from recsys.images.remote import HttpFetcher, HttpSettings
from recsys.images.store import ImageStore

__all__ = [
    "MANIFEST_FILE", "MANIFEST_SCHEMA", "NORMALIZED_MAX_SIDE", "RETRYABLE",
    "CacheResult", "CacheSettings", "CacheStats", "HttpFetcher", "HttpSettings", "ImageStore", "LocalFiles",
    "Outcome", "Status", "normalize_image", "primary_images", "status_counts", "update_image_cache",
]
