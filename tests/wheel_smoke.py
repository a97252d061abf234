"""Smoke test of a built wheel, run by `make test-wheel` inside a venv holding only that wheel and
its run-time dependencies (no torch): the package imports, the CLI answers, and a real photo is
restored from the ONNX models already exported into the cache by `make models`."""

from __future__ import annotations

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


def main() -> int:
    import facert as package

    assert importlib.util.find_spec("torch") is None, "the wheel environment must not hold torch"
    assert "site-packages" in str(package.__file__), (
        f"imported from {package.__file__}, not the wheel"
    )
    version = facert("--version")
    assert version.returncode == 0 and version.stdout.startswith("facert "), version
    listing = facert("models", "list")
    assert listing.returncode == 0 and "mtcnn" in listing.stdout, listing
    with tempfile.TemporaryDirectory() as out:
        run = facert("enhance", str(PHOTO), "-o", out)
        assert run.returncode == 0, run.stderr
        assert "1 face restored" in run.stdout, run.stdout
        assert (Path(out) / PHOTO.name).stat().st_size > 0
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
    print(f"wheel OK: facert {version.stdout.split()[1]} from {Path(package.__file__).parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
