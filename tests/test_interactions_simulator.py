"""The persona simulator: deterministic from a seed, and its output looks like its documented model."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from recsys.interactions import INTERACTION_SCHEMA, PERSONAS, SimulatorSettings, affinity, persona_names, simulate
from recsys.interactions.personas import PREFERENCE_COLUMNS, SHOPPER_GENDERS, gender_affinity
from tests.interaction_fixtures import synthetic_catalog

CONFIG = SimulatorSettings(n_users=400, seed=1)


@pytest.fixture(scope="module")
def catalog() -> pl.DataFrame:
    return synthetic_catalog(3000, seed=0)


@pytest.fixture(scope="module")
def result(catalog):
    return simulate(catalog, CONFIG)


def clicks(result) -> pl.DataFrame:
    return result.events.filter(pl.col("event") == "click")


def test_same_seed_same_events_other_seed_other_events(catalog, result):
    again = simulate(catalog, CONFIG)
    assert again.events.equals(result.events)
    assert again.users.equals(result.users)
    other = simulate(catalog, SimulatorSettings(n_users=400, seed=2))
    assert not other.events.equals(result.events)


def test_schema_and_bounds(catalog, result):
    events = result.events
    assert events.schema == pl.Schema(INTERACTION_SCHEMA)
    assert events.null_count().sum_horizontal().item() == 0
    assert set(events["origin"].unique()) == {"simulated"}
    assert set(events["event"].unique()) <= {"click", "add_to_cart", "purchase", "rating"}
    assert events["product_id"].is_in(catalog["product_id"].implode()).all()
    start = CONFIG.end - timedelta(weeks=CONFIG.weeks)
    assert events["ts"].min() >= start and events["ts"].max() < CONFIG.end
    ratings = events.filter(pl.col("event") == "rating")["value"]
    assert ratings.len() > 0 and ratings.is_between(1, 5).all() and (ratings == ratings.round()).all()
    assert events.filter(pl.col("event") != "rating")["value"].eq(1.0).all()


def test_every_user_has_at_least_the_minimum_choices(result):
    per_user = clicks(result).group_by("user_id").len()
    assert per_user.height == CONFIG.n_users
    assert per_user["len"].min() >= CONFIG.min_items_per_user
    median = per_user["len"].median()
    assert CONFIG.median_items_per_user / 2 <= median <= CONFIG.median_items_per_user * 2


def test_funnel_order(result):
    """A cart follows a click of the same product, a purchase follows a cart."""
    events = result.events
    first = events.group_by("user_id", "product_id", "event").agg(pl.col("ts").min()).pivot(
        "event", index=["user_id", "product_id"], values="ts")
    carted = first.filter(pl.col("add_to_cart").is_not_null())
    bought = first.filter(pl.col("purchase").is_not_null())
    assert carted.height > 0 and bought.height > 0
    assert (carted["add_to_cart"] >= carted["click"]).all()
    assert bought["add_to_cart"].is_not_null().all() and (bought["purchase"] >= bought["add_to_cart"]).all()
    assert bought.height < carted.height < first.height


def test_popularity_is_skewed(catalog, result):
    counts = np.sort(clicks(result).group_by("product_id").len()["len"].to_numpy())[::-1]
    top_tenth = counts[: catalog.height // 10].sum() / counts.sum()
    assert top_tenth > 0.35          # a uniform catalog would give about 0.10


def test_personas_shape_what_users_choose(catalog, result):
    chosen = clicks(result).join(catalog, on="product_id").join(result.users, on="user_id")
    sports = chosen.group_by("persona").agg((pl.col("usage") == "Sports").mean().alias("share"))
    share = dict(sports.iter_rows())
    overall = (chosen["usage"] == "Sports").mean()
    assert share["athletic"] > 3 * overall
    assert share["formal"] < overall
    ethnic = chosen.filter(pl.col("persona") == "ethnic")["usage"].eq("Ethnic").mean()
    assert ethnic > 3 * (chosen["usage"] == "Ethnic").mean()


def test_shoppers_mostly_choose_their_gender(catalog, result):
    chosen = clicks(result).join(catalog.select("product_id", product_gender="gender"), on="product_id") \
        .join(result.users.select("user_id", "gender"), on="user_id")
    men = chosen.filter(pl.col("gender") == "Men")
    assert men["product_gender"].eq("Women").mean() < 0.05


def test_timestamps_spread_over_weeks(result):
    weeks = clicks(result)["ts"].dt.truncate("1w").n_unique()
    assert weeks >= CONFIG.weeks - 1


def test_benchmark_preset_is_larger():
    assert SimulatorSettings.benchmark().n_users > 5 * SimulatorSettings.sample().n_users
    assert SimulatorSettings.sample(n_users=10).n_users == 10


def test_empty_catalog_is_an_error():
    with pytest.raises(ValueError):
        simulate(synthetic_catalog(0), CONFIG)


# --- the persona catalogue ------------------------------------------------------------------

def test_catalogue_has_the_report_personas_and_more():
    assert {"minimal", "casual", "formal", "athletic"} <= set(persona_names())
    assert len(PERSONAS) >= 6
    assert sum(p.share for p in PERSONAS.values()) == pytest.approx(1.0, abs=0.02)
    for persona in PERSONAS.values():
        assert set(persona.preferences) <= set(PREFERENCE_COLUMNS)
        assert set(persona.genders) <= set(SHOPPER_GENDERS)
        assert persona.description


def test_affinity_ranks_a_persona_s_products_first(catalog):
    athletic = affinity("athletic", catalog)
    top = catalog[np.argsort(-athletic)[:50].tolist()]
    assert top["usage"].eq("Sports").mean() > 0.9
    formal = affinity(PERSONAS["formal"], catalog, gender="Men")
    top = catalog[np.argsort(-formal)[:50].tolist()]
    assert top["usage"].eq("Formal").mean() > 0.9 and not top["gender"].eq("Women").any()


def test_gender_affinity_table():
    genders = pl.Series(["Men", "Women", "Unisex", None, "Boys"])
    men = gender_affinity("Men", genders)
    assert men[0] == 0 and men[1] < men[4] < men[3] < men[2] < 0
    with pytest.raises(ValueError):
        gender_affinity("Kids", genders)
