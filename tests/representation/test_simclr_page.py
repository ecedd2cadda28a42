"""AppTest: /simclr shows the augmentation viewer before training, trains a tiny SimCLR run and
draws the live charts, the feature map, the few-label chart and nearest neighbours."""

from tests.apptest_util import assert_says, open_link, page_charts, set_controls, train_until

# "width" and "map_every_s" are old names (now "channels"; retired): old links still open
TINY = {"epochs": "1", "batch_size": "64", "width": "16", "max_seconds": "4", "map_points": "200",
        "map_every_s": "1", "eval_steps": "10"}


def test_simclr_page_trains_and_evaluates(clean_streamlit):
    # a tiny configuration through a deep link (also tests that links set the controls)
    at = open_link("simclr", TINY, timeout=180)
    assert len(at.get("image")) >= 1, "augmentation viewer and data preview before any run"
    assert [b.label for b in at.button][:1] == ["New views"]
    assert any("ell_{i,j}" in t.value for t in at.latex)
    assert at.select_slider(key="simclr.channels").value == 16
    assert not at.warning, "an old link's keys open without a notice"
    train_until(at, timeout=120)
    keys = [c.proto.spec[:80] for c in page_charts(at)]
    labels = [m.label for m in at.metric]
    assert "NT-Xent loss" in labels
    assert any(lbl.startswith("Linear probe, k=10") for lbl in labels)
    assert len(page_charts(at)) >= 5, keys  # loss, accuracies, similarities, map, few-label
    assert any("nearest" in s.value.lower() for s in at.subheader)
    # the k slider of the few-label chart works after the run
    set_controls(at, {"simclr.k_sel": 100})
    assert any(lbl.startswith("Linear probe, k=100") for lbl in [m.label for m in at.metric])


def test_simclr_page_bad_link_values_are_ignored(clean_streamlit):
    at = open_link("simclr", {"temperature": "hot", "batch_size": "7"}, timeout=180)
    assert_says(at.warning, "temperature", "batch_size")  # shown as typed (escaped)
