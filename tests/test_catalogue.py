"""The page catalogue and the files on disk agree."""

from tests.conftest import ROOT
from ui.pages import PAGES, SECTION_DIRS, SECTIONS, existing_pages, page


def test_page_files_live_in_their_section_folder_named_after_their_url_path():
    assert set(SECTION_DIRS) == set(SECTIONS)
    for p in PAGES:
        assert p.file == f"pages/{SECTION_DIRS[p.section]}/{p.url_path}.py", p


def test_every_page_file_is_in_the_catalogue_and_has_a_page_test():
    listed = {p.file for p in PAGES}
    files = sorted((ROOT / "pages").rglob("*.py"))
    assert files, "no page files found"
    for f in files:
        assert f.relative_to(ROOT).as_posix() in listed, f"{f} is not in ui/pages.py"
    for p in existing_pages():
        stem = p.url_path.replace("-", "_")
        test = ROOT / "tests" / SECTION_DIRS[p.section] / f"test_{stem}_page.py"
        assert test.exists(), f"no AppTest for {p.file} ({test})"


def test_pages_are_looked_up_by_url_path():
    assert page("dqn").file == "pages/rl/dqn.py"
    try:
        page("no-such-page")
    except KeyError as e:
        assert "no-such-page" in str(e)
    else:
        raise AssertionError("page() accepted an unknown URL path")
