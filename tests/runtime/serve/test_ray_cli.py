"""``facert serve --ray`` as a user runs it (marker ``ray``): a local Ray cluster of its own, the
HTTP API on the port it prints, and Ctrl-C (SIGINT to the whole process group, as a terminal sends
it) or SIGTERM stops Serve and Ray: exit 0, no traceback, no process of the cluster left."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from conftest import grace_hopper_path
from ray_support import EXIT_GRACE_S, descendants, get_json, post, still_running

from facert.config import Settings

pytestmark = [
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Ray's own, on pydantic 2
]

START_LIMIT_S = (
    240.0  # models checked, cluster started, replicas opened: ~20 s idle, more when busy
)


def wait_for_line(path: Path, process: subprocess.Popen[bytes], limit_s: float) -> str:
    """The first line the command prints (it says where it serves)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        text = path.read_text()
        if "\n" in text:
            return text.splitlines()[0]
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} before serving")
        time.sleep(0.5)
    raise AssertionError(f"not serving within {limit_s:g} s")


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param("ctrl-c", id="ctrl-c"),  # SIGINT to the process group, as a terminal sends it
        pytest.param("sigterm", id="sigterm"),  # SIGTERM to the command alone, as a supervisor
    ],
)
def test_serve_ray_serves_until_stopped(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, stop: str
) -> None:
    pytest.importorskip("ray")
    from facert.serve.ray_app import LOCAL_CLUSTER_ENV

    folder = tmp_path_factory.mktemp("raycli")  # short: Ray's socket paths live under it
    environment = {
        **os.environ,
        **LOCAL_CLUSTER_ENV,
        "FACERT_CACHE": str(settings.cache_dir),
        "RAY_TMPDIR": str(folder),
        "RAY_AUTH_TOKEN": secrets.token_hex(32),  # token authentication, nothing in ~/.ray
    }
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        environment.pop(name, None)
    command = [sys.executable, "-m", "facert.cli.main", "serve", "--ray", "--replicas", "2"]
    command += ["--port", "0", "--backend", "ort", "--precision", "fp32"]
    out, err = folder / "stdout", folder / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, env=environment, start_new_session=True
        )
    try:
        line = wait_for_line(out, process, START_LIMIT_S)
        assert line.startswith("facert: serving ispl on http://127.0.0.1:"), line
        assert "with 2 Ray Serve replicas (1 threads each)" in line, line
        url = line.split()[4]
        image = cv2.resize(cv2.imread(str(grace_hopper_path())), (256, 300))
        answer = post(f"{url}/v1/enhance", cv2.imencode(".png", image)[1].tobytes(), "image/png")
        assert answer.status == 200 and answer.headers["x-faces"] == "1"
        assert get_json(f"{url}/healthz")["backend"] == "ray"
        cluster = descendants(process.pid)
        if stop == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)  # Serve drains, then Ray stops
        code = process.wait(timeout=90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    deadline = time.monotonic() + EXIT_GRACE_S
    while (left := still_running(cluster)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # by its ID: a process this command started
    errors = err.read_text()
    assert code == 0 and "Traceback" not in errors, errors[-2000:]
    assert not left, f"{len(left)} processes of the cluster outlived the command: {left}"


def test_an_unknown_model_is_one_line_before_ray_starts(settings: Settings) -> None:
    """Checked when the models are opened, before any Ray process starts (run as a user runs it:
    in its own process, so Ray's loggers are not left on this test's captured streams)."""
    pytest.importorskip("ray")
    command = [sys.executable, "-m", "facert.cli.main", "serve", "--ray", "--model", "nosuch"]
    environment = {**os.environ, "FACERT_CACHE": str(settings.cache_dir)}
    run = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("facert: error: ") and "nosuch" in run.stderr
    assert not run.stdout and "raylet" not in run.stderr
