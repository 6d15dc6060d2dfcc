"""The collector settings a booted member switches to."""

from __future__ import annotations

import gc

import pytest

from pyetcd import cli
from pyetcd.config import Config, load_config
from pyetcd.server import EtcdServer
from store.store import Store


def test_a_member_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        cli._settle_gc()
        assert gc.get_threshold() == cli.GC_THRESHOLD
        assert gc.get_threshold()[0] > before[0]
    finally:
        gc.set_threshold(*before)


def test_store_saves_and_restores_run_with_the_collector_paused(monkeypatch, tmp_path) -> None:
    """The cyclic collector is off while the store is saved or rebuilt, back on afterwards,
    also when the restore fails; a collector already off stays off."""
    seen = []
    monkeypatch.setattr(Store, "save", lambda self: seen.append(gc.isenabled()) or b"")
    monkeypatch.setattr(Store, "restore", lambda data: seen.append(gc.isenabled()) or 1 / 0)
    config = load_config(["--data-dir", str(tmp_path)], {})
    assert isinstance(config, Config)
    member = EtcdServer(config)
    assert gc.isenabled()
    member.snapshot_data()
    with pytest.raises(ZeroDivisionError):
        member.restore(b"")
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        member.snapshot_data()
        assert not gc.isenabled()
    finally:
        gc.enable()
