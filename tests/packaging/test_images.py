"""Finding Debian's mirror in apt's sources, for the offline base image."""

from __future__ import annotations

from pathlib import Path

from tests.packaging.images import apt_sources, debian_mirror

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_stanza_serving_the_suite() -> None:
    assert debian_mirror([DEB822]) == "http://deb.debian.org/debian"
    assert debian_mirror([DEB822], suite="bookworm-security") == (
        "http://deb.debian.org/debian-security"
    )


def test_one_line_sources_with_options_and_comments() -> None:
    text = (
        "# deb http://old.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
    )
    assert debian_mirror([text]) == "http://mirror.example/debian"


def test_source_types_and_missing_suites() -> None:
    sources_only = "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n"
    assert debian_mirror([sources_only]) is None
    assert debian_mirror(["URIs: http://x.example/debian\nSuites: trixie\n", DEB822]) == (
        "http://deb.debian.org/debian"
    )
    assert debian_mirror([]) is None


def test_reads_sources_list_and_its_directory(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "other.list").write_text("deb http://a.example/x y main\n")
    assert apt_sources(tmp_path)[0].startswith("deb http://a.example")
    assert debian_mirror(apt_sources(tmp_path)) == "http://deb.debian.org/debian"
