"""The forward and backward passes of a :class:`~core.foundations.autograd.evaluation.Graph`
as animation steps, the chain rule at one node, and the graph as Graphviz DOT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.foundations.autograd.evaluation import Graph
from core.foundations.autograd.scalar import Value

__all__ = ["Step", "chain_rule", "name_of", "state_at", "steps", "to_dot"]


@dataclass(frozen=True)
class Step:
    """One step of the animation: ``phase`` ("forward" or "backward"), the node computed or
    whose gradient changes (index into :attr:`Graph.nodes`), the active edge ``(child,
    parent)`` indices or None, the edge's local derivative ∂parent/∂child (backward), and a
    sentence saying what happens."""

    phase: str
    node: int
    edge: tuple[int, int] | None
    text: str
    local: float = 0.0


def name_of(node: Value, graph: Graph) -> str:
    """The node's label, else ``n<index>``."""
    return node.label or f"n{graph.index(node)}"


def _formula(node: Value, graph: Graph) -> str:
    args = [name_of(c, graph) for c in node.children]
    if node.op in ("+", "-", "*", "/", "**"):
        return f"{args[0]} {node.op} {args[1]}"
    return f"-{args[0]}" if node.op == "neg" else f"{node.op}({args[0]})"


def steps(graph: Graph) -> list[Step]:
    """The forward pass in topological order, one step per node, then the backward pass: the
    seed ``out.grad = 1`` and one step per edge in reverse topological order."""
    out: list[Step] = []
    for i, node in enumerate(graph.nodes):
        name = name_of(node, graph)
        if not node.children:
            kind = "constant" if node.const else "input"
            out.append(Step("forward", i, None, f"{kind} {name} = {node.data:.4g}"))
        else:
            out.append(Step("forward", i, (graph.index(node.children[0]), i),
                            f"{name} = {_formula(node, graph)} = {node.data:.4g}"))
    root = len(graph.nodes) - 1
    top = name_of(graph.output, graph)
    out.append(Step("backward", root, None, f"seed: {top}.grad = ∂{top}/∂{top} = 1"))
    for i in range(root, -1, -1):
        node = graph.nodes[i]
        p = name_of(node, graph)
        for child, local in zip(node.children, node.local):
            c, cn = graph.index(child), name_of(child, graph)
            out.append(Step("backward", c, (c, i),
                            f"{cn}.grad += ∂{p}/∂{cn} · {p}.grad = {local:.4g} · "
                            f"{node.grad:.4g} = {local * node.grad:.4g}", local))
    return out


def state_at(all_steps: list[Step], k: int) -> tuple[set[int], dict[int, float]]:
    """After step ``k`` (0-based): the nodes whose value is computed and the gradients so far
    (replaying the backward steps up to ``k``)."""
    computed = {s.node for s in all_steps[:k + 1] if s.phase == "forward"}
    grads: dict[int, float] = {}
    for s in all_steps[:k + 1]:
        if s.phase != "backward":
            continue
        if s.edge is None:
            grads[s.node] = 1.0
        else:
            c, p = s.edge
            grads[c] = grads.get(c, 0.0) + s.local * grads.get(p, 0.0)
    return computed, grads


def chain_rule(graph: Graph, i: int) -> list[dict[str, Any]]:
    """The node inspector: one row per parent ``p`` of node ``i`` (each use of it), with
    ``∂p/∂node``, ``p.grad`` and their product; the products sum to the node's grad."""
    node, rows = graph.nodes[i], []
    for parent in graph.nodes:
        for child, local in zip(parent.children, parent.local):
            if child is node:
                rows.append({"parent": name_of(parent, graph), "operation": _formula(parent, graph),
                             "∂parent/∂node": local, "parent.grad": parent.grad,
                             "product": local * parent.grad})
    return rows


def to_dot(graph: Graph, k: int | None = None, all_steps: list[Step] | None = None) -> str:
    """The graph as Graphviz DOT (left to right), each node with its value and gradient. With
    ``k`` and ``all_steps``, only what is known after step ``k`` is shown and the active edge
    and node are highlighted in red."""
    if k is None or all_steps is None:
        computed, grads = set(range(len(graph.nodes))), {i: n.grad for i, n in
                                                           enumerate(graph.nodes)}
        active, edge = None, None
    else:
        computed, grads = state_at(all_steps, k)
        active, edge = all_steps[k].node, all_steps[k].edge
    lines = ["digraph G {", "rankdir=LR;", 'node [fontname="Helvetica", fontsize=11];',
             'edge [color="#888888"];']
    for i, n in enumerate(graph.nodes):
        head = name_of(n, graph) if not n.children else (
            f"{name_of(n, graph)} = {_formula(n, graph)}")
        val = f"{n.data:.4g}" if i in computed else "?"
        grad = f"{grads[i]:.4g}" if i in grads else "·"
        shape = "box" if not n.children else "ellipse"
        fill = "#ffd7d7" if i == active else ("#dbe9f6" if not n.children and not n.const
                                              else "#f2f2f2" if n.const else "white")
        label = f"{head}\\ndata {val}\\ngrad {grad}".replace('"', "'")
        lines.append(f'n{i} [label="{label}", shape={shape}, style=filled, fillcolor="{fill}"];')
    for p, n in enumerate(graph.nodes):
        for child in n.children:
            c = graph.index(child)
            hot = edge == (c, p)
            lines.append(f"n{c} -> n{p}" + (' [color="#d62728", penwidth=3];' if hot else ";"))
    lines.append("}")
    return "\n".join(lines)
