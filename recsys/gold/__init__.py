"""The gold tables (contract: docs/tables.md): products, similar_items, user_recommendations,
style_recommendations and builds, built from aligned vectors, models and history."""

from recsys.gold.builds import append_build, build_record
from recsys.gold.products import build_products
from recsys.gold.publish import gold_warehouse_tables
from recsys.gold.schemas import COLUMN_DESCRIPTIONS, GOLD_TABLES, GoldTable, TableBuild, conform
from recsys.gold.similar_items import DEFAULT_SIMILAR_WEIGHTS, SimilarItemsSettings, build_similar_items
from recsys.gold.style_recommendations import (
    DEFAULT_STYLE_WEIGHTS,
    StyleCatalogue,
    StyleRecommendationsSettings,
    build_style_recommendations,
)
from recsys.gold.user_recommendations import (
    DEFAULT_USER_WEIGHTS,
    UserRecommendationsSettings,
    UserSpace,
    build_user_recommendations,
)

__all__ = [
    "append_build", "build_record", "build_products", "gold_warehouse_tables", "COLUMN_DESCRIPTIONS", "GOLD_TABLES", "GoldTable", "TableBuild", "conform",
    "DEFAULT_SIMILAR_WEIGHTS", "SimilarItemsSettings", "build_similar_items", "DEFAULT_STYLE_WEIGHTS",
    "StyleCatalogue", "StyleRecommendationsSettings", "build_style_recommendations", "DEFAULT_USER_WEIGHTS",
    "UserRecommendationsSettings", "UserSpace", "build_user_recommendations"
]
