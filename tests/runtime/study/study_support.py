"""A real study folder for the study tests: two photos (matplotlib's Grace Hopper, scikit-image's
astronaut) made soft, grainy and compressed, restored by the embedded ISPL and WIPA through
facert's Pipeline; ``none`` (the degraded photo unchanged) is the third method."""

from __future__ import annotations

import http.cookiejar
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import astronaut_path, grace_hopper_path

from facert.config import Settings
from facert.demo.degrade import degrade_blur_noise_jpeg
from facert.pipeline.frame import Pipeline

PHOTOS = {"grace": grace_hopper_path, "astronaut": astronaut_path}
CROPS = {"grace": (64, 40, 448, 424), "astronaut": (100, 0, 340, 240)}  # x1, y1, x2, y2: the head
METHODS = ("ispl", "none", "wipa")


def _photo(name: str, size: int = 256) -> np.ndarray:
    """The photo's head and shoulders, ``size`` pixels square, (H, W, 3) uint8 BGR."""
    x1, y1, x2, y2 = CROPS[name]
    image = cv2.imread(str(PHOTOS[name]()))[y1:y2, x1:x2]
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def make_study(folder: Path, settings: Settings) -> Path:
    """``folder`` filled: clean/, input/ (degraded), ispl/, wipa/ and none/ (PNG; the inputs are
    JPEG), one file per photo; returns ``folder``."""
    for sub in ("clean", "input", *METHODS):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    degraded = {}
    for seed, name in enumerate(PHOTOS):
        clean = _photo(name)
        degraded[name] = degrade_blur_noise_jpeg(clean, seed)
        cv2.imwrite(str(folder / "clean" / f"{name}.png"), clean)
        cv2.imwrite(str(folder / "input" / f"{name}.jpg"), degraded[name])
        cv2.imwrite(str(folder / "none" / f"{name}.png"), degraded[name])
    for model in ("ispl", "wipa"):
        with Pipeline.open(settings, model) as pipeline:
            for name, image in degraded.items():
                restored = pipeline.enhance(image)
                assert restored.faces, f"no face found in {name}"
                cv2.imwrite(str(folder / model / f"{name}.png"), restored.image)
    return folder


def copy_study(source: Path, folder: Path) -> Path:
    """A copy of a study folder's images (without any database), for a test to own."""
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.sqlite*"))
    return folder


class Client:
    """A plain HTTP client (urllib) with its own cookie jar: one browser's worth of state."""

    def __init__(self, url: str, cookies: http.cookiejar.CookieJar | None = None) -> None:
        import urllib.request

        self.url = url
        self.cookies = cookies if cookies is not None else http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def call(self, path: str, body: object = None, raw: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of a GET, or a POST of ``body`` as JSON (or ``raw`` bytes as JSON)."""
        import json
        import urllib.error
        import urllib.request

        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, path: str, body: object = None) -> tuple[int, dict]:
        import json

        status, data = self.call(path, body)
        return status, json.loads(data)


@contextmanager
def running(study_dir: Path, db_path: Path, **options: object) -> Iterator[str]:
    """``facert study``'s app on ``study_dir`` and ``db_path`` under uvicorn in a thread, on a free
    port of 127.0.0.1; yields its URL (ending in /) once it answers; stops it and closes the
    database after."""
    import uvicorn

    from facert.study.app import StudyOptions, create_app
    from facert.study.db import StudyDB
    from facert.study.items import scan

    study = scan(study_dir, 100_000_000)
    with StudyDB(db_path) as db:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        app = create_app(study, db, StudyOptions(**options))  # type: ignore[arg-type]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        try:
            for _ in range(400):
                if server.started:
                    break
                time.sleep(0.05)
            assert Client(url).call("healthz")[0] == 200
            yield url
        finally:
            server.should_exit = True
            thread.join(30)
            listener.close()


_SHARED: list[Path] = []  # the folder shared_study made, once per test process


def shared_study(factory: pytest.TempPathFactory, settings: Settings) -> Path:
    """A study folder (:func:`make_study`) built once per test session and shared by the study
    test modules; read only: a test that writes copies it (:func:`copy_study`)."""
    if not _SHARED:
        _SHARED.append(make_study(factory.mktemp("study-source"), settings))
    return _SHARED[0]
