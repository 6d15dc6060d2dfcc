"""The collector settings a booted member switches to."""

from __future__ import annotations

import gc

from pyetcd import cli


def test_a_booted_member_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        cli._settle_gc()
        assert gc.get_threshold() == cli.GC_THRESHOLD
        assert gc.get_threshold()[0] > before[0]
    finally:
        gc.set_threshold(*before)
