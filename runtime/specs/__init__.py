"""Every model facert knows, registered by importing the modules in this explicit list."""

from facert.specs import gfpgan, gpen, ispl, mtcnn, wipa

# The embedded default: runs on a fresh machine with nothing to download beyond package installs.
DEFAULT_DETECTOR = "mtcnn"
DEFAULT_RESTORER = "wipa"

__all__ = ["DEFAULT_DETECTOR", "DEFAULT_RESTORER", "gfpgan", "gpen", "ispl", "mtcnn", "wipa"]
