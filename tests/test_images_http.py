"""Remote images against a loopback HTTP server that serves every bad case of issue 5."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from recsys.images import (CacheSettings, HttpFetcher, HttpSettings, ImageStore, LocalFiles, Status, primary_images,
                           update_image_cache)
from recsys.images.outcome import ImageRejected
from tests.image_samples import HTML_PAGE, jpeg, png, png_bomb, truncated

GOOD = jpeg((400, 300))
PNG = png()
BOMB = png_bomb()
MAX_BYTES = 200_000
# Generous for a loaded CI machine: only /slow.jpg (4x this) may time out.
TIMEOUT_S = 1.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default 5 drops connections under a burst on a loaded machine

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: Counter = Counter()
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, code: int, body: bytes = b"", content_type: str = "image/jpeg", headers=()) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, headers=[("Location", location)])

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        with self.server.lock:
            self.server.hits[self.path] += 1
            hits = self.server.hits[self.path]
        routes = {
            "/good.jpg": lambda: self._send(200, GOOD),
            "/good-again.jpg": lambda: self._send(200, GOOD),  # same bytes, another URL
            "/png-named.jpg": lambda: self._send(200, PNG),
            "/missing.jpg": lambda: self._send(404, b"not here", "text/plain"),
            "/forbidden.jpg": lambda: self._send(403, b"no", "text/plain"),
            "/flaky.jpg": lambda: self._send(500, b"oops", "text/plain") if hits == 1 else self._send(200, GOOD),
            "/always-500.jpg": lambda: self._send(503, b"down", "text/plain"),
            "/slow.jpg": self._slow,
            "/drip.jpg": self._drip,
            "/huge.jpg": lambda: self._send(200, b"\xff\xd8\xff" + b"\0" * (MAX_BYTES * 2)),
            "/huge-unannounced.jpg": self._huge_without_length,
            "/page.jpg": lambda: self._send(200, HTML_PAGE, "image/jpeg"),
            "/truncated.jpg": lambda: self._send(200, truncated(GOOD)),
            "/empty.jpg": lambda: self._send(200, b""),
            "/bomb.png": lambda: self._send(200, BOMB, "image/png"),
            "/loop-a": lambda: self._redirect("/loop-b"),
            "/loop-b": lambda: self._redirect("/loop-a"),
            "/to-file": lambda: self._redirect("file:///etc/passwd"),
            "/to-good": lambda: self._redirect("/good.jpg"),
            "/to-localhost": lambda: self._redirect(f"http://localhost:{self.server.server_address[1]}/good.jpg"),
        }
        routes.get(self.path, lambda: self._send(404, b"", "text/plain"))()

    def _slow(self) -> None:
        time.sleep(TIMEOUT_S * 4)
        self._send(200, GOOD)

    def _drip(self) -> None:
        # A byte at a time, each well within the read timeout: only the download deadline stops it.
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(GOOD)))
        self.end_headers()
        try:
            for byte in GOOD[:40]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(TIMEOUT_S / 4)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _huge_without_length(self) -> None:
        # HTTP/1.0 without Content-Length: the body runs until the server closes the connection.
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        try:
            self.wfile.write(b"\xff\xd8\xff")
            for _ in range(MAX_BYTES * 3 // 8192):
                self.wfile.write(b"\0" * 8192)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading at its limit, as it should


@contextmanager
def _serving() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server():
    with _serving() as srv:
        yield srv


def _settings(**overrides) -> HttpSettings:
    values = dict(allow_private=True, max_bytes=MAX_BYTES, timeout_s=TIMEOUT_S, connect_timeout_s=TIMEOUT_S,
                  download_deadline_s=TIMEOUT_S * 1.5,
                  retries=2, backoff_s=0.01, backoff_max_s=0.05, per_host_rps=0, host_failure_limit=100,
                  concurrency=8)
    values.update(overrides)
    return HttpSettings(**values)


EXPECTED = {
    "/good.jpg": Status.OK,
    "/good-again.jpg": Status.OK,
    "/png-named.jpg": Status.OK,
    "/to-good": Status.OK,
    "/flaky.jpg": Status.OK,
    "/missing.jpg": Status.NOT_FOUND,
    "/forbidden.jpg": Status.HTTP_ERROR,
    "/always-500.jpg": Status.SERVER_ERROR,
    "/slow.jpg": Status.TIMEOUT,
    "/drip.jpg": Status.TIMEOUT,
    "/huge.jpg": Status.TOO_LARGE,
    "/huge-unannounced.jpg": Status.TOO_LARGE,
    "/page.jpg": Status.NOT_IMAGE,
    "/truncated.jpg": Status.CORRUPT,
    "/empty.jpg": Status.EMPTY,
    "/bomb.png": Status.BOMB,
    "/loop-a": Status.REDIRECT_LOOP,
    "/to-file": Status.REFUSED,
}


def _products(server: _Server, paths) -> pl.DataFrame:
    return pl.DataFrame({"product_id": [f"p{i:02d}" for i, _ in enumerate(paths)],
                         "image_urls": [[server.base + path] for path in paths]})


def _cache(tmp_path: Path, products: pl.DataFrame, http: HttpSettings, **settings):
    with HttpFetcher(http) as fetcher:
        return update_image_cache(products, store=ImageStore(tmp_path / "lake"),
                                  local=LocalFiles(tmp_path / "lake", http.max_bytes), remote=fetcher,
                                  settings=CacheSettings(**settings))


@dataclass
class _BadCases:
    server: _Server
    lake: Path
    products: pl.DataFrame
    result: object
    hits: Counter       # requests per path made by the first run


@pytest.fixture(scope="module")
def bad_cases(tmp_path_factory) -> Iterator[_BadCases]:
    """One run over every case (the slow ones cost seconds), shared by the tests that read it."""
    with _serving() as srv:
        tmp = tmp_path_factory.mktemp("bad_cases")
        products = _products(srv, list(EXPECTED))
        result = _cache(tmp, products, _settings(retries=2))
        yield _BadCases(srv, tmp, products, result, Counter(srv.hits))


def test_every_bad_case_ends_with_its_status_and_the_good_ones_are_cached_once(bad_cases):
    base, manifest = bad_cases.server.base, bad_cases.result.manifest
    by_url = {url: status for url, status in manifest.select("url", "status").iter_rows()}
    assert {path: by_url[base + path] for path in EXPECTED} == {p: s.value for p, s in EXPECTED.items()}

    ok = manifest.filter(pl.col("status") == "ok")
    assert ok["sha256"].null_count() == 0 and ok["path"].null_count() == 0
    failed = manifest.filter(pl.col("status") != "ok")
    assert failed["sha256"].null_count() == failed.height and failed["error"].null_count() == 0
    # Four URLs serve the same JPEG: one file. The PNG is another. Nothing else is stored.
    assert ok.filter(~pl.col("url").str.ends_with("png-named.jpg"))["sha256"].n_unique() == 1
    stored = sorted(p.name for p in (bad_cases.lake / "lake" / "images").glob("??/*.jpg"))
    assert stored == sorted(f"{sha}.jpg" for sha in ok["sha256"].unique())
    assert len(stored) == 2
    assert ok.filter(pl.col("url").str.ends_with("png-named.jpg"))["format"].item() == "PNG"


def test_retries_only_where_retrying_can_help(bad_cases):
    hits, base = bad_cases.hits, bad_cases.server.base
    attempts = {url.removeprefix(base): n for url, n in bad_cases.result.manifest.select("url", "attempts").iter_rows()}
    assert hits["/missing.jpg"] == attempts["/missing.jpg"] == 1      # 4xx: never retried
    assert hits["/forbidden.jpg"] == 1
    assert hits["/page.jpg"] == 1                                     # bad content: not retried
    assert hits["/huge.jpg"] == 1
    assert hits["/flaky.jpg"] == attempts["/flaky.jpg"] == 2         # 500 once, then ok
    assert hits["/always-500.jpg"] == attempts["/always-500.jpg"] == 3
    assert hits["/slow.jpg"] == attempts["/slow.jpg"] == 3
    assert hits["/drip.jpg"] == attempts["/drip.jpg"] == 3
    assert hits["/loop-a"] == 1 and hits["/loop-b"] == 1              # the cycle is seen, not walked again


def test_second_run_makes_no_request_and_changes_nothing(bad_cases):
    before = sum(bad_cases.server.hits.values())
    second = _cache(bad_cases.lake, bad_cases.products, _settings(retries=2))
    assert sum(bad_cases.server.hits.values()) == before
    assert second.stats.requests == 0 and second.stats.normalized == 0
    assert not second.manifest_written
    assert second.manifest.equals(bad_cases.result.manifest)


def test_after_the_cool_down_only_retryable_failures_are_fetched_again(server, tmp_path):
    paths = ["/good.jpg", "/missing.jpg", "/page.jpg", "/always-500.jpg"]
    products = _products(server, paths)
    first = _cache(tmp_path, products, _settings(retries=0))
    before = Counter(server.hits)
    second = _cache(tmp_path, products, _settings(retries=0), retry_after=timedelta(0))
    assert Counter(server.hits) - before == Counter({"/always-500.jpg": 1})
    attempts = dict(second.manifest.select("url", "attempts").iter_rows())
    assert attempts[server.base + "/always-500.jpg"] == 2  # summed over the two runs
    assert second.manifest.filter(pl.col("url").str.ends_with("good.jpg"))["fetched_at"].item() == \
        first.manifest.filter(pl.col("url").str.ends_with("good.jpg"))["fetched_at"].item()


def test_refetch_reprocesses_the_named_statuses(server, tmp_path):
    products = _products(server, ["/huge.jpg", "/missing.jpg"])
    _cache(tmp_path, products, _settings())
    second = _cache(tmp_path, products, _settings(max_bytes=MAX_BYTES * 4), refetch=frozenset({Status.TOO_LARGE}))
    statuses = dict(second.manifest.select("url", "status").iter_rows())
    # Now within the limit: the body is read, and it is a JPEG header on zeros. The 404 was not asked again.
    assert statuses[server.base + "/huge.jpg"] == "corrupt"
    assert server.hits["/huge.jpg"] == 2 and server.hits["/missing.jpg"] == 1


def test_loopback_is_refused_unless_allowed(server, tmp_path):
    result = _cache(tmp_path, _products(server, ["/good.jpg"]), _settings(allow_private=False))
    row = result.manifest.row(0, named=True)
    assert row["status"] == "refused" and "non-public address 127.0.0.1" in row["error"]
    assert sum(server.hits.values()) == 0


def test_redirects_only_to_allowed_hosts(server, tmp_path):
    products = _products(server, ["/to-good", "/to-localhost"])
    result = _cache(tmp_path, products, _settings(allowed_hosts=("127.0.0.1",)))
    statuses = {url.removeprefix(server.base): s for url, s in result.manifest.select("url", "status").iter_rows()}
    assert statuses == {"/to-good": "ok", "/to-localhost": "refused"}
    assert server.hits["/good.jpg"] == 1  # only through /to-good


def test_fallback_to_the_next_image_when_the_first_fails(server, tmp_path):
    products = pl.DataFrame({"product_id": ["a", "b"],
                             "image_urls": [[server.base + "/missing.jpg", server.base + "/good.jpg",
                                             server.base + "/png-named.jpg"],
                                            [server.base + "/good-again.jpg", server.base + "/page.jpg"]]})
    result = _cache(tmp_path, products, _settings())
    considered = result.manifest.select("product_id", "position", "status").rows()
    # a: first fails, second is ok, third not needed. b: first ok, second never considered.
    assert considered == [("a", 0, "not_found"), ("a", 1, "ok"), ("b", 0, "ok")]
    assert server.hits["/png-named.jpg"] == 0 and server.hits["/page.jpg"] == 0
    primary = primary_images(result.manifest)
    assert primary["product_id"].to_list() == ["a", "b"]
    assert primary["image_path"].to_list() == result.manifest.filter(pl.col("status") == "ok")["path"].to_list()


def test_more_images_per_product_when_asked(server, tmp_path):
    products = pl.DataFrame({"product_id": ["a"], "image_urls": [[server.base + "/good.jpg",
                                                                  server.base + "/png-named.jpg"]]})
    result = _cache(tmp_path, products, _settings(), images_per_product=2)
    assert result.manifest["status"].to_list() == ["ok", "ok"]


def test_offline_mode_makes_no_request(server, tmp_path):
    result = _cache(tmp_path, _products(server, ["/good.jpg"]), _settings(offline=True))
    row = result.manifest.row(0, named=True)
    assert row["status"] == "unreachable" and "offline" in row["error"] and row["attempts"] == 0
    assert sum(server.hits.values()) == 0


def test_a_dead_host_is_given_up_after_a_few_urls(tmp_path):
    # A port nobody listens on: connection refused, like a CDN that is down.
    with socket_closed_port() as port:
        products = pl.DataFrame({"product_id": [f"p{i}" for i in range(40)],
                                 "image_urls": [[f"http://127.0.0.1:{port}/{i}.jpg"] for i in range(40)]})
        result = _cache(tmp_path, products, _settings(host_failure_limit=3, concurrency=2, retries=1))
    assert set(result.manifest["status"]) == {"unreachable"}
    assert "127.0.0.1" in result.hosts_down
    # Only the URLs in flight before the breaker opened were tried; the rest were skipped at once.
    tried = result.manifest.filter(pl.col("attempts") > 0).height
    assert tried <= 3 + 2
    assert result.manifest.filter(pl.col("attempts") == 0)["error"].str.starts_with("not tried").all()


def test_unresolvable_host_is_one_lookup_and_no_retry(tmp_path):
    lookups = Counter()

    def no_dns(host, port):
        from recsys.images.ssrf import HostUnresolvable

        lookups[host] += 1
        raise HostUnresolvable(f"cannot resolve {host!r}")

    products = pl.DataFrame({"product_id": [f"p{i}" for i in range(30)],
                             "image_urls": [[f"https://cdn.example.invalid/{i}.jpg"] for i in range(30)]})
    with HttpFetcher(_settings(allow_private=False, concurrency=1, retries=3), resolver=no_dns) as fetcher:
        result = update_image_cache(products, store=ImageStore(tmp_path), local=LocalFiles(tmp_path, MAX_BYTES),
                                    remote=fetcher, settings=CacheSettings())
    assert lookups == Counter({"cdn.example.invalid": 1})
    assert set(result.manifest["status"]) == {"unreachable"}
    assert result.stats.requests == 1


def test_fetch_reports_attempts_on_failure(server):
    with HttpFetcher(_settings(retries=1)) as fetcher:
        with pytest.raises(ImageRejected) as caught:
            fetcher.fetch(server.base + "/always-500.jpg")
    assert caught.value.status is Status.SERVER_ERROR and caught.value.attempts == 2


class socket_closed_port:
    """A loopback port that was just free: connecting to it is refused."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        return None
