"""AppTest: /gumbel draws the sampling and gradient panels, trains the classifier lab and the
categorical VAE lab, and shrugs off a hostile link."""

from tests.apptest_util import assert_says, chart_titles, open_link, open_page, set_controls, train_until


def test_sampling_gradient_panels_and_classifier_train(clean_streamlit):
    at = open_page("gumbel")
    titles = " | ".join(chart_titles(at))
    for t in ("Class frequencies", "Relaxed samples on the simplex", "Bias", "Variance"):
        assert t in titles, titles
    assert at.get("image"), "test digits are previewed before any run"
    set_controls(at, {"gumbel.k": 5})
    assert "12 soft samples" in " | ".join(chart_titles(at))
    set_controls(at, {"gumbel.tau_view": 0.001})
    set_controls(at, {"gumbel.steps": 50, "gumbel.batch_size": 16, "gumbel.channels": 8})
    train_until(at, timeout=90)
    labels = [m.label for m in at.metric]
    assert "Softmax test accuracy" in labels and "Gumbel test accuracy" in labels
    assert "Held-out accuracy" in " | ".join(chart_titles(at))


def test_vae_lab_trains_and_switches_a_variable(clean_streamlit):
    at = open_page("gumbel")
    at.get("button_group")[0].set_value("vae").run()
    at.run()
    assert not at.exception, at.exception
    set_controls(at, {"gumbel_vae.n_latents": 6, "gumbel_vae.n_classes": 4,
                      "gumbel_vae.steps": 50, "gumbel_vae.hidden": 64})
    train_until(at, timeout=90)
    assert "−ELBO" in " | ".join(chart_titles(at))
    set_controls(at, {"gumbel_vae.switch_var": 3})
    captions = " ".join(c for i in at.get("image") for c in i.captions)
    assert "variable 3" in captions, captions


def test_hostile_link_values_get_a_notice(clean_streamlit):
    at = open_link("gumbel", {"tau": "0", "steps": "<script>", "lab": "nope"})
    assert_says(at.warning, "tau", "steps")
