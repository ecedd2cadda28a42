"""AppTest: /vae shows a data preview, trains VAE and AE side by side and draws both panels."""


from tests.apptest_util import is_done, open_page, page_charts, train_until


def test_vae_page_trains_and_compares(clean_streamlit):
    at = open_page("vae")
    assert at.get("imgs") or at.get("image"), "a preview of the data is drawn before any run"
    assert any("ELBO" in x.value for x in at.latex)
    at.select_slider(key="vae.epochs").set_value(1)
    at.select_slider(key="vae.batch_size").set_value(256)
    at.run()
    assert not at.exception
    train_until(at, is_done, timeout=120)
    labels = [m.label for m in at.metric]
    assert "Held-out −ELBO" in labels and "AE reconstruction" in labels
    titles = " | ".join(c.proto.spec for c in page_charts(at))  # Plotly titles sit in layout
    for t in ("Held-out loss", "VAE KL term", "VAE: held-out codes", "Plain autoencoder (AE): "
              "held-out codes"):
        assert t in titles, titles
    text = " ".join(m.value for m in at.markdown)
    assert "Decoding random N(0, I) vectors" in text and "quantiles" in text  # 2-D: manifold
    assert any(h.value == "VAE vs plain autoencoder" for h in at.header)


def test_old_vae_links_still_open_their_settings(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"width": "32"})
    at.run()
    at.switch_page(page("vae").file)
    at.run()
    assert not at.exception and not at.warning
    assert at.select_slider(key="vae.channels").value == 32
    assert at.query_params["channels"] in ("32", ["32"]) and "width" not in at.query_params
