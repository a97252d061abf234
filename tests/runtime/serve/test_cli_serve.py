"""The ``facert serve`` command: one-line usage errors before anything listens, and a real
``--workers 2`` server in its own process that serves and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runs import facert
from http_support import Server
from serve_support import encoded, two_faces

from facert.config import Settings

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = str(taken.getsockname()[1])
        for args, reason in [
            (["--workers", "0"], "--workers and --replicas must be at least 1"),
            (["--max-batch", "0"], "--max-batch must be at least 1"),
            (["--models", "ispl,nosuch"], "nosuch"),
            (["--model", "codeformer", "--weights", str(tmp_path / "none.pth")], "no such weights"),
            (["--port", busy], f"cannot listen on 127.0.0.1:{busy}"),
        ]:
            code, _, err = facert(capsys, "serve", *args)
            assert code == 2 and reason in err and len(err.strip().splitlines()) == 1, err


def test_workers_serve_and_stop_on_ctrl_c(settings: Settings) -> None:
    command = [sys.executable, "-m", "facert.cli.main", "serve", "--port", "0", "--workers", "2"]
    env = {**os.environ, "FACERT_CACHE": str(settings.cache_dir)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the models are open
        assert line.startswith("facert: serving ispl on http://127.0.0.1:"), line
        server = Server(line.split()[-1])
        pids = set()
        for _ in range(600):
            reply = server.call("/healthz") if _alive(server) else None
            if reply is not None and reply.status == 200:
                pids.add(reply.json()["pid"])
                if len(pids) == 2:
                    break
            time.sleep(0.05)
        assert len(pids) >= 1  # the kernel chooses which worker accepts; usually both answer
        reply = server.call("/v1/enhance", encoded(two_faces()), "image/png")
        assert reply.status == 200 and reply.headers["X-Faces"] == "2"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in err, err[-2000:]


def _alive(server: Server) -> bool:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0
