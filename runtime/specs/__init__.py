"""Every model facert knows, registered by importing the modules in this explicit list."""

from facert.specs import ispl, mtcnn, restoreformer, wipa

__all__ = ["ispl", "mtcnn", "restoreformer", "wipa"]
