"""Write the differences found by a compat run as Markdown (the source of DIFFS.md)."""

from __future__ import annotations

import pprint

from tests.compat.runner import Outcome


def _step_of(outcome: Outcome) -> tuple[str, object, object]:
    """The first step whose records differ: (description, etcd record, candidate record)."""
    for ref, cand in zip(outcome.reference, outcome.candidate, strict=False):
        if ref != cand:
            return ref[0], ref[1], cand[1]
    return "(step count differs)", len(outcome.reference), len(outcome.candidate)


def _cell(text: str, limit: int = 160) -> str:
    flat = text.replace("|", "/").replace("`", "'").replace("\n", " ")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def write_report(path: str, target: str, results: dict[str, Outcome | str]) -> None:
    lines = [f"# etcd 3.4.23 vs {target}: differences", ""]
    failed = {n: r for n, r in results.items() if isinstance(r, str) or r.difference}
    lines.append(f"{len(failed)} of {len(results)} scenarios differ.")
    lines += ["", "| scenario | first difference |", "|---|---|"]
    for name, result in sorted(failed.items()):
        where = result if isinstance(result, str) else result.difference or ""
        lines.append(f"| `{name}` | `{_cell(where)}` |")
    for name, result in sorted(failed.items()):
        lines += ["", f"## {name}", ""]
        if isinstance(result, str):
            lines += ["```", result, "```"]
            continue
        step, expected, got = _step_of(result)
        lines += [
            f"First differing step: `{step}`",
            "",
            f"Where: `{result.difference[:300] if result.difference else ''}`",
            "",
            "etcd:",
            "```",
            pprint.pformat(expected, width=100),
            "```",
            f"{target}:",
            "```",
            pprint.pformat(got, width=100),
            "```",
        ]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
