"""Every model facert knows, registered by importing the modules in this explicit list."""

from facert.specs import codeformer, ispl, mtcnn, wipa

__all__ = ["codeformer", "ispl", "mtcnn", "wipa"]
