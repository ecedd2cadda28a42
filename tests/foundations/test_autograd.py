"""The autograd engine: whitelist parser, gradients vs torch.autograd, pitfalls, nn.Module."""

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.foundations import autograd as ag


def test_micrograd_readme_example():
    program = ag.parse_program(ag.MICROGRAD_EXAMPLE)
    assert program.inputs == ("a", "b") and program.defaults == {"a": -4.0, "b": 2.0}
    g = ag.build_graph(program, {})
    assert g.output.data == pytest.approx(24.7041, abs=1e-4)
    assert g.inputs["a"].grad == pytest.approx(138.8338, abs=1e-4)
    assert g.inputs["b"].grad == pytest.approx(645.5773, abs=1e-4)
    for row in ag.check_gradients(program, {}):
        assert row["engine"] == pytest.approx(row["torch.autograd"], rel=1e-12)
        assert row["engine"] == pytest.approx(row["finite differences"], rel=1e-6)


def test_engine_api_matches_micrograd_style_code():
    a, b = ag.Value(-4.0, label="a"), ag.Value(2.0, label="b")
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    ag.backward(g)
    assert (round(g.data, 4), round(a.grad, 4), round(b.grad, 4)) == (24.7041, 138.8338, 645.5773)


def _expr(depth: int):
    leaf = st.sampled_from(["x", "y", "z", "0.5", "2", "1.5"])
    if depth == 0:
        return leaf
    sub = _expr(depth - 1)
    binary = st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})")
    divide = st.tuples(sub, sub).map(lambda t: f"({t[0]} / (1 + {t[1]}**2))")
    power = st.tuples(sub, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})**{t[1]}")
    func = st.tuples(st.sampled_from(["exp", "tanh", "sin", "relu", "sigmoid"]), sub).map(
        lambda t: f"{t[0]}({t[1]})")
    log = sub.map(lambda s: f"log(1 + ({s})**2)")
    return st.one_of(leaf, binary, divide, power, func, log)


finite = st.floats(-2, 2, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_expr(3), x=finite, y=finite, z=finite)
def test_engine_gradients_equal_torch_autograd_on_random_expressions(text, x, y, z):
    program = ag.parse_program(text)
    values = {"x": x, "y": y, "z": z}
    try:
        g = ag.build_graph(program, values)
    except ag.ExprError:
        assume(False)
    assume(all(abs(n.data) < 1e8 for n in g.nodes))
    out, grads = ag.torch_gradients(program, values)
    assert g.output.data == pytest.approx(out, rel=1e-9, abs=1e-12)
    for name in program.inputs:
        assert g.inputs[name].grad == pytest.approx(grads[name], rel=1e-7, abs=1e-9), name


@pytest.mark.parametrize("text,msg", [
    ("x.__class__", "attribute access"),
    ("(1).real", "attribute access"),
    ("foo(x)", "unknown function foo"),
    ("open('f')", "unknown function open"),
    ("lambda: 1", "lambda is not allowed"),
    ("[x for x in y]", "comprehensions"),
    ("sum(x for x in y)", "unknown function sum"),
    ("exp(x for x in y)", "comprehensions"),
    ("__import__", "underscore"),
    ("x + __builtins__", "underscore"),
    ("exp.__globals__", "attribute access"),
    ("x[0]", "indexing"),
    ("'a' * 3", "str values"),
    ("import os", "import is not allowed"),
    ("x +", "syntax error"),
    ("exp(x, y)", "exactly one argument"),
    ("exp(x=1)", "exactly one argument"),
    ("x if y else z", "not allowed"),
    ("x == 1", "comparisons"),
])
def test_parser_rejects_everything_outside_the_whitelist(text, msg):
    with pytest.raises(ag.ExprError, match=msg) as e:
        ag.parse_program(text)
    assert str(e.value).startswith(("At position", "At line"))


def test_bounds_and_evaluation_errors_name_the_position():
    with pytest.raises(ag.ExprError, match="characters"):
        ag.parse_program("x + " * 200 + "x")
    with pytest.raises(ag.ExprError, match="too deep"):
        ag.parse_program("exp(" * 30 + "x" + ")" * 30)
    with pytest.raises(ag.ExprError, match="7 input variables .*use at most 6"):
        ag.parse_program("a + b + c + d + e + f + g")
    p = ag.parse_program("x / (y - 1)")
    with pytest.raises(ag.ExprError, match="At position 6: division by zero"):
        ag.build_graph(p, {"x": 1.0, "y": 1.0})
    with pytest.raises(ag.ExprError, match="At position 5: the result overflows"):
        ag.build_graph(ag.parse_program("1 + exp(x)"), {"x": 1000.0})
    with pytest.raises(ag.ExprError, match="log of a number"):
        ag.build_graph(ag.parse_program("log(x)"), {"x": -1.0})
    with pytest.raises(ag.ExprError, match="line 2, column 9: division by zero"):
        ag.build_graph(ag.parse_program("a = 1.0\nb = a / 0\nb"), {})
    with pytest.raises(ag.ExprError, match="Unknown name z"):
        ag.build_graph(ag.parse_program("z * 2"), {})


def test_reused_node_naive_backward_is_wrong_and_topological_is_right():
    r = ag.pitfall_reused_node(3.0)
    assert r["db/da correct"] == 2.0 and r["db/da naive"] == 1.0
    assert r["dc/da correct"] == 12.0 and r["dc/da naive"] != 12.0


def test_gradients_accumulate_without_zero_grad_and_detach_cuts():
    acc = ag.pitfall_accumulate(2.0, times=3)
    assert acc["without zero_grad"] == [4.0, 8.0, 12.0] and acc["with zero_grad"] == [4.0] * 3
    assert "backward through the graph a second time" in acc["second backward error"]
    cut = ag.pitfall_cut_graph(2.0)
    assert cut["d(x³)/dx"] == 12.0 and cut["d(detach(x²)·x)/dx"] == 4.0
    assert cut["w.grad (requires_grad=False)"] is None and cut["grad_fn under no_grad"] is None


def test_steps_replay_to_the_final_gradients_and_the_chain_rule_sums():
    g = ag.build_graph(ag.parse_program("a = 2.0\nb = a * a\nc = b + a\nc"), {})
    all_steps = ag.steps(g)
    assert [s.phase for s in all_steps].count("forward") == len(g.nodes)
    computed, grads = ag.state_at(all_steps, len(all_steps) - 1)
    assert grads[g.index(g.inputs["a"])] == pytest.approx(5.0)  # d(a² + a)/da = 2a + 1
    rows = ag.chain_rule(g, g.index(g.inputs["a"]))
    assert len(rows) == 3 and sum(r["product"] for r in rows) == pytest.approx(5.0)
    dot = ag.to_dot(g, 1, all_steps)
    assert dot.startswith("digraph") and "#d62728" in dot and "data ?" in dot


def test_custom_module_has_parameters_buffers_and_learns_iris():
    cfg = ag.ModuleConfig(steps=100, seed=0)
    snaps = list(ag.train_module(cfg))
    first, last = snaps[0].metrics, snaps[-1].metrics
    assert last["loss"] < first["loss"] / 2
    assert last["test_acc"] >= 0.65  # sepal features only; chance is 1/3
    model = snaps[-1].model
    anatomy = ag.module_anatomy(model)
    assert [p["name"] for p in anatomy["parameters"]] == ["rbf.centers", "rbf.log_gamma",
                                                          "out.weight", "out.bias"]
    assert {b["name"] for b in anatomy["buffers"]} == {"rbf.mean", "rbf.std", "rbf.calls"}
    assert int(model.rbf.calls) == 100 + 1  # forward passes in training mode (step 0 too)
    assert len(anatomy["state_dict"]) == 7
    assert snaps[-1].artifacts["prob"].shape == (ag.GRID, ag.GRID, 3)
    assert math.isclose(snaps[-1].artifacts["prob"].sum(-1).mean(), 1.0, rel_tol=1e-5)


def test_values_text_is_parsed_leniently():
    assert ag.parse_values("x=1.5, w=-0.5, bad, y=inf, 1z=3") == {"x": 1.5, "w": -0.5}


def test_network_graph_collapses_modules_and_labels_shapes():
    X, y, _, _ = ag.iris("sepal", 0)
    model = ag.build_module(ag.ModuleConfig(n_centers=6), X)
    collapsed = ag.network_graph(model, X, y)
    assert "rbf (RBF)" in collapsed and "out (Linear)" in collapsed
    assert '[label=" (105, 6)"]' in collapsed and "rbf.centers" not in collapsed
    assert "NllLossBackward0" in collapsed
    open_rbf = ag.network_graph(model, X, y, ("rbf",))
    assert "rbf.centers\\n(6, 2)" in open_rbf and "(105, 6, 2)" in open_rbf
    assert "out (Linear)" in open_rbf and "rbf.mean" not in open_rbf  # buffers are not in it
