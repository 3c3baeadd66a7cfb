"""The gold recommendation tables (Parquet) and the DuckDB warehouse that serves them."""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg
import numpy as np
import polars as pl

from assets import keys, metadata
from assets.defaults import field_default, from_config
from assets.build_stages import finished_stages
from assets.list_state import previous_lists, previous_user_lists, publish_lists, refresh_metadata
from assets.retrain_config import model_versions
from recsys.gold import (
    COLUMN_DESCRIPTIONS,
    GOLD_TABLES,
    SimilarItemsSettings,
    StyleCatalogue,
    StyleRecommendationsSettings,
    UserRecommendationsSettings,
    append_build,
    build_products,
    build_record,
    build_similar_items,
    build_style_recommendations,
    build_user_recommendations,
    gold_warehouse_tables,
)
from recsys.gold import checks
from recsys.gold.list_inputs import IndexedCatalog, ListInputs, ListSources, load_list_inputs
from recsys.gold.list_refresh import ListSettings, ListsBuild
from recsys.gold import queries as sql
from recsys import storage
from recsys.catalog.changes import change_counts
from recsys.images import primary_images
from recsys.index import IdMap, ItemIndex
from recsys.interactions import personas
from recsys.recommend import build_history
from recsys.recommend.reasons import reason_kind_counts, reason_kinds
from recsys.warehouse import first_key, lookup_milliseconds
from resources import LakeResource, WarehouseResource

GROUP = "recommendations"

ALL_SPLITS = ["train", "validation", "test"]

# Every build rewrites the published tables and the nightly schedule builds once a day, so a table
# older than a day and a bit means a nightly build did not land: the UI shows it overdue.
NIGHTLY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=30), warn_window=timedelta(hours=26))


def _published(table: str) -> dict:
    """What the UI shows of a published table before it is built: its columns, and when it is overdue."""
    schema = metadata.column_schema(GOLD_TABLES[table].schema, COLUMN_DESCRIPTIONS)
    return {"metadata": {"dagster/column_schema": schema}, "freshness_policy": NIGHTLY_FRESHNESS}


class HistoryConfig(dg.Config):
    history_splits: list[str] = ALL_SPLITS
    """Interactions that count as what a user has (excluded from their list, used for their profile) and
    for popularity. All splits for the served tables; evaluation scores its own train-only rankings."""


class ListTableConfig(HistoryConfig):
    """What both list tables (similar_items, user_recommendations) take."""

    k: int = field_default(ListSettings, "k")
    candidates_per_source: int = field_default(ListSettings, "candidates_per_source")
    weights: dict[str, float] | None = None
    """Re-ranking weights by signal: content, two_tower, als, popularity (0 turns a signal off); default: the
    weights tuned on validation (models/hybrid_weights), or the built-in defaults when they were never tuned."""


class SimilarItemsConfig(ListTableConfig):
    def settings(self, weights: dict[str, float]) -> SimilarItemsSettings:
        return from_config(SimilarItemsSettings, self, weights=weights)


class UserRecommendationsConfig(ListTableConfig):
    users_per_block: int = field_default(UserRecommendationsSettings, "users_per_block")
    """Users taken from candidate search to table rows at once: lower it to bound memory (each block
    holds its users' candidates and scores), raise it for fewer, larger matrix products."""

    def settings(self, weights: dict[str, float]) -> UserRecommendationsSettings:
        return from_config(UserRecommendationsSettings, self, weights=weights)


class StyleRecommendationsConfig(HistoryConfig):
    k: int = field_default(StyleRecommendationsSettings, "k")
    candidates_per_source: int = field_default(StyleRecommendationsSettings, "candidates_per_source")
    weights: dict[str, float] = field_default(StyleRecommendationsSettings, "weights")
    """style_fit (attribute fit to the style), style_popularity, popularity."""

    def settings(self) -> StyleRecommendationsSettings:
        return from_config(StyleRecommendationsSettings, self)


# --- reading inputs -------------------------------------------------------------------------------
def _interactions(lake: LakeResource, splits: list[str]) -> pl.DataFrame | None:
    frame = lake.read_if_exists(keys.INTERACTION_SPLIT)
    return frame.filter(pl.col("split").is_in(splits)) if frame is not None else None


def _list_sources(lake: LakeResource) -> ListSources:
    return ListSources(products=lake.table_path(keys.GOLD_PRODUCTS), embeddings=lake.table_path(keys.ITEM_EMBEDDINGS),
                       index=lake.path(keys.FAISS_INDEX), interactions=lake.table_path(keys.INTERACTION_SPLIT),
                       als=lake.path(keys.ALS_MODEL), two_tower=lake.path(keys.TWO_TOWER_MODEL),
                       tower_vectors=lake.table_path(keys.ITEM_TOWER_VECTORS),
                       tuned_weights=lake.path(keys.HYBRID_WEIGHTS), behaviour=lake.path(keys.LIST_BEHAVIOUR))


def list_inputs(lake: LakeResource, table: str, config: SimilarItemsConfig | UserRecommendationsConfig) -> ListInputs:
    """What list table ``table`` is built from, its popularity and co-purchases pinned with the models."""
    return load_list_inputs(table, _list_sources(lake), config.history_splits, config.weights, model_versions(lake))


# --- the two list tables: what the UI shows, and their checks ------------------------------------
@dataclass(frozen=True)
class ListTable:
    """How one list table is described: the key its lists belong to, the column of the listed product."""

    asset: dg.AssetKey
    name: str
    key: str                  # product_id (similar items) or user_id
    item: str                 # the listed product's column
    lists: str                # "product lists", "user lists"
    listed_check: str         # every key has a list (blocking)
    ranking_check: str        # no row that must not be there, ranks 1..n (blocking)

    def asset_arguments(self, deps: list[dg.AssetKey], description: str) -> dict:
        """``dg.asset`` arguments of the table: key, group, columns and freshness, its two blocking checks."""
        return {"key": self.asset, "group_name": GROUP, **_published(self.name), "deps": deps,
                "kinds": {"python", "faiss", "parquet"}, "description": description,
                "check_specs": [dg.AssetCheckSpec(name, asset=self.asset, blocking=True)
                                for name in (self.listed_check, self.ranking_check)]}


SIMILAR = ListTable(keys.SIMILAR_ITEMS, "similar_items", "product_id", "similar_product_id", "product lists",
                    "every_product_listed", "no_self_or_broken_ranking")
USER = ListTable(keys.USER_RECOMMENDATIONS, "user_recommendations", "user_id", "product_id", "user lists",
                 "every_user_listed", "no_owned_or_broken_ranking")


def _list_results(table: ListTable, lake: LakeResource, inputs: ListInputs, built: ListsBuild, started: float,
                  lists: checks.ListTableQueries, expected_keys: list[str], wrong_rows: dict[str, int],
                  specific: dict) -> list:
    """The MaterializeResult and the two checks of a list table, answered by ``lists`` (the table as
    written); ``wrong_rows``: rows that must not be listed (a product as its own neighbour, a user's
    own item), by kind; ``specific``: the table's own metadata entries."""
    missing, broken = lists.missing_keys(expected_keys), lists.broken_lists()
    return [dg.MaterializeResult(metadata={
        "dagster/row_count": lists.rows(), **refresh_metadata(built.plan, table.lists), **specific,
        "signals_used": metadata.counts({k: int(v) for k, v in inputs.signals.items()}, "signal", "available"),
        "weights": inputs.weights,
        **({"popularity_and_copurchases": "pinned with the models" if inputs.behaviour_pinned else "taken now"}
           if inputs.behaviour_pinned is not None else {}),
        "reasons": metadata.counts(reason_kinds(lists.reason_counts()), "reason (kind)", "rows"),
        "score_distribution": metadata.score_plot(lists.score_sample(), "model", f"{table.name} scores"),
        "sample": metadata.named_sample(lists.sample_lists(), inputs.catalog.products, table.key, table.item,
                                        [table.key]),
        "seconds": {**built.seconds, "total": round(time.perf_counter() - started, 2)},
        "path": dg.MetadataValue.path(str(lake.table_path(table.asset))),
    }), dg.AssetCheckResult(check_name=table.listed_check, asset_key=table.asset, passed=not missing,
                            metadata={"missing": len(missing), "examples": ", ".join(missing[:5])}),
        dg.AssetCheckResult(check_name=table.ranking_check, asset_key=table.asset,
                            passed=not any(wrong_rows.values()) and broken == 0,
                            metadata={**wrong_rows, "broken_lists": broken})]


def _build_context(context: dg.AssetExecutionContext, lake: LakeResource, table: ListTable,
                   catalog: IndexedCatalog) -> dict:
    """The arguments both list builders take besides their inputs: this build's id, the previous build's
    lists (to refresh incrementally), and whether the index searches exactly."""
    return {"build_id": context.run.run_id, "previous": previous_lists(lake, table.asset),
            "exact_search": catalog.index_kind == "flat"}


def _published_lists(context: dg.AssetExecutionContext, lake: LakeResource, table: ListTable,
                     built: ListsBuild) -> ListsBuild:
    """The built table written (or moved into place) with the state it was built with."""
    publish_lists(lake, table.asset, built)
    context.log.info("%s: %s", table.name, built.plan.counts)
    return built


# --- assets ---------------------------------------------------------------------------------------
@dg.asset(
    code_version="2026-12-07",
    key=keys.GOLD_PRODUCTS, group_name=GROUP, **_published("products"),
    deps=[keys.SILVER_PRODUCTS, keys.IMAGE_MANIFEST, keys.ITEM_EMBEDDINGS],
    kinds={"python", "polars", "parquet"},
    description="gold/products.parquet: the catalog dimension for joins (silver columns, price_band, "
                "image_path of the cached image, has_image, has_text), sorted by product_id.",
)
def gold_products(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    manifest = lake.read_if_exists(keys.IMAGE_MANIFEST)
    embeddings = lake.read_if_exists(keys.ITEM_EMBEDDINGS)
    table = build_products(lake.read(keys.SILVER_PRODUCTS),
                           primary_images(manifest) if manifest is not None else None,
                           embeddings.select("product_id", "has_text") if embeddings is not None else None,
                           build_id=context.run.run_id)
    lake.write(table, keys.GOLD_PRODUCTS)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.height,
        "with_image": int(table["has_image"].sum()),
        "with_text": int(table["has_text"].sum()),
        "by_price_band": metadata.counts({str(k): v for k, v in table["price_band"].value_counts().iter_rows()},
                                         "price_band", "products"),
        "preview": metadata.preview(table, ["product_id", "name", "gender", "article_type", "colour", "price",
                                            "currency", "price_band", "has_image", "has_text"]),
        "path": dg.MetadataValue.path(str(lake.table_path(keys.GOLD_PRODUCTS))),
    })


@dg.asset(code_version="2026-12-07", **SIMILAR.asset_arguments(
    deps=[keys.GOLD_PRODUCTS, keys.FAISS_INDEX, keys.ITEM_EMBEDDINGS, keys.INTERACTION_SPLIT, keys.ALS_MODEL,
          keys.ITEM_TOWER_VECTORS, keys.HYBRID_WEIGHTS],
    description="gold/similar_items.parquet: for every product the K most similar others (index candidates + "
                "hybrid re-ranking of content, two-tower, ALS and popularity), with a reason; sorted by product_id, "
                "rank. Incremental: only products whose list can have changed are recomputed (state/similar_items/)."))
def similar_items(context: dg.AssetExecutionContext, config: SimilarItemsConfig, lake: LakeResource):
    started = time.perf_counter()
    inputs = list_inputs(lake, SIMILAR.name, config)
    context.log.info("similar_items signals: %s; weights %s", inputs.signals, inputs.weights)
    catalog = inputs.catalog
    built = _published_lists(context, lake, SIMILAR, build_similar_items(
        catalog.products, catalog.content, catalog.search, tower=inputs.tower, als=inputs.als, history=inputs.history,
        config=config.settings(inputs.weights), **_build_context(context, lake, SIMILAR, catalog)))
    n = max(catalog.products.height, 1)
    with checks.ListTableQueries(built.table, SIMILAR.key, SIMILAR.item) as lists:
        yield from _list_results(SIMILAR, lake, inputs, built, started, lists, catalog.products["product_id"].to_list(),
                                 {"self_rows": lists.self_rows()}, {
            "products_covered": lists.distinct("product_id"),
            "coverage": round(lists.distinct("product_id") / n, 4),
            "catalog_reached": round(lists.distinct("similar_product_id") / n, 4),
            "index_kind": catalog.index_kind,
            "by_model": metadata.counts(lists.counts_by_model(distinct_keys=False), "model", "rows"),
        })


@dg.asset(code_version="2026-12-07", **USER.asset_arguments(
    deps=[keys.GOLD_PRODUCTS, keys.FAISS_INDEX, keys.ITEM_EMBEDDINGS, keys.INTERACTION_SPLIT, keys.ALS_MODEL,
          keys.TWO_TOWER_MODEL, keys.ITEM_TOWER_VECTORS, keys.HYBRID_WEIGHTS],
    description="gold/user_recommendations.parquet: for every user the K best products they do not have yet "
                "(candidates from the index, ALS, two-tower, popularity; hybrid re-ranking), with a reason. "
                "Incremental: only users whose list can have changed are recomputed (state/user_recommendations/)."))
def user_recommendations(context: dg.AssetExecutionContext, config: UserRecommendationsConfig,
                         lake: LakeResource):
    started = time.perf_counter()
    inputs = list_inputs(lake, USER.name, config)
    history = inputs.history
    context.log.info("user_recommendations signals: %s; weights %s (%s); %d users, %d history rows (%d on unknown "
                     "products)", inputs.signals, inputs.weights, inputs.weights_from, history.n_users,
                     history.rows_used, history.unknown_product_rows)
    catalog = inputs.catalog
    # The lists are written as they are built to a staging file; the checks read it, then it is
    # moved into place with its state. Refreshed from the user shards when they ran since.
    with storage.staged_file(lake.table_path(USER.asset)) as staging, previous_user_lists(lake) as previous:
        built = build_user_recommendations(
            catalog.products, history, catalog.content, catalog.search, tower=inputs.tower, als=inputs.als,
            config=config.settings(inputs.weights), output=staging, build_id=context.run.run_id,
            previous=previous, exact_search=catalog.index_kind == "flat")
        with checks.ListTableQueries(staging, USER.key, USER.item) as lists:
            results = _list_results(USER, lake, inputs, built, started, lists, history.user_ids.tolist(),
                                    {"owned_rows": lists.owned_rows(inputs.interactions)},
                                    _user_list_metadata(lists, history.n_users, catalog.products.height,
                                                        history.unknown_product_rows))
        _published_lists(context, lake, USER, built)
    yield from results


def _user_list_metadata(lists: checks.ListTableQueries, users: int, products: int, unknown_rows: int) -> dict:
    return {
        "users": users,
        "user_coverage": round(lists.distinct("user_id") / max(users, 1), 4),
        "catalog_coverage": round(lists.distinct("product_id") / max(products, 1), 4),
        "history_rows_on_unknown_products": unknown_rows,
        "by_model": metadata.counts(lists.counts_by_model(distinct_keys=True), "model", "users"),
    }


def _style_catalogue() -> StyleCatalogue:
    return StyleCatalogue(preferences={name: p.preferences for name, p in personas.PERSONAS.items()},
                          affinity=personas.affinity, gender_fit=personas.gender_affinity,
                          genders=personas.SHOPPER_GENDERS)


@dg.asset(
    code_version="2026-12-07",
    key=keys.STYLE_RECOMMENDATIONS, group_name=GROUP, **_published("style_recommendations"),
    deps=[keys.GOLD_PRODUCTS, keys.INTERACTION_SPLIT],
    kinds={"python", "parquet"},
    description="gold/style_recommendations.parquet: cold-start lists for a shopper who only picks a style "
                "(persona) and optionally a gender (null = any), with a reason.",
    check_specs=[dg.AssetCheckSpec("every_style_listed", asset=keys.STYLE_RECOMMENDATIONS, blocking=True)],
)
def style_recommendations(context: dg.AssetExecutionContext, config: StyleRecommendationsConfig,
                          lake: LakeResource):
    products = lake.read(keys.GOLD_PRODUCTS)
    interactions = _interactions(lake, config.history_splits)
    history = build_history(interactions, IdMap(products["product_id"].to_list())) if interactions is not None else None
    catalogue = _style_catalogue()
    built = build_style_recommendations(products, catalogue, history, config.settings(), build_id=context.run.run_id)
    table = built.table
    lake.write(table, keys.STYLE_RECOMMENDATIONS)
    expected = {(s, g) for s in catalogue.preferences for g in (None, *catalogue.genders)}
    listed = set(table.select("style", "gender").unique().iter_rows())
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": table.height,
        "lists": len(listed),
        "rows_per_list": metadata.counts({f"{s} / {g or 'any'}": n for s, g, n in
                                          table.group_by("style", "gender").len().sort("style", "gender").iter_rows()},
                                         "style / gender", "rows"),
        "uses_interactions": history is not None,
        "reasons": metadata.counts(reason_kind_counts(table), "reason (kind)", "rows"),
        "score_distribution": metadata.score_plot(table.with_columns(pl.col("gender").fill_null("any")), "gender",
                                                  "style_recommendations scores"),
        "sample": metadata.named_sample(table.filter(pl.col("gender").is_null()), products, "style", "product_id",
                                        ["style"], lists=4),
        "path": dg.MetadataValue.path(str(lake.table_path(keys.STYLE_RECOMMENDATIONS))),
    })
    yield dg.AssetCheckResult(check_name="every_style_listed", asset_key=keys.STYLE_RECOMMENDATIONS,
                              passed=expected <= listed,
                              metadata={"missing": ", ".join(f"{s}/{g}" for s, g in sorted(expected - listed,
                                                                                           key=str)) or "none"})


@dg.asset(
    code_version="2026-12-07",
    key=keys.BUILDS, group_name=GROUP, **_published("builds"),
    deps=[keys.GOLD_PRODUCTS, keys.SIMILAR_ITEMS, keys.USER_RECOMMENDATIONS, keys.STYLE_RECOMMENDATIONS, keys.FAISS_INDEX,
          keys.PRODUCT_CHANGES, keys.EVALUATION],
    kinds={"python", "parquet"},
    description="gold/builds.parquet: one row per build: when, counts, coverage, the catalog changes it started "
                "from, which tables it recomputed and which it reused (table@build_id), and per stage the "
                "seconds and what it did (retrained or pinned, lists recomputed or carried over).",
)
def builds(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    tables = {name: lake.table_path(key) for name, key in keys.GOLD_TABLE_KEYS.items() if key != keys.BUILDS}
    stats = context.instance.get_run_stats(context.run.run_id)
    started_at = datetime.fromtimestamp(stats.start_time, timezone.utc) if stats.start_time else datetime.now(timezone.utc)
    manifest = ItemIndex.load(lake.path(keys.FAISS_INDEX)).manifest
    changes = lake.read_if_exists(keys.PRODUCT_CHANGES)
    record = build_record(context.run.run_id, started_at, datetime.now(timezone.utc), tables, index_kind=manifest.kind,
                          vector_model=f"{manifest.vectors.model} {manifest.vectors.version}",
                          changes=change_counts(changes) if changes is not None else None,
                          stages=finished_stages(context))
    with lake.locked("gold_builds"):   # two overlapping runs must not drop each other's record
        table = append_build(lake.read_if_exists(keys.BUILDS), record)
        lake.write(table, keys.BUILDS)
    row = record.row(0, named=True)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.height,
        "recomputed": ", ".join(row["recomputed"]) or "none",
        "catalog_changes": {k: row[f"{k}_products"] for k in ("new", "changed", "removed")},
        "stages": metadata.preview(pl.DataFrame(row["stages"], schema={"stage": pl.String, "seconds": pl.Float64,
                                                                        "outcome": pl.String}), rows=40),
        "reused": ", ".join(row["reused"]) or "none",
        "similar_items_coverage": row["similar_items_coverage"],
        "recommended_catalog_coverage": row["recommended_catalog_coverage"],
        "preview": metadata.preview(table.sort("started_at", descending=True).with_columns(
            pl.col("recomputed").list.join(", ")), ["build_id", "started_at", "finished_at", "products", "users",
                                                    "similar_items_rows", "user_recommendations_rows", "recomputed"]),
    })


@dg.asset(
    code_version="2026-12-07",
    key=keys.WAREHOUSE, group_name=GROUP, freshness_policy=NIGHTLY_FRESHNESS,
    deps=[keys.GOLD_PRODUCTS, keys.SIMILAR_ITEMS, keys.USER_RECOMMENDATIONS, keys.STYLE_RECOMMENDATIONS, keys.BUILDS,
          keys.EVALUATION],
    kinds={"duckdb"},
    description="warehouse.duckdb: one table per gold table (evaluation/<name> as evaluation_<name>), sorted by "
                "product_id / user_id for point lookups; rebuilt beside the old file and swapped in atomically.",
    check_specs=[dg.AssetCheckSpec("readme_queries", asset=keys.WAREHOUSE, blocking=False,
                                   description="The README's similar-items, user and style queries answer with reasons.")],
)
def warehouse_duckdb(lake: LakeResource, warehouse: WarehouseResource):
    started = time.perf_counter()
    tables = gold_warehouse_tables(lake.path(keys.GOLD_DIR))
    published = warehouse.publish(tables)
    seconds = time.perf_counter() - started
    con = warehouse.connect_readonly()
    try:
        counts = {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] for name in published}
        product, user, style = (first_key(con, table, column) for table, column in (
            ("similar_items", "product_id"), ("user_recommendations", "user_id"), ("style_recommendations", "style")))
        answers = {
            "similar_items": con.sql(sql.SIMILAR_ITEMS, params=[product, 10]).pl(),
            "user_recommendations": con.sql(sql.USER_RECOMMENDATIONS, params=[user, 10]).pl(),
            "style_recommendations": con.sql(sql.STYLE_RECOMMENDATIONS, params=[style, None, 10]).pl(),
        }
        lookups = lookup_milliseconds(con, sql.SIMILAR_TOP10_POINT_LOOKUP)
    finally:
        con.close()
    answered = {name: frame.height > 0 and frame["reason"].null_count() == 0 for name, frame in answers.items()}
    yield dg.MaterializeResult(metadata={
        "tables": metadata.counts(counts, "table", "rows"),
        "publish_seconds": round(seconds, 2),
        "similar_top10_lookup_ms_p50": round(float(np.percentile(lookups, 50)), 3) if lookups else None,
        "similar_top10_lookup_ms_p95": round(float(np.percentile(lookups, 95)), 3) if lookups else None,
        "similar_items_example": metadata.preview(answers["similar_items"]) if answered["similar_items"] else "none",
        "path": dg.MetadataValue.path(str(warehouse.db_path)),
    })
    yield dg.AssetCheckResult(check_name="readme_queries", asset_key=keys.WAREHOUSE, passed=all(answered.values()),
                              metadata={name: ok for name, ok in answered.items()})
