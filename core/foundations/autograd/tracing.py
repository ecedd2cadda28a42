"""The autograd graph of a real network: one forward pass of a module traced from
``loss.grad_fn`` through ``next_functions``, drawn as Graphviz DOT (:func:`network_graph`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = ["network_graph"]


def _module_members(outputs: dict[str, tuple[Any, set[int]]]) -> dict[int, str]:
    """``{id(grad_fn node): module name}``: every node reachable backwards from a module's
    output node, stopping at the nodes of its inputs."""
    owner: dict[int, str] = {}
    for name, (out_fn, stop) in outputs.items():
        stack, seen = [out_fn], set()
        while stack:
            fn = stack.pop()
            if fn is None or id(fn) in seen or id(fn) in stop:
                continue
            seen.add(id(fn))
            owner.setdefault(id(fn), name)
            stack.extend(f for f, _ in fn.next_functions)
    return owner


def _record_forward(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[Any, dict]:
    """Run the loss forward with hooks on the leaf modules; returns ``(loss, {module name:
    (output grad_fn, ids of its inputs' grad_fns)})``."""
    outputs: dict[str, tuple[Any, set[int]]] = {}
    hooks = []
    for name, mod in model.named_modules():
        if name and not list(mod.children()):
            def hook(m: nn.Module, inp: tuple, out: torch.Tensor, name: str = name) -> None:
                outputs[name] = (out.grad_fn, {id(t.grad_fn) for t in inp
                                               if isinstance(t, torch.Tensor) and t.grad_fn})
            hooks.append(mod.register_forward_hook(hook))
    try:
        loss = nn.functional.cross_entropy(model(X), y)
    finally:
        for h in hooks:
            h.remove()
    return loss, outputs


def _shape_hook(shapes: dict[int, tuple], key: int) -> Callable[[tuple, tuple], None]:
    """A backward hook on a graph node that records the shape of the node's forward output (the
    shape of the gradient flowing into it)."""
    def hook(grad_inputs: tuple, grad_outputs: tuple) -> None:
        if grad_outputs and grad_outputs[0] is not None:
            shapes[key] = tuple(grad_outputs[0].shape)
    return hook


def network_graph(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                  expanded: tuple[str, ...] = ()) -> str:
    """The autograd graph of one forward pass (cross-entropy of ``model(X)`` against ``y``) as
    DOT, read from ``loss.grad_fn`` and its ``next_functions``: one node per backward function,
    parameters (``AccumulateGrad``) by name, every edge labelled with the shape of the tensor it
    carries (recorded by hooks on the nodes during one real ``backward``). The nodes of a leaf
    module not in ``expanded`` are collapsed into one box named after the module.

    ``model`` is deep-copied with gradients on, so a frozen copy can be drawn.
    """
    import copy

    model = copy.deepcopy(model).train()
    for p in model.parameters():
        p.requires_grad_(True)
    names = {id(p): n for n, p in model.named_parameters()}
    loss, outputs = _record_forward(model, X, y)
    owner = _module_members(outputs)
    nodes, edges, stack, shapes = {}, [], [loss.grad_fn], {}
    while stack:
        fn = stack.pop()
        if id(fn) in nodes:
            continue
        nodes[id(fn)] = fn
        if hasattr(fn, "variable"):
            shapes[id(fn)] = tuple(fn.variable.shape)
        else:
            fn.register_hook(_shape_hook(shapes, id(fn)))
        for child, _ in fn.next_functions:
            if child is not None:
                edges.append((id(child), id(fn)))
                stack.append(child)
    loss.backward()
    kinds = {n: type(m).__name__ for n, m in model.named_modules()}
    return _network_dot(nodes, edges, shapes, owner, names, kinds, set(expanded))


def _network_dot(nodes: dict, edges: list, shapes: dict, owner: dict, names: dict, kinds: dict,
                 expanded: set[str]) -> str:
    def key(i: int) -> str:
        mod = owner.get(i)
        return f"m_{mod.replace('.', '_')}" if mod and mod not in expanded else f"n{i}"

    lines = ["digraph G {", "rankdir=BT;", 'node [fontname="Helvetica", fontsize=10];',
             'edge [fontname="Helvetica", fontsize=9, color="#888888"];']
    drawn = set()
    for i, fn in nodes.items():
        k = key(i)
        if k in drawn:
            continue
        drawn.add(k)
        mod = owner.get(i)
        if k.startswith("m_"):
            lines.append(f'{k} [label="{mod} ({kinds.get(mod, "")})\\n(collapsed)", '
                         'shape=box3d, style=filled, fillcolor="#fde0c5"];')
        elif hasattr(fn, "variable"):
            lines.append(f'{k} [label="{names.get(id(fn.variable), "input")}\\n'
                         f'{tuple(fn.variable.shape)}", shape=box, style=filled, '
                         f'fillcolor="#dbe9f6"];')
        else:
            where = f"\\nin {mod}" if mod else ""
            lines.append(f'{k} [label="{type(fn).__name__}{where}", shape=ellipse];')
    seen = set()
    for c, p in edges:
        a, b = key(c), key(p)
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        lines.append(f'{a} -> {b} [label=" {shapes.get(c, "")}"];')
    lines.append("}")
    return "\n".join(lines)
