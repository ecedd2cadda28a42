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

from core.foundations.autograd.evaluation import *  # noqa: F403
from core.foundations.autograd.explorer import *  # noqa: F403
from core.foundations.autograd.module import *  # noqa: F403
from core.foundations.autograd.parser import *  # noqa: F403
from core.foundations.autograd.pitfalls import *  # noqa: F403
from core.foundations.autograd.scalar import *  # noqa: F403
from core.foundations.autograd.stepping import *  # noqa: F403
from core.foundations.autograd.tracing import *  # noqa: F403
