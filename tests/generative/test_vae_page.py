"""AppTest: /vae shows a data preview, trains VAE and AE side by side and draws both panels."""


from tests.apptest_util import (
    assert_says,
    button,
    chart_specs,
    link_params,
    open_page,
    set_controls,
    train_until,
    upload_images,
)


def test_vae_page_trains_and_compares(clean_streamlit):
    at = open_page("vae")
    assert at.get("imgs") or at.get("image"), "a preview of the data is drawn before any run"
    assert any("ELBO" in x.value for x in at.latex)
    set_controls(at, {"vae.epochs": 1, "vae.batch_size": 256})
    train_until(at, timeout=120)
    labels = [m.label for m in at.metric]
    assert "Held-out −ELBO" in labels and "AE reconstruction" in labels
    titles = chart_specs(at)  # Plotly titles sit in layout
    for t in ("Held-out loss", "VAE KL term", "VAE: held-out codes", "Plain autoencoder (AE): "
              "held-out codes"):
        assert t in titles, titles
    text = " ".join(m.value for m in at.markdown)
    assert "Decoding random N(0, I) vectors" in text and "quantiles" in text  # 2-D: manifold
    assert any(h.value == "VAE vs plain autoencoder" for h in at.header)


def test_your_images_train_the_vae_on_the_page_and_stay_out_of_the_link(clean_streamlit):
    from tests.vision.test_cnn import digit_zip

    at = upload_images(open_page("vae"), "vae", digit_zip())
    set_controls(at, {"vae.epochs": 30, "vae.batch_size": 16})
    assert any("90 images, resized to 32x32" in c.value for c in at.caption)
    assert any("**72** training and **18** held-out" in m.value for m in at.markdown)

    def elbo_falls(at) -> bool:  # untrained: about 2,100 nats
        elbo = [m.value for m in at.metric if m.label == "Held-out −ELBO"]
        return bool(elbo) and float(elbo[0].split()[0]) < 1200

    train_until(at, elbo_falls, timeout=120)
    assert any("two held-out images" in m.value for m in at.markdown)
    assert "AE reconstruction" in [m.label for m in at.metric]
    button(at, "Stop").click()  # the core test trains it to the end
    at.run()
    q = link_params(at)
    assert q.get("dataset") == "upload" and "upload" not in q


def test_the_weight_average_recipe_trains_on_the_page(clean_streamlit):
    at = open_page("vae")
    set_controls(at, {"vae.epochs": 1, "vae.batch_size": 256, "vae.hidden_fc": False,
                      "vae.posterior_std": "softplus", "vae.ema_decay": 0.999,
                      "vae.baseline": False})
    train_until(at, timeout=120)
    assert_says(at.caption, "exponential moving average of the weights (decay 0.999)")
    assert "Held-out −ELBO" in [m.label for m in at.metric]
    q = link_params(at)
    assert q.get("ema_decay") == "0.999" and q.get("posterior_std") == "softplus"
