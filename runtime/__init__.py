"""facert: fast, faithful face restoration.

The run-time half (this package) needs only numpy, OpenCV, Pillow and ONNX Runtime. The build-time
half, ``facert.export``, needs torch and onnx (the ``export`` extra) and is never imported from here.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("facert")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
