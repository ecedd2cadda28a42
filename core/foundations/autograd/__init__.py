"""Autograd from scratch: a whitelist parser, a scalar graph engine, the classic pitfalls, and a
custom ``nn.Module`` layer trained live.

* :mod:`.parser`: :func:`parse_program` reads a typed expression (or a few lines of assignments,
  as in the micrograd README) with Python's :mod:`ast`, restricted to numbers, named variables,
  ``+ - * / **``, unary minus and calls of :data:`FUNCTIONS`; everything else is refused with
  one sentence naming the position. The text is **never** passed to ``eval``.
* :mod:`.scalar`: :class:`Value` is a micrograd-style scalar node: its forward value ``data``,
  its ``grad``, its children and the local derivatives ``∂self/∂child``. :func:`backward` visits
  the graph in reverse topological order and accumulates ``child.grad += ∂self/∂child ·
  self.grad``; :func:`naive_backward` recurses and *assigns*, which is wrong for a node used
  twice.
* :mod:`.evaluation`: :func:`build_graph` runs a program on Values; :func:`check_gradients`
  puts the engine's gradients next to ``torch.autograd.grad`` on the same expression and
  central finite differences.
* :mod:`.stepping`: the forward and backward passes as animation steps, the chain rule at a
  node, the graph as DOT. :mod:`.pitfalls`: reused nodes, accumulation, cut graphs.
* :mod:`.module`: :class:`RBF` is a custom layer as a module (parameters, buffers,
  ``state_dict``); the demo ``module`` trains it live on the iris flowers.
  :mod:`.tracing`: the autograd graph of that network, read from ``loss.grad_fn``.
* :mod:`.explorer`: the page's settings (:class:`ExpressionConfig`) and example programs.

References: A. Karpathy, micrograd (github.com/karpathy/micrograd, 2020); Baydin et al.,
"Automatic differentiation in machine learning: a survey", JMLR 18 (2018); Paszke et al.,
"Automatic differentiation in PyTorch" (NIPS-W 2017); Broomhead & Lowe, "Radial basis
functions, multi-variable functional interpolation and adaptive networks" (1988).
"""

from core.foundations.autograd.evaluation import (
    Graph,
    build_graph,
    check_gradients,
    evaluate,
    finite_differences,
    naive_gradients,
    torch_gradients,
)
from core.foundations.autograd.explorer import (
    EXAMPLES,
    MICROGRAD_EXAMPLE,
    ExpressionConfig,
    parse_values,
)
from core.foundations.autograd.module import (
    GRID,
    IRIS_FEATURES,
    IRIS_NAMES,
    RBF,
    ModuleConfig,
    RBFNet,
    build_module,
    iris,
    module_anatomy,
    train_module,
)
from core.foundations.autograd.parser import (
    ALLOWED,
    FUNCTIONS,
    MAX_CHARS,
    MAX_DEPTH,
    MAX_INPUTS,
    MAX_LINES,
    MAX_NODES,
    ExprError,
    Program,
    parse_program,
)
from core.foundations.autograd.pitfalls import (
    pitfall_accumulate,
    pitfall_cut_graph,
    pitfall_reused_node,
)
from core.foundations.autograd.scalar import (
    MAX_NAIVE_PATHS,
    Value,
    backward,
    count_paths,
    naive_backward,
    topological_order,
    zero_grad,
)
from core.foundations.autograd.stepping import Step, chain_rule, name_of, state_at, steps, to_dot
from core.foundations.autograd.tracing import network_graph

__all__ = ["Graph", "build_graph", "check_gradients", "evaluate", "finite_differences",
           "naive_gradients", "torch_gradients", "EXAMPLES", "MICROGRAD_EXAMPLE",
           "ExpressionConfig", "parse_values", "GRID", "IRIS_FEATURES", "IRIS_NAMES", "RBF",
           "ModuleConfig", "RBFNet", "build_module", "iris", "module_anatomy", "train_module",
           "ALLOWED", "FUNCTIONS", "MAX_CHARS", "MAX_DEPTH", "MAX_INPUTS", "MAX_LINES",
           "MAX_NODES", "ExprError", "Program", "parse_program", "pitfall_accumulate",
           "pitfall_cut_graph", "pitfall_reused_node", "MAX_NAIVE_PATHS", "Value", "backward",
           "count_paths", "naive_backward", "topological_order", "zero_grad", "Step",
           "chain_rule", "name_of", "state_at", "steps", "to_dot", "network_graph"]
