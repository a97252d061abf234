"""The refusal rules for TensorRT plans (pure: the manifest's facts against the installed flavour
and the GPU), and the flavours' table."""

from __future__ import annotations

import pytest

from facert.backends.trt_plan import (
    FLAVOURS,
    PlanFacts,
    get_flavour,
    import_flavour,
    invalidity_reasons,
    plan_refusal,
    rebuild_command,
)
from facert.errors import MissingDependencyError, UsageError

RTX, ENTERPRISE = FLAVOURS["tensorrt-rtx"], FLAVOURS["tensorrt"]
BUILT = PlanFacts("tensorrt-rtx", "1.7.1.116", ("8.6", "8.9"), model="gfpgan-1.4")


def test_a_plan_built_for_this_flavour_version_and_gpu_runs() -> None:
    assert plan_refusal(BUILT, RTX, "1.7.1.116", "8.6") is None
    assert plan_refusal(BUILT, RTX, "1.7.1.116", "8.9") is None
    unrecorded = PlanFacts("tensorrt", "10.13.0.35")
    assert plan_refusal(unrecorded, ENTERPRISE, "10.13.0.35", "9.0") is None


def test_another_version_is_refused_with_the_rebuild_command() -> None:
    assert plan_refusal(BUILT, RTX, "1.8.0.20", "8.6") == (
        "the plan was built with tensorrt-rtx 1.7.1.116, 1.8.0.20 is installed: rebuild it: "
        "`facert models build gfpgan-1.4 --target tensorrt-rtx`"
    )


def test_another_compute_capability_is_refused_with_the_rebuild_command() -> None:
    assert plan_refusal(BUILT, RTX, "1.7.1.116", "12.0") == (
        "the plan targets compute capability 8.6, 8.9, this GPU is 12.0: rebuild it: "
        "`facert models build gfpgan-1.4 --target tensorrt-rtx --compute-capability 12.0`"
    )


def test_another_flavour_is_refused() -> None:
    message = plan_refusal(BUILT, ENTERPRISE, "10.13.0.35", "8.6")
    assert message == (
        "the plan was built for tensorrt-rtx, this backend runs tensorrt: rebuild it: "
        "`facert models build gfpgan-1.4 --target tensorrt`"
    )


@pytest.mark.parametrize("capability", ["9.0", "8.7", "10.0"])
def test_tensorrt_rtx_refuses_gpus_it_does_not_support(capability: str) -> None:
    """H100/H200 (9.0), Jetson Orin (8.7), B200 (10.0): enterprise TensorRT's, whatever the plan."""
    message = plan_refusal(BUILT, RTX, "1.7.1.116", capability)
    assert message is not None
    assert message.startswith(
        f"TensorRT for RTX does not run on compute capability {capability} (it runs on 7.5, 8.0"
    )
    assert message.endswith("`facert models build gfpgan-1.4 --target tensorrt`")
    assert "\n" not in message


def test_unknown_model_names_a_placeholder() -> None:
    assert rebuild_command("NAME", "tensorrt") == "facert models build NAME --target tensorrt"
    facts = PlanFacts("tensorrt-rtx", "1.0")
    assert "facert models build NAME --target" in str(plan_refusal(facts, RTX, "1.7.1.116", "8.6"))


def test_invalidity_bits_are_named_in_order() -> None:
    names = {"VERSION_MISMATCH": 1, "UNSUPPORTED_CC": 2, "OLD_CUDA_DRIVER": 4, "CUDA_ERROR": 64}
    assert invalidity_reasons(2 | 64, names) == ["unsupported cc", "cuda error"]
    assert invalidity_reasons(0, names) == []


def test_invalidity_names_match_tensorrt_rtx() -> None:
    trt = pytest.importorskip("tensorrt_rtx")
    names = {k: int(v) for k, v in trt.EngineInvalidityDiagnostics.__members__.items()}
    assert invalidity_reasons(names["VERSION_MISMATCH"] | names["UNSUPPORTED_CC"], names) == [
        "version mismatch",
        "unsupported cc",
    ]


def test_unknown_flavours_and_missing_modules_are_one_line() -> None:
    with pytest.raises(
        UsageError, match="unknown TensorRT flavour 'trt11': expected one of tensorrt-rtx, tensorrt"
    ):
        get_flavour("trt11")
    missing = type(ENTERPRISE)("x", "facert_no_such_module", "facert[x]", "X", False, None)
    with pytest.raises(
        MissingDependencyError,
        match=r"needs the facert_no_such_module package: pip install 'facert\[x\]'",
    ):
        import_flavour(missing)
