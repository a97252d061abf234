"""Building TensorRT plans from an export's ONNX graphs: the ``trt-plan`` compiled artifacts.

:class:`TrtCompiler` is a :class:`facert.models.compiling.Compiler`: ``compile_graph`` runs it into a
staging folder and renames the checked result into the cache (nothing half-written), keyed by the
graph's sha256, the flavour and its version, the target compute capabilities, the precision and the
profile (:class:`facert.models.compiled.CompiledKey`).

The network is **strongly typed**: TensorRT computes every layer in the type the ONNX graph gives it,
so an FP16 plan is built from the export's FP16 graph (``model.fp16.onnx``), whose FP32 pins are the
spec's precision policy, and an FP32 plan from ``model.onnx``. No precision flag can then move a
pinned layer to half precision; the build checks it anyway (:mod:`facert.export.trt.layers`) and
records the summary in the manifest's ``build``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from facert.backends.trt import tensorrt_logger
from facert.errors import ExportError
from facert.export.trt.flavour import Flavour, capability_label
from facert.export.trt.layers import (
    check_pins,
    layer_precisions,
    pinned_nodes,
    precision_summary,
    tensor_types,
)
from facert.export.trt.profiles import Profile
from facert.models.trt_plans import KIND as PLAN_KIND

WORKSPACE_BYTES = 4 << 30  # TensorRT's scratch memory limit for tactics (GPU builds)


def _reason(logger: Any) -> str:
    """The last error TensorRT logged (its first line), for a one-line message."""
    return str(logger.errors[-1]) if logger.errors else "no reason given"


class TrtCompiler:
    """Builds plans of one flavour for ``capabilities`` (AOT flavour; the building GPU otherwise),
    with ``profile``. ``timing_cache``: where the enterprise flavour keeps its timing cache."""

    kind = PLAN_KIND
    filename = "model.plan"
    converts_precision = False  # strongly typed: the graph's types are the plan's

    def __init__(
        self,
        flavour: Flavour,
        capabilities: tuple[str, ...],
        profile: Profile,
        *,
        device: str | None = None,
        device_description: str = "",
        timing_cache: Path | None = None,
    ) -> None:
        flavour.check_targets(capabilities if flavour.aot else ())
        self.flavour = flavour
        self.backend = flavour.name
        self.capabilities = capabilities
        self.profile = profile
        self._device = device or capability_label(capabilities)
        self._description = device_description or (
            f"{flavour.name} ahead of time for compute capability {', '.join(capabilities)}"
        )
        self.timing_cache = timing_cache

    def version(self) -> str:
        return self.flavour.version()

    def device(self) -> str:
        return self._device

    def device_description(self) -> str:
        return self._description

    def compile(
        self, source: Path, target: Path, precision: str, batch_profile: tuple[int, int, int] | None
    ) -> dict[str, Any]:
        """Parse ``source``, build the plan into ``target``; the build facts for the manifest."""
        trt = self.flavour.module()
        logger = tensorrt_logger(trt)
        builder = trt.Builder(logger)
        strongly_typed = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(strongly_typed)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(source)):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise ExportError(
                f"TensorRT cannot parse it: {errors[0] if errors else _reason(logger)}",
                path=str(source),
            )
        config = self._config(trt, builder, network)
        started = time.perf_counter()
        plan = builder.build_serialized_network(network, config)
        seconds = time.perf_counter() - started
        if plan is None:
            raise ExportError(
                f"{self.flavour.name} refused to build it: {_reason(logger)}", path=str(source)
            )
        self.flavour.save_timing_cache(config, self.timing_cache)
        target.write_bytes(memoryview(plan))
        return self._facts(source, network, precision, seconds, plan.nbytes)

    def _config(self, trt: Any, builder: Any, network: Any) -> Any:
        config = builder.create_builder_config()
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector's layer types
        if not self.flavour.aot:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        self.flavour.set_targets(config, self.capabilities)
        self.flavour.attach_timing_cache(config, self.timing_cache)
        profile = builder.create_optimization_profile()
        for index in range(network.num_inputs):
            tensor = network.get_input(index)
            dims = tuple(
                d if d >= 0 else "height" if i == 2 else "width" if i == 3 else "dynamic"
                for i, d in enumerate(tensor.shape)
            )
            profile.set_shape(tensor.name, *self.profile.shapes(tensor.name, dims))
        config.add_optimization_profile(profile)
        return config

    def _facts(
        self, source: Path, network: Any, precision: str, seconds: float, size: int
    ) -> dict[str, Any]:
        layers = layer_precisions(network)
        facts: dict[str, Any] = {
            "seconds": round(seconds, 2),
            "engine_bytes": int(size),
            "flavour": self.flavour.name,
            "compute_capabilities": list(self.capabilities),
            "strongly_typed": True,
            "profile": {
                "batch": list(self.profile.batch),
                "spatial": list(self.profile.spatial) if self.profile.spatial else None,
            },
            "layers": len(layers),
            "layer_precisions": precision_summary(layers),
            "layer_precisions_from": "strongly typed network (the engine inspector needs a GPU)",
        }
        if precision == "fp16":
            pins = check_pins(pinned_nodes(source), tensor_types(network))
            if pins["not_fp32"]:
                raise ExportError(
                    f"{len(pins['not_fp32'])} FP32-pinned layers are not FP32 in the network, e.g. "
                    f"{pins['not_fp32'][0]}",
                    path=str(source),
                )
            facts["fp32_pins"] = pins
        return facts
