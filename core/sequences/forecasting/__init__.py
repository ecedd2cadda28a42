"""Forecasting real series with RNN / LSTM / GRU (and a causal CNN or small Transformer), and
the vanishing-gradient lesson on the adding and copy-memory problems.

Forecasting (demo ``forecasting``, :mod:`.trainer`): the series (:mod:`core.data.series`) is
split in time order into train / validation / test; values are scaled with the training part's
mean and standard deviation (``standard``), additionally shifted so each input window starts
at 0 (``window``: the model sees shapes, not levels, which helps trending series such as co2),
or left raw (``none``). A window of ``W`` past values goes in; at every position the model
predicts the next value as a *correction of the last one*, ``x_hat_{t+1} = x_t + f(h_t)``, so
an untrained model is the last-value forecaster. The loss is the MSE of every position's
one-step prediction (all positions are causal). Multi-step forecasts feed predictions back
(free-running) or use the true values (teacher-forced, Williams & Zipser 1989)
(:mod:`.predict`).

Cells (Elman 1990; Hochreiter & Schmidhuber 1997 with Gers et al. 2000; Cho et al. 2014),
all in :mod:`core.blocks.recurrent` and wrapped by :mod:`.models`::

    RNN:  h_t = tanh(W_x x_t + W_h h_{t-1} + b)
    LSTM: c_t = f_t * c_{t-1} + i_t * g_t,  h_t = o_t * tanh(c_t)
    GRU:  h_t = (1 - z_t) * n_t + z_t * h_{t-1},  n_t = tanh(W_n x_t + r_t * (U_n h_{t-1}))

Vanishing gradients (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013): the
gradient reaching step ``k`` from the loss at ``T`` is a product of ``T - k`` Jacobians
``dh_t / dh_{t-1}``; :func:`.gradients.input_gradient_norms` measures ``|dL / dx_k|`` per step.
The long-memory experiment (demo ``adding``, :mod:`.memory`) trains RNN, LSTM and GRU on the
adding problem side by side.

Baselines (always computed, :mod:`.data`): last value, seasonal naive ``x_hat_t =
x_{t - period}``, and a ridge-regularised linear autoregression on the same window. Uncertainty
past the end: Monte Carlo dropout (Gal & Ghahramani 2016) plus the validation residuals' noise
fed into free-running paths.

Shapes: windows (B, W) scaled values; network inputs (B, T, n_in); outputs (B, T, n_out);
recorded LSTM gates (B, T, n_layers, 4, hidden).

Modules: :mod:`.models` (networks, chrono init, the fused kernels), :mod:`.data` (splits,
scaling, windows, baselines), :mod:`.predict` (forecasts), :mod:`.gradients` (gradient norms
per step, gate traces, the clipped step), :mod:`.trainer` (forecasting), :mod:`.memory`
(long memory). Every name in a module's ``__all__`` is importable from this package.
"""

from __future__ import annotations

from core.sequences.forecasting.data import *  # noqa: F403
from core.sequences.forecasting.gradients import *  # noqa: F403
from core.sequences.forecasting.memory import *  # noqa: F403
from core.sequences.forecasting.models import *  # noqa: F403
from core.sequences.forecasting.predict import *  # noqa: F403
from core.sequences.forecasting.trainer import *  # noqa: F403
