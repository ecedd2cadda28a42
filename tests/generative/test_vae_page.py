"""AppTest: /vae shows a data preview, trains VAE and CAE side by side and draws both panels."""


from tests.apptest_util import is_done, open_page, train_until


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
    assert "Held-out −ELBO" in labels and "CAE reconstruction" in labels
    charts = at.get("plotly_chart")
    assert len(charts) >= 4  # loss, KL, the two latent scatters
    text = " ".join(m.value for m in at.markdown)
    assert "Decoding random N(0, I) vectors" in text and "quantiles" in text  # 2-D: manifold
    assert any(h.value == "VAE vs plain autoencoder" for h in at.header)
