"""One local Ray cluster for a test module (tests marked ``ray``), the checks around it, and a
small HTTP client (the standard library's) for the tests and bench/bench_ray.py.

:func:`local_cluster` starts Ray on loopback with its files under a temporary folder (``_temp_dir``
and ``RAY_TMPDIR``), token authentication with a token held in the environment (so nothing is
written to ``~/.ray``), usage statistics off, and Serve on a free loopback port. On the way out it
shuts Serve and Ray down and checks that every process the cluster started is gone: the ones still
there after :data:`EXIT_GRACE_S` are killed by their process ID (never by name: another Ray on the
machine is left alone) and reported as an error.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPLICA_PREFIX = "SERVE_REPLICA::facert#RestorerReplica#"  # Serve's actor names, namespace "serve"
EXIT_GRACE_S = 20.0  # ray.shutdown() returns before its daemons are gone; they exit within seconds


@dataclass
class Cluster:
    """A started cluster: Serve's HTTP ``port`` on 127.0.0.1, the seconds Ray and Serve took to
    start, and the resident memory (MiB) of the cluster's processes right after the start."""

    port: int
    start_s: float
    serve_start_s: float
    rss_mib: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent PID, start time in clock ticks) of a live process, from /proc; None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) "
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live process below ``root``: PID -> start time (tells a reused PID apart)."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[0], []).append(int(entry.name))
            starts[int(entry.name)] = stat[1]
    found: dict[int, int] = {}
    todo = list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = starts[pid]
        todo.extend(parents.get(pid, []))
    return found


def still_running(processes: dict[int, int]) -> list[int]:
    """The PIDs of ``processes`` that are still the same live processes (zombies excluded)."""
    alive = []
    for pid, start in processes.items():
        stat = _stat(pid)
        state = _state(pid)
        if stat is not None and stat[1] == start and state not in ("Z", "X", None):
            alive.append(pid)
    return alive


def _state(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2]


def rss_mib(pids: list[int]) -> float:
    """The summed resident memory of ``pids`` in MiB (VmRSS; shared pages counted in each)."""
    total_kib = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


@contextmanager
def local_cluster(temp_dir: Path, num_cpus: int = 2) -> Iterator[Cluster]:
    """Ray (``num_cpus`` CPUs, files under ``temp_dir``) and Serve on a free loopback port, for
    the ``with`` block; shut down and checked for leftover processes afterwards."""
    ray = pytest.importorskip("ray")
    from ray import serve

    from facert.serve.ray_app import LOCAL_CLUSTER_ENV, init_local_cluster

    home_ray = Path.home() / ".ray"
    had_home_ray = home_ray.exists()
    environment = {
        **LOCAL_CLUSTER_ENV,
        "RAY_TMPDIR": str(temp_dir),
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        # A new cluster, never someone else's; token authentication on (Ray's default for a new
        # local cluster, which sets RAY_AUTH_MODE itself) with the token above.
        for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
            patch.setenv(name, "")
            patch.delenv(name)  # restored afterwards, even when Ray sets it meanwhile
        start = time.perf_counter()
        init_local_cluster(num_cpus, temp_dir, object_store_mib=256)
        try:
            started = time.perf_counter()
            port = free_port()
            serve.start(
                http_options={"host": "127.0.0.1", "port": port},
                logging_config={"log_level": "WARNING"},
            )
            serve_started = time.perf_counter()
            memory = rss_mib(list(descendants(os.getpid())))
            yield Cluster(port, started - start, serve_started - started, memory)
        finally:
            _shut_down(ray, serve)
    if not had_home_ray and home_ray.exists():
        raise AssertionError(f"Ray wrote {home_ray} (outside its temporary folder)")


def _shut_down(ray: object, serve: object) -> None:
    """Serve, then Ray; then every process the cluster started must be gone."""
    processes = descendants(os.getpid())
    try:
        serve.shutdown()  # type: ignore[attr-defined]
    finally:
        ray.shutdown()  # type: ignore[attr-defined]
    deadline = time.monotonic() + EXIT_GRACE_S
    while (left := still_running(processes)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # by its ID: only a process this cluster started
    if left:
        raise AssertionError(f"Ray left {len(left)} processes running after shutdown: {left}")


@dataclass
class Answer:
    """An HTTP response: ``status``, ``headers`` (lower-case names), ``body`` and the seconds it
    took."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, body: bytes, content_type: str, timeout: float = 60.0) -> Answer:
    """POST ``body`` to ``url``; the answer, error statuses included (a timeout raises)."""
    request = urllib.request.Request(url, body, {"Content-Type": content_type}, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, data = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, data = error.code, error.headers, error.read()
    seconds = time.perf_counter() - start
    return Answer(status, {k.lower(): v for k, v in headers.items()}, data, seconds)


def get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def replica_actors() -> list[str]:
    """The actor names of facert's live engine replicas (Serve names them; namespace "serve")."""
    import ray

    named = ray.util.list_named_actors(all_namespaces=True)
    return sorted(a["name"] for a in named if a["name"].startswith(REPLICA_PREFIX))
