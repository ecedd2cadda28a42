"""AppTest: /gan-vae-ae previews the data, trains AE, VAE and GAN side by side and shows the
table, the three sample grids, reconstructions (GAN: none, and why) and the memorisation check."""

from tests.apptest_util import chart_specs, open_link, open_page, set_controls, train_until


def test_gan_vae_ae_page_trains_all_three(clean_streamlit):
    at = open_page("gan-vae-ae")
    assert at.get("imgs") or at.get("image"), "a preview of the data is drawn before any run"
    assert at.select_slider(key="gan-vae-ae.latent_dim").value == 16
    set_controls(at, {"gan-vae-ae.seconds": 5, "gan-vae-ae.channels": 8})
    train_until(at, timeout=120)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.index)[:3] == ["Autoencoder", "VAE", "GAN"]
    assert table.loc["GAN", "FID ↓"] > 0 and table.loc["VAE", "held-out recon (nats) ↓"] > 0
    text = " ".join(m.value for m in at.markdown)
    assert "GAN: none." in text and "nearest training image" in text
    titles = chart_specs(at)
    assert "Classifier-FID" in titles and "Distance to the nearest training image" in titles


def test_a_crafted_link_value_gets_a_sentence_not_a_traceback(clean_streamlit):
    at = open_link("gan-vae-ae", {"latent_dim": "<b>999</b>", "dataset": "imagenet"})
    assert at.warning or at.error, "the bad link values are named"
    assert at.select_slider(key="gan-vae-ae.latent_dim").value == 16
