"""Core tests for core/graphs/gnn/ and core/data/graphs.py (fixed seeds, offline)."""

import shutil

import numpy as np
import pytest
import torch

from core.data.graphs import load_graph, sbm_graph
from core.graphs.gnn import (
    GnnConfig,
    GraphClsConfig,
    NodeGNN,
    SAGELayer,
    make_graph,
    neighbour_contributions,
    neighbourhood,
    sample_nodes,
    sparse_features,
    subgraph_layout,
    train,
    train_depth,
    train_graphs,
)
from tests.conftest import shared_data


def _last(gen):
    *_, snap = gen
    return snap


def _unlabelled_acc(cfg: GnnConfig) -> float:
    snap = _last(train(cfg))
    d = make_graph(cfg)
    un = ~d.train_mask.numpy()
    return float((snap.artifacts["pred"][un] == d.y.numpy()[un]).mean())


def test_karate_gcn_beats_mlp_with_one_label_per_class():
    base = dict(dataset="karate", labels_per_class=1, epochs=100, seed=0)
    gcn = _unlabelled_acc(GnnConfig(model="gcn", **base))
    mlp = _unlabelled_acc(GnnConfig(model="mlp", **base))
    assert gcn >= mlp + 0.2, (gcn, mlp)
    assert gcn >= 0.6


def test_snapshots_per_epoch_with_accuracies_and_loss_falls():
    snaps = list(train(GnnConfig(dataset="karate", epochs=40, lr=0.05)))
    assert [s.step for s in snaps] == list(range(1, 41))
    assert {"loss", "train_acc", "val_acc", "test_acc"} <= set(snaps[-1].metrics)
    assert snaps[-1].metrics["loss"] < 0.5 * snaps[0].metrics["loss"]
    assert snaps[-1].final and snaps[-1].model is not None
    assert snaps[-1].artifacts["embedding"].shape == (34, 2)


@pytest.fixture(scope="module")
def cora_root(tmp_path_factory):
    src = shared_data()
    if src is None or not (src / "Cora" / "raw").is_dir():
        pytest.skip("../shared/data/Cora is not present")
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(src / "Cora", root / "Planetoid" / "Cora")
    return root


def test_cora_gcn_paper_settings_reach_79_percent(cora_root, monkeypatch):
    monkeypatch.setenv("LIVEPROP_DATA", str(cora_root))
    cfg = GnnConfig(dataset="cora", model="gcn", n_layers=2, hidden=16, dropout=0.5, lr=0.01,
                    weight_decay=5e-4, epochs=200, seed=0)
    d = make_graph(cfg)
    assert d.note == "" and d.num_nodes == 2708 and int(d.train_mask.sum()) == 140
    snap = _last(train(cfg))
    assert snap.metrics["test_acc"] >= 0.79, snap.metrics


def test_sparse_first_layer_matches_dense(cora_root, monkeypatch):
    monkeypatch.setenv("LIVEPROP_DATA", str(cora_root))
    d = make_graph(GnnConfig(dataset="cora"))
    xs = sparse_features(d.x)
    assert xs.layout == torch.sparse_csr
    for kind in ("gcn", "sage", "gat", "mlp"):
        torch.manual_seed(0)
        m = NodeGNN(kind, d.num_features, 8, 7, 2, n_heads=2, dropout=0.5).eval()
        grads = []
        for x in (d.x, xs):
            m.zero_grad()
            out = m(x, d.edge_index)
            out.square().sum().backward()
            grads.append([p.grad.clone() for p in m.parameters()])
        assert torch.allclose(m(d.x, d.edge_index), m(xs, d.edge_index), atol=1e-5)
        for a, b in zip(*grads):
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-5), kind


def test_sage_layer_is_pyg_sageconv():
    """Our GraphSAGE layer (project, then average: it takes sparse input) gives SAGEConv's
    weights for a seed and SAGEConv's output."""
    from torch_geometric.nn import SAGEConv

    d = make_graph(GnnConfig(dataset="karate"))
    torch.manual_seed(3)
    ref = SAGEConv(d.num_features, 5)
    torch.manual_seed(3)
    ours = SAGELayer(d.num_features, 5)
    assert torch.equal(ours.lin_l.weight, ref.lin_l.weight)
    assert torch.equal(ours.lin_r.weight, ref.lin_r.weight)
    x = torch.randn(d.num_nodes, d.num_features)
    assert torch.allclose(ours(x, d.edge_index), ref(x, d.edge_index), atol=1e-5)


def test_message_passing_coefficients():
    cfg = GnnConfig(dataset="karate", epochs=5)
    d = make_graph(cfg)
    deg = torch.bincount(d.edge_index[1], minlength=d.num_nodes).float() + 1  # with self-loop
    m = NodeGNN("gcn", d.num_features, 8, 4, 2).eval()
    r = neighbour_contributions(m, d, 0, layer=0)
    assert r["neighbours"][0] == 0 and len(r["neighbours"]) == int(deg[0])
    want = 1 / torch.sqrt(deg[0] * deg[torch.as_tensor(r["neighbours"])])
    np.testing.assert_allclose(r["coef"], want.numpy(), rtol=1e-5)
    # contribution = ||coef * W h_j||: the self-loop's message is coef * (W h_0)
    from torch_geometric.nn import GCNConv

    lone = GCNConv(d.num_features, 8)  # the same weights, on node 0 alone: W h_0 + b
    lone.load_state_dict(m.convs[0].state_dict())
    wh0 = (lone(d.x[:1], torch.empty(2, 0, dtype=torch.long)) - lone.bias).detach()
    np.testing.assert_allclose(r["contribution"][0], float(wh0.norm() / deg[0]), rtol=1e-4)
    g = NodeGNN("gat", d.num_features, 4, 4, 2, n_heads=3).eval()
    r = neighbour_contributions(g, d, 5, layer=1)
    np.testing.assert_allclose(r["coef"].sum(), 1.0, rtol=1e-5)  # softmax over neighbours
    assert r["head_coef"].shape == (len(r["neighbours"]), 1) and r["neighbours"][0] == 5
    _, (ei_att, alpha) = g.convs[0](d.x, d.edge_index, return_attention_weights=True)
    r0 = neighbour_contributions(g, d, 5, layer=0)
    sel = ei_att[1] == 5
    assert r0["head_coef"].shape == (int(sel.sum()), 3)
    np.testing.assert_allclose(sorted(r0["coef"]), sorted(alpha[sel].mean(1).detach().numpy()),
                               rtol=1e-5)
    s = NodeGNN("sage", d.num_features, 4, 4, 2).eval()
    r = neighbour_contributions(s, d, 0, layer=0)
    n_nb = int((d.edge_index[1] == 0).sum())
    assert len(r["neighbours"]) == n_nb + 1 and r["coef"][0] == 1.0
    np.testing.assert_allclose(r["coef"][1:], 1 / n_nb)
    with pytest.raises(ValueError):
        neighbour_contributions(m, d, 99, layer=0)


def test_old_link_keys_still_set_the_renamed_fields():
    from core.protocol import config_from_strings

    cfg = config_from_strings(GnnConfig, {"layers": "3", "heads": "2"})
    assert (cfg.n_layers, cfg.n_heads) == (3, 2)
    assert config_from_strings(GraphClsConfig, {"layers": "5"}).n_layers == 5


def test_drawn_nodes_and_neighbourhoods():
    d = make_graph(GnnConfig(dataset="sbm", sbm_nodes=600, avg_degree=4.0))
    nodes = sample_nodes(d, max_nodes=100, seed=0)
    assert len(nodes) == 100 and (np.diff(nodes) > 0).all()
    edges, xy = subgraph_layout(d, nodes)
    assert xy.shape == (100, 2) and edges.max() < 100
    pairs = {(int(a), int(b)) for a, b in d.edge_index.T}
    assert all((int(nodes[a]), int(nodes[b])) in pairs for a, b in edges)
    small = make_graph(GnnConfig(dataset="karate"))
    assert list(sample_nodes(small)) == list(range(34))
    sub, hops = neighbourhood(small, 0, 2)
    assert hops == 2 and 0 in sub and len(sub) > 17  # node 0 has 16 neighbours
    sub1, hops = neighbourhood(small, 0, 2, max_nodes=20)
    assert hops == 1 and len(sub1) == 17


def test_graph_loading_fallback_and_sbm_homophily():
    d = load_graph("citeseer")  # offline in tests, and no CiteSeer files
    assert d.note and "CiteSeer" in d.note and d.name == "sbm" and d.num_classes == 6
    with pytest.raises(ValueError):
        load_graph("reddit")
    for h in (0.2, 0.9):
        g = sbm_graph(n_nodes=400, n_classes=4, avg_degree=8, homophily=h, seed=1)
        same = (g.y[g.edge_index[0]] == g.y[g.edge_index[1]]).float().mean().item()
        assert abs(same - h) < 0.06, (h, same)


def test_oversmoothing_features_collapse_with_depth():
    snaps = list(train_depth(GnnConfig(dataset="karate", epochs=20, labels_per_class=2)))
    by_depth = {s.step: s.metrics for s in snaps if not s.heartbeat}
    assert set(by_depth) == {1, 2, 3, 4, 6, 8}
    assert by_depth[8]["mad_untrained"] < 0.5 * by_depth[1]["mad_untrained"]


def test_the_depth_sweep_yields_heartbeats_within_a_long_depth(monkeypatch):
    """A depth that trains for a long time still yields at least every ~0.5 s (Stop and the
    server's budgets act on yields), with the fraction of the whole sweep done."""
    import time

    from core.graphs.gnn import node_classification

    real_fit = node_classification.fit

    def slow_fit(cfg, data, device):
        for e in real_fit(cfg, data, device):
            time.sleep(0.02)
            yield e

    monkeypatch.setattr(node_classification, "fit", slow_fit)
    gen = train_depth(GnnConfig(dataset="karate", epochs=100, patience=0, labels_per_class=2))
    t0, beats = time.time(), []
    for snap in gen:
        if snap.heartbeat:
            beats.append((time.time() - t0, snap.step / snap.total_steps, snap.phase))
        if len(beats) >= 3:
            break
    gen.close()
    assert len(beats) == 3 and beats[0][0] < 2.0, beats
    assert 0 < beats[0][1] < beats[2][1] < 1 and "1 layers: epoch" in beats[0][2]


def test_graph_classification_learns_cycles():
    snap = _last(train_graphs(GraphClsConfig(model="gin", pooling="mean", epochs=8)))
    assert snap.artifacts["note"] == ""
    assert snap.metrics["test_acc"] >= 0.8, snap.metrics
    mutag = _last(train_graphs(GraphClsConfig(dataset="mutag", epochs=1)))
    assert "MUTAG" in mutag.artifacts["note"]  # offline: falls back with a note


def test_early_stopping_selects_on_validation():
    from core.graphs.gnn import ModelSelection

    sel = ModelSelection(patience=2)
    assert not sel.update(1, val_acc=0.5, val_loss=1.0, test_acc=0.4)
    assert not sel.update(2, val_acc=0.6, val_loss=0.9, test_acc=0.55)  # both better: selected
    assert not sel.update(3, val_acc=0.7, val_loss=0.95, test_acc=0.9)  # acc only: not selected
    assert not sel.update(4, val_acc=0.6, val_loss=0.99, test_acc=0.2)  # neither: wait 1
    assert sel.update(5, val_acc=0.6, val_loss=0.99, test_acc=0.2)  # wait 2 = patience: stop
    assert (sel.selected_epoch, sel.selected_test) == (2, 0.55)
    snaps = list(train(GnnConfig(dataset="karate", epochs=400, lr=0.05, patience=20)))
    assert snaps[-1].final and snaps[-1].step < 400, "patience ends the run early"
    m = snaps[-1].metrics
    assert 1 <= m["selected_epoch"] <= snaps[-1].step and 0.0 <= m["best_val_test_acc"] <= 1.0
    assert snaps[-1].artifacts["hidden"].shape == (34, 16)
