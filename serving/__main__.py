"""``python -m serving``: serve $RECSYS_LAKE_DIR (default data_lake) on $HOST:$PORT (127.0.0.1:8000)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import uvicorn

from serving.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--lake", type=Path, default=Path(os.getenv("RECSYS_LAKE_DIR") or "data_lake"))
    parser.add_argument("--host", default=os.getenv("HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.getenv("PORT") or 8000))
    parser.add_argument("--check-every", type=float, default=2.0, help="seconds between checks for a new build")
    parser.add_argument("--workers", type=int, default=int(os.getenv("WORKERS") or 1),
                        help="server processes; each holds the whole build in memory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("recsys").setLevel(logging.WARNING)     # the encoders log progress on every query
    # One process: the whole build is held in memory once; torch and BLAS stay on one thread each so
    # model queries do not fight the event loop for the cores.
    import torch

    torch.set_num_threads(1)
    if args.workers == 1:
        uvicorn.run(create_app(args.lake, args.check_every), host=args.host, port=args.port, access_log=False,
                    log_level="info")
        return
    # Several processes share the port; each builds its own app (and snapshot) from the environment.
    os.environ[LAKE_ENV], os.environ[CHECK_ENV] = str(args.lake), str(args.check_every)
    uvicorn.run("serving.__main__:app_from_environment", factory=True, workers=args.workers, host=args.host,
                port=args.port, access_log=False, log_level="info")


LAKE_ENV, CHECK_ENV = "RECSYS_LAKE_DIR", "RECSYS_SERVING_CHECK_EVERY"


def app_from_environment():
    """The app of one worker process (``--workers`` > 1)."""
    import torch

    torch.set_num_threads(1)
    return create_app(Path(os.environ[LAKE_ENV]), float(os.environ[CHECK_ENV]))


if __name__ == "__main__":
    main()
