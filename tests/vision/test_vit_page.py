"""AppTest: /vit previews patches and model sizes, trains both models and draws the attention,
rollout, position similarity and probe; a hostile link value gets a notice."""

from tests.apptest_util import assert_says, chart_titles, open_link, open_page, set_controls, train_until


def test_vit_page_previews_trains_and_draws_attention(clean_streamlit):
    at = open_page("vit")
    assert at.get("image") and at.dataframe, "patches and the size table before any run"
    set_controls(at, {"vit.steps": 50, "vit.d_model": 32, "vit.n_layers": 1, "vit.batch_size": 16})
    train_until(at, timeout=120)
    labels = [m.label for m in at.metric]
    assert "ViT test accuracy" in labels and "CNN test accuracy" in labels
    titles = " | ".join(chart_titles(at))
    for t in ("Held-out accuracy", "Attention from [CLS]", "Position-embedding similarity",
              "Inductive-bias probe"):
        assert t in titles, titles


def test_hostile_link_values_get_a_notice(clean_streamlit):
    at = open_link("vit", {"patch_size": "5", "data_fraction": "1e999", "tokenizer": "[x](y)"})
    assert_says(at.warning, "patch_size", "data_fraction", "tokenizer")
