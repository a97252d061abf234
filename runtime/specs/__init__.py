"""Every model facert knows, registered by importing the modules in this explicit list."""

from facert.specs import ispl, mtcnn, wipa

__all__ = ["ispl", "mtcnn", "wipa"]
