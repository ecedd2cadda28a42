"""AppTest: /gan previews real digits, trains the DCGAN (grid, curves, latent walk) and the 2-D
lab (plane, modes readout) without exceptions."""


from tests.apptest_util import (
    button,
    chart_specs,
    chart_titles,
    is_done,
    link_params,
    open_link,
    open_page,
    page_charts,
    set_controls,
    train_until,
    upload_images,
)
from ui.pages import page


def test_gan_page_dcgan_and_latent_walk(clean_streamlit):
    at = open_page("gan")
    assert at.get("image"), "real digits are shown before any run"
    set_controls(at, {"gan.steps": 200, "gan.batch_size": 16, "gan.g_channels": 8,
                      "gan.d_channels": 8})
    train_until(at, timeout=300)  # ~25 s alone; the suite's other worker may train beside it
    labels = [m.label for m in at.metric]
    assert "FID ↓" in labels and "sure digits" in labels and "mean D(G(z))" in labels
    titles = chart_specs(at)  # Plotly titles sit in layout
    for t in ("Losses of D and G", "What D says", "Classifier-FID", "Which digit"):
        assert t in titles, titles
    assert "Gradient norm" not in chart_titles(at), "a closed diagnostics panel draws nothing"
    at.session_state["gan.diagnostics"] = True  # the visitor opens it
    at.run()
    assert "Gradient norm" in chart_titles(at), "the diagnostics panel draws for the generator"
    assert at.slider(key="gan.walk_t") is not None
    set_controls(at, {"gan.walk_mode": "lerp", "gan.walk_axis": 5, "gan.walk_src": "seeds"})
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
    set_controls(at, {"gan2d.steps": 200})
    train_until(at, timeout=60)
    labels = [m.label for m in at.metric]
    assert "modes covered" in labels and "high quality" in labels
    assert len(page_charts(at)) >= 4  # the plane, modes per mode, modes covered, losses
    assert "Step " in chart_specs(at)


def test_a_link_opens_the_mode_collapse_lab_with_its_settings(clean_streamlit):
    """The lab is a page-level choice in the URL (?lab=2d) beside the lab's own settings."""
    at = open_link("gan", {"lab": "2d", "steps": "300"})
    assert at.select_slider(key="gan2d.steps").value == 300, "the lab's settings were dropped"
    q = link_params(at)
    assert q.get("lab") == "2d" and q.get("steps") == "300"


def test_gan_page_semi_supervised_lab(clean_streamlit):
    at = open_page("gan")
    at.get("button_group")[0].set_value("ssgan").run()
    assert not at.exception, at.exception
    assert any("feature" in x.value.lower() or "Z(x)" in x.value for x in at.latex)
    assert at.get("imgs") or at.get("image"), "training images are shown before any run"
    set_controls(at, {"ssgan.steps": 100, "ssgan.hidden": 250, "ssgan.batch_size": 25})

    def evaluated(at) -> bool:  # the first snapshot already carries both accuracies
        return any(m.label == "SSGAN held-out accuracy" and m.value != "…" for m in at.metric) \
            and len(page_charts(at)) >= 4

    train_until(at, evaluated, timeout=120)
    labels = [m.label for m in at.metric]
    assert "SSGAN held-out accuracy" in labels and "labels-only network" in labels
    titles = chart_specs(at)
    for t in ("Held-out accuracy", "SSGAN discriminator: confusion matrix",
              "Labels only: confusion matrix"):
        assert t in titles, titles
    assert link_params(at).get("lab") == "ssgan"


def test_your_images_train_the_dcgan_on_the_page_and_stay_out_of_the_link(clean_streamlit):
    from tests.vision.test_cnn import digit_zip

    at = upload_images(open_page("gan"), "gan", digit_zip())
    set_controls(at, {"gan.steps": 200, "gan.g_channels": 8, "gan.d_channels": 8})
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
    q = link_params(at)
    assert q.get("dataset") == "upload" and "upload" not in q


def test_the_ssgan_lab_shows_the_simclr_probe_of_a_finished_run(clean_streamlit):
    """Issue 19: the SimCLR page's few-label probe for the same label budget sits beside the
    SSGAN's accuracy once this session has finished a SimCLR run on the same data."""
    at = open_link("simclr", {"epochs": "1", "channels": "16", "proj_dim": "8",
                              "batch_size": "256", "embedding": "pca", "map_points": "200",
                              "eval_steps": "10"})
    train_until(at, is_done, timeout=300)
    at.switch_page(page("gan").file)
    at.run()
    at.get("button_group")[0].set_value("ssgan").run()
    assert not at.exception, at.exception
    set_controls(at, {"ssgan.steps": 20, "ssgan.hidden": 250, "ssgan.batch_size": 25})
    train_until(at, is_done, timeout=120)
    tiles = {m.label: m.value for m in at.metric}
    assert "SimCLR probe (your run)" in tiles, tiles
    assert 0.1 < float(tiles["SimCLR probe (your run)"].rstrip("%")) / 100 <= 1.0
