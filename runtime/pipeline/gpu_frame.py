"""The GPU frame pipeline: one upload, detection, warp-crop, the restorer, blend, one download.

Per frame (:meth:`GpuPipeline.enhance`): the frame is copied into page-locked memory (skipped when
the caller filled :meth:`GpuPipeline.input_frame` itself) and uploaded once into a pitched device
frame; MTCNN runs on it (:class:`facert.pipeline.gpu_detect.GpuMtcnn`: the pyramid and the crops
made on the device, only the networks' outputs back); the landmarks become frame -> crop affines on
the host (:func:`facert.stages.align.warp.estimate_affine`, as the CPU pipeline); ``warp_crop``
writes the crops straight into the restorer engine's input binding; the engine runs; ``blend``
pastes its output binding into the device frame (facexlib's feathered mask, over the union of the
face boxes only); the frame is downloaded once into page-locked memory. Every step is queued on
one stream of :class:`facert.pipeline.device_ops.DeviceOps`; the host waits for the detector's
outputs and for the result only.

More faces than the engine takes at once go through it in batches; the crops are all cut from the
frame before any face is blended (as on the CPU, where overlapping faces are cropped from the
original), so the batches' outputs are gathered into one buffer and blended at once.

What the GPU pipeline does not do (refused at open in one line, :func:`gpu_refusal`): restorers
that paste a correction of the crop (ISPL), restore the whole frame first (WIPA), deblock JPEG
crops, estimate an option per face on the host, or take extra inputs; ``upscale`` other than 1 (the
background would need a device resize that matches the CPU's bicubic one): use the CPU pipeline.

Stage times (:attr:`facert.pipeline.frame.EnhanceResult.timings`, seconds) come from the ops'
events: upload, detect, align (host), crop, restore, blend, download and total.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle
from facert.errors import UsageError
from facert.models.registry import ModelSpec
from facert.pipeline.device_ops import DeviceOps
from facert.pipeline.frame import EnhanceOptions, EnhanceResult
from facert.pipeline.gpu_detect import GpuMtcnn
from facert.stages.align.warp import crop_scale, estimate_affine, face_template
from facert.stages.detect.mtcnn import check_image
from facert.stages.faces import Face, select_faces
from facert.stages.restore.restorer import Restorer, option_feed

GPU_BATCH = 8  # faces per engine run when the engine's profile allows it


def gpu_refusal(
    spec: ModelSpec, options: EnhanceOptions, estimated: Sequence[str] = ()
) -> str | None:
    """Why the GPU pipeline cannot run restorer ``spec`` with ``options`` (one line), or None.
    ``estimated``: the options the restorer would estimate per face (none given by the user)."""
    why = None
    if spec.paste == "correction":
        why = "pastes a correction of its crop (paste='correction'), not a restored face"
    elif spec.frame_stage is not None:
        why = "restores the whole frame before the faces (a frame stage)"
    elif spec.deblock_jpeg:
        why = "deblocks JPEG crops on the host first"
    elif spec.extra_inputs:
        why = f"takes per-face extra inputs {[e.name for e in spec.extra_inputs]}"
    elif estimated:
        why = f"estimates option(s) {list(estimated)} per face on the host (give a value)"
    if why is not None:
        return f"{spec.name} {why}, which the GPU pipeline does not do: use --device cpu"
    if options.upscale != 1.0:
        return (
            f"--upscale {options.upscale:g}: the GPU pipeline blends at the frame's own size; "
            "use --upscale 1 or --device cpu"
        )
    if options.background == "restore":
        return (
            "--background restore: the GPU pipeline does not restore the whole frame; "
            "use --background upscale or --device cpu"
        )
    if options.mask != "square":
        return (
            f"--mask {options.mask}: the GPU pipeline pastes under the square mask only; "
            "use --mask square or --device cpu"
        )
    if options.color_correction != "none":
        return (
            f"--color-correction {options.color_correction}: the GPU pipeline does not match "
            "colours yet; use --device cpu"
        )
    return None


class GpuPipeline(Lifecycle):
    """Detect, align, restore and blend the faces of frames on a device (``ops``).

    Owns ``ops``, ``detector`` and ``restorer`` (whose engine offers the device-binding protocol,
    :mod:`facert.pipeline.bound`): opening the pipeline opens them, closing closes them.
    :meth:`open` (a class method) builds everything for a GPU, as
    :meth:`facert.pipeline.frame.Pipeline.open` does for the CPU.
    """

    def __init__(
        self,
        ops: DeviceOps,
        detector: GpuMtcnn,
        restorer: Restorer,
        options: EnhanceOptions | None = None,
    ) -> None:
        self.ops = ops
        self.detector = detector
        self.restorer = restorer
        self.options = options or EnhanceOptions()
        refusal = gpu_refusal(restorer.spec, self.options, restorer.estimated)
        if refusal is not None:
            raise UsageError(refusal)
        self.template = face_template(restorer.spec.input_size, restorer.spec.template)
        self.batch = GPU_BATCH if restorer.spec.batches else 1

    @classmethod
    def open(cls, *args: Any, **kwargs: Any) -> GpuPipeline:  # a factory, over Lifecycle.open
        """Build and open the pipeline for GPU 0: the arguments of
        :func:`facert.pipeline.gpu_open.open_gpu_pipeline` (those of ``Pipeline.open``)."""
        from facert.pipeline.gpu_open import open_gpu_pipeline

        return open_gpu_pipeline(*args, **kwargs)

    def _acquire(self) -> None:
        self.ops.open()
        try:
            self.restorer.open()
            try:
                self.detector.open()
            except BaseException:
                self.restorer.close()
                raise
        except BaseException:
            self.ops.close()
            raise
        profiles = getattr(self.restorer.engine, "profiles", None)
        if isinstance(profiles, dict) and self.restorer.image_input in profiles:
            self.batch = min(self.batch, int(profiles[self.restorer.image_input][1][0]))

    def _release(self) -> None:
        self.detector.close()
        self.restorer.close()
        self.ops.close()

    def input_frame(self, height: int, width: int) -> np.ndarray:
        """The page-locked (height, width, 3) uint8 array :meth:`enhance` uploads from: a frame
        written there by the caller is not copied again. Valid until the next call."""
        self._require_open()
        return self.ops.host("frame.in", (height, width, 3), np.uint8)

    def detect_on_device(self, frame: Any, height: int, width: int) -> list[Face]:
        """The faces to restore in the device ``frame``, after the selection options."""
        faces = self.detector.detect(frame, height, width)
        return select_faces(
            faces,
            (width, height),
            only_center=self.options.only_center_face,
            largest=self.options.largest_face,
            max_size=self.options.max_face_size,
            min_score=self.options.min_score,
        )

    def enhance(self, image: np.ndarray) -> EnhanceResult:
        """Restore every selected face of ``image`` ((H, W, 3) uint8 BGR) and blend it back; the
        result's image is a new array (the CPU pipeline's contract)."""
        self._require_open()
        check_image(image)
        height, width = image.shape[:2]
        staged = self.input_frame(height, width)
        if staged is not image:
            np.copyto(staged, image)
        ops, event = self.ops, self.ops.event
        frame = ops.frame("frame", height, width)
        event("start").record()
        ops.upload(frame, staged)
        event("upload").record()
        faces = self.detect_on_device(frame, height, width)
        event("detect").record()
        if not faces:
            ops.synchronize()
            return EnhanceResult(image.copy(), [], self._timings(["upload", "detect"], {}, 0))
        start = time.perf_counter()
        affines = [estimate_affine(face.landmarks, self.template) for face in faces]
        host = {"align": time.perf_counter() - start}
        restored, values = self._restore(frame, affines)
        self._blend(frame, restored, affines, (height, width))
        event("blend").record()
        result = ops.host("frame.out", (height, width, 3), np.uint8)
        ops.download(result, frame)
        event("download").record()
        ops.synchronize()
        batches = -(-len(faces) // self.batch)
        timings = self._timings(["upload", "detect", "blend", "download"], host, batches)
        return EnhanceResult(result.copy(), faces, timings, values)

    def _restore(self, frame: Any, affines: list[np.ndarray]) -> tuple[Any, dict[str, np.ndarray]]:
        """Crop and restore every face, batch by batch: the restored (N, 3, S, S) device array
        (the engine's output binding when one batch held them all) and the option values."""
        from facert.kernels.plan import warp_plan

        spec, engine, ops = self.restorer.spec, self.restorer.engine, self.ops
        count, size = len(affines), spec.input_size
        scales = np.array([crop_scale(a) for a in affines], np.float32)
        given = self.restorer.call_options(None)
        values = {name: np.full(count, value, np.float32) for name, value in given.items()}
        feed = option_feed(spec, values, scales)
        image_input, gathered = self.restorer.image_input, None
        for index, start in enumerate(range(0, count, self.batch)):
            stop = min(start + self.batch, count)
            shapes = {image_input: (stop - start, 3, size, size)}
            shapes.update({name: (stop - start,) for name in feed})
            bound = engine.bind_inputs(shapes)
            for name, per_face in feed.items():
                # one staging array per batch: the uploads are queued, not done
                staged = ops.host(f"option.{name}.{index}", (stop - start,), np.float32)
                staged[...] = per_face[start:stop]
                ops.upload(bound[name], staged)
            ops.event(f"crop.{index}").record()
            plan = warp_plan(affines[start:stop], spec, spec.crop_border)
            ops.kernels.warp_crop(frame, plan, bound[image_input], ops.stream)
            ops.event(f"restore.{index}").record()
            output = next(iter(engine.run_bound(ops.stream).values()))
            ops.event(f"restored.{index}").record()
            if count <= self.batch:
                return output, values
            if gathered is None:
                gathered = ops.buffer("restored", (count, 3, size, size), output.dtype)
            ops.copy(ops.rows(gathered, start, stop), output)
        return gathered, values

    def _blend(
        self, frame: Any, restored: Any, affines: list[np.ndarray], shape: tuple[int, int]
    ) -> None:
        from facert.kernels.plan import blend_plan

        plan = blend_plan(affines, self.restorer.spec, shape, 1.0)
        self.ops.kernels.blend(frame, restored, plan, self.ops.stream)

    def _timings(self, marks: list[str], host: dict[str, float], batches: int) -> dict[str, float]:
        """Seconds per stage from the events (after the stream is synchronized)."""
        event = self.ops.event
        timings = dict(host)
        previous = "start"
        for mark in marks:
            if mark == "blend":  # crop and restore batches lie between detect and blend
                previous = self._batch_timings(timings, batches)
            timings[mark] = event(previous).elapsed_ms(event(mark)) / 1000.0
            previous = mark
        timings["total"] = event("start").elapsed_ms(event(marks[-1])) / 1000.0
        return timings

    def _batch_timings(self, timings: dict[str, float], count: int) -> str:
        """Add the crop and restore times of ``count`` batches; the last batch's end mark."""
        event = self.ops.event
        timings["crop"] = timings["restore"] = 0.0
        for index in range(count):
            timings["crop"] += event(f"crop.{index}").elapsed_ms(event(f"restore.{index}")) / 1000
            timings["restore"] += (
                event(f"restore.{index}").elapsed_ms(event(f"restored.{index}")) / 1000
            )
        return f"restored.{max(count - 1, 0)}"
