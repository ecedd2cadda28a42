"""The catalogue of pages: section, URL path, title, icon, one-line description, read from
``ui/pages.toml``.

``app.py`` builds the navigation from this list and shows only the pages whose file exists, so a
page appears in the app as soon as its file lands. A page's file is
``pages/<section dir>/<url_path>.py`` (:data:`SECTION_DIRS`); other code names a page by its URL
path through :func:`page`, never by its file. The home page shows each page's line and the
thumbnail ``assets/thumbs/<url_path>.png`` when there is one.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PageInfo:
    section: str
    file: str
    url_path: str
    title: str
    icon: str
    blurb: str

    @property
    def exists(self) -> bool:
        return (ROOT / self.file).exists()

    @property
    def thumbnail(self) -> Path | None:
        p = ROOT / "assets" / "thumbs" / f"{self.url_path}.png"
        return p if p.exists() else None


SECTIONS = ["Foundations", "Vision", "Generative", "Sequences", "Representation learning",
            "Graphs", "Reinforcement learning"]
# the folder of each section under pages/, core/, tests/ and bench/
SECTION_DIRS = {"Foundations": "foundations", "Vision": "vision", "Generative": "generative",
                "Sequences": "sequences", "Representation learning": "representation",
                "Graphs": "graphs", "Reinforcement learning": "rl"}


def _catalogue(path: Path) -> list[PageInfo]:
    """The pages listed in ``path`` (TOML: an array of tables per section), in their order.

    Raises:
        ValueError: for a section not in :data:`SECTIONS`.
    """
    pages = []
    for section, entries in tomllib.loads(path.read_text(encoding="utf-8")).items():
        if section not in SECTION_DIRS:
            raise ValueError(f"{path.name}: unknown section {section!r}; known: {SECTIONS}")
        pages += [PageInfo(section, f"pages/{SECTION_DIRS[section]}/{e['url_path']}.py",
                           e["url_path"], e["title"], e["icon"], e["blurb"]) for e in entries]
    return pages


PAGES = _catalogue(ROOT / "ui" / "pages.toml")


def page(url_path: str) -> PageInfo:
    """The catalogue entry of the page at ``/<url_path>``.

    Raises:
        KeyError: when no page has that URL path.
    """
    for p in PAGES:
        if p.url_path == url_path:
            return p
    raise KeyError(f"no page at /{url_path}; known: {', '.join(p.url_path for p in PAGES)}")


def existing_pages() -> list[PageInfo]:
    """The pages whose file exists, in catalogue order."""
    return [p for p in PAGES if p.exists]
