"""Smoke test of a built wheel, run by `make test-wheel` inside a venv holding only that wheel and
its run-time dependencies (no torch): the package imports, the CLI answers, and a real photo is
restored from the ONNX models already exported into the cache by `make models`."""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHOTO = HERE / "data" / "faces" / "grace_hopper_512.png"


def facert(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "facert"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def source_packages() -> list[str]:
    """Every package of the source tree: folders holding an ``__init__.py`` under runtime/
    (``facert``), export/ (``facert.export``) and kernels/ (``facert.kernels``)."""
    names = []
    for package, folder in (
        ("facert", HERE.parent / "runtime"),
        ("facert.export", HERE.parent / "export"),
        ("facert.kernels", HERE.parent / "kernels"),
    ):
        for init in sorted(folder.rglob("__init__.py")):
            parts = init.parent.relative_to(folder).parts
            names.append(".".join((package, *parts)))
    return names


def check_every_package_shipped() -> int:
    """Each source package is in the wheel; the run-time ones import without torch (the build-time
    half, facert.export, needs torch: its subpackages are only found, not imported)."""
    shipped = 0
    for name in source_packages():
        if name == "facert.export" or name.startswith("facert.export."):
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec else None
        else:
            origin = importlib.import_module(name).__file__
        assert origin and "site-packages" in origin, f"{name} is not in the wheel ({origin})"
        shipped += 1
    return shipped


def main() -> int:
    import facert as package

    assert importlib.util.find_spec("torch") is None, "the wheel environment must not hold torch"
    assert "site-packages" in str(package.__file__), (
        f"imported from {package.__file__}, not the wheel"
    )
    packages = check_every_package_shipped()
    version = facert("--version")
    assert version.returncode == 0 and version.stdout.startswith("facert "), version
    listing = facert("models", "list")
    assert listing.returncode == 0 and "mtcnn" in listing.stdout, listing
    with tempfile.TemporaryDirectory() as out:
        run = facert("enhance", str(PHOTO), "-o", out)
        assert run.returncode == 0, run.stderr
        assert "1 face restored" in run.stdout, run.stdout
        assert (Path(out) / PHOTO.name).stat().st_size > 0
        # No OpenVINO in the run-time install: doctor says so, auto stays on ONNX Runtime (the
        # enhance above), and asking for OpenVINO is one line naming the extra.
        assert importlib.util.find_spec("openvino") is None
        doctor = facert("doctor")
        assert doctor.returncode == 0 and "openvino not installed" in doctor.stdout, doctor
        args = ("enhance", str(PHOTO), "-o", str(Path(out) / "ov"), "--backend", "openvino")
        run = facert(*args)
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert "pip install 'facert[openvino]'" in run.stderr and not (Path(out) / "ov").exists()
        export = facert("models", "export", "ispl", "-o", str(Path(out) / "x"))
        assert export.returncode == 2 and "pip install 'facert[export]'" in export.stderr, export
        assert export.stderr.count("\n") == 1, export.stderr
        weights = Path(out) / "finetuned.pth"  # not exported yet: the runtime alone cannot
        weights.write_bytes(b"a checkpoint the runtime cannot read without torch")
        args = ("enhance", str(PHOTO), "-o", str(Path(out) / "y"), "--model", "gfpgan-1.4")
        run = facert(*args, "--weights", str(weights))
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert f"{weights}: no export of this file" in run.stderr, run.stderr
        assert "pip install 'facert[export]'" in run.stderr and not (Path(out) / "y").exists()
        # The study page ships as package data; without the serve extra the command says so.
        assert importlib.resources.files("facert.study").joinpath("page.html").is_file()
        study = facert("study", out)
        assert study.returncode == 2 and "pip install 'facert[serve]'" in study.stderr, study
    where = Path(package.__file__).parent
    print(f"wheel OK: facert {version.stdout.split()[1]} from {where}, {packages} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
