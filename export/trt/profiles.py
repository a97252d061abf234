"""The one optimization profile every facert engine is built with.

facert's graphs have a dynamic batch (dimension 0 of every input, named ``batch``) and, for MTCNN's
P-Net alone, a dynamic height and width (the image pyramid). A TensorRT engine serves the shapes of
its profile only, so the profile is part of the plan's key:

- batch: 1 .. ``max_batch`` (the faces restored in one call; the detector's R-Net and O-Net see
  every candidate box of a frame at once, so their default is larger), tuned for ``opt``;
- height and width: :data:`PNET_SPATIAL` by default, the pyramid levels of frames up to 4K with
  faces from 20 pixels (the largest level is 12/20 of the frame; the smallest P-Net input is 12).

Dimensions neither dynamic nor named here must be fixed in the graph; anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from facert.errors import UsageError

PNET_SPATIAL = (12, 648, 2304)  # pixels: min, opt (a 1080p frame's first level), max (4K's)
RESTORER_BATCH = 8  # faces per call by default
# Detector graphs: (opt, max) candidates per call; P-Net runs one pyramid level at a time.
DETECTOR_BATCH = {"pnet.onnx": (1, 1), "rnet.onnx": (64, 1024), "onet.onnx": (16, 256)}
RESTORER_OPT = 4  # a few faces per photo
SPATIAL_NAMES = ("height", "width")


@dataclass(frozen=True)
class Profile:
    """(min, opt, max) of the batch, and of the dynamic height and width where the graph has them."""

    batch: tuple[int, int, int]
    spatial: tuple[int, int, int] | None = None

    def shapes(
        self, name: str, dims: tuple[int | str, ...]
    ) -> tuple[list[int], list[int], list[int]]:
        """Min, opt and max shapes of the input ``name`` whose dimensions are ``dims`` (an int, or the
        name of a dynamic one); UsageError for a dynamic dimension this profile does not cover."""
        low: list[int] = []
        opt: list[int] = []
        high: list[int] = []
        for index, dim in enumerate(dims):
            if isinstance(dim, int) and dim > 0:
                triple = (dim, dim, dim)
            elif index == 0:
                triple = self.batch
            elif dim in SPATIAL_NAMES and self.spatial is not None:
                triple = self.spatial
            else:
                raise UsageError(
                    f"input {name!r} has dynamic dimension {index} ({dim!r}) that no engine profile "
                    "covers"
                )
            low.append(triple[0])
            opt.append(triple[1])
            high.append(triple[2])
        return low, opt, high


def default_profile(graph: str, max_batch: int | None) -> Profile:
    """The profile for the export file ``graph``: 1 .. ``max_batch`` per call (default: the graph's,
    above); P-Net adds height and width."""
    opt, high = DETECTOR_BATCH.get(graph, (RESTORER_OPT, RESTORER_BATCH))
    if max_batch is not None:
        if max_batch < 1:
            raise UsageError(f"--max-batch must be at least 1, got {max_batch}")
        high = max_batch
    spatial = PNET_SPATIAL if graph == "pnet.onnx" else None
    return Profile(batch=(1, min(opt, high), high), spatial=spatial)
