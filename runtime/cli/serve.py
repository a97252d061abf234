"""``facert serve``: the HTTP server (FastAPI on uvicorn; the ``serve`` extra).

The models are opened (and exported when needed) before the server listens, so a wrong name or
missing weights is a one-line error, exit 2. ``--workers N`` starts N uvicorn processes, each with
its own engines; unless ``--threads`` says otherwise each gets cores / N ONNX Runtime threads.
``--ray`` runs the same API on Ray Serve (:mod:`facert.serve.ray_app`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import os
import socket
from pathlib import Path
from typing import Any

from facert.cli.engines import add_engine_arguments
from facert.cli.enhance import add_mask_argument
from facert.config import Settings
from facert.errors import MissingDependencyError, UsageError
from facert.models.specs import DEFAULT_DETECTOR, DEFAULT_RESTORER


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve enhance and detect over HTTP (FastAPI on uvicorn)",
        description="An HTTP server: POST /v1/enhance (image in, restored image out), POST "
        "/v1/detect (JSON), GET /healthz, GET /metrics (Prometheus), OpenAPI at /docs. Faces "
        "of concurrent requests are restored in shared batches.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0: any free one)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (1)")
    parser.add_argument(
        "--model", default=DEFAULT_RESTORER, help=f"default restorer ({DEFAULT_RESTORER})"
    )
    parser.add_argument(
        "--models", default="", metavar="A,B", help="more restorers requests may name (?model=)"
    )
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="[MODEL=]FILE",
        help="official checkpoint of a learned model (without MODEL=: --model's)",
    )
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, metavar="NAME", help="detector")
    parser.add_argument(
        "--background",
        choices=("none", "upscale", "restore"),
        help="the rest of each photo, as facert enhance --background (the model's default)",
    )
    add_mask_argument(parser)
    add_engine_arguments(parser)
    parser.add_argument("--max-batch", type=int, default=8, help="faces per restorer call (8)")
    parser.add_argument(
        "--max-wait-ms", type=float, default=10.0, help="how long a batch waits to fill (10)"
    )
    parser.add_argument("--max-queue", type=int, default=32, help="requests waiting; more: 429")
    parser.add_argument("--max-body-mb", type=float, default=20.0, help="largest body, MiB (20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (30)")
    parser.add_argument("--access-log", action="store_true", help="one log line per request")
    parser.add_argument("--ray", action="store_true", help="run on Ray Serve")
    parser.add_argument("--replicas", type=int, default=1, help="Ray Serve replicas (1)")
    parser.set_defaults(run=run)


def serve_config(args: argparse.Namespace, settings: Settings) -> Any:
    from facert.serve.core import ServeConfig

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    return ServeConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        models=models,
        detector=args.detector,
        background=args.background,
        mask=args.mask,
        backend=args.backend,
        precision=args.precision,
        weights=_weights(args.weights, (args.model, *models)),
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        max_pixels=settings.max_pixels,
        timeout_s=args.timeout,
    )


def _weights(items: list[str], models: tuple[str, ...]) -> dict[str, Path]:
    """``--weights [MODEL=]FILE`` items -> {model: file}; UsageError for a missing file."""
    weights = {}
    for item in items:
        name, sep, file = item.rpartition("=")
        if not sep:
            name = models[0]  # --model's
        path = Path(file).expanduser()
        if not path.is_file():
            raise UsageError("no such weights file", path=str(path))
        weights[name] = path
    return weights


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers < 1 or args.replicas < 1:
        raise UsageError("--workers and --replicas must be at least 1")
    config = serve_config(args, settings)
    if args.ray:
        from facert.serve.ray_app import run_ray  # MissingDependencyError without the ray extra

        return run_ray(settings, config, args.replicas)
    for module in ("fastapi", "uvicorn", "multipart", "prometheus_client"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(
                f"facert serve needs {module}: pip install 'facert[serve]'"
            )
    if args.workers > 1 and settings.threads == 0:
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        settings = dataclasses.replace(settings, threads=threads)
    listener = _bind(config.host, config.port)
    try:
        return _serve(args, settings, config, listener)
    finally:
        listener.close()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a port in use is a one-line error before models open."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _serve(
    args: argparse.Namespace, settings: Settings, config: Any, listener: socket.socket
) -> int:
    import uvicorn

    from facert.serve.core import Restorers
    from facert.serve.local import WORKER_ENV, local_app, worker_environment

    restorers = Restorers(settings, config)
    restorers.open()  # exports and checks every model once, before any worker starts
    options: dict[str, Any] = {"access_log": args.access_log, "log_level": "info"}
    host, port = listener.getsockname()[:2]
    print(f"facert: serving {', '.join(config.served)} on http://{host}:{port}", flush=True)
    if args.workers == 1:
        app = local_app(settings, config, restorers)
        server = uvicorn.Server(uvicorn.Config(app, **options))
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn stops, then raises Ctrl-C again
            server.run(sockets=[listener])
        return 0
    restorers.close()
    os.environ[WORKER_ENV] = worker_environment(settings, config)
    uvicorn_config = uvicorn.Config(
        "facert.serve.local:worker_app", factory=True, workers=args.workers, **options
    )
    from uvicorn.supervisors import Multiprocess

    Multiprocess(uvicorn_config, sockets=[listener]).run()
    return 0
