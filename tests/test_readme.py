"""The README's table of contents lists every section, and each link reaches its heading."""

from __future__ import annotations

import re

from tests.helpers import REPO


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation out, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")


def test_table_of_contents_matches_the_headings() -> None:
    text = (REPO / "README.md").read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)  # headings inside code blocks are not
    headings = re.findall(r"^#{2,3} (.+)$", prose, flags=re.M)
    links = re.findall(r"^ *- \[(.+?)\]\(#([^)]+)\)$", prose, flags=re.M)
    assert [title for title, _ in links] == headings
    assert all(anchor == _anchor(title) for title, anchor in links)
