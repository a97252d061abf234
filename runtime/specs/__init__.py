"""Every model facert knows, registered by importing the modules in this explicit list."""

from facert.specs import gfpgan, ispl, mtcnn, wipa

__all__ = ["gfpgan", "ispl", "mtcnn", "wipa"]
