"""The code location loads, and its graph has the shape users and the schedule rely on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import great_expectations
import torch
import transformers

from pipelines.definitions import defs


def _graph():
    return defs.resolve_asset_graph()


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("build_all") is not None


def test_catalog_assets_and_blocking_checks_exist():
    graph = _graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"silver/products", "silver/quarantine", "raw/asos", "raw/myntra_styles", "raw/myntra_catalog"} <= keys
    checks = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert checks[("silver/products", "products_expectations")].blocking
    assert checks[("silver/products", "row_accounting")].blocking
    assert checks[("silver/products", "files_loaded")].blocking
    assert not checks[("silver/products", "vocabulary_coverage")].blocking


def test_every_built_asset_is_grouped_described_and_kinded():
    graph = _graph()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert node.group_name and node.group_name != "default", key
        assert node.description, key
        assert node.kinds, key


def test_build_all_covers_every_built_asset_but_the_shards():
    build_keys = set(defs.resolve_job_def("build_all").asset_layer.executable_asset_keys)
    shard_keys = set(defs.resolve_job_def("embed_shards").asset_layer.executable_asset_keys)
    assert shard_keys == {dg.AssetKey(["images", "manifest_shards"]), dg.AssetKey(["features", "item_embedding_shards"])}
    user_shard_keys = set(defs.resolve_job_def("user_list_shards").asset_layer.executable_asset_keys)
    assert user_shard_keys == {dg.AssetKey(["gold", "user_recommendation_shards"])}
    assert set(_graph().materializable_asset_keys) - build_keys == shard_keys | user_shard_keys


def test_the_environment_has_bytecode_for_its_heavy_packages():
    """`make env` installs with --compile-bytecode. Without it, where PYTHONDONTWRITEBYTECODE is set,
    every build process (CLI, step forkserver, steps) compiles these from source: seconds each."""
    for module in (dg, torch, transformers, great_expectations):
        cached = Path(importlib.util.cache_from_source(module.__file__))
        assert cached.exists(), f"{module.__name__} was installed without bytecode ({cached}): run `make env`"


def test_published_tables_show_their_columns_and_are_overdue_after_a_missed_nightly():
    from recsys.gold import GOLD_TABLES

    graph = _graph()
    for name, table in GOLD_TABLES.items():
        node = graph.get(dg.AssetKey(["gold", name]))
        columns = node.metadata["dagster/column_schema"].columns
        assert [(c.name, c.type) for c in columns] == [(n, str(t)) for n, t in table.schema.items()], name
        assert all(c.description for c in columns), name
        assert isinstance(node.freshness_policy, dg.FreshnessPolicy), name
    assert graph.get(dg.AssetKey(["warehouse"])).freshness_policy is not None
    evaluation = graph.get(dg.AssetKey(["gold", "evaluation"]))   # published as evaluation_metrics
    assert [c.name for c in evaluation.metadata["dagster/column_schema"].columns][:4] == ["model", "task", "slice",
                                                                                         "metric"]
    assert evaluation.freshness_policy is not None


def test_the_lake_location_comes_from_the_environment_as_an_env_var(monkeypatch):
    from resources import LAKE_ENV_VAR, default_resources

    monkeypatch.setenv(LAKE_ENV_VAR, "/mnt/lake")
    lake = default_resources()["lake"]
    assert lake.root == dg.EnvVar(LAKE_ENV_VAR)
    assert lake.root.get_value() == "/mnt/lake"
    monkeypatch.delenv(LAKE_ENV_VAR)
    assert default_resources()["lake"].root == "data_lake"
    assert default_resources("/given")["lake"].root == "/given"


def test_every_built_asset_has_a_code_version():
    graph = _graph()
    missing = [key.to_user_string() for key in graph.materializable_asset_keys if not graph.get(key).code_version]
    assert not missing
