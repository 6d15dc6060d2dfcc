"""podman with private storage, and a Debian bookworm base image made from Debian's archive.

The container tests use no registry at all: the base image is built with mmdebstrap from the
mirror apt already uses, and every podman call goes to a storage root of the test's own, removed
at the end, so the machine's images and containers are never touched.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"  # its python3 is 3.11, the version the image is built for
SOURCES = Path("/etc/apt")
BASE_PACKAGES = ("python3", "python3-venv")
_EXCLUDED = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
# podman's default nofile limit (1048576) is above what some sandboxes allow a container.
RUN_LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")


class NotRunnable(RuntimeError):
    """This machine cannot run the container tests (the reason is the message)."""


def debian_mirror(sources: Iterable[str], suite: str = SUITE) -> str | None:
    """The first archive URI serving `suite`, from one-line (`deb URI suite ...`) or deb822
    (`URIs:`/`Suites:` stanzas) apt sources; None when no source names it."""
    for text in sources:
        stanza: dict[str, str] = {}
        for raw in [*text.splitlines(), ""]:
            line = raw.split("#", 1)[0].strip()
            if not line:
                uris, suites = stanza.get("uris", "").split(), stanza.get("suites", "").split()
                if uris and suite in suites and "deb" in stanza.get("types", "deb").split():
                    return uris[0]
                stanza = {}
                continue
            words = line.split()
            if words[0] == "deb":
                rest = words[1:]
                if rest and rest[0].startswith("["):  # one-line options: [arch=amd64 ...]
                    while rest and not rest[0].endswith("]"):
                        rest = rest[1:]
                    rest = rest[1:]
                if len(rest) >= 2 and rest[1] == suite:
                    return rest[0]
            elif ":" in line:
                key, value = line.split(":", 1)
                stanza[key.strip().lower()] = value.strip()
    return None


def apt_sources(root: Path = SOURCES) -> list[str]:
    """The text of every apt source file, sources.list first."""
    files = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list")),
             *sorted((root / "sources.list.d").glob("*.sources"))]  # fmt: skip
    return [f.read_text(errors="replace") for f in files if f.is_file()]


def make_base_tarball(dest: Path, mirror: str, timeout: float = 600.0) -> Path:
    """A minimal Debian root filesystem with python3 as a tarball (mmdebstrap, Debian's tool)."""
    argv = ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
            *(f"--dpkgopt=path-exclude={path}" for path in _EXCLUDED),
            "--format=tar", SUITE, str(dest), mirror]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise NotRunnable(f"mmdebstrap from {mirror} failed: {done.stderr[-800:]}")
    return dest


@dataclass(frozen=True)
class Podman:
    """podman bound to a private storage root under `home` and one OCI runtime."""

    home: Path
    runtime: str | None = None

    def argv(self, *args: str) -> list[str]:
        storage = ["--root", str(self.home / "storage"), "--runroot", str(self.home / "run"),
                   "--tmpdir", str(self.home / "tmp")]  # fmt: skip
        runtime = ["--runtime", self.runtime] if self.runtime else []
        return ["podman", *storage, *runtime, *args]

    def run(
        self, *args: str, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
            )
        return done

    def reset(self) -> None:
        """Remove every container, volume and image of this storage root, then the root."""
        self.run("system", "reset", "--force", check=False, timeout=300)
        shutil.rmtree(self.home, ignore_errors=True)


def runnable_podman(home: Path, base_image: str) -> Podman:
    """The first runtime (podman's default, then runc) that can run a container of `base_image`:
    crun refuses hybrid cgroup hierarchies that runc accepts."""
    reasons = []
    for runtime in (None, "runc"):
        if runtime and shutil.which(runtime) is None:
            continue
        podman = Podman(home, runtime)
        done = podman.run("run", "--rm", "--network", "host", *RUN_LIMITS, base_image,
                          "python3", "-c", "pass", check=False)  # fmt: skip
        if done.returncode == 0:
            return podman
        reasons.append(f"{runtime or 'default runtime'}: {done.stderr.strip()[-300:]}")
    raise NotRunnable("podman cannot run a container here: " + " | ".join(reasons))
