"""Tensor mechanics: broadcasting reports, views and strides, the (N,) target bug, matmul."""

import numpy as np
import pytest
import torch

from core.foundations import tensors as tn


def test_broadcast_aligns_from_the_right_and_expands_with_stride_zero():
    r = tn.broadcast((3, 1), (4,), "+")
    assert not r.error and tuple(r.result.shape) == (3, 4)
    assert [row["result"] for row in r.rows] == [3, 4]
    assert r.rows[0]["b"] is None and "stretched" in r.rows[0]["rule"]
    assert r.a_view.stride() == (1, 0) and r.b_view.stride() == (0, 1)
    assert r.a_view.untyped_storage().data_ptr() == r.a.untyped_storage().data_ptr()  # no copy
    torch.testing.assert_close(r.result, r.a + r.b)
    mask = tn.copies_mask((3, 1), (3, 4))
    assert mask[:, 0].all() and not mask[:, 1:].any()


def test_broadcast_mismatch_reports_torchs_own_error():
    r = tn.broadcast((2, 3), (4, 3), "*")
    assert r.result is None
    assert r.error == ("The size of tensor a (2) must match the size of tensor b (4) at "
                       "non-singleton dimension 0")
    assert r.rows[0]["result"] is None and "mismatch" in r.rows[0]["rule"]


@pytest.mark.parametrize("text,msg", [("3,a", "separated by commas"), ("1,2,3,4,5,6", "at most 5"),
                                      ("100", "at most 64"), ("64,64,64", "elements")])
def test_bad_shapes_get_one_sentence(text, msg):
    with pytest.raises(ValueError, match=msg):
        tn.parse_shape(text)


def test_shapes_parse_in_common_spellings():
    assert tn.parse_shape("(3, 1)") == tn.parse_shape("3x1") == tn.parse_shape("[3 1]") == (3, 1)
    assert tn.parse_shape("") == ()


def test_views_share_storage_and_copies_do_not():
    x, rows = tn.view_table(3, 4)
    info = {r.key: r for r in rows}
    assert info["t"].stride == (1, 4) and info["t"].shares and not info["t"].contiguous
    assert info["view"].shares and info["row"].offset == 4
    assert not info["contiguous"].shares and info["contiguous"].contiguous
    assert not info["t_reshape"].shares  # reshape of a non-contiguous tensor copies
    assert "view size is not compatible" in info["t_view"].error
    assert info["unsqueeze0"].stride == (12, 4, 1)


def test_trace_element_reads_the_storage_at_the_computed_offset():
    x, rows = tn.view_table(3, 4)
    for r in rows:
        if r.tensor is None or r.tensor.dim() == 0:
            continue
        idx = tuple(s - 1 for s in r.tensor.shape)
        t = tn.trace_element(r.tensor, idx)
        assert t["value"] == t["direct"], r.code
    cols = next(r for r in rows if r.key == "cols").tensor
    assert tn.trace_element(cols, (1, 1))["formula"] == "1 + 1·4 + 1·1 = 6"
    with pytest.raises(ValueError):
        tn.trace_element(cols, (3, 0))


def test_targets_of_shape_n_fail_to_recover_the_weights_while_n_1_does():
    cfg = tn.BroadcastBugConfig(n_points=48, true_w=2.0, true_b=1.0, steps=150, seed=0)
    snaps = list(tn.train_broadcast_bug(cfg))
    m = snaps[-1].metrics
    assert abs(m["w_right"] - 2.0) < 0.15 and abs(m["b_right"] - 1.0) < 0.15
    assert abs(m["w_wrong"]) < 0.2  # the (N, N) loss pulls w to 0 ...
    assert abs(m["w_wrong"] - 2.0) > 1.5
    assert m["mse_wrong"] > 10 * m["loss_right"]
    y = snaps[-1].artifacts["y"]
    assert abs(m["b_wrong"] - y.mean()) < 0.15  # ... and b to the mean target
    art = snaps[-1].artifacts
    assert art["diff_matrix"].shape == (24, 24) and art["diff_right"].shape == (24, 1)
    assert "different to the input size" in art["warning"]


def test_matmul_measures_every_size_in_bounded_time():
    snaps = list(tn.train_matmul(tn.MatmulConfig(max_size=256, seconds=0.1, device="cpu")))
    assert [s.metrics["n"] for s in snaps] == [32, 64, 128, 256]
    assert all(s.metrics["gflops_cpu"] > 0 for s in snaps)
    assert snaps[-1].final and snaps[-1].time_s < 20
    info = snaps[-1].artifacts["machine"]
    assert info["cores"] >= 1 and info["threads"] >= 1
    assert np.isfinite(tn.gflops(64, torch.device("cpu"), torch.float64, 0.05))
