"""Load test of ``facert serve`` on loopback: one-at-a-time vs N concurrent clients, with mixed good
and bad inputs; bounded in time and in requests.

Starts ``facert serve --port 0`` in its own process (default model ISPL), then:

1. serial: ``--serial`` good requests one at a time (latency p50/p99, throughput);
2. concurrent: ``--requests`` requests from ``--clients`` Python threads, every ``--bad-every``-th
   one bad (corrupt, empty, truncated, text, a PNG header claiming 100k x 100k, an unknown model,
   a bad parameter); each must get its own status: 200 for good, the expected 4xx for bad. Zero
   5xx and zero dropped (no answer) requests are required (exit status 1 otherwise);
3. with ``--hey`` (and /usr/bin/hey present): the same good request through ``hey`` at
   concurrency 1 and ``--clients``, the headline numbers (hey is not Python: less client CPU).

Then the batch sizes the server reached (faces per restorer call, requests per batch: its
/metrics) and the CPU. The good image: matplotlib's grace_hopper and scikit-image's astronaut side
by side (2 faces, 512x256 PNG), out of focus (Gaussian sigma 1.5).

    .venv/bin/python bench/bench_serve.py [--clients 8] [--requests 48] [--serial 6] [--hey]
        [--model ispl] [--max-batch 8] [--max-wait-ms 10] [--time-limit 600]

Needs the serve extra and the model's export in the cache (`make models`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data as skimage_data

from facert.cli.doctor import machine_lines

ROOT = Path(__file__).resolve().parent.parent


def good_image() -> bytes:
    """The two photos side by side, 256 tall, blurred (sigma 1.5), as PNG."""
    import matplotlib

    path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    left = cv2.imread(str(path))
    right = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    parts = [cv2.resize(p, (256, round(p.shape[0] * 256 / p.shape[1]))) for p in (left, right)]
    height = min(p.shape[0] for p in parts)
    image = cv2.GaussianBlur(np.hstack([p[:height] for p in parts]), (0, 0), 1.5)
    return cv2.imencode(".png", image)[1].tobytes()


def bad_inputs(good: bytes) -> list[tuple[str, bytes, str, int]]:
    """(path and query, body, content type, expected status)."""
    import struct
    import zlib

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    bomb = b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(c) - 4) + c + struct.pack(">I", zlib.crc32(c))
        for c in (ihdr, idat, b"IEND")
    )
    return [
        ("/v1/enhance", good[: len(good) // 2], "image/png", 400),
        ("/v1/enhance", b"", "image/png", 400),
        ("/v1/enhance", b"\x89PNG\r\n\x1a\n" + b"\x13" * 500, "image/png", 400),
        ("/v1/enhance", b"plain text", "text/plain", 415),
        ("/v1/enhance", bomb, "image/png", 413),
        ("/v1/enhance?model=nosuch", good, "image/png", 400),
        ("/v1/enhance?upscale=abc", good, "image/png", 400),
        ("/v1/detect", b"\xff\xd8\xff\xe0broken", "image/jpeg", 400),
    ]


def call(url: str, body: bytes, media: str, timeout: float) -> tuple[int, float]:
    """(status, seconds); status 0 when no answer came (a dropped request)."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", media)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    except OSError:
        status = 0
    return status, time.perf_counter() - start


def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "no requests"
    p50, p99 = np.percentile(seconds, [50, 99])
    return f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "facert.cli.main", "serve", "--port", "0", "--model",
               args.model, "--max-batch", str(args.max_batch), "--max-wait-ms",
               str(args.max_wait_ms), "--max-queue", str(max(32, args.clients * 2)), "--timeout",
               "120"]  # fmt: skip
    print("server:", " ".join(command[1:]), flush=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("facert: serving"):
        process.kill()
        sys.exit(f"bench_serve: the server did not start ({line.strip() or 'no output'})")
    return process, line.split()[-1]


def serial(url: str, good: bytes, count: int, deadline: float) -> tuple[list[float], float]:
    latencies, start = [], time.perf_counter()
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        status, seconds = call(url + "/v1/enhance", good, "image/png", 120)
        if status == 200:
            latencies.append(seconds)
    return latencies, time.perf_counter() - start


def concurrent(
    args: argparse.Namespace, url: str, good: bytes, deadline: float
) -> dict[str, object]:
    bad = bad_inputs(good)
    jobs = [
        bad[(i // args.bad_every) % len(bad)] if i % args.bad_every == args.bad_every - 1
        else ("/v1/enhance", good, "image/png", 200)
        for i in range(args.requests)
    ]  # fmt: skip
    results: list[tuple[int, int, float]] = []  # (expected, got, seconds)
    lock = threading.Lock()

    def run(job: tuple[str, bytes, str, int]) -> None:
        if time.monotonic() > deadline:
            return
        status, seconds = call(url + job[0], job[1], job[2], 120)
        with lock:
            results.append((job[3], status, seconds))

    start = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(run, jobs))
    wall = time.perf_counter() - start
    good_latencies = [s for want, got, s in results if want == 200 and got == 200]
    return {
        "sent": len(results),
        "statuses": Counter(got for _, got, _ in results),
        "wrong": sum(want != got for want, got, _ in results),
        "five_xx": sum(got >= 500 for _, got, _ in results),
        "dropped": sum(got == 0 for _, got, _ in results),
        "good": good_latencies,
        "wall": wall,
    }


def hey(url: str, body_file: Path, count: int, clients: int) -> str:
    """``hey`` at ``clients`` concurrency: throughput, p50/p99 and statuses from its per-request
    CSV (its own percentile summary is unreliable for small counts); a request with no row got no
    answer."""
    command = ["hey", "-n", str(count), "-c", str(clients), "-m", "POST", "-T", "image/png",
               "-t", "120", "-o", "csv", "-D", str(body_file), url + "/v1/enhance"]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=900).stdout
    rows = [line.split(",") for line in output.splitlines()[1:] if line.count(",") == 7]
    if not rows:
        return "hey got no answers"
    seconds = [float(r[0]) for r in rows]
    wall = max(float(r[7]) + float(r[0]) for r in rows) - min(float(r[7]) for r in rows)
    statuses = Counter(r[6] for r in rows)
    ok = [s for s, r in zip(seconds, rows, strict=True) if r[6] == "200"]
    return (
        f"{len(ok) / wall:.2f} req/s, {percentiles(ok)}, statuses {dict(statuses)}, "
        f"dropped {count - len(rows)}"
    )


def batch_sizes(url: str) -> str:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    lines = []
    for family in text_string_to_metric_families(text):
        if family.name not in ("facert_batch_faces", "facert_batch_requests"):
            continue
        buckets = [(s.labels["le"], s.value) for s in family.samples if s.name.endswith("_bucket")]
        counts, previous = {}, 0.0
        for le, value in buckets:
            if value > previous:
                counts[le.replace(".0", "")] = int(value - previous)
            previous = value
        lines.append(f"{family.name}: {counts} (size <= bucket: count)")
    return "\n".join(lines)


def print_concurrent(found: dict[str, Any], clients: int) -> None:
    good = found["good"]
    print(
        f"concurrent ({clients} clients): {found['sent']} requests ({len(good)} good), statuses "
        f"{dict(found['statuses'])}, good {percentiles(good)}, "
        f"{len(good) / found['wall']:.2f} good req/s; 5xx {found['five_xx']}, dropped "
        f"{found['dropped']}, wrong status {found['wrong']}"
    )


def run_hey(args: argparse.Namespace, url: str, good: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".png") as body:
        body.write(good)
        body.flush()
        print("hey, 1 client:", hey(url, Path(body.name), args.serial, 1))
        print(
            f"hey, {args.clients} clients:", hey(url, Path(body.name), args.requests, args.clients)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ispl")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--serial", type=int, default=6)
    parser.add_argument("--bad-every", type=int, default=4)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds, all phases")
    parser.add_argument("--hey", action="store_true", help="headline numbers from /usr/bin/hey")
    args = parser.parse_args()
    deadline = time.monotonic() + args.time_limit
    for line in machine_lines():
        if line.startswith(("facert", "CPU", "instructions")):
            print(line)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    good = good_image()
    process, url = start_server(args)
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=30) as response:
            print("health:", json.loads(response.read()))
        call(url + "/v1/enhance", good, "image/png", 120)  # warm-up
        latencies, wall = serial(url, good, args.serial, deadline)
        print(f"serial (1 client): {len(latencies)} requests, {percentiles(latencies)}, "
              f"{len(latencies) / wall:.2f} req/s")  # fmt: skip
        found = concurrent(args, url, good, deadline)
        print_concurrent(found, args.clients)
        if args.hey and shutil.which("hey") and time.monotonic() < deadline:
            run_hey(args, url, good)
        print(batch_sizes(url))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        failed = found["five_xx"] or found["dropped"] or found["wrong"]
        return 1 if failed else 0
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
