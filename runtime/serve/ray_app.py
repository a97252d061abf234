"""facert on Ray Serve: ``facert serve --ray [--replicas N]`` on a local Ray cluster, and an
application builder for ``serve run`` on a real one (runtime/serve/ray_serve.yaml).

The application is two deployments (:mod:`facert.serve.ray_deployments`): N replicas, each holding
the engines of one process (:class:`~facert.serve.core.Restorers`) and batching the requests that
reach it together (``@serve.batch``), behind one ingress serving the same HTTP API as ``facert
serve``. Ray is imported only inside the functions here, so a missing ``facert[ray]`` is one line.

Sizing (:class:`Sizing`): on one machine the replicas share its cores: each reserves cores /
replicas Ray CPUs and runs that many ONNX Runtime threads (at least one; ``FACERT_THREADS`` says
otherwise), so two replicas on two cores run one thread each instead of fighting over both. The
ingress reserves no CPU (it decodes and encodes images, and waits).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facert.backends.device import local_cores
from facert.config import Settings
from facert.errors import FacertError, MissingDependencyError, UsageError, first_line
from facert.serve.core import Restorers, ServeConfig

if TYPE_CHECKING:
    from ray.serve import Application

log = logging.getLogger(__name__)

APP_NAME = "facert"
# Set (when not set already) before a local cluster starts: no usage statistics sent from the
# machine, and Ray's own switch for single-machine clusters off (it matters on Windows and macOS).
LOCAL_CLUSTER_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
# The deployments log warnings only, and no line per request: facert's image decoding captures
# file descriptor 2 to catch the C decoders' complaints (facert.io.images), and a log line written
# there by another thread meanwhile would make a good image a 400 "corrupt".
DEPLOYMENT_LOGGING = {"log_level": "WARNING", "enable_access_log": False}


@dataclass(frozen=True)
class Sizing:
    """``replicas`` replicas, each reserving ``num_cpus`` Ray CPUs and running ``threads`` ONNX
    Runtime intra-op threads."""

    replicas: int
    num_cpus: float
    threads: int

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise UsageError(f"serve: --replicas must be at least 1, got {self.replicas}")
        if not self.num_cpus > 0 or self.threads < 1:
            raise UsageError(
                f"serve: a replica needs more than 0 CPUs and at least 1 thread, got "
                f"num_cpus={self.num_cpus:g}, threads={self.threads}"
            )


def local_sizing(replicas: int, cores: int, threads: int = 0) -> Sizing:
    """``replicas`` sharing ``cores``: cores / replicas Ray CPUs each, as many threads (at least
    one), or ``threads`` when it is not 0."""
    if replicas < 1:
        raise UsageError(f"serve: --replicas must be at least 1, got {replicas}")
    share = cores / replicas
    return Sizing(replicas, share, threads or max(1, int(share)))


def build_ray_app(
    settings: Settings, config: ServeConfig, replicas: int, *, sizing: Sizing | None = None
) -> Application:
    """The Ray Serve application: ``replicas`` engine replicas behind the HTTP ingress (not
    started: ``serve.run`` it). ``sizing`` defaults to :func:`local_sizing` on this machine."""
    from facert.serve.ray_deployments import Ingress, RestorerReplica

    sizing = sizing or local_sizing(replicas, local_cores(), settings.threads)
    replica = RestorerReplica.options(
        num_replicas=sizing.replicas,
        ray_actor_options={"num_cpus": sizing.num_cpus},
        # A full batch waiting while another runs; beyond, requests wait at the ingress's handle,
        # config.max_queue of them at most (then 429).
        max_ongoing_requests=2 * config.max_batch,
        max_queued_requests=config.max_queue,
        logging_config=DEPLOYMENT_LOGGING,
    ).bind(replace(settings, threads=sizing.threads), config)
    ongoing = config.max_queue + 2 * config.max_batch * sizing.replicas
    ingress = Ingress.options(
        num_replicas=1,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=ongoing,
        logging_config=DEPLOYMENT_LOGGING,
    )
    return ingress.bind(replica, config)


def app_builder(args: Mapping[str, Any]) -> Application:
    """The application for ``serve run`` (runtime/serve/ray_serve.yaml): the settings come from
    the environment (``FACERT_CACHE``...), the rest from ``args``: model, models (a list),
    detector, backend, precision, max_batch, max_wait_ms, max_queue, max_body_bytes, timeout_s,
    replicas, threads (ONNX Runtime threads per replica, default 1) and num_cpus (Ray CPUs each
    replica reserves, default: threads)."""
    from facert.config import load_settings

    fields = {
        "model", "models", "detector", "backend", "precision", "max_batch", "max_wait_ms",
        "max_queue", "max_body_bytes", "timeout_s",
    }  # fmt: skip
    unknown = sorted(set(args) - fields - {"replicas", "threads", "num_cpus"})
    if unknown:
        raise UsageError(f"serve run: unknown args {', '.join(unknown)}")
    settings = load_settings()
    options = {name: args[name] for name in fields if name in args}
    if "models" in options:
        options["models"] = tuple(options["models"])
    config = ServeConfig(max_pixels=settings.max_pixels, **options)
    threads = int(args.get("threads", 1))
    sizing = Sizing(int(args.get("replicas", 1)), float(args.get("num_cpus", threads)), threads)
    return build_ray_app(settings, config, sizing.replicas, sizing=sizing)


def init_local_cluster(
    num_cpus: int, temp_dir: Path | None = None, object_store_mib: int | None = None
) -> None:
    """Start a single-machine Ray cluster on loopback (no dashboard), its files under
    ``temp_dir`` (default: Ray's), with :data:`LOCAL_CLUSTER_ENV` already in the environment."""
    ray = _import_ray()
    ray.init(
        _node_ip_address="127.0.0.1",
        _temp_dir=None if temp_dir is None else str(temp_dir),
        include_dashboard=False,
        num_cpus=num_cpus,
        object_store_memory=None if object_store_mib is None else object_store_mib << 20,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )


def run_ray(
    settings: Settings,
    config: ServeConfig,
    replicas: int,
    *,
    report: Callable[[str], None] | None = None,
) -> int:
    """Serve ``config`` with ``replicas`` replicas on a local Ray cluster at config.host:port
    until Ctrl-C or SIGTERM, then stop Serve and Ray; the exit code. The engines are opened here
    once first (an unknown model, missing weights or a failed export is one line before Ray
    starts; the exports and ``--backend auto``'s choice are then in the cache for the replicas).
    It is the command's body (as cli/serve.py's for one process): ``report`` (default: print to
    stdout) gets the line saying where it serves."""
    _import_ray()
    cores = local_cores()
    sizing = local_sizing(replicas, cores, settings.threads)
    sized = replace(settings, threads=sizing.threads)
    restorers = Restorers(sized, config)
    restorers.open()
    restorers.close()
    for name, value in LOCAL_CLUSTER_ENV.items():
        os.environ.setdefault(name, value)
    original = signal.getsignal(signal.SIGTERM)
    try:
        _serve_until(settings, config, sizing, cores, report or _print)
    finally:
        signal.signal(signal.SIGTERM, original)
    return 0


def _serve_until(
    settings: Settings,
    config: ServeConfig,
    sizing: Sizing,
    cores: int,
    report: Callable[[str], None],
) -> None:
    import ray
    from ray import serve

    port = config.port or _free_port(config.host)  # 0: any free one, as `facert serve`
    interrupted = False
    stop = threading.Event()
    try:
        init_local_cluster(cores)
        # After ray.init, which sets its own (an exit that skips the shutdown below).
        signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
        serve.start(
            http_options={"host": config.host, "port": port},
            logging_config={"log_level": "WARNING"},
        )
        app = build_ray_app(settings, config, sizing.replicas, sizing=sizing)
        serve.run(app, name=APP_NAME, route_prefix="/")
        report(
            f"serving {', '.join(config.served)} on http://{config.host}:{port} with "
            f"{sizing.replicas} Ray Serve replicas ({sizing.threads} threads each); Ctrl-C stops"
        )
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        interrupted = True
    except (ray.exceptions.RayError, RuntimeError) as exc:  # Serve's deploy failures: RuntimeError
        raise FacertError(f"serve --ray: {first_line(exc)}") from None
    finally:
        # Ctrl-C in a terminal reaches the whole process group: Serve's actors are gone with it,
        # and asking their controller to shut down would wait for it in vain. Ray's shutdown
        # stops every process of the cluster; a second Ctrl-C does not interrupt it.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if not interrupted:
                serve.shutdown()  # SIGTERM or an error: the replicas finish their requests
            ray.shutdown()
        finally:
            signal.signal(signal.SIGINT, previous)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _print(line: str) -> None:
    print(f"facert: {line}", flush=True)  # the command's output, as cli/serve.py's


def _import_ray() -> Any:
    try:
        import ray
        from ray import serve  # noqa: F401 (Serve's own dependencies are there)
    except ImportError as exc:
        raise MissingDependencyError(
            f"serve --ray needs Ray Serve ({exc.name} is missing): pip install 'facert[ray]'"
        ) from None
    return ray
