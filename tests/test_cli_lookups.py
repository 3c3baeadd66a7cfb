"""The `recsys` command on a lake with built gold tables: tables, JSON, options anywhere, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import nullcontext as _nothing

import polars as pl
import pytest

from recsys import warehouse
from recsys.cli import main
from recsys.gold import gold_warehouse_tables
from tests.gold_world import write_gold_tables


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "lake"
    tables = write_gold_tables(root / "gold")
    warehouse.publish(root / "warehouse.duckdb", gold_warehouse_tables(root / "gold"))
    return root, tables


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_similar_items_for_a_product_as_json(lake, capsys):
    root, tables = lake
    product = tables["products"]["product_id"][3]
    answer = run_json(capsys, "similar", product, "--lake", str(root), "-k", "4")
    expected = tables["similar_items"].filter(pl.col("product_id") == product).sort("rank").head(4)
    assert answer["query"] == {"similar_to": product}
    assert [r["product_id"] for r in answer["results"]] == expected["similar_product_id"].to_list()
    assert [r["rank"] for r in answer["results"]] == [1, 2, 3, 4]
    assert all(r["reason"] and r["name"] for r in answer["results"])


def test_user_and_style_as_tables_with_options_before_the_command(lake, capsys):
    root, tables = lake
    user = tables["user_recommendations"]["user_id"][0]
    assert main(["--lake", str(root), "-k", "3", "user", user]) == 0
    out = capsys.readouterr().out
    assert user in out.splitlines()[0] and "reason" in out
    names = tables["products"].join(tables["user_recommendations"].filter(pl.col("user_id") == user,
                                                                          pl.col("rank") <= 3), on="product_id")["name"]
    assert all(name[:30] in out for name in names)
    answer = run_json(capsys, "--lake", str(root), "style", "sporty", "--gender", "Men", "-k", "5")
    assert len(answer["results"]) == 5 and all("sporty" in r["reason"] for r in answer["results"])
    assert all(r["gender"] in ("Men", "Unisex", None) for r in answer["results"])


def test_styles_lists_what_is_on_offer(lake, capsys):
    root, _ = lake
    answer = run_json(capsys, "styles", "--lake", str(root))
    assert {r["style"] for r in answer["results"]} == {"sporty", "smart"}
    assert answer["results"][0]["genders"] == "Men, Women, any"


def test_unknown_ids_and_missing_artefacts_have_clear_exit_codes(lake, tmp_path, capsys):
    root, _ = lake
    assert main(["similar", "asos:nope", "--lake", str(root)]) == 1
    assert "no similar items" in capsys.readouterr().err
    assert main(["user", "nobody", "--lake", str(root)]) == 1
    assert "recsys style" in capsys.readouterr().err
    assert main(["user", "nobody", "--lake", str(tmp_path / "empty")]) == 2
    assert "run the pipeline" in capsys.readouterr().err


def test_errors_are_json_when_json_was_asked_for(lake, tmp_path, capsys):
    root, _ = lake

    def error(code: int, *argv) -> dict:
        with pytest.raises(SystemExit) if code == "usage" else _nothing():
            returned = main([*argv, "--format", "json"])
        out = capsys.readouterr()
        assert out.err == ""
        if code != "usage":
            assert returned == code
        return json.loads(out.out)["error"]

    assert error(1, "similar", "asos:nope", "--lake", str(root))["kind"] == "not_found"
    unavailable = error(2, "user", "nobody", "--lake", str(tmp_path / "empty"))
    assert unavailable["kind"] == "unavailable" and "run the pipeline" in unavailable["message"]
    assert error("usage", "user", "nobody", "-k", "0", "--lake", str(root)) == {
        "kind": "usage", "message": "-k must be at least 1"}
    assert error("usage", "user", "--no-such-option")["kind"] == "usage"


def test_the_installed_entry_point_runs(lake):
    root, tables = lake
    product = tables["products"]["product_id"][0]
    done = subprocess.run([sys.executable, "-m", "recsys.cli", "similar", product, "--lake", str(root), "-k", "2"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "rank" in done.stdout and "reason" in done.stdout
