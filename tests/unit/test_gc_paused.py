"""core.services.seating.gc_paused: the collector stays off while any draw holds it."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core.services.seating import gc_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_overlapping_blocks_resume_after_the_last(collector_on: None) -> None:
    """Two coroutines' draws overlap without nesting: the first to end must not switch the
    collector back on under the second."""
    a, b = gc_paused(), gc_paused()
    a.__enter__()
    assert not gc.isenabled()
    b.__enter__()
    a.__exit__(None, None, None)
    assert not gc.isenabled()
    b.__exit__(None, None, None)
    assert gc.isenabled()


def test_an_error_inside_still_resumes(collector_on: None) -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
