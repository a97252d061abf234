"""Package discovery: every folder with an ``__init__.py`` under runtime/ (``facert``) and export/
(``facert.export``) is shipped, so a new folder cannot drop out of the wheel (pyproject.toml holds
everything else; setuptools reads both)."""

from setuptools import find_packages, setup

ROOTS = {"facert": "runtime", "facert.export": "export"}

setup(
    package_dir=ROOTS,
    packages=[
        name
        for package, folder in ROOTS.items()
        for name in [package, *(f"{package}.{sub}" for sub in find_packages(folder))]
    ],
)
