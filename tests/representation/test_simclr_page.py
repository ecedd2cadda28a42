"""AppTest: /simclr shows the augmentation viewer before training, trains a tiny SimCLR run and
draws the live charts, the feature map, the few-label chart and nearest neighbours."""

from tests.apptest_util import is_done, page_charts, train_until
from ui.pages import page

# "width" and "map_every_s" are old names (now "channels"; retired): old links still open
TINY = {"epochs": "1", "batch_size": "64", "width": "16", "max_seconds": "4", "map_points": "200",
        "map_every_s": "1", "eval_steps": "10"}


def test_simclr_page_trains_and_evaluates(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    # a tiny configuration through a deep link (also tests that links set the controls)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params.update(TINY)
    at.run()
    at.switch_page(page("simclr").file)
    at.run()
    assert not at.exception
    assert len(at.get("image")) >= 1, "augmentation viewer and data preview before any run"
    assert [b.label for b in at.button][:1] == ["New views"]
    assert any("ell_{i,j}" in t.value for t in at.latex)
    assert at.select_slider(key="simclr.channels").value == 16
    assert not at.warning, "an old link's keys open without a notice"
    train_until(at, is_done, timeout=120)
    keys = [c.proto.spec[:80] for c in page_charts(at)]
    labels = [m.label for m in at.metric]
    assert "NT-Xent loss" in labels
    assert any(lbl.startswith("Linear probe, k=10") for lbl in labels)
    assert len(page_charts(at)) >= 5, keys  # loss, accuracies, similarities, map, few-label
    assert any("nearest" in s.value.lower() for s in at.subheader)
    # the k slider of the few-label chart works after the run
    at.select_slider(key="simclr.k_sel").set_value(100)
    at.run()
    assert not at.exception
    assert any(lbl.startswith("Linear probe, k=100") for lbl in [m.label for m in at.metric])


def test_simclr_page_bad_link_values_are_ignored(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["temperature"] = "hot"
    at.query_params["batch_size"] = "7"
    at.run()
    at.switch_page(page("simclr").file)
    at.run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning).replace("\\", "")  # shown as typed (escaped)
    assert "temperature" in text and "batch_size" in text
