"""Links and commands written before the house was rebuilt (issue 14) still open the same settings.

``old_config_fields.json`` holds every demo's config fields and defaults as of commit fb2a9a2.
Every old key must still be accepted (today's name, an alias, or a retired key), and a field's
default must not have changed: the same link trains the same run. Opened on its page, an old
link sets the renamed controls without a notice, and the page writes today's keys back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.protocol import config_from_strings, field_specs, resolve_keys
from core.registry import get_demo
from tests.apptest_util import link_params, open_link

OLD = json.loads((Path(__file__).parent / "old_config_fields.json").read_text())
RENAMED_DEMOS = {"cae": "ae"}


def _demo(old_name: str):
    try:
        return get_demo(old_name)
    except KeyError:
        return get_demo(RENAMED_DEMOS[old_name])


@pytest.mark.parametrize("old_name", sorted(OLD))
def test_every_old_key_is_still_accepted_with_its_old_default(old_name):
    demo = _demo(old_name)
    specs = {s.name: s for s in field_specs(demo.config_cls)}
    retired = set(getattr(demo.config_cls, "RETIRED_KEYS", ()))
    for key, old_default in OLD[old_name].items():
        resolved, dropped = resolve_keys(demo.config_cls, {key: "x"})
        if key in retired:
            assert dropped == [key]
            continue
        (name,) = resolved
        assert name in specs, f"{old_name}: old key {key!r} is no longer accepted"
        assert repr(specs[name].default) == old_default or (
            old_name == "decision_transformer" and key == "dqn_run"), (
            f"{old_name}.{key}: default changed from {old_default} to {specs[name].default!r}")


def test_an_old_key_sets_the_renamed_field():
    # a hand-picked case for each kind of rename, through the parser the CLI and links use
    cases = [("dqn", "total_steps", "3000"), ("captioning", "clip", "2.0"),
             ("seq2seq", "layers", "2"), ("gnn", "heads", "2"), ("gan", "g_width", "32"),
             ("cae", "width", "32"), ("gridworld", "epsilon", "0.5")]
    for old_name, key, value in cases:
        demo = _demo(old_name)
        assert key not in {s.name for s in field_specs(demo.config_cls)}, (old_name, key)
        cfg = config_from_strings(demo.config_cls, {key: value})
        (name,) = resolve_keys(demo.config_cls, {key: value})[0]
        assert str(getattr(cfg, name)) == value, (old_name, key, name)


# (page, an old link, the controls it sets, keys the page's link then holds, keys it drops)
PAGE_LINKS = [
    ("dqn", {"total_steps": "20000", "width": "32", "eps_start": "0.5", "eps_end": "0.1"},
     {"dqn.steps": 20_000, "dqn.hidden": 32, "dqn.epsilon_start": 0.5, "dqn.epsilon_end": 0.1},
     {"steps": "20000"}, ["total_steps"]),
    ("gan", {"g_width": "16", "d_width": "48", "fid_every_s": "10"},  # fid_every_s: retired
     {"gan.g_channels": 16, "gan.d_channels": 48}, {"g_channels": "16"}, ["g_width", "fid_every_s"]),
    ("vae", {"width": "32"}, {"vae.channels": 32}, {"channels": "32"}, ["width"]),
    ("gridworld", {"epsilon": "0.5", "epsilon_min": "0.2"},
     {"gridworld.epsilon_start": 0.5, "gridworld.epsilon_end": 0.2}, {"epsilon_start": "0.5"},
     ["epsilon"]),
    ("gnn", {"model": "gat", "layers": "3", "heads": "4"}, {"gnn.n_layers": 3, "gnn.n_heads": 4},
     {"n_layers": "3", "n_heads": "4"}, ["layers", "heads"]),
]


@pytest.mark.parametrize("url_path, link, controls, kept, dropped", PAGE_LINKS,
                         ids=[case[0] for case in PAGE_LINKS])
def test_an_old_link_opens_its_page_with_its_settings(clean_streamlit, url_path, link, controls,
                                                      kept, dropped):
    at = open_link(url_path, link)
    assert not at.warning, [w.value for w in at.warning]
    assert {key: at.get_by_key(key).value for key in controls} == controls
    q = link_params(at)
    assert {key: q.get(key) for key in kept} == kept, q
    assert not set(dropped) & set(q), q
