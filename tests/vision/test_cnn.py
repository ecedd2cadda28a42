"""The CNN trainer: it beats an MLP of equal size on translated digits, its shape table matches
PyTorch, the formula view reproduces the forward pass, and bad uploads get a plain message."""

import io

import numpy as np
import pytest
import torch

from core.blocks.images import random_shift
from core.data.translated import translated_digits
from core.vision import cnn


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train on one thread: on a shared, busy machine two spinning OpenMP threads cost five
    times the CPU time of one (the engine decides threads for the app, not the trainer)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(one_thread):
    """One short run of the default architecture on translated digits (fixed seed)."""
    cfg = cnn.CnnConfig(epochs=2, seed=0)
    return cfg, list(cnn.train(cfg))


def test_cnn_beats_the_equal_size_mlp_on_translated_digits(run):
    cfg, snaps = run
    last = snaps[-1]
    assert last.final and last.step == last.total_steps == 2 * 63
    m = last.metrics
    assert m["test_acc"] >= 0.6  # chance is 0.1
    assert m["test_acc"] >= m["mlp_test_acc"] + 0.2, m
    assert m["test_loss"] < snaps[0].metrics["test_loss"] - 0.8
    p, q = last.artifacts["params"], last.artifacts["mlp_params"]
    assert abs(p - q) / p < 0.1, (p, q)  # "equal size": parameter counts within 10%


def test_live_artifacts_have_the_documented_shapes(run):
    cfg, snaps = run
    art = snaps[-1].artifacts
    assert [f["epoch"] for f in art["film"]] == [0, 1, 2]
    assert len(art["maps"]) == 10 and len(art["maps"][0]) == cfg.n_layers
    assert art["maps"][0][0].dtype == np.uint8 and art["filters"].dtype == np.uint8
    assert list(art["probe_labels"]) == list(range(10))
    rep = art["report"]
    assert rep["confusion"].shape == (10, 10) and rep["confusion"].sum() == 1000
    assert rep["f1"].shape == (10,) and rep["f1"].mean() > 0.5
    recall = np.diag(rep["confusion"]) / rep["confusion"].sum(1)
    assert np.allclose(recall, rep["recall"], atol=1e-6)
    wrong = art["wrong"]
    assert len(wrong) == cnn.N_WRONG
    confs = [w["top3"][0][1] for w in wrong]
    assert confs == sorted(confs, reverse=True) and all(w["top3"][0][0] != w["label"]
                                                        for w in wrong)
    att = art["attributions"]
    assert att["gradcam"].shape == (10, 40, 40) and att["gradcam"].min() >= 0
    assert att["gradcam"].max() <= 1 + 1e-6 and att["saliency"].shape == (10, 40, 40)
    assert snaps[-1].model is not None and not snaps[-1].model.training
    assert snaps[0].step == 0 and "loss" not in snaps[0].metrics  # the untrained network


def test_shape_table_follows_the_formula_and_pytorch():
    cfg = cnn.CnnConfig(n_layers=2, channels=8, kernel_size=3, padding=1, stride=1)
    rows = cnn.layer_plan(cfg, (1, 40, 40))
    shapes = {r.layer: r.shape for r in rows}
    assert shapes["conv 1"] == (8, 40, 40) and shapes["max pool 1"] == (8, 20, 20)
    assert shapes["conv 2"] == (16, 20, 20) and shapes["max pool 2"] == (16, 10, 10)
    assert [r.receptive_field for r in rows] == [1, 3, 4, 8, 10, 10]
    assert rows[1].formula == "(40 + 2·1 − 3)/1 + 1 = 40"
    model, _ = cnn.build_models(cfg, (1, 40, 40), 10)
    assert cnn.plan_params(rows) == cnn.count_params(model)
    odd = cnn.CnnConfig(n_layers=1, kernel_size=3, padding=0, stride=2, pooling="none",
                        batch_norm=True)
    rows = cnn.layer_plan(odd, (1, 40, 40))
    assert rows[1].shape == (8, 19, 19) and rows[1].level == "warning"
    assert "not an integer" in rows[1].message and "19.5" in rows[1].formula
    model, _ = cnn.build_models(odd, (1, 40, 40), 10)
    assert model.trunk(torch.zeros(1, 1, 40, 40)).shape == (1, 8, 19, 19)
    assert cnn.plan_params(rows) == cnn.count_params(model)


def test_a_vanishing_map_is_refused_with_a_plain_message():
    with pytest.raises(ValueError, match="map vanishes"):
        cnn.CnnConfig(dataset="mnist", n_layers=4, kernel_size=7, padding=0)
    rows = cnn.layer_plan(cnn.CnnConfig(), (1, 40, 40))  # default: no problem
    assert cnn.plan_problems(rows) == []
    big = cnn.CnnConfig.__new__(cnn.CnnConfig)  # skip __post_init__ to reach the trainer check
    object.__setattr__(big, "__dict__", {**cnn.CnnConfig().__dict__, "n_layers": 4,
                                         "kernel_size": 9, "padding": 0})
    with pytest.raises(ValueError, match="map vanishes"):
        cnn.build_models(big, (1, 28, 28), 10)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_formula_view_reproduces_the_forward_pass(batch_norm):
    torch.manual_seed(0)
    cfg = cnn.CnnConfig(batch_norm=batch_norm, activation="tanh", stride=2, padding=2,
                        kernel_size=5)
    model, _ = cnn.build_models(cfg, (1, 40, 40), 10)
    if batch_norm:  # non-trivial running statistics
        model.train()
        model(torch.rand(32, 1, 40, 40))
    model.eval()
    x = translated_digits("test").x[0]
    for layer, ch, r, c in [(0, 3, 0, 0), (0, 7, 10, 5), (1, 15, 2, 3)]:
        f = cnn.unit_formula(model, x, layer, ch, r, c)
        assert f["a"] == pytest.approx(f["check"], abs=1e-5)
        assert f["z"] == pytest.approx(float(f["products"].sum()) + f["bias"], abs=1e-6)
        assert f["window"].shape == f["kernel"].shape == (1 if layer == 0 else 8, 5, 5)
    f = cnn.unit_formula(model, x, 0, 0, 0, 0)
    assert f["in_rows"] == -2 and np.all(f["window"][:, :2] == 0)  # the padding is zeros
    with pytest.raises(ValueError, match="outside"):
        cnn.unit_formula(model, x, 0, 0, 99, 0)
    with pytest.raises(ValueError, match="does not exist"):
        cnn.unit_formula(model, x, 5, 0, 0, 0)


def _png(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_uploads_are_validated_and_prepared_like_mnist():
    digit = np.full((120, 90), 255, np.uint8)
    digit[20:100, 40:52] = 0  # a dark "1" on white paper
    x = cnn.read_upload(_png(digit), (1, 40, 40))
    assert x.shape == (1, 1, 40, 40) and x.max() == pytest.approx(1.0)
    assert x[0, 0, :6].sum() == 0 and x[0, 0, 20, 20] > 0.5  # inverted, centred, 20 px tall
    assert cnn.read_upload(_png(digit, "JPEG"), (1, 28, 28)).shape == (1, 1, 28, 28)
    rgb = np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    assert cnn.read_upload(_png(rgb), (3, 32, 32)).shape == (1, 3, 32, 32)
    noisy = _png(rgb)
    cases = [(b"", "empty"), (b"hello, not an image", "not a PNG or JPEG"),
             (_png(digit, "GIF"), "GIF image"), (_png(digit[:5, :5]), "between 8 and"),
             (_png(np.full((30, 30), 255, np.uint8)), "blank"),
             (b"\x89PNG" + b"0" * (cnn.MAX_UPLOAD_BYTES + 1), "at most 2 MB"),
             (noisy[:len(noisy) // 2], "could not be decoded")]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            cnn.read_upload(data, (1, 40, 40))


def test_translated_digits_are_real_digits_at_fixed_random_places():
    tr, te = translated_digits("train"), translated_digits("test")
    assert tr.x.shape == (4000, 1, 40, 40) and te.x.shape == (1000, 1, 40, 40)
    assert translated_digits("train") is tr  # cached, fixed seed
    again = translated_digits("train", seed=1)
    assert not torch.equal(again.x, tr.x) and torch.equal(again.y, tr.y)
    from core.data import load_images

    src = load_images("mnist", "train")
    assert torch.allclose(tr.x.sum((1, 2, 3)), src.x.sum((1, 2, 3)))  # the whole digit is kept
    offsets = tr.meta["offsets"]
    assert offsets.min() == 0 and offsets.max() == 12 and len(np.unique(offsets[:, 0])) == 13
    with pytest.raises(ValueError, match="canvas"):
        translated_digits("train", canvas=20)


def test_offline_cifar_falls_back_with_a_note_and_still_trains():
    cfg = cnn.CnnConfig(dataset="cifar10", epochs=1, n_train=1000, baseline=False)
    snaps = list(cnn.train(cfg))
    art = snaps[-1].artifacts
    assert art["note"] and "not available" in art["note"] and art["dataset"] == "mnist"
    assert "mlp_test_acc" not in snaps[-1].metrics and snaps[-1].metrics["test_acc"] > 0.3


def test_shift_augmentation_and_optimizers():
    g = torch.Generator().manual_seed(0)
    x = translated_digits("test").x[:8]
    y = random_shift(x, 3, g)
    assert y.shape == x.shape and not torch.equal(x, y)
    cfg = cnn.CnnConfig(optimizer="adadelta", lr=1.0, augment=2, epochs=1, n_train=1000,
                        dataset="mnist", pooling="avg", batch_norm=True, dropout=0.2)
    assert list(cnn.train(cfg))[-1].metrics["test_acc"] > 0.5


def digit_zip(digits=(0, 1, 7), per_class: int = 30) -> bytes:
    """A zip of real MNIST test digits as PNG files, one folder per class (``seven/3.png``)."""
    import zipfile

    from PIL import Image

    from core.data import load_images

    te = load_images("mnist", "test")
    names = {0: "zero", 1: "one", 7: "seven"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for d in digits:
            for j, i in enumerate((te.y == d).nonzero().flatten()[:per_class].tolist()):
                png = io.BytesIO()
                Image.fromarray((te.x[i, 0].numpy() * 255).astype(np.uint8)).save(png, "PNG")
                z.writestr(f"digits/{names.get(d, str(d))}/{j}.png", png.getvalue())
    return buf.getvalue()


def test_an_image_zip_trains_the_cnn(monkeypatch, tmp_path):
    """Your own images: a zip of three classes trains well above chance (1/3), the held-out
    share is per class and fixed by the seed, and a missing upload is refused in words."""
    from core.data.uploads import read_image_zip, split_upload, store_upload

    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    data = read_image_zip(digit_zip(), size=cnn.UPLOAD_SIZE, channels=3)
    upload_id = store_upload(data)
    tr, te = split_upload(data, cnn.TEST_SHARE, seed=0)
    assert len(te) == 18 and len(tr) == 72 and te.y.bincount().tolist() == [6, 6, 6]
    assert split_upload(data, cnn.TEST_SHARE, seed=0)[1].x.equal(te.x)
    cfg = cnn.CnnConfig(dataset="upload", upload=upload_id, epochs=12, batch_size=16,
                        baseline=False, seed=0)
    snaps = list(cnn.train(cfg))
    m, art = snaps[-1].metrics, snaps[-1].artifacts
    assert art["classes"] == ["one", "seven", "zero"] and art["probes"].shape[1:] == (3, 32, 32)
    assert m["test_acc"] >= 0.8, m
    assert m["test_loss"] < snaps[0].metrics["test_loss"] - 0.3
    with pytest.raises(ValueError, match="upload a zip"):
        cnn.CnnConfig(dataset="upload")
