"""The serving app under a bounded closed-loop load on loopback, beside raw DuckDB lookups of the same rows.

    .venv/bin/python benchmarks/bench_serving.py --lake data_lake --out benchmarks/results

Starts ``python -m serving`` on the lake (``--workers`` processes), waits for its build, then for
each query kind drives it with wrk (``apt-get install wrk``; one C thread, so the load takes little
of the cores the server needs): ``--clients`` keep-alive connections for ``--seconds`` seconds, each
sending its next request as soon as the previous one answered, with ids drawn from the tables:
similar items, a user's list, a new shopper's list from three clicks (the saved two-tower user
tower) and free-text search (the saved encoder + the index). ``benchmarks/wrk_requests.lua`` counts
an answer as right only when it is a 200 holding "results". In the same run the same similar-item
and user-list rows are read with the README's SQL from warehouse.duckdb in this process (one
read-only connection, a cursor per client thread, the same closed loop). Reports p50/p95/p99
latency, requests/s and errors; writes serving.json and serving.png and prints the README's table.
Goals (issue 18, a 2-core machine): precomputed lookups p99 <= 10 ms at >= 500 requests/s with
0 errors; new-shopper lists p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlencode

import numpy as np

from recsys import warehouse
from recsys.gold import queries as sql

REPO = Path(__file__).resolve().parents[1]
GOALS = {"precomputed_p99_ms": 10.0, "precomputed_rps": 500.0, "new_shopper_p99_ms": 20.0}
PRECOMPUTED = ("similar_items", "user_recommendations")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(lake: Path, port: int, timeout_s: float, log: Path, workers: int = 1) -> subprocess.Popen:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    # The server's log goes to a file: an unread pipe fills up and stalls the server mid-benchmark.
    with open(log, "wb") as sink:
        server = subprocess.Popen([sys.executable, "-m", "serving", "--lake", str(lake), "--port", str(port),
                                   "--workers", str(workers)],
                                  cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise RuntimeError(f"no build served within {timeout_s} s")


def _summary(latencies_s: list[float], errors: int, seconds: float) -> dict:
    ms = np.asarray(latencies_s) * 1000 if latencies_s else np.zeros(1)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "mean_ms": round(float(ms.mean()), 3),
            "requests": len(latencies_s), "errors": errors, "requests_per_s": round(len(latencies_s) / seconds, 1)}


def closed_loop(make_client: Callable[[int], Callable[[int], bool]], clients: int, seconds: float) -> dict:
    """``clients`` threads, each calling its request function back to back for ``seconds``;
    a request function takes a sequence number and returns whether the answer was right."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def run(c: int) -> None:
        request = make_client(c)
        start.wait()
        i = c
        while (now := time.perf_counter()) < stop_at[0]:
            if request(i):
                latencies[c].append(time.perf_counter() - now)
            else:
                errors[c] += 1
            i += clients

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return _summary([x for part in latencies for x in part], sum(errors), time.perf_counter() - began)


WRK_SCRIPT = Path(__file__).with_name("wrk_requests.lua")


def wrk_load(port: int, requests: list[tuple[str, str, str]], clients: int, seconds: float) -> dict:
    """``clients`` keep-alive connections of one wrk thread (C, so the load costs the 2 cores little),
    each sending its next request when the previous one answered, cycling through ``requests``
    (method, path, JSON body or ""). An answer is right only when it is a 200 holding "results"."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench_serving needs wrk, the HTTP load generator: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as lines:
        lines.writelines(f"{method}\t{path}\t{body}\n" for method, path, body in requests)
    try:
        out = subprocess.run([wrk, "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                              "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}", "--", lines.name],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(lines.name)
    found = json.loads(next(line for line in out.splitlines() if line.startswith("WRK_JSON ")).removeprefix("WRK_JSON "))
    seconds_run = found["duration_us"] / 1e6
    ms = {key: round(found[f"{key}_us"] / 1000, 3) for key in ("p50", "p95", "p99", "mean")}
    return {"p50_ms": ms["p50"], "p95_ms": ms["p95"], "p99_ms": ms["p99"], "mean_ms": ms["mean"],
            "requests": found["requests"], "errors": found["socket_errors"] + found["wrong_answers"],
            "requests_per_s": round(found["requests"] / seconds_run, 1), "error_samples": found["samples"]}


def duckdb_client(db: Path, query: str, params: list[list]):
    con = warehouse.connect_readonly(db)

    def make(_: int) -> Callable[[int], bool]:
        cursor = con.cursor()
        return lambda i: bool(cursor.execute(query, params[i % len(params)]).fetchall())
    return make


def _ids(db: Path, n: int, seed: int) -> dict[str, list]:
    con = warehouse.connect_readonly(db)
    try:
        products = [r[0] for r in con.execute("SELECT DISTINCT product_id::VARCHAR FROM similar_items").fetchall()]
        users = [r[0] for r in con.execute("SELECT DISTINCT user_id::VARCHAR FROM user_recommendations").fetchall()]
        texts = [" ".join(v for v in r if v) for r in con.execute(
            "SELECT colour, article_type FROM products WHERE article_type IS NOT NULL").fetchall()]
    finally:
        con.close()
    rng = np.random.default_rng(seed)
    return {"products": rng.choice(products, n).tolist(), "users": rng.choice(users, n).tolist(),
            "histories": [rng.choice(products, 3, replace=False).tolist() for _ in range(n)],
            "texts": rng.choice(texts, n).tolist()}


def _plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, (lat, rps) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(len(names))
    for offset, key in zip((-0.27, 0, 0.27), ("p50_ms", "p95_ms", "p99_ms")):
        lat.bar(x + offset, [results[n][key] for n in names], 0.27, label=key.removesuffix("_ms"))
    lat.axhline(GOALS["precomputed_p99_ms"], color="red", ls="--", lw=1, label="p99 goal, lookups")
    lat.axhline(GOALS["new_shopper_p99_ms"], color="orange", ls="--", lw=1, label="p99 goal, new shopper")
    lat.set_yscale("log")
    lat.set_ylabel("latency (ms, log)")
    rps.bar(x, [results[n]["requests_per_s"] for n in names], color="tab:green")
    rps.axhline(GOALS["precomputed_rps"], color="red", ls="--", lw=1, label="goal, lookups")
    rps.set_ylabel("requests/s")
    for ax in (lat, rps):
        ax.set_xticks(x, names, rotation=25, ha="right", fontsize=8)
        ax.legend(fontsize=8)
    fig.suptitle("Serving under closed-loop load (loopback) vs raw DuckDB lookups of the same rows")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def markdown(results: dict) -> str:
    lines = ["| query | p50 ms | p95 ms | p99 ms | requests/s | errors |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['requests_per_s']:,.0f} | {r['errors']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=Path(os.getenv("RECSYS_LAKE_DIR", str(REPO / "data_lake"))))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--ids", type=int, default=2_000, help="distinct ids drawn per query kind")
    parser.add_argument("--start-timeout", type=float, default=600.0)
    parser.add_argument("--workers", type=int, default=1, help="server processes (python -m serving --workers)")
    args = parser.parse_args()
    db = args.lake / "warehouse.duckdb"
    ids = _ids(db, args.ids, seed=0)
    k = args.k
    port = _free_port()
    args.out.mkdir(parents=True, exist_ok=True)
    server = _start_server(args.lake, port, args.start_timeout, Path(tempfile.gettempdir()) / "bench_serving_server.log",
                           args.workers)
    try:
        with_k = urlencode({"k": k})
        loads = {
            "similar_items": [("GET", f"/products/{quote(p)}/similar?{with_k}", "") for p in ids["products"]],
            "user_recommendations": [("GET", f"/users/{quote(u)}/recommendations?{with_k}", "") for u in ids["users"]],
            "new_shopper": [("POST", "/recommendations", json.dumps({"history": h, "k": k})) for h in ids["histories"]],
            "text_search": [("GET", f"/search?{urlencode({'q': t, 'k': k})}", "") for t in ids["texts"]],
        }
        results = {}
        for name, requests in loads.items():
            wrk_load(port, requests, args.clients, min(2.0, args.seconds))      # warm-up: connections, caches
            results[name] = wrk_load(port, requests, args.clients, args.seconds)
            print(name, results[name], flush=True)
    finally:
        server.terminate()
        server.wait(30)
    for name, query, params in (("similar_items", sql.SIMILAR_ITEMS, [[p, k] for p in ids["products"]]),
                                ("user_recommendations", sql.USER_RECOMMENDATIONS, [[u, k] for u in ids["users"]])):
        make = duckdb_client(db, query, params)
        closed_loop(make, args.clients, min(2.0, args.seconds))
        results[f"duckdb_{name}"] = closed_loop(make, args.clients, args.seconds)
        print(f"duckdb_{name}", results[f"duckdb_{name}"], flush=True)
    met = {
        "precomputed_p99": all(results[n]["p99_ms"] <= GOALS["precomputed_p99_ms"] for n in PRECOMPUTED),
        "precomputed_rps": all(results[n]["requests_per_s"] >= GOALS["precomputed_rps"] for n in PRECOMPUTED),
        "no_errors": all(r["errors"] == 0 for r in results.values()),
        "new_shopper_p99": results["new_shopper"]["p99_ms"] <= GOALS["new_shopper_p99_ms"],
    }
    con = warehouse.connect_readonly(db)
    products, users = (con.execute(f"SELECT count(DISTINCT {c}) FROM {t}").fetchall()[0][0]
                       for c, t in (("product_id", "products"), ("user_id", "user_recommendations")))
    con.close()
    report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "lake": str(args.lake),
              "products": products, "users": users, "clients": args.clients, "server_workers": args.workers, "seconds": args.seconds, "k": k,
              "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()]},
              "goals": GOALS, "met": met, "results": results, "load_generator": "wrk -t1 (benchmarks/wrk_requests.lua)"}
    (args.out / "serving.json").write_text(json.dumps(report, indent=2))
    _plot(results, args.out / "serving.png")
    print(markdown(results))
    print("goals met:", met)


if __name__ == "__main__":
    main()
