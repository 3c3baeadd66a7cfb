"""The serving app against a tiny built lake: every endpoint answers the published tables' rows,
bad input gets a clear JSON error, and a build swapped in mid-traffic fails no request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import polars as pl
import pytest
from fastapi.testclient import TestClient

from recsys import cli
from recsys.gold import queries as sql
from recsys.models.two_tower import TwoTowerRecommender
from serving.app import create_app

def _sql(lake: Path, query: str, params: list) -> pl.DataFrame:
    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    try:
        frame = con.sql(query, params=params).pl()
    finally:
        con.close()
    return frame.with_columns([pl.col(c).cast(pl.String) for c, t in frame.schema.items() if isinstance(t, pl.Enum)])


def _first(lake: Path, query: str) -> str:
    return _sql(lake, query, [])[0, 0]


@pytest.fixture(scope="module")
def lake(published_lake: Path, tmp_path_factory) -> Path:
    """A copy of the published lake (the swap test replaces its warehouse)."""
    copy = tmp_path_factory.mktemp("serving") / "lake"
    shutil.copytree(published_lake, copy)
    return copy


@pytest.fixture(scope="module")
def client(lake):
    with TestClient(create_app(lake, check_every_s=0.05)) as client:
        yield client


@pytest.fixture(scope="module")
def product(lake) -> str:
    """A product whose similar list is at least 20 long."""
    return _first(lake, "SELECT product_id::VARCHAR FROM similar_items GROUP BY 1 HAVING count(*) >= 20 ORDER BY 1 LIMIT 1")


def _table_rows(rows: pl.DataFrame) -> list[tuple]:
    return [(r["product_id"], r["score"], r["reason"]) for r in rows.iter_rows(named=True)]


def _answer_rows(results: list[dict]) -> list[tuple]:
    return [(r["product_id"], r["score"], r["reason"]) for r in results]


@pytest.mark.slow
def test_health_names_the_published_build(client, lake):
    build = _sql(lake, "SELECT build_id, finished_at FROM builds ORDER BY finished_at DESC LIMIT 1", [])
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["build_id"] == build["build_id"][0]
    assert health["products"] == _sql(lake, "SELECT count(*) FROM products", [])[0, 0]
    assert health["users"] == _sql(lake, "SELECT count(DISTINCT user_id) FROM user_recommendations", [])[0, 0]
    # a tiny catalog is searched exactly for new shoppers
    assert health["new_shopper_search"] == {"kind": "flat", "clusters": 1, "nprobe": 1, "recall": 1.0}


@pytest.mark.slow
def test_a_product_is_its_catalog_row_with_a_cached_image(client, lake):
    pid = _first(lake, "SELECT product_id::VARCHAR FROM products WHERE image_path IS NOT NULL LIMIT 1")
    row = _sql(lake, "SELECT * FROM products WHERE product_id = $1", [pid]).row(0, named=True)
    body = client.get(f"/products/{pid}").json()
    assert {k: body[k] for k in ("product_id", "name", "brand", "gender", "article_type", "price")} == \
           {k: row[k] for k in ("product_id", "name", "brand", "gender", "article_type", "price")}
    image = client.get(body["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content == (lake / row["image_path"]).read_bytes()


@pytest.mark.slow
def test_similar_items_are_the_table_rows_in_order(client, lake, product):
    answer = client.get(f"/products/{product}/similar", params={"k": 20}).json()
    assert answer["query"]["product_id"] == product
    assert _answer_rows(answer["results"]) == _table_rows(_sql(lake, sql.SIMILAR_ITEMS, [product, 20]))
    assert [r["rank"] for r in answer["results"]] == list(range(1, 21))
    assert all(r["name"] and r["reason"] for r in answer["results"])


@pytest.mark.slow
def test_batch_similar_equals_one_lookup_per_product(client, lake, product):
    others = _sql(lake, "SELECT product_id::VARCHAR AS p FROM products WHERE p != $1 ORDER BY p LIMIT 3",
                  [product])["p"].to_list()
    batch = client.post("/similar/batch", json={"product_ids": [product, *others], "k": 5}).json()["results"]
    assert list(batch) == [product, *others]
    for pid, results in batch.items():
        assert results == client.get(f"/products/{pid}/similar", params={"k": 5}).json()["results"]


@pytest.mark.slow
def test_user_recommendations_are_the_table_rows_in_order(client, lake):
    user = _first(lake, "SELECT user_id::VARCHAR FROM user_recommendations ORDER BY 1 LIMIT 1")
    answer = client.get(f"/users/{user}/recommendations", params={"k": 15}).json()
    assert _answer_rows(answer["results"]) == _table_rows(_sql(lake, sql.USER_RECOMMENDATIONS, [user, 15]))


@pytest.mark.slow
def test_style_lists_are_the_table_rows_and_every_style_is_offered(client, lake):
    styles = client.get("/styles").json()["results"]
    assert {s["style"] for s in styles} == set(_sql(lake, "SELECT DISTINCT style FROM style_recommendations", [])["style"])
    answer = client.get("/styles/casual/recommendations", params={"gender": "Women", "k": 10}).json()
    assert _answer_rows(answer["results"]) == _table_rows(_sql(lake, sql.STYLE_RECOMMENDATIONS, ["casual", "Women", 10]))
    any_gender = client.get("/styles/casual/recommendations", params={"k": 10}).json()
    assert _answer_rows(any_gender["results"]) == _table_rows(_sql(lake, sql.STYLE_RECOMMENDATIONS, ["casual", None, 10]))


@pytest.mark.slow
def test_a_new_shopper_gets_the_user_towers_list_without_their_history(client, lake):
    model = TwoTowerRecommender.from_pretrained(lake / "models" / "two_tower")
    history = [str(p) for p in model.item_ids[:3]]
    answer = client.post("/recommendations", json={"history": history, "k": 10}).json()
    expected = model.recommend_for_history(history, k=10)
    assert [r["product_id"] for r in answer["results"]] == expected["product_id"].to_list()
    assert not set(history) & {r["product_id"] for r in answer["results"]}
    assert all(r["reason"] and r["model"] == "two_tower" for r in answer["results"])


@pytest.mark.slow
def test_a_model_without_a_search_scores_every_item_for_a_new_shopper(lake, monkeypatch):
    """A rating-head two-tower has no shopper search: its shoppers go through the thread pool, same answers."""
    monkeypatch.setattr(TwoTowerRecommender, "shopper_search", lambda self, settings=None: None)
    with TestClient(create_app(lake, check_every_s=60)) as own:
        assert own.get("/health").json()["new_shopper_search"] is None
        model = TwoTowerRecommender.from_pretrained(lake / "models" / "two_tower")
        history = [str(p) for p in model.item_ids[3:5]]
        answer = own.post("/recommendations", json={"history": history, "k": 7}).json()
        assert [r["product_id"] for r in answer["results"]] == \
            model.recommend_for_history(history, k=7)["product_id"].to_list()


@pytest.mark.slow
def test_text_search_answers_what_the_cli_answers(client, lake):
    answer = client.get("/search", params={"q": "black casual shoes", "k": 8}).json()
    expected = cli.search(lake, "black casual shoes", 8)
    assert [r["product_id"] for r in answer["results"]] == expected.rows["product_id"].to_list()
    assert [r["score"] for r in answer["results"]] == expected.rows["score"].to_list()


@pytest.mark.slow
def test_a_photo_finds_what_the_cli_finds(client, lake):
    photo = next((lake / "raw" / "myntra" / "images").glob("*.jpg"))
    answer = client.post("/search/image", params={"k": 5}, files={"file": ("p.jpg", photo.read_bytes(), "image/jpeg")})
    assert answer.status_code == 200
    expected = cli.similar_to_image(lake, photo, 5)
    assert [r["product_id"] for r in answer.json()["results"]] == expected.rows["product_id"].to_list()


@pytest.mark.slow
def test_filters_keep_the_lists_order_and_fill_k_from_the_index(client, lake, product):
    table = _sql(lake, sql.SIMILAR_ITEMS, [product, 1000])
    women = _sql(lake, "SELECT count(*) FROM products WHERE gender = 'Women'", [])[0, 0]
    k = min(30, women - 1)
    answer = client.get(f"/products/{product}/similar", params={"k": k, "gender": "women"}).json()["results"]
    assert len(answer) == k and all(r["gender"] == "Women" for r in answer)
    from_table = table.filter(pl.col("gender") == "Women")["product_id"].to_list()
    assert [r["product_id"] for r in answer[:len(from_table)]] == from_table[:k]
    assert len({r["product_id"] for r in answer}) == k and product not in {r["product_id"] for r in answer}
    priced = client.get("/search", params={"q": "shirt", "k": 5, "min_price": 10, "max_price": 60}).json()["results"]
    assert all(10 <= r["price"] <= 60 for r in priced)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("get", "/products/nope:1", {}, 404),
    ("get", "/products/nope:1/similar", {}, 404),
    ("get", "/users/nobody/recommendations", {}, 404),
    ("get", "/styles/nostyle/recommendations", {}, 404),
    ("post", "/recommendations", {"json": {"history": ["nope:1"]}}, 404),
    ("post", "/similar/batch", {"json": {"product_ids": ["nope:1"]}}, 404),
    ("get", "/images/..%2F..%2Fwarehouse.duckdb", {}, 404),
    ("get", "/images/" + "0" * 64 + ".jpg", {}, 404),
    ("get", "/search", {"params": {"q": "shirt", "k": 0}}, 422),
    ("get", "/search", {"params": {"q": "shirt", "k": 1001}}, 422),
    ("get", "/search", {"params": {"q": "shirt", "gender": "Martian"}}, 422),
    ("get", "/search", {"params": {"q": "shirt", "min_price": 50, "max_price": 10}}, 422),
    ("get", "/styles/casual/recommendations", {"params": {"brand": "No Such Brand"}}, 422),
    ("post", "/recommendations", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422),
    ("post", "/similar/batch", {"json": {"product_ids": ["x"] * 1001}}, 422),
    ("post", "/search/image", {"files": {"file": ("big.jpg", b"\xff\xd8\xff" + b"0" * (10 * 1024 * 1024), "image/jpeg")}}, 413),
    ("post", "/search/image", {"files": {"file": ("notes.txt", b"just some text", "text/plain")}}, 415),
    ("post", "/search/image", {"files": {"file": ("cut.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg")}}, 415),
])
def test_bad_input_gets_a_clear_json_error(client, method, path, kwargs, status):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"] and "Traceback" not in response.text


@pytest.mark.slow
def test_the_product_page_is_html_for_a_browser(client, product):
    page = client.get(f"/products/{product}", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html")
    first = client.get(f"/products/{product}/similar", params={"k": 3}).json()["results"][0]
    assert first["reason"] in page.text and first["product_id"] in page.text


@pytest.mark.slow
def test_metrics_count_requests_by_route_and_status(client, product):
    client.get(f"/products/{product}/similar")
    client.get("/products/nope:1/similar")
    text = client.get("/metrics").text
    assert 'recsys_http_requests_total{method="GET",route="/products/{product_id}/similar",status="200"}' in text
    assert 'route="/products/{product_id}/similar",status="404"' in text
    assert "recsys_http_request_seconds_bucket" in text and "recsys_build_info{build_id=" in text


@pytest.mark.slow
def test_the_api_is_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/products/{product_id}", "/products/{product_id}/similar", "/similar/batch",
            "/users/{user_id}/recommendations", "/recommendations", "/styles", "/styles/{style}/recommendations",
            "/search", "/search/image", "/images/{name}", "/metrics"} <= set(paths)
    assert client.get("/docs").status_code == 200


def _build_b(lake: Path, into: Path) -> None:
    """Another build of the same lake: its own build_id and every precomputed reason marked."""
    shutil.copy(lake / "warehouse.duckdb", into)
    con = duckdb.connect(str(into))
    con.execute("UPDATE builds SET build_id = 'build-B', finished_at = finished_at + INTERVAL 1 DAY")
    con.execute("UPDATE similar_items SET reason = 'build B'")
    con.execute("UPDATE user_recommendations SET reason = 'build B'")
    con.close()


@pytest.mark.slow
def test_a_build_swapped_in_during_requests_fails_none_and_mixes_none(client, lake, product, tmp_path):
    user = _first(lake, "SELECT user_id::VARCHAR FROM user_recommendations ORDER BY 1 LIMIT 1")
    build_a = client.get("/health").json()["build_id"]
    copies = {build_a: tmp_path / "a.duckdb", "build-B": tmp_path / "b.duckdb"}
    shutil.copy(lake / "warehouse.duckdb", copies[build_a])
    _build_b(lake, copies["build-B"])
    stop = threading.Event()

    def publish_builds_in_turn():      # what the pipeline does: a new file beside, renamed over
        while not stop.is_set():
            for source in (copies["build-B"], copies[build_a]):
                staged = lake / ".warehouse.duckdb.staged"
                shutil.copy(source, staged)
                os.replace(staged, lake / "warehouse.duckdb")
                if stop.wait(0.15):
                    return

    swapper = threading.Thread(target=publish_builds_in_turn)
    swapper.start()
    seen, failures, mixed = set(), [], []
    try:
        for i in range(400):
            path = f"/products/{product}/similar" if i % 2 else f"/users/{user}/recommendations"
            response = client.get(path, params={"k": 10})
            if response.status_code != 200:
                failures.append((path, response.status_code, response.text[:200]))
                continue
            body = response.json()
            seen.add(body["build_id"])
            marked = {r["reason"] == "build B" for r in body["results"]}
            if marked != {body["build_id"] == "build-B"}:
                mixed.append((path, body["build_id"], [r["reason"] for r in body["results"]]))
            if len(seen) == 2 and i > 200:
                break
    finally:
        stop.set()
        swapper.join()
        os.replace(copies[build_a], lake / "warehouse.duckdb")
    assert not failures and not mixed
    assert seen == {build_a, "build-B"}


def test_no_build_yet_is_a_503_not_a_crash(tmp_path):
    with TestClient(create_app(tmp_path / "empty_lake")) as client:
        health = client.get("/health")
        assert health.status_code == 503 and "no build" in health.json()["detail"]
        assert client.get("/products/x:1/similar").status_code == 503
        page = client.get("/", headers={"accept": "text/html"})
        assert page.status_code == 503 and "No build yet" in page.text


def test_the_app_never_imports_dagster():
    code = "import sys, serving.app, serving.__main__; assert not [m for m in sys.modules if m.startswith('dagster')]"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
