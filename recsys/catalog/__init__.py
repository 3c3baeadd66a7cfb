"""Raw catalogs (ASOS, Myntra styles, Myntra products catalog) to the unified product table."""

from recsys.catalog.ingest import IngestResult, ingest_catalogs
from recsys.catalog.schema import PRODUCT_SCHEMA, QUARANTINE_SCHEMA

__all__ = ["IngestResult", "ingest_catalogs", "PRODUCT_SCHEMA", "QUARANTINE_SCHEMA"]
