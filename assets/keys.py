"""Every asset key, named once, with where the asset lives in the lake.

Asset and pipeline modules take their keys from here, and the lake resource reads and writes by key
(``lake.read(keys.SILVER_PRODUCTS)``), so a key or a lake path is spelled in this file alone. A lake
path is relative to the lake root; a table's path has no ``.parquet`` suffix. Each asset is defined
in the module of its group (``assets/<group>.py``, the shard assets beside them), which names the group.

A leaf module: it imports only Dagster, so resources and every asset module can import it.
"""

import dagster as dg

_LAKE_PATHS: dict[dg.AssetKey, str] = {}


def _asset(key: str, lake_path: str) -> dg.AssetKey:
    """The key ``key`` ("silver/products"), recorded with the lake file or folder that holds the asset."""
    asset_key = dg.AssetKey.from_user_string(key)
    _LAKE_PATHS[asset_key] = lake_path
    return asset_key


def lake_path(where: dg.AssetKey | str) -> str:
    """The lake path of an asset key; a lake path (one of the plain paths below) is returned as is."""
    return _LAKE_PATHS[where] if isinstance(where, dg.AssetKey) else where


# --- assets, by group ---------------------------------------------------------------------------
# raw (observed, never built)
RAW_ASOS = _asset("raw/asos", "raw/asos")
RAW_MYNTRA_STYLES = _asset("raw/myntra_styles", "raw/myntra/styles")
RAW_MYNTRA_CATALOG = _asset("raw/myntra_catalog", "raw/myntra/catalog")
RAW_MYNTRA_IMAGES = _asset("raw/myntra_images", "raw/myntra/images")
RAW_EVENTS = _asset("raw/events", "raw/events")
# catalog
SILVER_PRODUCTS = _asset("silver/products", "silver/products")
SILVER_QUARANTINE = _asset("silver/quarantine", "silver/quarantine")
PRODUCT_CHANGES = _asset("silver/product_changes", "silver/product_changes")
# images
IMAGE_MANIFEST = _asset("images/manifest", "images/manifest")
IMAGE_MANIFEST_SHARDS = _asset("images/manifest_shards", "images/manifests")      # <shard>.parquet each
# embeddings
IMAGE_TOWER = _asset("models/image_tower", "models/image_tower")
TEXT_VECTORS = _asset("features/text_vectors", "features/text_vectors")
ITEM_EMBEDDINGS = _asset("features/item_embeddings", "features/item_embeddings")
ITEM_EMBEDDING_SHARDS = _asset("features/item_embedding_shards", "features/item_embedding_shards")   # <shard>.parquet
# interactions
INTERACTIONS = _asset("silver/interactions", "silver/interactions")
INTERACTION_SPLIT = _asset("features/interaction_split", "features/interaction_split")
# models
ALS_MODEL = _asset("models/als", "models/als")
TWO_TOWER_MODEL = _asset("models/two_tower", "models/two_tower")
ITEM_TOWER_VECTORS = _asset("features/item_tower_vectors", "features/item_tower_vectors")
# index
FAISS_INDEX = _asset("models/faiss_index", "models/faiss_index")
# evaluation: the weights tuned on validation (read by the index and the tables), and the test report
HYBRID_WEIGHTS = _asset("models/hybrid_weights", "models/hybrid_weights.json")
EVALUATION = _asset("gold/evaluation", "gold/evaluation")
# recommendations
GOLD_PRODUCTS = _asset("gold/products", "gold/products")
SIMILAR_ITEMS = _asset("gold/similar_items", "gold/similar_items")
USER_RECOMMENDATIONS = _asset("gold/user_recommendations", "gold/user_recommendations")
USER_RECOMMENDATION_SHARDS = _asset("gold/user_recommendation_shards", "shards/user_recommendations")   # <shard>.parquet
STYLE_RECOMMENDATIONS = _asset("gold/style_recommendations", "gold/style_recommendations")
BUILDS = _asset("gold/builds", "gold/builds")
WAREHOUSE = _asset("warehouse", "warehouse.duckdb")

# --- lake files that belong to an asset without being one ---------------------------------------
EVENTS_QUARANTINE = "silver/events_quarantine"                 # silver/interactions' rejected event rows
SIMULATOR_SETTINGS = "silver/interactions_simulator.json"      # names the simulated log now in the lake
ACCEPTED_LOCAL_IMAGES = "state/images/local_images"            # products with an ok local image, last accepted
TUNING_STATE = "state/hybrid_weights"                          # the retrain record of the tuned weights
EVALUATION_STATE = "state/evaluation"                          # what gold/evaluation was computed from
EVALUATION_METRICS = "gold/evaluation/metrics"
EVALUATION_RANKINGS = "gold/evaluation/rankings"
EVALUATION_GROUND_TRUTH = "gold/evaluation/ground_truth"
EVALUATION_REPORT = "gold/evaluation/report.md"
GOLD_DIR = "gold"                                              # every published table, for the warehouse
FAILED_BUILDS = "gold/failed_builds"                           # written by the build failure sensor
# The published gold tables, by their name in recsys.gold.GOLD_TABLES.
GOLD_TABLE_KEYS = {"products": GOLD_PRODUCTS, "similar_items": SIMILAR_ITEMS, "user_recommendations": USER_RECOMMENDATIONS,
                   "style_recommendations": STYLE_RECOMMENDATIONS, "builds": BUILDS}
# Popularity and co-purchases as the list tables read them, pinned with the trained models.
LIST_BEHAVIOUR = "state/list_behaviour"
# The state an incrementally refreshed list table keeps beside it for the next build.
LIST_STATES = {SIMILAR_ITEMS: "state/similar_items", USER_RECOMMENDATIONS: "state/user_recommendations"}
