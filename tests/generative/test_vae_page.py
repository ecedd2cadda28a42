"""AppTest: /vae shows a data preview, trains VAE and AE side by side and draws both panels."""


from tests.apptest_util import button, is_done, open_page, page_charts, train_until, upload_images


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


def test_your_images_train_the_vae_on_the_page_and_stay_out_of_the_link(clean_streamlit):
    from tests.vision.test_cnn import digit_zip

    at = upload_images(open_page("vae"), "vae", digit_zip())
    at.select_slider(key="vae.epochs").set_value(30)
    at.select_slider(key="vae.batch_size").set_value(16)
    at.run()
    assert not at.exception, at.exception
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
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert q.get("dataset") == "upload" and "upload" not in q
