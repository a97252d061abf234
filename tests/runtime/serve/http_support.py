"""A real uvicorn server on 127.0.0.1 (a free port, in a thread of the test process) and a plain
HTTP client (urllib) for the serve tests."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

from facert.config import Settings
from facert.serve.core import ServeConfig


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, str]:
        """The JSON error body: {"code": ..., "message": ...} (asserts its shape)."""
        assert self.headers.get_content_type() == "application/json", self.body[:200]
        error = self.json()["error"]
        assert set(error) == {"code", "message"} and error["message"], error
        return error  # type: ignore[no-any-return]


@dataclass
class Server:
    url: str

    def call(
        self,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float = 60,
    ) -> Reply:
        """One request (POST when ``body`` is given), never raising for an HTTP status."""
        request = urllib.request.Request(
            self.url + path, data=body, method="POST" if body is not None else "GET"
        )
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers, error.read())

    def upload(
        self, path: str, image: bytes, field: str = "image", media: str = "image/png"
    ) -> Reply:
        """A multipart/form-data POST with ``image`` in the file field ``field``."""
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="x"\r\n'
                f"Content-Type: {media}\r\n\r\n"
            ).encode()
            + image
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.call(path, body, f"multipart/form-data; boundary={boundary}")

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of /metrics (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = self.call("/metrics").body.decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0


@contextmanager
def running(settings: Settings, config: ServeConfig) -> Iterator[Server]:
    """``facert serve``'s app (:func:`facert.serve.local.local_app`) under uvicorn in a thread,
    on a free port; yields once /healthz answers, stops the server after."""
    import socket

    import uvicorn

    from facert.serve.local import local_app

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    app = local_app(settings, config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    client = Server(f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.05)
        assert client.call("/healthz").status == 200
        yield client
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
