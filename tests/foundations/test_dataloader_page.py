"""AppTest: /dataloader runs a real DataLoader with workers and shows the timeline, the class
shares, the seeding bug (and its fix) and the throughput."""

from tests.apptest_util import chart_titles, is_done, open_page, page_charts, train_until


def test_dataloader_shows_the_timeline_and_the_seeding_bug(clean_streamlit):
    """The fix itself is tested in tests/foundations/test_dataloading.py (a second run here
    would start a second set of worker processes)."""
    at = open_page("dataloader")
    assert page_charts(at), "the class shares are drawn before any run"
    assert any("DataLoader(" in c.value for c in at.code)
    at.slider(key="dataloader.max_batches").set_value(6)
    at.slider(key="dataloader.epochs").set_value(1)
    at.toggle(key="dataloader.throughput").set_value(False)
    at.run()
    train_until(at, is_done, timeout=90)
    assert "Timeline: which worker loaded which batch, and when" in chart_titles(at)
    assert any("same 'random' shifts" in e.value for e in at.error)
    assert at.dataframe[0].value.shape[0] >= 2  # the shifts table, one column per worker


def test_persistent_workers_without_workers_is_refused_plainly(clean_streamlit):
    at = open_page("dataloader")
    at.slider(key="dataloader.num_workers").set_value(0)
    at.toggle(key="dataloader.persistent_workers").set_value(True)
    at.run()
    assert any("persistent_workers needs num_workers" in e.value for e in at.error)
