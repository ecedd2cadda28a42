"""The page catalogue and the files on disk agree."""

from pathlib import Path

from tests.conftest import ROOT
from ui.pages import PAGES, SECTIONS, existing_pages


def test_page_files_are_named_after_their_url_path():
    # ui.charts.ensure_entry relies on legacy discovery and st.navigation agreeing on page ids
    for p in PAGES:
        assert Path(p.file).stem == p.url_path, p
        assert p.section in SECTIONS


def test_every_page_file_is_in_the_catalogue_and_has_a_page_test():
    listed = {p.file for p in PAGES}
    for f in sorted((ROOT / "pages").glob("*.py")):
        assert f"pages/{f.name}" in listed, f"{f.name} is not in ui/pages.py"
    for p in existing_pages():
        stem = p.url_path.replace("-", "_")
        assert (ROOT / "tests" / f"test_{stem}_page.py").exists(), f"no AppTest for {p.file}"
