"""`make env` installs the locked CPU torch anywhere: from a local wheel folder where there is one
(our build machines), else from the PyTorch CPU index, and refuses a wheel with the wrong hash.
The index is simulated on loopback, laid out as the real one (``<index>/<wheel file name>``)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from deploy import torch_wheel
from tests.conftest import build_tiny_lake

REPO = Path(__file__).resolve().parents[1]
LOCKED_WHEEL = REPO / ".wheels" / torch_wheel.WHEEL   # put there by `make env`, which runs before the tests


class _Index(http.server.SimpleHTTPRequestHandler):
    requested: list[str]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requested.append(self.path)
        super().do_GET()


@contextmanager
def pytorch_index_on_loopback(root: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving ``root``; yields its /whl/cpu URL and the paths requested."""
    handler = type("Index", (_Index,), {"requested": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu", handler.requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _index_with(tmp_path: Path, wheel_source: Path) -> Path:
    folder = tmp_path / "index" / "whl" / "cpu"
    folder.mkdir(parents=True)
    try:
        os.link(wheel_source, folder / torch_wheel.WHEEL)
    except OSError:
        shutil.copyfile(wheel_source, folder / torch_wheel.WHEEL)
    return tmp_path / "index"


def test_a_wheel_with_another_hash_is_refused_and_nothing_is_left(tmp_path: Path):
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / torch_wheel.WHEEL).write_bytes(b"not the CPU build of torch")
    with pytorch_index_on_loopback(_index_with(tmp_path, tampered / torch_wheel.WHEEL)) as (index, _):
        for source in ({"local_dirs": [tampered], "index_url": "http://127.0.0.1:9/none"},
                       {"local_dirs": [], "index_url": index}):
            with pytest.raises(torch_wheel.WheelRefused, match="expected"):
                torch_wheel.provide_wheel(tmp_path / "dest", **source)
            assert not list((tmp_path / "dest").iterdir())


def test_an_unreachable_index_is_a_clear_error(tmp_path: Path):
    with pytest.raises(torch_wheel.WheelRefused, match="could not download"):
        torch_wheel.provide_wheel(tmp_path / "dest", [tmp_path / "nowhere"], "http://127.0.0.1:9/whl/cpu")


def _checkout_copy(dest: Path) -> Path:
    """The working tree's files as a fresh clone would have them (tracked and not ignored), without
    .venv, .wheels or anything built."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.mark.slow
def test_make_env_off_our_machines_installs_the_cpu_wheel_from_the_index_and_builds(tmp_path: Path):
    assert LOCKED_WHEEL.is_file(), "run `make env` first: it puts the wheel in .wheels/"
    clone = _checkout_copy(tmp_path / "clone")
    with pytorch_index_on_loopback(_index_with(tmp_path, LOCKED_WHEEL)) as (index, requested):
        env = {**os.environ, "TORCH_WHEEL_DIRS": str(tmp_path / "no-local-wheels"), "TORCH_INDEX_URL": index,
               "VIRTUAL_ENV": ""}
        done = subprocess.run(["make", "env"], cwd=clone, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    assert requested == [f"/whl/cpu/{quote(torch_wheel.WHEEL)}"]
    assert "sha256 checked" in done.stderr
    version = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "2.13.0+cpu"
    site = next((clone / ".venv" / "lib").glob("python3.*/site-packages"))
    assert not [p.name for p in site.iterdir() if p.name.startswith(("nvidia", "triton"))]
    # and that environment builds: the README's build command on a small lake
    lake = build_tiny_lake(tmp_path / "lake")
    env = {**env, "RECSYS_LAKE_DIR": str(lake), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    built = subprocess.run(["make", "build"], cwd=clone, env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    assert (lake / "warehouse.duckdb").is_file() and (lake / "gold" / "similar_items.parquet").is_file()
