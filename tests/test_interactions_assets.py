"""silver/interactions and features/interaction_split materialized in-process on the tiny lake."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from assets.interactions import interaction_split, silver_interactions
from recsys.interactions import INTERACTION_SCHEMA, SPLIT_SCHEMA, leakage_report
from recsys.storage import read_parquet
from resources import default_resources
from tests.helpers import check_results, metadata_of, with_products


def materialize(lake: Path, interactions_config: dict | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [silver_interactions, interaction_split], resources=default_resources(str(lake)),
        run_config={"ops": {"silver__interactions": {"config": interactions_config or {"n_users": 120}}}})


def check_evaluation(result, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_simulated_interactions_and_split(tiny_lake):
    products = with_products(tiny_lake)
    result = materialize(tiny_lake)
    assert result.success
    assert check_results(result) == {"interactions_valid": True, "events_accounting": True, "events_load": True,
                                     "events_row_faults": True, "no_leakage": True,
                                     "training_events_present": True}
    interactions = read_parquet(tiny_lake / "silver" / "interactions.parquet")
    assert interactions.schema == pl.Schema(INTERACTION_SCHEMA)
    assert interactions["user_id"].n_unique() == 120 and set(interactions["origin"]) == {"simulated"}
    assert interactions["product_id"].is_in(products["product_id"].implode()).all()
    assert read_parquet(tiny_lake / "silver" / "events_quarantine.parquet").is_empty()
    split = read_parquet(tiny_lake / "features" / "interaction_split.parquet")
    assert split.schema == pl.Schema(SPLIT_SCHEMA) and not any(leakage_report(split).values())
    meta = metadata_of(result, ["silver", "interactions"])
    assert meta["origin"].value == "simulated" and meta["dagster/row_count"].value == interactions.height
    assert "data:image/png;base64" in meta["activity"].value
    split_meta = metadata_of(result, ["features", "interaction_split"])
    assert split_meta["cold_start_users"].value > 0


def test_same_config_same_interactions(tiny_lake):
    with_products(tiny_lake)
    materialize(tiny_lake)
    first = read_parquet(tiny_lake / "silver" / "interactions.parquet")
    materialize(tiny_lake)
    assert read_parquet(tiny_lake / "silver" / "interactions.parquet").equals(first)


def test_real_events_win_and_bad_rows_are_quarantined(tiny_lake):
    products = with_products(tiny_lake)
    ids = products["product_id"].head(3).to_list()
    events = tiny_lake / "raw" / "events"
    events.mkdir()
    (events / "shop.csv").write_text(
        "user_id,product_id,event,ts,value\n"
        f"u1,{ids[0]},click,2024-05-01T10:00:00Z,\n"
        f"u1,{ids[1]},click,2024-05-02T10:00:00Z,\n"
        f"u1,{ids[2]},purchase,2024-05-03T10:00:00Z,\n"
        f"u2,{ids[0]},click,2024-05-01T11:00:00Z,\n"
        f"u2,{ids[1]},rating,2024-05-04T11:00:00Z,5\n"
        "u2,no-such-product,click,2024-05-01T11:00:00Z,\n"
        f"u2,{ids[0]},click,not a time,\n")
    result = materialize(tiny_lake, {"source": "auto"})
    assert result.success
    interactions = read_parquet(tiny_lake / "silver" / "interactions.parquet")
    assert interactions.height == 5 and set(interactions["origin"]) == {"real"}
    quarantine = read_parquet(tiny_lake / "silver" / "events_quarantine.parquet")
    assert sorted(quarantine["line"].to_list()) == [7, 8]
    assert metadata_of(result, ["silver", "interactions"])["quarantined"].value == 2
    # bad rows warn; they block nothing
    row_faults = check_evaluation(result, "events_row_faults")
    assert not row_faults.passed and row_faults.severity == dg.AssetCheckSeverity.WARN
    assert check_results(result)["events_load"] and check_results(result)["events_accounting"]


def test_day_log_quantities_and_a_rejected_file_blocks(tiny_lake):
    """A date-only log's repeated purchase row is quantity (counted in the accounting); an events file
    of which every record is quarantined (here: no event column) fails the blocking load check."""
    products = with_products(tiny_lake)
    first = products["product_id"][0]
    events = tiny_lake / "raw" / "events"
    events.mkdir()
    (events / "day.csv").write_text(f"user_id,product_id,event,ts\nu1,{first},purchase,2024-05-01\n"
                                    f"u1,{first},purchase,2024-05-01\nu2,{first},click,2024-05-01\n")
    (events / "export.csv").write_text(f"user_id,product_id,action,ts\nu3,{first},click,2024-05-01\n")
    result = dg.materialize([silver_interactions], resources=default_resources(str(tiny_lake)),
                            raise_on_error=False, run_config={"ops": {"silver__interactions": {"config": {}}}})
    load = check_evaluation(result, "events_load")
    assert not load.passed and load.severity == dg.AssetCheckSeverity.ERROR
    assert "file rejected: events/export.csv (1 of 1 records quarantined)" in load.metadata["faults"].value
    accounting = check_evaluation(result, "events_accounting")
    assert accounting.passed and accounting.metadata["merged_as_quantity"].value == 1
    purchases = read_parquet(tiny_lake / "silver" / "interactions.parquet").filter(pl.col("event") == "purchase")
    assert purchases["value"].to_list() == [2.0]


def test_events_that_are_all_quarantined_block_before_any_model_runs(tiny_lake):
    """Every raw event rejected: the load check blocks; and were it relaxed, the split's check would
    block instead of the models crashing on an empty train split."""
    with_products(tiny_lake)
    (tiny_lake / "raw" / "events").mkdir()
    (tiny_lake / "raw" / "events" / "shop.csv").write_text(
        "user_id,product_id,event,ts\nu1,no-such-product,click,2024-05-01\nu2,gone,click,2024-05-02\n")
    resources = default_resources(str(tiny_lake))
    result = dg.materialize([silver_interactions, interaction_split], resources=resources, raise_on_error=False)
    assert metadata_of(result, ["silver", "interactions"])["quarantined"].value == 2
    assert not check_evaluation(result, "events_load").passed
    assert "training_events_present" not in check_results(result)      # the split never ran
    relaxed = {"ops": {"silver__interactions": {"config": {"min_events": 0, "rejected_file_share": 1.01}}}}
    result = dg.materialize([silver_interactions, interaction_split], resources=resources, raise_on_error=False,
                            run_config=relaxed)
    check = check_evaluation(result, "training_events_present")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["train_events"].value == 0


def test_real_source_without_events_fails(tiny_lake):
    with_products(tiny_lake)
    with pytest.raises(Exception, match="no \\*.csv or \\*.parquet"):
        materialize(tiny_lake, {"source": "real"})


def test_core_progress_logs_reach_the_run_log(tiny_lake):
    """dagster_home/dagster.yaml hands the core's loggers (recsys.*) to Dagster: their progress lines
    are in the run's event log (what the UI shows), not only on a step process's stderr."""
    settings = yaml.safe_load((Path(__file__).parents[1] / "dagster_home" / "dagster.yaml").read_text())
    with_products(tiny_lake)
    with dg.instance_for_test(overrides={"python_logs": settings["python_logs"]}) as instance:
        result = dg.materialize([silver_interactions], resources=default_resources(str(tiny_lake)), instance=instance,
                                run_config={"ops": {"silver__interactions": {"config": {"n_users": 120}}}})
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(m.startswith("simulated ") and "events for 120 users" in m for m in messages)
