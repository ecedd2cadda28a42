"""The playground trainer learns, and its "Show code" script reproduces the run exactly."""

import subprocess
import sys

import numpy as np
import pytest

from core.foundations import playground as pg


def run(cfg: pg.PlaygroundConfig):
    return list(pg.train(cfg))


def test_circle_reaches_95_percent_within_2000_steps():
    snaps = run(pg.PlaygroundConfig(dataset="circle", steps=2000, seed=0))
    assert snaps[-1].final and snaps[-1].step == 2000
    assert snaps[-1].metrics["test_acc"] >= 0.95
    assert snaps[-1].metrics["test_loss"] < snaps[0].metrics["test_loss"] / 5


def test_spiral_with_features_beats_chance_by_a_margin():
    cfg = pg.PlaygroundConfig(dataset="spiral", hidden="8,8", sinx1=True, sinx2=True,
                              steps=1500, seed=1)
    assert run(cfg)[-1].metrics["test_acc"] >= 0.8


def test_multiclass_and_regression():
    snaps = run(pg.PlaygroundConfig(dataset="gaussians", n_classes=4, steps=600))
    assert snaps[-1].metrics["test_acc"] >= 0.85  # chance is 0.25
    reg = run(pg.PlaygroundConfig(dataset="plane", steps=600))
    assert "test_acc" not in reg[-1].metrics
    assert reg[-1].metrics["test_loss"] < reg[0].metrics["test_loss"] / 10


def test_artifacts_have_the_documented_shapes():
    cfg = pg.PlaygroundConfig(hidden="3,2", steps=20)
    last = run(cfg)[-1]
    assert last.artifacts["output"].shape == (pg.GRID, pg.GRID)
    assert last.artifacts["neurons"].shape == (5, pg.NEURON_GRID, pg.NEURON_GRID)
    assert last.model is not None and not last.model.training


def test_dropout_batchnorm_and_regularization_still_learn():
    cfg = pg.PlaygroundConfig(dataset="moons", batch_norm=True, dropout=0.1,
                              regularization="L2", reg_rate=0.001, steps=800, activation="relu")
    assert run(cfg)[-1].metrics["test_acc"] >= 0.9


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="1 to 6 hidden layers"):
        pg.PlaygroundConfig(hidden="9,9")
    with pytest.raises(ValueError, match="at least one input feature"):
        pg.PlaygroundConfig(x1=False, x2=False)


@pytest.mark.parametrize("text, message", [
    ("1,2,0\n3,4\n", "row 2 has 2 columns"),
    ("1,2,0\n3,4,0.5\n1,1,1\n2,2,1\n", "label must be an integer"),
    ("1,2,0\nfoo,bar,baz\n", "not numeric"),
])
def test_bad_csv_points_raise_clear_errors(text, message):
    with pytest.raises(ValueError, match=message):
        pg.parse_points_csv(text)


def test_custom_csv_points_are_rescaled_and_learnable():
    rng = np.random.default_rng(0)
    a = rng.normal([100, 100], 5, (40, 2))
    b = rng.normal([140, 140], 5, (40, 2))
    rows = ["x1,x2,label"] + [f"{x},{y},0" for x, y in a] + [f"{x},{y},1" for x, y in b]
    X, y = pg.parse_points_csv("\n".join(rows))
    assert np.abs(X).max() <= pg.EXTENT and len(X) == 80
    cfg = pg.PlaygroundConfig(dataset="custom", csv="\n".join(rows), steps=300)
    assert run(cfg)[-1].metrics["test_acc"] >= 0.95


@pytest.mark.parametrize("cfg", [
    pg.PlaygroundConfig(steps=150),
    pg.PlaygroundConfig(dataset="plane", hidden="3,3", batch_norm=True, dropout=0.2,
                        regularization="L1", reg_rate=0.001, optimizer="sgd", lr=0.01, steps=100),
])
def test_show_code_reproduces_the_run(tmp_path, cfg):
    last = run(cfg)[-1]
    script = tmp_path / "run.py"
    script.write_text(pg.to_python(cfg))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    printed = float(out.stdout.split("test loss ")[1].split()[0])
    assert printed == pytest.approx(last.metrics["test_loss"], abs=2e-6)


def test_huge_csv_coordinates_are_rescaled_not_turned_into_nan():
    import numpy as np

    from core.foundations.playground import parse_points_csv

    X, y = parse_points_csv("x1,x2,label\n1e308,-1e308,0\n-1e308,1e308,1\n0,0,0\n1,1,1\n")
    assert np.isfinite(X).all() and np.abs(X).max() <= 6 and list(y) == [0, 1, 0, 1]


def test_neuron_image_puts_each_layer_in_its_column_on_its_own_scale():
    g = pg.NEURON_GRID
    neurons = np.zeros((3, g, g), dtype=np.float32)
    neurons[0, :g // 2] = 5.0  # layer 1, neuron 1: positive in the top half (+x2)
    neurons[1, :, :] = -0.01  # layer 1, neuron 2: small but negative everywhere
    neurons[2, :, g // 2:] = 1.0  # layer 2, neuron 1: positive on the right (+x1)
    img = pg.neuron_image(neurons, [2, 1], scale=1)
    t = img.shape[0] - (2 * (g + 2) + 2)  # the strip of layer titles on top
    assert img.shape == (t + 2 * (g + 2) + 2, 2 * (g + 2) + 2, 3) and t >= 10
    header = img[:t]
    ink = [(header[:, 2 + c * (g + 2):2 + c * (g + 2) + g] < 200).any() for c in range(2)]
    assert ink == [True, True]  # a title over each layer's column

    def tile(r: int, c: int) -> np.ndarray:
        return img[t + 2 + r * (g + 2):t + 2 + r * (g + 2) + g,
                   2 + c * (g + 2):2 + c * (g + 2) + g]

    orange, blue = np.array([255, 127, 14]), np.array([31, 119, 180])
    assert np.abs(tile(0, 0)[0, 0] - orange).max() <= 1  # top row of the map stays on top
    assert (tile(0, 0)[-1, 0] == 255).all()  # zero is white
    assert np.abs(tile(1, 0)[5, 5] - blue).max() <= 1  # -0.01 at full blue: its own scale
    assert np.abs(tile(0, 1)[0, -1] - orange).max() <= 1 and (tile(0, 1)[0, 0] == 255).all()
    assert (tile(1, 1) == 255).all()  # layer 2 has one neuron: the second tile is empty
    with pytest.raises(ValueError, match="needs 3 maps"):
        pg.neuron_image(neurons[:2], [2, 1])
