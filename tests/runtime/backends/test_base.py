"""The one lifecycle base class (facert.backends.base.Lifecycle) and open_all: the rules every
engine, stage and pipeline keeps."""

from __future__ import annotations

import gc
import warnings

import pytest

from facert.backends.base import Lifecycle, open_all


class Counted(Lifecycle):
    """Counts its acquisitions and releases; ``fail`` makes acquiring raise."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.acquired = self.released = 0

    def _acquire(self) -> None:
        if self.fail:
            raise OSError("no device")
        self.acquired += 1

    def _release(self) -> None:
        self.released += 1


def test_lifecycle_rules() -> None:
    part = Counted()
    assert (part.acquired, part.is_open) == (0, False)  # a cheap constructor
    assert part.open() is part and part.open() is part  # open twice: acquired once
    assert (part.acquired, part.is_open) == (1, True)
    part.close()
    part.close()  # a no-op
    assert (part.released, part.is_open) == (1, False)
    with part as entered:
        assert entered is part and part.is_open
    assert (part.acquired, part.released) == (2, 2)
    with pytest.raises(RuntimeError, match="Counted is not open; call open"):
        part._require_open()


def test_a_failed_acquire_leaves_it_closed() -> None:
    part = Counted(fail=True)
    with pytest.raises(OSError, match="no device"):
        part.open()
    assert not part.is_open
    part.close()
    assert part.released == 0  # nothing taken, nothing given back


def test_del_only_warns_when_left_open() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        left = Counted().open()
        del left
        closed = Counted().open()
        closed.close()
        del closed
        gc.collect()
    messages = [str(w.message) for w in caught if w.category is ResourceWarning]
    assert messages == ["Counted was not closed"]


def test_with_keeps_the_rules_when_open_is_a_factory() -> None:
    class Built(Counted):
        @classmethod
        def open(cls) -> Built:  # type: ignore[override]  # as Pipeline.open
            return Lifecycle.open(cls())

    with Built.open() as built:
        assert built.acquired == 1
        with built:  # __enter__ goes through Lifecycle.open: already open, nothing more
            assert built.acquired == 1
    assert built.released == 1 and not built.is_open


def test_open_all_gives_back_what_it_took() -> None:
    first, broken, never = Counted(), Counted(fail=True), Counted()
    with pytest.raises(OSError):
        open_all([first, broken, never])
    assert (first.acquired, first.released, first.is_open) == (1, 1, False)
    assert never.acquired == 0
