"""AppTest: /gumbel draws the sampling and gradient panels, trains the classifier lab and the
categorical VAE lab, and shrugs off a hostile link."""

from tests.apptest_util import chart_titles, is_done, open_page, train_until


def test_sampling_gradient_panels_and_classifier_train(clean_streamlit):
    at = open_page("gumbel")
    titles = " | ".join(chart_titles(at))
    for t in ("Class frequencies", "Relaxed samples on the simplex", "Bias", "Variance"):
        assert t in titles, titles
    assert at.get("image"), "test digits are previewed before any run"
    at.slider(key="gumbel.k").set_value(5).run()
    assert "12 soft samples" in " | ".join(chart_titles(at))
    at.select_slider(key="gumbel.tau_view").set_value(0.001).run()
    assert not at.exception, at.exception
    at.select_slider(key="gumbel.steps").set_value(50)
    at.select_slider(key="gumbel.batch_size").set_value(16)
    at.select_slider(key="gumbel.channels").set_value(8)
    at.run()
    train_until(at, is_done, timeout=90)
    labels = [m.label for m in at.metric]
    assert "Softmax test accuracy" in labels and "Gumbel test accuracy" in labels
    assert "Held-out accuracy" in " | ".join(chart_titles(at))


def test_vae_lab_trains_and_switches_a_variable(clean_streamlit):
    at = open_page("gumbel")
    at.get("button_group")[0].set_value("vae").run()
    at.run()
    assert not at.exception, at.exception
    at.slider(key="gumbel_vae.n_latents").set_value(6)
    at.slider(key="gumbel_vae.n_classes").set_value(4)
    at.select_slider(key="gumbel_vae.steps").set_value(50)
    at.select_slider(key="gumbel_vae.hidden").set_value(64)
    at.run()
    train_until(at, is_done, timeout=90)
    assert "−ELBO" in " | ".join(chart_titles(at))
    at.slider(key="gumbel_vae.switch_var").set_value(3).run()
    assert not at.exception, at.exception
    captions = " ".join(c for i in at.get("image") for c in i.captions)
    assert "variable 3" in captions, captions


def test_hostile_link_values_get_a_notice(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"tau": "0", "steps": "<script>", "lab": "nope"})
    at.run()
    at.switch_page(page("gumbel").file)
    at.run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "tau" in warnings and "steps" in warnings
