"""The rest of the photo around the faces: kept, resized, or restored (``--background``).

``none``: the photo's own pixels. At ``upscale`` 1 the output around the faces is exactly the
input; above 1 each photo pixel is repeated (nearest neighbour, ``cv2.INTER_NEAREST``): no value
is made up, the photo is only enlarged.

``upscale``: the photo resized with ``cv2.INTER_CUBIC`` (bicubic;
:func:`facert.stages.blend.paste.upscale_background`), facert's behaviour before this option. At
``upscale`` 1 it equals ``none``.

``restore``: the whole photo restored too, then resized as ``upscale``:

* a restorer with a frame stage (WIPA) runs it on the whole photo before the faces are detected
  (:mod:`facert.stages.restore.frame`); ``restore`` is WIPA's default, and with ``none`` or
  ``upscale`` its frame stage is not run and its face graph does every step on the faces (its
  ``face_off`` options keep their values);
* another weight-free restorer (ISPL) runs its face graph over the whole photo in overlapping
  tiles of its input size (:class:`TiledRestorer`, the frame stage's tiling); the faces are still
  detected and restored on the photo as it is, and each face's correction is taken relative to the
  restored background's own crop of the face (restored face - that crop), so the face is not
  corrected twice and its pixels still never go through the crop and back (pasting the restored
  faces whole scored 0.6 dB more on one noisy photo's face, but loses detail on faces larger than
  the crop);
* a learned face restorer takes Real-ESRGAN (:func:`build_upsampler`: x2 up to ``upscale`` 2,
  x4 above), run tiled over the photo (:mod:`facert.stages.restore.upsampler`), its output resized
  to the asked size with ``cv2.INTER_LANCZOS4`` as the official RealESRGANer's ``outscale`` does
  (at ``upscale`` 1: x2, then halved); without its export or weights in the cache, a one-line
  :class:`UsageError` names the command that fetches them.

What each option leaves unchanged when no face is found is the same background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from facert.errors import FacertError, UsageError
from facert.models.exporting import ensure_artifact
from facert.models.registry import FrameStage, ModelSpec, get_spec
from facert.stages.blend.paste import upscale_background
from facert.stages.restore.frame import restore_by_tiles
from facert.stages.restore.restorer import Restorer, option_feed
from facert.stages.restore.upsampler import Upsampler

Background = Literal["none", "upscale", "restore"]
BACKGROUNDS: tuple[Background, ...] = ("none", "upscale", "restore")
TILE_MARGIN = 64  # pixels recomputed by the neighbouring tile: ISPL's pyramid and blur reach


def check_background(value: str | None) -> None:
    """A :class:`UsageError` unless ``value`` is one of :data:`BACKGROUNDS` (or None: the
    restorer's default, :func:`default_background`)."""
    if value is not None and value not in BACKGROUNDS:
        raise UsageError(f"--background must be one of {', '.join(BACKGROUNDS)}, got {value!r}")


def default_background(spec: ModelSpec) -> Background:
    """``restore`` for a restorer with a frame stage (WIPA), else ``upscale``: what facert did
    before ``--background`` existed."""
    return "restore" if spec.frame_stage is not None else "upscale"


def needs_upsampler(spec: ModelSpec, background: Background) -> bool:
    """Whether restorer ``spec`` restores the ``background`` with Real-ESRGAN (learned ones)."""
    return background == "restore" and spec.frame_stage is None and spec.needs_weights


def upsampler_name(upscale: float) -> str:
    """The Real-ESRGAN spec for an output ``upscale`` times the photo: x2 up to 2, else x4."""
    return "realesrgan-x2" if upscale <= 2.0 else "realesrgan-x4"


def build_upsampler(cache_dir: Path, upscale: float, threads: int = 0) -> Upsampler:
    """The Real-ESRGAN upsampler (not opened) for ``upscale``, from its export in ``cache_dir``
    (exported first when its weights are there and torch is installed); a one-line
    :class:`UsageError` naming what to fetch otherwise."""
    name = upsampler_name(upscale)
    try:
        artifact = ensure_artifact(get_spec(name), cache_dir)
    except FacertError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(
            f"--background restore with a learned restorer needs {name} (Real-ESRGAN): run "
            f"`facert models fetch {name}` (or use --background upscale); {reason}"
        ) from None
    return Upsampler.from_artifact(artifact, threads=threads)


def upsampled(upsampler: Upsampler, frame: np.ndarray, upscale: float) -> np.ndarray:
    """``frame`` ((H, W, 3) uint8 BGR) restored by ``upsampler`` and resized (Lanczos) to
    ``(int(W * upscale), int(H * upscale))``: a new uint8 BGR array."""
    big = upsampler.upscale(frame)
    size = (int(frame.shape[1] * upscale), int(frame.shape[0] * upscale))
    if (big.shape[1], big.shape[0]) == size:
        return big
    return cv2.resize(big, size, interpolation=cv2.INTER_LANCZOS4)


def resized(frame: np.ndarray, upscale: float, background: Background) -> np.ndarray:
    """``frame`` ((H, W, 3) uint8 BGR) at ``(int(W * upscale), int(H * upscale))``: nearest
    neighbour for ``none``, bicubic otherwise (a ``restore`` background is restored already).
    A new array; at ``upscale`` 1 a copy."""
    nearest = background == "none"
    return upscale_background(frame, upscale, cv2.INTER_NEAREST if nearest else cv2.INTER_CUBIC)


class TiledRestorer:
    """A weight-free restorer's face graph run over a whole photo, in overlapping tiles.

    Uses ``restorer``'s open engine (it owns none). The tiles are the graph's input size, cut and
    cross-faded as the frame stage's (:func:`facert.stages.restore.frame.restore_by_tiles`, margin
    :data:`TILE_MARGIN`); the photo is at its own scale, so options in photo pixels are fed as
    they are. Options the restorer estimates per face (ISPL's ``blur_sigma``) are not estimated on
    the photo: 0 unless the user gave a value (a photo's background may be out of focus on
    purpose; deblurring it is the user's choice).
    """

    def __init__(self, restorer: Restorer) -> None:
        spec = restorer.spec
        self.restorer = restorer
        self.stage = FrameStage(graph=spec.onnx_files[0], tile=spec.input_size, margin=TILE_MARGIN)
        values = restorer.call_options(None)
        values.update(dict.fromkeys(restorer.estimated, 0.0))
        self.values = {name: np.full(1, value, np.float32) for name, value in values.items()}

    def run_tile(self, tile: np.ndarray, means: np.ndarray | None = None) -> np.ndarray:
        """(1, 3, T, T) float32 tile in the spec's colours -> the restored tile (``means``
        unused: the face graph takes none)."""
        feed = option_feed(self.restorer.spec, self.values, np.ones(1, np.float32))
        feed[self.restorer.image_input] = tile
        return next(iter(self.restorer.engine.run(feed).values()))

    def restore(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` (H, W, 3) uint8 BGR -> the restored (H, W, 3) uint8 BGR photo."""
        return restore_by_tiles(frame, self.stage, self.restorer.spec, self.run_tile)
