"""The README is a short map: its table of contents lists every section, it stays under 15 KB,
and every relative link in it and in docs/*.md reaches an existing file and heading."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import REPO

README_MAX_BYTES = 15_000
# [text](target) or ![alt](target); text may span lines, the target has no spaces.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation out, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")


def _prose(text: str) -> str:
    """The text outside fenced code blocks (headings and links there are not)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+?)#*\s*$", _prose(path.read_text()), flags=re.M)
    return {_anchor(title) for title in headings}


def _broken_links(files: list[Path]) -> list[str]:
    """Each relative link whose file does not exist or whose #anchor is no heading there."""
    broken = []
    for source in files:
        prose = re.sub(r"`[^`\n]*`", "", _prose(source.read_text()))  # nor inside inline code
        for target in _LINK.findall(prose):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            name, _, anchor = target.partition("#")
            path = (source.parent / name).resolve() if name else source
            if not path.exists():
                broken.append(f"{source.name}: {target} (no such file)")
            elif anchor and (path.suffix != ".md" or anchor not in _anchors(path)):
                broken.append(f"{source.name}: {target} (no such heading)")
    return broken


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_table_of_contents_matches_the_headings() -> None:
    text = (REPO / "README.md").read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)  # headings inside code blocks are not
    headings = re.findall(r"^#{2,3} (.+)$", prose, flags=re.M)
    links = re.findall(r"^ *- \[(.+?)\]\(#([^)]+)\)$", prose, flags=re.M)
    assert [title for title, _ in links] == headings
    assert all(anchor == _anchor(title) for title, anchor in links)


def test_readme_is_a_short_map() -> None:
    size = len((REPO / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move detail to docs/"


def test_readme_keeps_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert "\nmake pipeline   # the main job" in text
    assert "\nmake test       # the whole test suite" in text  # .ci/run and CI call it


def test_every_relative_link_reaches_a_file_and_heading() -> None:
    files = _markdown_files()
    assert len(files) > 1, "docs/*.md is missing"
    assert _broken_links(files) == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Some section\n")
    (tmp_path / "README.md").write_text(
        "# Title\n\n## Intro\n\n"
        "[ok](docs/page.md#some-section) [ok](#intro) [ok](https://example.org/x#y)\n"
        "[no file](docs/missing.md) [no heading](docs/page.md#other)\n"
        "![no image](docs/shot.png) [no anchor here](#outro)\n"
        "```\n[in code](nowhere.md)\n```\n`[inline](nowhere.md)`\n"
    )
    broken = _broken_links([tmp_path / "README.md", tmp_path / "docs" / "page.md"])
    assert broken == [
        "README.md: docs/missing.md (no such file)",
        "README.md: docs/page.md#other (no such heading)",
        "README.md: docs/shot.png (no such file)",
        "README.md: #outro (no such heading)",
    ]
