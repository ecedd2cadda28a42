"""AppTest: /gan previews real digits, trains the DCGAN (grid, curves, latent walk) and the 2-D
lab (plane, modes readout) without exceptions."""


from tests.apptest_util import (
    button,
    chart_titles,
    is_done,
    open_page,
    page_charts,
    train_until,
    upload_images,
)


def test_gan_page_dcgan_and_latent_walk(clean_streamlit):
    at = open_page("gan")
    assert at.get("image"), "real digits are shown before any run"
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at.select_slider(key="gan.steps").set_value(200)
    at.select_slider(key="gan.batch_size").set_value(16)
    at.select_slider(key="gan.g_channels").set_value(8)
    at.select_slider(key="gan.d_channels").set_value(8)
    at.run()
    train_until(at, is_done, timeout=120)
    labels = [m.label for m in at.metric]
    assert "FID ↓" in labels and "sure digits" in labels and "mean D(G(z))" in labels
    titles = " | ".join(c.proto.spec for c in page_charts(at))  # Plotly titles sit in layout
    for t in ("Losses of D and G", "What D says", "Classifier-FID", "Which digit"):
        assert t in titles, titles
    assert "Gradient norm" in chart_titles(at), "the diagnostics panel draws for the generator"
    assert at.slider(key="gan.walk_t") is not None
    at.radio(key="gan.walk_mode").set_value("lerp")
    at.slider(key="gan.walk_axis").set_value(5)
    at.radio(key="gan.walk_src").set_value("seeds").run()
    assert not at.exception, at.exception
    assert at.number_input(key="gan.walk_s0").value == 1


def test_gan_page_mode_collapse_lab(clean_streamlit):
    at = open_page("gan")
    at.get("button_group")[0].set_value("2d").run()
    assert not at.exception, at.exception
    # the DCGAN view has no Plotly preview, so the lab is this session's first Plotly paint:
    # its controls come first, its chart with the browser's next poll
    assert any("Drawing the charts" in c.value for c in at.caption)
    at.run()
    assert page_charts(at), "the target is drawn before any run"
    at.select_slider(key="gan2d.steps").set_value(200)
    at.run()
    train_until(at, is_done, timeout=60)
    labels = [m.label for m in at.metric]
    assert "modes covered" in labels and "high quality" in labels
    assert len(page_charts(at)) >= 4  # the plane, modes per mode, modes covered, losses
    assert "Step " in " ".join(c.proto.spec for c in page_charts(at))


def test_old_gan_links_still_open_their_settings(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"g_width": "16", "d_width": "48", "fid_every_s": "10"})
    at.run()
    at.switch_page(page("gan").file)
    at.run()
    assert not at.exception and not at.warning
    assert at.select_slider(key="gan.g_channels").value == 16
    assert at.select_slider(key="gan.d_channels").value == 48
    assert at.query_params["g_channels"] in ("16", ["16"]) and "g_width" not in at.query_params
    assert "fid_every_s" not in at.query_params


def test_a_link_opens_the_mode_collapse_lab_with_its_settings(clean_streamlit):
    """The lab is a page-level choice in the URL (?lab=2d) beside the lab's own settings."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"lab": "2d", "steps": "300"})
    at.run()
    at.switch_page(page("gan").file)
    at.run()
    assert not at.exception, at.exception
    assert at.select_slider(key="gan2d.steps").value == 300, "the lab's settings were dropped"
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert q.get("lab") == "2d" and q.get("steps") == "300"


def test_gan_page_semi_supervised_lab(clean_streamlit):
    at = open_page("gan")
    at.get("button_group")[0].set_value("ssgan").run()
    assert not at.exception, at.exception
    assert any("feature" in x.value.lower() or "Z(x)" in x.value for x in at.latex)
    assert at.get("imgs") or at.get("image"), "training images are shown before any run"
    at.select_slider(key="ssgan.steps").set_value(100)
    at.select_slider(key="ssgan.hidden").set_value(250)
    at.select_slider(key="ssgan.batch_size").set_value(25)
    at.run()

    def evaluated(at) -> bool:  # the first snapshot already carries both accuracies
        return any(m.label == "SSGAN held-out accuracy" and m.value != "…" for m in at.metric) \
            and len(page_charts(at)) >= 4

    train_until(at, evaluated, timeout=120)
    labels = [m.label for m in at.metric]
    assert "SSGAN held-out accuracy" in labels and "labels-only network" in labels
    titles = " | ".join(c.proto.spec for c in page_charts(at))
    for t in ("Held-out accuracy", "SSGAN discriminator: confusion matrix",
              "Labels only: confusion matrix"):
        assert t in titles, titles
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert q.get("lab") == "ssgan"


def test_your_images_train_the_dcgan_on_the_page_and_stay_out_of_the_link(clean_streamlit):
    from tests.vision.test_cnn import digit_zip

    at = upload_images(open_page("gan"), "gan", digit_zip())
    at.select_slider(key="gan.steps").set_value(200)
    at.select_slider(key="gan.g_channels").set_value(8)
    at.select_slider(key="gan.d_channels").set_value(8)
    at.run()
    assert not at.exception, at.exception
    assert any("90 images, resized to 32x32" in c.value for c in at.caption)
    assert any("90 from your images" in m.value for m in at.markdown), "a preview of them"

    def d_tells_them_apart(at) -> bool:  # D(x) and D(G(z)) start at 0.5 both
        m = {x.label: x.value for x in at.metric}
        return "mean D(x)" in m and float(m["mean D(x)"]) - float(m["mean D(G(z))"]) > 0.3

    train_until(at, d_tells_them_apart, timeout=120)
    assert any("classifier of your own images" in i.value for i in at.info), \
        "the page says plainly why there is no FID"
    assert at.get("imgs") or at.get("image"), "the samples are drawn"
    button(at, "Stop").click()  # the core test trains it to the end
    at.run()
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert q.get("dataset") == "upload" and "upload" not in q
