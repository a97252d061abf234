"""Package discovery: every folder with an ``__init__.py`` under runtime/ (``facert``), export/
(``facert.export``) and kernels/ (``facert.kernels``, with its CUDA sources as package data; ``facert.study`` with its page) is
shipped, so a new folder cannot drop out of the wheel (pyproject.toml holds everything else;
setuptools reads both)."""

from setuptools import find_packages, setup

ROOTS = {"facert": "runtime", "facert.export": "export", "facert.kernels": "kernels"}

setup(
    package_dir=ROOTS,
    packages=[
        name
        for package, folder in ROOTS.items()
        for name in [package, *(f"{package}.{sub}" for sub in find_packages(folder))]
    ],
    package_data={
        "facert.kernels": ["*.cu", "*.cuh", "*.fatbin", "facert_kernels.json"],
        "facert.study": ["page.html"],
    },
)
