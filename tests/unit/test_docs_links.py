"""The README is the front door and `docs/` the reference: every relative link in them must lead somewhere.

Each Markdown link that is not a URL is resolved against the file it is written in; the file (or folder) it
names must exist, and a `#fragment` must be one of the target page's headings, slugged as GitHub slugs them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

# [text](target) outside code; images too. Targets with spaces are not used in this repository.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")


def _prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks, with inline code removed."""
    lines: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    slugs: set[str] = set()
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            base = github_slug(match.group(1))
            slug, n = base, 1
            while slug in slugs:  # GitHub numbers repeated headings
                slug, n = f"{base}-{n}", n + 1
            slugs.add(slug)
    return slugs


def relative_links(page: Path) -> list[str]:
    links: list[str] = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        # Links inside inline code are examples, not links (the prose never puts one there).
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                links.append(target)
    return links


def test_github_slug_matches_githubs_rules() -> None:
    assert github_slug("`make local` and `outputs.json`") == "make-local-and-outputsjson"
    assert github_slug("Never missing a job, and seeing it end") == "never-missing-a-job-and-seeing-it-end"
    assert github_slug("IAM") == "iam"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad](#nowhere)\n```\n[code](not-a-link.md)\n```\n")
    assert relative_links(page) == ["#title", "missing.md", "#nowhere"]
    assert anchors_of(page) == {"title"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken: list[str] = []
    for target in relative_links(page):
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file or folder")
            continue
        if fragment and destination.suffix == ".md" and fragment not in anchors_of(destination):
            broken.append(f"{target}: no heading with anchor #{fragment} in {destination.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)


def test_every_docs_page_says_what_it_is_for() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert lines[0].startswith("# "), f"{page.name} starts with a title"
        assert not lines[1].startswith("#"), f"{page.name} says what it is for before its first section"


def test_the_readme_stays_short() -> None:
    length = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert length <= README_MAX_LINES, f"README.md has {length} lines; reference belongs in docs/"


def test_the_readme_maps_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"(docs/{p.name})" not in readme]
    assert not missing, f"README.md's map of docs/ lacks {missing}"
