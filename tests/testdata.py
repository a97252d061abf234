"""Where the tests' own files are, for tests at any depth of the tree."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"  # inputs shared by the tests (aligned faces)
GOLDEN_DATA = TESTS / "golden"  # golden/<family>/: outputs of the official code, with its recipe
