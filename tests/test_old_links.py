"""Links and commands written before the house was rebuilt (issue 14) still open the same settings.

``old_config_fields.json`` holds every demo's config fields and defaults as of commit fb2a9a2.
Every old key must still be accepted (today's name, an alias, or a retired key), and a field's
default must not have changed: the same link trains the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.protocol import config_from_strings, field_specs, resolve_keys
from core.registry import get_demo

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
