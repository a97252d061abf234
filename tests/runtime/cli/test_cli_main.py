"""facert.cli.main: how the process ends when its reader goes away."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_closed_pipe_ends_quietly() -> None:
    """`facert models list | head -0`: the reader is gone before facert writes; no traceback and no
    "internal error" line, exit status 141 (128 + SIGPIPE) as a shell reports for such tools."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to write_end now fails with EPIPE
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from facert.cli.main import main; sys.exit(main(['models', 'list']))",
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert run.stderr == ""
    assert run.returncode == 141
