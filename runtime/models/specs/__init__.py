"""Every model facert knows, registered by importing the modules in this explicit list."""

from facert.models.specs import (
    codeformer,
    dfdnet,
    gfpgan,
    gpen,
    ispl,
    mtcnn,
    parsenet,
    psfrgan,
    realesrgan,
    restoreformer,
    retinaface,
    wipa,
    yunet,
)

# The embedded default: runs on a fresh machine with nothing to download beyond package installs.
DEFAULT_DETECTOR = "mtcnn"
DEFAULT_RESTORER = "ispl"  # better than WIPA on the real photos: see README.md

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_RESTORER",
    "codeformer",
    "dfdnet",
    "gfpgan",
    "gpen",
    "ispl",
    "mtcnn",
    "parsenet",
    "psfrgan",
    "realesrgan",
    "restoreformer",
    "retinaface",
    "wipa",
    "yunet",
]
