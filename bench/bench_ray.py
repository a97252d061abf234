"""Ray Serve scaling, 1 -> 2 replicas, beside ``facert serve`` in one process, on loopback.

    FACERT_CACHE=... .venv/bin/python bench/bench_ray.py [--replicas 1 2] [--clients 8]
        [--seconds 15] [--no-local] [--json OUT]

Every server restores the same photo (matplotlib's grace_hopper.jpg at 256x300, one face, PNG in
and out) with ISPL on ONNX Runtime FP32, at most 8 requests (faces) per batch, waiting 10 ms for a
batch to fill. For each server: one client sending requests back to back, then ``--clients``
concurrent ones, each phase ``--seconds`` long after a warm-up; throughput (answered requests per
second), latency p50/p99 and the batch sizes reached. Servers, one after the other:

- ``facert serve`` (one process, ONNX Runtime's threads over every core; skipped with
  ``--no-local`` or when the ``serve`` extra is missing), started as a subprocess on a free port;
- Ray Serve with each ``--replicas`` count on one local Ray cluster (all cores): each replica
  reserves cores / replicas Ray CPUs and runs that many ONNX Runtime threads.

The clients (Python threads, urllib) run on the same machine: their CPU time is taken from the
servers'. On 2 cores the replicas split the same two cores, so 2 replicas can at best match one
replica of 2 threads (what they add is isolation and batches in parallel, not cores); scaling
shows on a machine with cores to spare, or on several machines (runtime/serve/ray_serve.yaml).
Bounded: about (servers x 2 phases) x (seconds + warm-up) plus ~30 s of starts.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]
from conftest import grace_hopper_path  # noqa: E402
from ray_support import (  # noqa: E402
    Answer,
    descendants,
    free_port,
    get_json,
    local_cluster,
    post,
    rss_mib,
)

from facert.backends.device import cpu_description, cpu_flags  # noqa: E402
from facert.config import load_settings  # noqa: E402

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
WARMUP_S = 3.0
CLIENT_TIMEOUT_S = 120.0


def photo() -> bytes:
    image = cv2.imread(str(grace_hopper_path()))
    small = cv2.resize(image, (256, 300), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".png", small)[1].tobytes()


def load(url: str, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads POSTing ``body`` back to back: a warm-up, then ``seconds`` measured
    (the requests started in that window)."""
    answers: list[Answer] = []
    lock = threading.Lock()
    measure_from = time.monotonic() + WARMUP_S
    until = measure_from + seconds
    finished = [measure_from]

    def client() -> None:
        while (started := time.monotonic()) < until:
            answer = post(f"{url}/v1/enhance", body, "image/png", CLIENT_TIMEOUT_S)
            if started >= measure_from:
                with lock:
                    answers.append(answer)
                    finished.append(time.monotonic())

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(finished) - measure_from
    ok = [a for a in answers if a.status == 200]
    latencies = sorted(a.seconds for a in ok) or [float("nan")]
    batches = Counter(int(a.headers.get("x-batch", 0)) for a in ok)
    return {
        "clients": clients,
        "requests": len(answers),
        "statuses": dict(Counter(a.status for a in answers)),
        "throughput_rps": round(len(ok) / elapsed, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
        "faces_per_call": dict(sorted(batches.items())),
    }


def wait_ready(url: str, process: subprocess.Popen[bytes] | None, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            get_json(f"{url}/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} not ready within {limit_s:g} s")


def bench_local(body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """``facert serve`` in one process (a subprocess of this one), stopped with SIGINT after."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "facert"), "serve", "--port", str(port),
        "--backend", "ort", "--precision", "fp32", "--max-batch", "8", "--max-wait-ms", "10",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server, 120)
        return {"one": load(url, body, 1, seconds), "many": load(url, body, clients, seconds)}
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def bench_ray(
    body: bytes, replica_counts: list[int], clients: int, seconds: float
) -> dict[str, Any]:
    """Each replica count on one local cluster (all cores), one after the other."""
    from ray import serve

    from facert.serve.core import ServeConfig
    from facert.serve.ray_app import APP_NAME, build_ray_app, local_cores

    settings = load_settings()
    config = ServeConfig(backend="ort", precision="fp32", max_batch=8, max_wait_ms=10.0)
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="facert-ray-") as scratch,
        local_cluster(Path(scratch), num_cpus=local_cores()) as cluster,
    ):
        results["cluster"] = {
            "start_s": round(cluster.start_s + cluster.serve_start_s, 1),
            "rss_mib": round(cluster.rss_mib),
        }
        for replicas in replica_counts:
            start = time.perf_counter()
            app = build_ray_app(settings, config, replicas)
            serve.run(app, name=APP_NAME, route_prefix="/")
            deployed = time.perf_counter() - start
            memory = rss_mib(list(descendants(os.getpid())))
            one = load(cluster.url, body, 1, seconds)
            many = load(cluster.url, body, clients, seconds)
            health = get_json(f"{cluster.url}/healthz")
            results[f"replicas={replicas}"] = {
                "deploy_s": round(deployed, 1),
                "cluster_rss_mib": round(memory),
                "one": one,
                "many": many,
                "requests_per_replica": sorted(health["replicas"].values()),
                "requests_per_serve_batch": health["request_batches"],
            }
            serve.delete(APP_NAME)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--no-local", action="store_true", help="skip `facert serve`")
    parser.add_argument("--json", type=Path, help="write the results there too")
    args = parser.parse_args()
    flags = set(cpu_flags())
    report: dict[str, Any] = {
        "cpu": cpu_description(),
        "cores": len(os.sched_getaffinity(0)),
        "flags": [f for f in FLAGS if f in flags],
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(report), flush=True)
    body = photo()
    local_ok = not args.no_local
    if local_ok:
        try:
            import facert.serve.local  # noqa: F401
        except ImportError as exc:
            report["facert serve"] = f"not run: {exc}"
            local_ok = False
    if local_ok:
        report["facert serve"] = bench_local(body, args.clients, args.seconds)
        print(json.dumps({"facert serve": report["facert serve"]}), flush=True)
    report["ray"] = bench_ray(body, args.replicas, args.clients, args.seconds)
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
