"""The checks every scenario makes after its steps (K readable, the member list equal to the live
instances) and the spammer's figures, reported and held to the pass marks."""

from __future__ import annotations

from collections.abc import Callable

from tests.acceptance.conftest import Flavor
from tests.acceptance.harness import Director, member_name
from tests.acceptance.spammer import Figures, Spammer

K, V = "acceptance-k", "kept"


def converge(director: Director, flavor: Flavor, count: int) -> None:
    """Deploys `count` instances with the properties deployed last (a no-op when they are there,
    as a test before left them), writing K on a first deploy."""
    fresh = director.manifest is None
    etcd = {} if director.manifest is None else director.manifest.etcd
    director.deploy(flavor.manifest(count, etcd=etcd), after_each=None if fresh else each(director))
    if fresh:
        director.put(K, V)


def each(director: Director) -> Callable[[int], None]:
    """The check after every instance a deploy updates."""
    return lambda _: check_k(director)


def check_k(director: Director) -> None:
    for index in director.live():
        assert director.get(K, index) == V, f"K unreadable on instance {index}"


def check_members(director: Director) -> None:
    want = {member_name(director.vms[i].instance) for i in director.live()}
    for index in director.live():
        assert set(director.members(index)) == want, index


def scale(director: Director, flavor: Flavor, counts: tuple[int, ...],
          report: Callable[[str], None]) -> None:  # fmt: skip
    """Deploys each instance count in turn under the spammer; after each, the live instances
    are exactly the count, each lists exactly them, and K reads back; then one cluster."""
    start = counts[0]
    converge(director, flavor, start)
    with Spammer(director, f"scale{start}-{flavor.name}") as spammer:
        for count in counts[1:]:
            converge(director, flavor, count)
            assert director.live() == list(range(count))
            check_members(director)
            check_k(director)
    judge(spammer, report)
    director.one_cluster()


def judge(spammer: Spammer, report: Callable[[str], None]) -> Figures:
    figures = spammer.figures()
    report(figures.line())
    figures.check()
    return figures
