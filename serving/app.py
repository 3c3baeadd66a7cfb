"""The FastAPI app: the JSON API, the browse pages and the metrics, over the newest published build."""

from __future__ import annotations

import re
import tempfile
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

import polars as pl
from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from recsys.images.sniff import sniff_format
from serving import answers
from serving.catalog import IMAGE_CACHE_DIR, Filters, UnknownFilterValue, resolve_filters
from serving.metrics import Metrics, MetricsMiddleware
from serving.snapshot import NoBuild, Snapshot, SnapshotHolder

MAX_K = 1_000
MAX_BATCH = 1_000
MAX_HISTORY = 200
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
GRID_SIZE = 48
_CACHED_IMAGE_NAME = re.compile(r"[0-9a-f]{64}\.jpg")
_HERE = Path(__file__).parent

K = Annotated[int, Query(ge=1, le=MAX_K, description="how many products (1 to 1,000)")]


class SimilarBatch(BaseModel):
    product_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    k: int = Field(10, ge=1, le=MAX_K)


class NewShopper(BaseModel):
    history: list[str] = Field(min_length=1, max_length=MAX_HISTORY, description="product ids, most recent first")
    k: int = Field(10, ge=1, le=MAX_K)


class FilterParams(BaseModel):
    """The filters every list takes (query parameters), as given. One model validates them all at
    once: FastAPI's per-parameter validation cost more than the lookup it guards."""

    gender: str | None = None
    category: str | None = None
    article_type: str | None = None
    brand: str | None = None
    min_price: float | None = Field(None, ge=0)
    max_price: float | None = Field(None, ge=0)

    def resolve(self, snapshot: Snapshot) -> Filters:
        return resolve_filters(snapshot.vocabulary, **self.model_dump())


async def _snapshot(request: Request) -> Snapshot:
    """The snapshot this request answers from, taken once."""
    return request.app.state.holder.get()


Snap = Annotated[Snapshot, Depends(_snapshot)]
Filter = Annotated[FilterParams, Query()]


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def create_app(lake: Path, check_every_s: float = 2.0) -> FastAPI:
    """The app serving ``lake``; a new build published there is served within ``check_every_s``."""
    lake = Path(lake)
    holder = SnapshotHolder(lake, check_every_s)
    metrics = Metrics()
    holder.on_swap = lambda snapshot: metrics.serving(snapshot.build_id, snapshot.build["built_at"])
    templates = Jinja2Templates(directory=_HERE / "templates")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder.refresh()
        holder.start()
        try:
            yield
        finally:
            holder.stop()

    app = FastAPI(title="Fashion recommendations", version="0.1.0", lifespan=lifespan,
                  description="Precomputed similar items, user lists and style lists from the newest published "
                              "build, plus free-text, photo and new-shopper queries through its saved models.")
    app.state.holder = holder
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    # --- errors: a clear JSON message, never a stack trace ---------------------------------------
    handlers = {answers.NotFound: 404, NoBuild: 503, answers.Unavailable: 503, UnknownFilterValue: 422,
                answers.NotAnImage: 415}
    for kind, status in handlers.items():
        app.add_exception_handler(kind, lambda request, error, status=status: _error(status, str(error)))
    app.add_exception_handler(ValueError, lambda request, error: _error(422, str(error)))
    app.add_exception_handler(HTTPException, lambda request, error: _error(error.status_code, str(error.detail)))
    app.add_exception_handler(RequestValidationError, lambda request, error: JSONResponse(
        {"detail": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors()]}, status_code=422))
    app.add_exception_handler(Exception, lambda request, error: _error(500, "internal error: see the server log"))

    # JSONResponse directly: the answers are plain JSON values, and FastAPI's encoder would walk
    # every value of every row again.
    def answer(request: Request, snap: Snapshot, query: dict, results, title: str, template: str = "list.html",
               **page):
        if _wants_html(request):
            return templates.TemplateResponse(request, template, {"title": title, "query": query, "results": results,
                                                                   "snap": snap, **page})
        return JSONResponse({"query": query, "build_id": snap.build_id, "results": results})

    # --- the API -------------------------------------------------------------------------------
    @app.get("/health", tags=["service"])
    async def health():
        try:
            snap = holder.get()
        except NoBuild as missing:
            return JSONResponse({"status": "unavailable", "detail": str(missing)}, status_code=503)
        return {"status": "ok", "build_id": snap.build_id, "built_at": snap.build["built_at"],
                "products": len(snap.cards), "users": len(snap.users.keys),
                "new_shopper_search": snap.shopper_search_quality, "unavailable": snap.unavailable}

    @app.get("/metrics", tags=["service"])
    async def prometheus_metrics():
        return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/products/{product_id}", tags=["products"])
    async def product(request: Request, product_id: str, snap: Snap, filters: Filter, k: K = 12):
        if product_id not in snap.cards:
            raise answers.NotFound(f"unknown product {product_id!r}")
        card = snap.cards[product_id].fields()
        if _wants_html(request):
            similar = answers.similar(snap, product_id, k, filters.resolve(snap))
            return templates.TemplateResponse(request, "product.html", {
                "title": card["name"] or product_id, "product": card, "results": similar, "snap": snap,
                "query": {"product_id": product_id, **filters.model_dump()}})
        return JSONResponse({**card, "build_id": snap.build_id})

    @app.get("/products/{product_id}/similar", tags=["products"])
    async def similar(request: Request, product_id: str, snap: Snap, filters: Filter, k: K = 10):
        results = answers.similar(snap, product_id, k, filters.resolve(snap))
        return answer(request, snap, {"product_id": product_id, "k": k, **filters.resolve(snap).given()}, results,
                      f"Similar to {product_id}")

    @app.post("/similar/batch", tags=["products"])
    async def similar_batch(body: SimilarBatch, snap: Snap, filters: Filter):
        chosen = filters.resolve(snap)
        unknown = [p for p in body.product_ids if p not in snap.cards]
        if unknown:
            raise answers.NotFound(f"unknown products: {unknown[:10]}" + (" ..." if len(unknown) > 10 else ""))
        results = {p: answers.similar(snap, p, body.k, chosen) for p in dict.fromkeys(body.product_ids)}
        return JSONResponse({"query": {"product_ids": body.product_ids, "k": body.k, **chosen.given()},
                             "build_id": snap.build_id, "results": results})

    @app.get("/users/{user_id}/recommendations", tags=["users"])
    async def user_recommendations(request: Request, user_id: str, snap: Snap, filters: Filter, k: K = 10):
        chosen = filters.resolve(snap)
        return answer(request, snap, {"user_id": user_id, "k": k, **chosen.given()},
                      answers.for_user(snap, user_id, k, chosen), f"Recommended for {user_id}")

    @app.post("/recommendations", tags=["users"])
    async def new_shopper(body: NewShopper, snap: Snap, filters: Filter):
        chosen = filters.resolve(snap)
        compute = partial(answers.new_shopper, snap, body.history, body.k, chosen)
        # Through the model's search a shopper costs well under a millisecond: answered on the event loop,
        # without a thread hop. Scoring every item (no search) goes to the thread pool, where shoppers
        # asking at the same time are batched.
        results = compute() if snap.shopper_search_quality is not None else await run_in_threadpool(compute)
        return JSONResponse({"query": {"history": body.history, "k": body.k, **chosen.given()},
                             "build_id": snap.build_id, "results": results})

    @app.get("/styles", tags=["styles"])
    async def styles(request: Request, snap: Snap):
        listed = answers.styles(snap)
        if _wants_html(request):
            return templates.TemplateResponse(request, "styles.html", {"title": "Pick a style", "styles": listed,
                                                                      "snap": snap, "query": {}})
        return {"query": {}, "build_id": snap.build_id, "results": listed}

    @app.get("/styles/{style}/recommendations", tags=["styles"])
    async def style_recommendations(request: Request, style: str, snap: Snap, filters: Filter, k: K = 10):
        chosen = filters.resolve(snap)
        return answer(request, snap, {"style": style, "k": k, **chosen.given()},
                      answers.for_style(snap, style, chosen.gender, k, chosen), f"{style.title()} style")

    @app.get("/search", tags=["search"])
    def search(request: Request, snap: Snap, filters: Filter, q: Annotated[str, Query(min_length=1, max_length=500)],
               k: K = 10):
        chosen = filters.resolve(snap)
        return answer(request, snap, {"q": q, "k": k, **chosen.given()}, answers.search_text(snap, q, k, chosen),
                      f"Results for “{q}”")

    @app.post("/search/image", tags=["search"])
    def search_image(request: Request, snap: Snap, filters: Filter, file: Annotated[UploadFile, File()], k: K = 10):
        chosen = filters.resolve(snap)
        data = file.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            return _error(413, f"the upload is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        if sniff_format(data) is None:
            return _error(415, "the upload is not a JPEG, PNG, GIF or WebP image")
        with tempfile.NamedTemporaryFile(suffix=".img") as photo:
            photo.write(data)
            photo.flush()
            results = answers.search_image(snap, Path(photo.name), k, chosen)
        return answer(request, snap, {"image": file.filename, "k": k, **chosen.given()}, results, "Products like your photo")

    @app.get("/images/{name}", tags=["products"], response_class=FileResponse)
    async def cached_image(name: str):
        """A cached product image, by the file name in gold/products ``image_path``; nothing else."""
        cache = (lake / IMAGE_CACHE_DIR).resolve()
        path = (cache / name[:2] / name).resolve()
        if not _CACHED_IMAGE_NAME.fullmatch(name) or not path.is_relative_to(cache) or not path.is_file():
            raise answers.NotFound(f"no cached image {name!r}")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400, immutable"})

    # --- the browse page --------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def browse(request: Request, filters: Filter):
        try:
            snap = holder.get()
        except NoBuild as missing:
            return templates.TemplateResponse(request, "empty.html", {"title": "No build yet", "detail": str(missing),
                                                                      "query": {}}, status_code=503)
        chosen = filters.resolve(snap)
        grid = snap.products.filter(chosen.expression()).sort(pl.col("image_path").is_not_null(), descending=True,
                                                                     maintain_order=True).head(GRID_SIZE)
        results = [{"rank": i, **snap.cards[p].fields(), "reason": None, "score": None}
                   for i, p in enumerate(grid["product_id"].to_list(), start=1)]
        return templates.TemplateResponse(request, "list.html", {"title": "Browse the catalog", "results": results,
                                                                  "snap": snap, "query": chosen.given(), "home": True})

    return app

