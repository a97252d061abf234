"""`facert enhance` (being built: see issue 2)."""

from __future__ import annotations

from typing import Any


def add_parser(commands: Any) -> None:
    commands.add_parser("enhance", help="(not built yet)")
