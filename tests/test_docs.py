"""The README and docs/ link only to files that a clone of the repository has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").glob("*/README.md")),
]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#+\s+(.*)$", re.M)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_is_a_file_of_the_repository(document: Path) -> None:
    text = document.read_text()
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:: not a file
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        assert resolved.is_relative_to(ROOT), f"{document.name}: {target} leaves the repository"
        assert resolved.exists(), f"{document.name}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            anchors = {_anchor(h) for h in _HEADING.findall(resolved.read_text())}
            assert anchor in anchors, f"{document.name}: no heading for #{anchor} in {path_part}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_path_outside_the_repository_is_mentioned(document: Path) -> None:
    """Not even as code: ``../shared/...`` means nothing to someone who cloned the repository."""
    assert "../shared" not in document.read_text()


def test_the_readme_points_to_the_security_rules() -> None:
    assert "](docs/security.md)" in (ROOT / "README.md").read_text()
