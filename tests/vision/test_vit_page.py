"""AppTest: /vit previews patches and model sizes, trains both models and draws the attention,
rollout, position similarity and probe; a hostile link value gets a notice."""

from tests.apptest_util import chart_titles, is_done, open_page, train_until


def test_vit_page_previews_trains_and_draws_attention(clean_streamlit):
    at = open_page("vit")
    assert at.get("image") and at.dataframe, "patches and the size table before any run"
    at.select_slider(key="vit.steps").set_value(50)
    at.select_slider(key="vit.d_model").set_value(32)
    at.slider(key="vit.n_layers").set_value(1)
    at.select_slider(key="vit.batch_size").set_value(16)
    at.run()
    train_until(at, is_done, timeout=120)
    labels = [m.label for m in at.metric]
    assert "ViT test accuracy" in labels and "CNN test accuracy" in labels
    titles = " | ".join(chart_titles(at))
    for t in ("Held-out accuracy", "Attention from [CLS]", "Position-embedding similarity",
              "Inductive-bias probe"):
        assert t in titles, titles


def test_hostile_link_values_get_a_notice(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"patch_size": "5", "data_fraction": "1e999", "tokenizer": "[x](y)"})
    at.run()
    at.switch_page(page("vit").file)
    at.run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "patch_size" in warnings and "data_fraction" in warnings and "tokenizer" in warnings
