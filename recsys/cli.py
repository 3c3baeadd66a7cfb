"""recsys: recommendations from the built artefacts, for people who want an answer without SQL.

    recsys similar myntra_styles:15970            # products like a catalog product
    recsys similar --image photo.jpg              # products like a photo that is not in the catalog
    recsys user sim_u000042                       # a user's recommendations
    recsys style formal --gender Women            # cold start: a style (and a gender)
    recsys search "red floral summer dress"       # free text
    recsys styles                                 # the styles and genders on offer
    add --format json for JSON, -k N for the list length, --lake DIR for another lake

It reads only what the pipeline built: warehouse.duckdb for the precomputed tables, and for photos
and free text the FAISS index (models/faiss_index) with the encoder saved beside the embeddings.
Exit status: 0 answered, 1 nothing found for the query, 2 the artefacts are missing or unusable, or
the command line is wrong. With --format json an error is JSON on stdout too:
{"error": {"kind": "not_found" | "unavailable" | "usage", "message": "..."}}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from recsys import warehouse
from recsys.gold import queries as sql
from recsys.index import ItemIndex
from recsys.index.queries import nearest, query_encoder

DEFAULT_LAKE = "data_lake"
LAKE_ENV_VAR = "RECSYS_LAKE_DIR"
DISPLAY_COLUMNS = ["rank", "product_id", "name", "gender", "article_type", "colour", "price", "currency", "score",
                   "reason", "model"]


class NotFound(LookupError):
    """The artefacts are there but have nothing for this query."""


class Answer:
    def __init__(self, query: dict, rows: pl.DataFrame):
        self.query, self.rows = query, rows


def _connect(lake: Path):
    return warehouse.connect_readonly(lake / "warehouse.duckdb")


def _lookup(lake: Path, query: str, params: list, what: str) -> pl.DataFrame:
    con = _connect(lake)
    try:
        rows = con.sql(query, params=params).pl()
    finally:
        con.close()
    if rows.is_empty():
        raise NotFound(what)
    return rows


def similar_to_product(lake: Path, product_id: str, k: int) -> Answer:
    rows = _lookup(lake, sql.SIMILAR_ITEMS, [product_id, k],
                   f"no similar items for product {product_id!r}: is it in the catalog? (try `recsys search`)")
    return Answer({"similar_to": product_id}, rows)


def for_user(lake: Path, user_id: str, k: int) -> Answer:
    rows = _lookup(lake, sql.USER_RECOMMENDATIONS, [user_id, k],
                   f"no recommendations for user {user_id!r}: unknown user (a new shopper can use `recsys style`)")
    return Answer({"user_id": user_id}, rows)


def for_style(lake: Path, style: str, gender: str | None, k: int) -> Answer:
    rows = _lookup(lake, sql.STYLE_RECOMMENDATIONS, [style, gender, k],
                   f"no list for style {style!r} and gender {gender or 'any'!r} (see `recsys styles`)")
    return Answer({"style": style, "gender": gender}, rows)


def styles(lake: Path) -> Answer:
    rows = _lookup(lake, "SELECT style, list(DISTINCT coalesce(gender, 'any') ORDER BY coalesce(gender, 'any')) "
                         "AS genders, count(*) AS rows FROM style_recommendations GROUP BY style ORDER BY style", [],
                   "no style recommendations have been built")
    return Answer({"styles": True}, rows.with_columns(pl.col("genders").list.join(", ")))


def _nearest(lake: Path, index, vector, k: int, reason: str) -> pl.DataFrame:
    """The index's nearest catalog products to ``vector``, with their names from the warehouse."""
    hits = nearest(index, vector, k)
    if not hits:
        raise NotFound("the index is empty")
    found = pl.DataFrame({"rank": list(range(1, len(hits) + 1)), "product_id": [p for p, _ in hits],
                          "score": [round(float(s), 4) for _, s in hits]},
                         schema={"rank": pl.Int32, "product_id": pl.String, "score": pl.Float64})
    con = _connect(lake)
    try:
        names = con.sql(sql.PRODUCTS_BY_ID, params=[found["product_id"].to_list()]).pl()
    finally:
        con.close()
    names = names.with_columns(pl.col("product_id").cast(pl.String))
    return (found.join(names, on="product_id", how="left").with_columns(reason=pl.lit(reason), model=pl.lit("content"))
            .sort("rank"))


def _index(lake: Path):
    return ItemIndex.load(lake / "models" / "faiss_index")


def similar_to_image(lake: Path, image: Path, k: int, clip: str | None = None) -> Answer:
    if not Path(image).is_file():
        raise FileNotFoundError(f"no image file at {image}")
    index = _index(lake)
    encoder = query_encoder(lake, index.manifest.vectors, clip)
    if encoder.no_images_reason:
        raise ValueError(f"this build cannot search by image: {encoder.no_images_reason}")
    encoded = encoder.encode_images([Path(image)])
    if encoded.errors[0] is not None:
        raise ValueError(f"cannot read {image} as an image: {encoded.errors[0]}")
    return Answer({"similar_to_image": str(image)}, _nearest(lake, index, encoded.vectors[0], k, "looks similar"))


def search(lake: Path, text: str, k: int, clip: str | None = None) -> Answer:
    index = _index(lake)
    vector = query_encoder(lake, index.manifest.vectors, clip).encode_texts([text])[0]
    return Answer({"search": text}, _nearest(lake, index, vector, k, "matches your search"))


def render(answer: Answer, fmt: str) -> str:
    rows = answer.rows.select([c for c in DISPLAY_COLUMNS if c in answer.rows.columns] or answer.rows.columns)
    if fmt == "json":
        return json.dumps({"query": answer.query, "results": rows.to_dicts()}, ensure_ascii=False, indent=2,
                          default=str)
    with pl.Config(tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True, tbl_rows=-1, tbl_cols=-1,
                   fmt_str_lengths=48, tbl_width_chars=200, float_precision=3):
        title = ", ".join(f"{k}={v}" for k, v in answer.query.items() if v is not None and v is not True)
        return (f"{title}\n" if title else "") + str(rows)


def _options(top_level: bool) -> argparse.ArgumentParser:
    """The shared options. Sub-commands repeat them with suppressed defaults, so an option given
    before the command is not reset by the command's own default."""
    options = argparse.ArgumentParser(add_help=False)
    default = (lambda value: value) if top_level else (lambda value: argparse.SUPPRESS)
    options.add_argument("--lake", type=Path, default=default(None),
                         help=f"lake root (default: ${LAKE_ENV_VAR} or {DEFAULT_LAKE})")
    options.add_argument("--format", choices=("table", "json"), default=default("table"), help="output format")
    options.add_argument("-k", type=int, default=default(10), help="how many products (default 10)")
    options.add_argument("--clip", default=default(None),
                         help="CLIP checkpoint folder, when the index was built with a CLIP folder (photo/text queries)")
    return options


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON, read before parsing so a usage error can be JSON too."""
    argv = list(argv)
    return "--format=json" in argv or any(a == "--format" and b == "json" for a, b in zip(argv, argv[1:]))


def _report(kind: str, message: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": {"kind": kind, "message": message}}))
    else:
        print(f"recsys: {message}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is reported as JSON when the command line asked for JSON."""

    json_errors = False

    def error(self, message: str):
        if not self.json_errors:
            super().error(message)
        _report("usage", message, as_json=True)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recsys", parents=[_options(True)], description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = [_options(False)]
    similar = sub.add_parser("similar", parents=common, help="products similar to a product id or to a photo")
    target = similar.add_mutually_exclusive_group(required=True)
    target.add_argument("product_id", nargs="?", help="a catalog product id, e.g. myntra_styles:15970")
    target.add_argument("--image", type=Path, help="an image file (need not be in the catalog)")
    user = sub.add_parser("user", parents=common, help="a user's recommendations")
    user.add_argument("user_id")
    style = sub.add_parser("style", parents=common, help="cold start: products for a style (and gender)")
    style.add_argument("style")
    style.add_argument("--gender", help="Men or Women (default: any)")
    text = sub.add_parser("search", parents=common, help="products matching a free-text description")
    text.add_argument("text", nargs="+")
    sub.add_parser("styles", parents=common, help="the styles and genders on offer")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_errors = _wants_json(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("-k must be at least 1")
    as_json = args.format == "json"
    lake = Path(args.lake or os.getenv(LAKE_ENV_VAR) or DEFAULT_LAKE)
    try:
        if args.command == "similar":
            answer = (similar_to_image(lake, args.image, args.k, args.clip) if args.image
                      else similar_to_product(lake, args.product_id, args.k))
        elif args.command == "user":
            answer = for_user(lake, args.user_id, args.k)
        elif args.command == "style":
            answer = for_style(lake, args.style, args.gender, args.k)
        elif args.command == "search":
            answer = search(lake, " ".join(args.text), args.k, args.clip)
        else:
            answer = styles(lake)
    except NotFound as missing:
        _report("not_found", str(missing), as_json)
        return 1
    except (FileNotFoundError, ValueError) as broken:
        _report("unavailable", str(broken), as_json)
        return 2
    print(render(answer, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
