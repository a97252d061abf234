"""The exception hierarchy of facert.

Every error a user can cause derives from :class:`FacertError` and carries a one-line message that
says what was expected, what came, and how to fix it. The CLI prints that line and exits with
``exit_code``: 2 for bad usage (found before any work starts), 1 for a processing failure.
"""

from __future__ import annotations


def first_line(what: object) -> str:
    """The first line of an exception's message (or of a text), for one-line errors; an exception
    without a message: the name of its type."""
    text = str(what).strip()
    if text:
        return text.splitlines()[0]
    return type(what).__name__ if isinstance(what, BaseException) else ""


class FacertError(Exception):
    """Base class: a failure facert explains in one line."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.path}: {message}" if self.path else message


class UsageError(FacertError):
    """The command line or the configuration is wrong; nothing was processed."""

    exit_code = 2


class UnknownModelError(UsageError):
    """A model name that is not in the registry."""


class WeightsError(UsageError):
    """Model weights are missing, or do not match their spec (hash, keys, shapes)."""


class ArtifactError(UsageError):
    """An exported artifact (ONNX file, manifest) is missing or does not match its spec."""


class MissingDependencyError(UsageError):
    """An optional dependency (an extra) is needed for this operation and is not installed."""


class ExportError(FacertError):
    """An export failed its own checks (parity with PyTorch, FP16 accuracy, batching, overflow)."""


class DownloadError(FacertError):
    """A download failed (offline, HTTP error, wrong checksum)."""

    exit_code = 2


class InputError(FacertError):
    """One input (an image file) cannot be processed: unreadable, corrupt, too large..."""


class OutputError(FacertError):
    """An output cannot be written."""


class UnsupportedError(UsageError):
    """An operation the chosen backend or model does not support (device buffers on a CPU one)."""


class DeviceError(FacertError):
    """A GPU call failed (a CUDA error: out of device memory, a lost device, a launch failure)."""


class GateError(ArtifactError):
    """A reduced-precision artifact (BF16, INT8) that failed its accuracy gate: never run."""
