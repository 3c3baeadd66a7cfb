"""``python -m recsys.synthetic --products N --users M --out DIR --seed S``: write a synthetic raw lake.

Point the pipeline at it with ``RECSYS_LAKE_DIR=DIR``. Prints the summary (counts, expected
quarantine, rows/s and images/s) as JSON; the same summary is saved as ``DIR/raw/synthetic.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from recsys.synthetic.lake import SyntheticLakeSettings, generate_lake


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m recsys.synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, required=True, help="valid products to generate (all sources)")
    parser.add_argument("--users", type=int, required=True, help="users with events (0: no raw/events)")
    parser.add_argument("--out", required=True, help="lake root; raw/ is written inside it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--events-per-user", type=float, default=20.0, help="mean events per user (log-normal)")
    parser.add_argument("--quirk-rate", type=float, default=0.01, help="probability of each quirk kind per row")
    parser.add_argument("--chunk-size", type=int, default=5_000, help="products per chunk")
    parser.add_argument("--shard-size", type=int, default=50_000, help="products per CSV file")
    parser.add_argument("--user-chunk-size", type=int, default=20_000, help="users per events file")
    parser.add_argument("--events-format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--no-images", action="store_true", help="skip drawing images (styles then have none)")
    parser.add_argument("--image-size", type=_size, default=(96, 128), help="WIDTHxHEIGHT, default 96x128")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="image worker processes (0: draw in this process)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DIR/raw")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = SyntheticLakeSettings(
        products=args.products, users=args.users, seed=args.seed, events_per_user=args.events_per_user,
        quirk_rate=args.quirk_rate, chunk_size=args.chunk_size, shard_size=args.shard_size,
        user_chunk_size=args.user_chunk_size, events_format=args.events_format, images=not args.no_images,
        image_size=args.image_size, workers=args.workers,
    )
    summary = generate_lake(args.out, config, overwrite=args.overwrite)
    print(json.dumps(summary.to_json(), indent=2, default=list))


if __name__ == "__main__":
    main()
