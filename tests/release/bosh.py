"""A BOSH director's part for the release tests: render a job for one instance with Ruby's ERB
in bosh-template's context (tests/release/render.rb), and describe deployments."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / "release"
JOB = RELEASE / "jobs" / "etcd"
RENDER = Path(__file__).with_name("render.rb")
RUBY = shutil.which("ruby")


class RenderError(Exception):
    """A template refused the properties; `str()` is the renderer's one line."""


@dataclass(frozen=True)
class Instance:
    group: str
    index: int
    address: str
    bootstrap: bool

    def as_link(self) -> dict[str, Any]:
        return {
            "name": self.group,
            "index": self.index,
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.group}/{self.index}")),
            "az": "z1",
            "address": self.address,
            "bootstrap": self.bootstrap,
        }


def group(name: str, addresses: list[str]) -> list[Instance]:
    return [Instance(name, i, a, i == 0) for i, a in enumerate(addresses)]


def context(me: Instance, instances: list[Instance], properties: dict[str, Any]) -> dict[str, Any]:
    """What a director gives the templates: properties, spec.*, and the `etcd` link."""
    link = me.as_link()
    return {
        "properties": properties,
        "spec": {
            **link,
            "name": me.group,
            "ip": me.address,
            "deployment": "pyetcd",
            "networks": {"default": {"ip": me.address}},
        },
        "links": {
            "etcd": {
                "instances": [i.as_link() for i in instances],
                "address": "q-s0.etcd.default.pyetcd.bosh",
                "properties": properties,
            }
        },
    }


def render(ctx: dict[str, Any], out_dir: Path, job: Path = JOB) -> Path:
    """Renders every template of a job (the etcd job) into `out_dir` (a /var/vcap/jobs/etcd)."""
    assert RUBY is not None
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        json.dump(ctx, fh)
        fh.flush()
        done = subprocess.run(
            [RUBY, str(RENDER), str(job), fh.name, str(out_dir)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return out_dir
