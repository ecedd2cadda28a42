"""`python -m core`: list every demo, train one headless, reject bad input with one line."""

import json
import subprocess
import sys

import torch

from tests.conftest import ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_list_shows_demos_with_fields_and_ranges():
    out = cli("list")
    assert out.returncode == 0, out.stderr
    assert "playground:" in out.stdout
    assert "dataset = 'circle'  (one of circle, xor" in out.stdout
    assert "lr = 0.03  (float in [1e-05, 10.0])" in out.stdout


def test_train_writes_config_metrics_artifacts_and_weights(tmp_path):
    out = cli("train", "playground", "--set", "dataset=xor", "--set", "steps=200",
              "--set", "hidden=4,4", "--seed", "3", "--out", str(tmp_path), "--quiet")
    assert out.returncode == 0, out.stderr
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["demo"] == "playground" and cfg["seed"] == 3 and cfg["hidden"] == "4,4"
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 200
    assert {"step", "time_s", "train_loss", "test_loss", "test_acc"} <= set(rows[-1])
    assert (tmp_path / "decision_boundary.png").exists()
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert "out.weight" in state


def test_bad_input_exits_nonzero_with_one_clear_line(tmp_path, capsys):
    import pytest

    from core.__main__ import main

    cases = [
        (["train", "nosuchdemo"], "unknown demo 'nosuchdemo'; known demos:"),
        (["train", "playground", "--set", "depth=3"], "unknown key 'depth'; known keys:"),
        (["train", "playground", "--set", "lr=99"], "lr=99.0 is out of range; allowed"),
        (["train", "playground", "--set", "activation=gelu"], "allowed: one of relu, tanh"),
        (["train", "playground", "--set", "hidden=4,,x"], "comma-separated integers"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_:
            main([*args, "--out", str(tmp_path)])
        assert exit_.value.code == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines


def test_an_unwritable_out_folder_and_a_failing_trainer_get_one_line_not_a_traceback(
        tmp_path, monkeypatch, capsys):
    import pytest

    from core import registry
    from core.__main__ import main
    from core.protocol import Demo, RunOptions

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as exit_:
        main(["train", "playground", "--out", str(blocker / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "cannot write to" in err[0], err

    def broken(cfg):
        yield from ()
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(registry, "get_demo", lambda name: Demo("broken", RunOptions, broken))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "broken", "--out", str(tmp_path / "b"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1, err
    assert err[0] == "error: RuntimeError: CUDA error: an illegal memory access was encountered"


def test_dict_artifacts_are_written_without_clobbering_run_files(tmp_path):
    import json

    import torch

    from core.bundle import _artifact_files, write_bundle

    (tmp_path / "config.json").write_text('{"demo": "x"}')
    files = _artifact_files({"config": {"a": 1}, "eval": {"k10": 0.9},
                             "checkpoints": {"w": torch.ones(2), "n": 3}})
    write_bundle(tmp_path, files)
    written = list(files)
    assert json.loads((tmp_path / "config.json").read_text()) == {"demo": "x"}
    assert json.loads((tmp_path / "artifact_config.json").read_text()) == {"a": 1}
    assert json.loads((tmp_path / "eval.json").read_text()) == {"k10": 0.9}
    ck = torch.load(tmp_path / "checkpoints.pt", weights_only=True)
    assert ck["n"] == 3 and torch.equal(ck["w"], torch.ones(2))
    assert set(written) == {"artifact_config.json", "eval.json", "checkpoints.pt"}


def test_an_old_field_name_works_on_the_command_line(tmp_path, monkeypatch, capsys):
    """``--set OLD=value`` sets the renamed field (``param(aliases=...)``), and ``list`` names
    the old spelling; retired keys are accepted and ignored."""
    from dataclasses import dataclass
    from typing import ClassVar

    from core import registry
    from core.__main__ import main
    from core.protocol import Demo, RunOptions, Snapshot, param

    @dataclass(frozen=True)
    class Cfg(RunOptions):
        RETIRED_KEYS: ClassVar[tuple[str, ...]] = ("fid_every_s",)
        max_grad_norm: float = param(1.0, lo=0.0, hi=10.0, aliases=("clip",))

    def train(cfg: Cfg):
        yield Snapshot(1, 0.0, {"max_grad_norm": cfg.max_grad_norm}, total_steps=1, final=True)

    demo = Demo("renamed", Cfg, train)
    monkeypatch.setattr(registry, "get_demo", lambda name: demo)
    monkeypatch.setattr(registry, "all_demos", lambda: {"renamed": demo})
    main(["train", "renamed", "--set", "clip=2.5", "--set", "fid_every_s=3", "--out",
          str(tmp_path), "--quiet"])
    assert json.loads((tmp_path / "config.json").read_text())["max_grad_norm"] == 2.5
    main(["list"])
    assert "max_grad_norm = 1.0  (float in [0.0, 10.0])  [also: clip]" in capsys.readouterr().out


def test_the_bundle_gets_the_newest_value_of_every_artifact(tmp_path):
    """A picture a trainer sends only now and then still reaches the CLI's files."""
    from core.__main__ import _train
    from tests.engine.test_engine import SPARSE, ToyConfig

    last, rows = _train(SPARSE, ToyConfig(steps=6), tmp_path, quiet=True)
    assert len(rows) == 6 and last.final
    assert last.artifacts == {"step": 6, "picture": 4}
