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

import yaml

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


def manifest(*ops_files: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """manifests/pyetcd.yml with ops files applied and `((vars))` interpolated, as `bosh deploy
    -o ... -l ...` would (the `replace` ops with `name=` selectors and `?` our files use)."""
    doc = yaml.safe_load((RELEASE / "manifests/pyetcd.yml").read_text())
    for name in ops_files:
        for op in yaml.safe_load((RELEASE / "manifests/operations" / name).read_text()):
            assert op["type"] == "replace", op
            _replace(doc, [p for p in op["path"].split("/") if p], op["value"])
    return _interpolate(doc, variables or {})


def _replace(node: Any, parts: list[str], value: Any) -> None:
    head, rest = parts[0].rstrip("?"), parts[1:]
    if isinstance(node, list):
        key, _, wanted = head.partition("=")
        matches = [i for i, item in enumerate(node) if item.get(key) == wanted]
        if not matches:
            raise KeyError(f"no {head} in the manifest")
        index = matches[0]
        if rest:
            _replace(node[index], rest, value)
        else:
            node[index] = value
        return
    if not rest:
        node[head] = value
        return
    if head not in node:
        if not parts[0].endswith("?"):
            raise KeyError(f"no {head} in the manifest")
        node[head] = {}
    _replace(node[head], rest, value)


def _interpolate(node: Any, variables: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, variables) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, variables) for v in node]
    if isinstance(node, str) and node.startswith("((") and node.endswith("))"):
        return variables[node[2:-2]]
    return node


def job_properties(doc: dict[str, Any], group_name: str = "etcd") -> dict[str, Any]:
    (ig,) = [g for g in doc["instance_groups"] if g["name"] == group_name]
    (job,) = [j for j in ig["jobs"] if j["name"] == "etcd"]
    return job["properties"]


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
