"""core.blocks.recurrent: the LSTM, RNN and GRU cells compute what torch's cells compute, and
the recorded gates are what the equations say."""

import torch
from torch import nn

from core.blocks.recurrent import GRUCell, LSTMCell, RNNCell, StackedLSTM


def load_into_torch(ref: nn.Module, x2h: nn.Linear, h2h: nn.Linear, layer: str = "") -> None:
    """Give torch's cell (or ``layer`` ``"_l0"``, ... of its multi-layer RNN) our input and hidden
    projections; torch's hidden bias is zeroed, as ours have the one input bias."""
    with torch.no_grad():
        getattr(ref, f"weight_ih{layer}").copy_(x2h.weight)
        getattr(ref, f"bias_ih{layer}").copy_(x2h.bias)
        getattr(ref, f"weight_hh{layer}").copy_(h2h.weight)
        getattr(ref, f"bias_hh{layer}").zero_()


def test_lstm_cell_matches_torch_and_records_its_gates():
    torch.manual_seed(0)
    ours, ref = LSTMCell(5, 7), torch.nn.LSTMCell(5, 7)
    with torch.no_grad():
        ours.x2h.bias.normal_()  # not only the initial biases
    load_into_torch(ref, ours.x2h, ours.h2h)
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    h1, c1, gates = ours(x, (h, c), record=True)
    h2, c2 = ref(x, (h, c))
    assert torch.allclose(h1, h2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)
    assert gates.shape == (3, 4, 7)
    i, f, g, o = gates.unbind(1)
    for gate in (i, f, o):
        assert gate.min() >= 0 and gate.max() <= 1
    assert g.min() >= -1 and g.max() <= 1 and g.min() < 0  # the candidate is a tanh
    assert torch.allclose(c1, f * c + i * g, atol=1e-6)  # the cell update, from the gates
    assert torch.allclose(h1, o * torch.tanh(c1), atol=1e-6)
    assert ours(x, (h, c))[2] is None  # nothing recorded unless asked


def test_lstm_biases_start_at_zero_except_the_forget_gate():
    cell = LSTMCell(3, 4)
    b = cell.x2h.bias.detach()
    assert b[4:8].tolist() == [1.0] * 4
    assert b[:4].abs().sum() == 0 and b[8:].abs().sum() == 0


def test_rnn_cell_matches_torch():
    torch.manual_seed(0)
    ours, ref = RNNCell(5, 6), torch.nn.RNNCell(5, 6)
    load_into_torch(ref, ours.W_x, ours.W_h)
    x, h = torch.randn(4, 5), torch.randn(4, 6)
    assert torch.allclose(ours(x, h), ref(x, h), atol=1e-6)


def test_gru_cell_matches_torch_and_records_its_gates():
    torch.manual_seed(0)
    ours, ref = GRUCell(3, 5), torch.nn.GRUCell(3, 5)
    load_into_torch(ref, ours.W_x, ours.W_h)
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    got, gates = ours(x, h, record=True)
    assert torch.allclose(got, ref(x, h), atol=1e-6) and gates.shape == (4, 3, 5)
    r, z, n = gates.unbind(1)
    assert torch.allclose(got, (1 - z) * n + z * h, atol=1e-6)  # the update, from the gates
    assert ours(x, h)[1] is None  # nothing recorded unless asked


def test_stacked_lstm_matches_torch_lstm():
    torch.manual_seed(0)
    ours, ref = StackedLSTM(3, 8, n_layers=2), torch.nn.LSTM(3, 8, num_layers=2, batch_first=True)
    for k, cell in enumerate(ours.cells):
        load_into_torch(ref, cell.x2h, cell.h2h, layer=f"_l{k}")
    x = torch.randn(2, 5, 3)
    state = ours.zero_state(2)
    tops, gates = [], []
    for t in range(5):
        top, state, g = ours.step(x[:, t], state, record=True)
        tops.append(top)
        gates.append(g)
    want, (h_n, c_n) = ref(x)
    assert torch.allclose(torch.stack(tops, 1), want, atol=1e-5)
    assert torch.allclose(state[1][1], c_n[1], atol=1e-5)
    assert gates[0].shape == (2, 2, 4, 8)
