"""Every compat scenario, by unique name."""

from __future__ import annotations

from tests.compat.dsl import Scenario
from tests.compat.endpoint_scenarios import ENDPOINT_SCENARIOS
from tests.compat.keys_scenarios import KEYS_SCENARIOS
from tests.compat.watch_scenarios import WATCH_SCENARIOS

ALL: list[Scenario] = KEYS_SCENARIOS + WATCH_SCENARIOS + ENDPOINT_SCENARIOS
BY_NAME: dict[str, Scenario] = {s.name: s for s in ALL}
if len(BY_NAME) != len(ALL):
    raise ValueError("duplicate compat scenario names")
