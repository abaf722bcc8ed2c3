"""The user documentation stays navigable: every relative link in README.md, CONTRIBUTING.md,
CHANGELOG.md and docs/*.md names a file that exists and, with a #fragment, a heading of that file
(GitHub's anchor rules); the README starts with the two commands, and they name real scripts.

The README links into the repository by absolute URL, because ComfyUI-Manager and the Comfy
Registry show it away from GitHub, where relative links break; those URLs are checked as files of
this tree."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from conftest import ROOT

PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
# The repository's own files by absolute URL (README), checked as local paths.
REPO_URLS = ("https://github.com/runcomfy-community/comfyui-runcomfy-model-api/blob/main/",
             "https://raw.githubusercontent.com/runcomfy-community/comfyui-runcomfy-model-api/main/")


def local(page: Path, target: str) -> tuple[Path, str] | None:
    """(file, fragment) a link names in this tree, or None for a link to another site."""
    for prefix in REPO_URLS:
        if target.startswith(prefix):
            path, _, frag = target[len(prefix):].partition("#")
            return ROOT / path, frag
    if re.match(r"[a-z]+:", target):
        return None
    path, _, frag = target.partition("#")
    return (page.parent / path if path else page), frag


def anchor(heading: str) -> str:
    """GitHub's heading id: lowercase, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = "".join(c for c in text if c in " -" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        a = anchor(m.group(1))
        n = seen.get(a, 0)
        seen[a] = n + 1
        out.add(a if n == 0 else f"{a}-{n}")
    return out


def links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)     # code spans are not links
    return [a or b for a, b in _LINK.findall(text)]


def test_anchor_rules():
    assert anchor("Set your API token") == "set-your-api-token"
    assert anchor("The `models` command") == "the-models-command"
    assert anchor("Video and audio: inputs, outputs, limits") == "video-and-audio-inputs-outputs-limits"
    assert anchor("The emulator's catalog") == "the-emulators-catalog"
    assert anchor("Reliability (soak test, 2026-11-23)") == "reliability-soak-test-2026-11-23"


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in PAGES:
        assert page.exists(), page
        for link in links(page):
            hit = local(page, link)
            if hit is None:
                continue                      # another site
            dest, frag = hit
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {link} (no such file)")
            elif frag and dest.suffix == ".md" and frag not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {link} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [bad](#nope) [gone](missing.md)\n", encoding="utf-8")
    found = [t for t in links(page)]
    assert found == ["#title", "#nope", "missing.md"]
    assert "title" in anchors(page) and "nope" not in anchors(page)
    assert not (tmp_path / "missing.md").exists()


def test_readme_starts_with_the_two_commands_and_they_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = _FENCE.search(text).group(0)
    assert "bash scripts/demo.sh" in first_block and "bash scripts/test.sh" in first_block
    assert (ROOT / "scripts" / "demo.sh").exists() and (ROOT / "scripts" / "test.sh").exists()
    # The install and token sections come right after, before the node and troubleshooting.
    order = [text.index(h) for h in ("## Quick start", "## Install in ComfyUI", "## Set your API token",
                                     "## The node", "## Troubleshooting")]
    assert order == sorted(order)


def test_every_docs_page_is_linked_from_the_readme():
    readme = {hit[0].resolve() for hit in (local(ROOT / "README.md", link) for link in links(ROOT / "README.md")) if hit}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert page.resolve() in readme, page.name


def test_the_readme_links_work_away_from_github():
    # ComfyUI-Manager and the registry render the README without the repository around it.
    relative = [link for link in links(ROOT / "README.md") if not re.match(r"[a-z]+:|#", link)]
    assert relative == []
