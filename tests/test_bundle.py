"""A run's bundle (core.bundle): the CLI's --out folder and a page's Download run zip have the
same files, the weights load with weights_only=True, and README.txt's command reproduces the
run's final metrics."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import zipfile

import pytest
import torch

from core.bundle import bundle_files, metrics_row, reproduce_command, zip_bundle
from core.executors import Driver
from core.registry import get_demo
from tests.conftest import ROOT


def _train_in_process(demo, cfg):
    """Drive a trainer as the app's workers do; (rows, last snapshot)."""
    driver, rows, last = Driver(demo, cfg), [], None
    while True:
        snap, end = driver.next()
        if snap is not None:
            rows.append(metrics_row(snap))
            last = snap
        if end is not None:
            assert end.state == "done", end.message
            return rows, last


def test_the_download_bundle_reproduces_from_its_readme_command(tmp_path):
    demo = get_demo("playground")
    cfg = demo.config_cls(dataset="xor", steps=150, hidden="4,4", seed=5)
    rows, last = _train_in_process(demo, cfg)
    files = bundle_files(demo.name, cfg, rows, last, last.model)
    with zipfile.ZipFile(io.BytesIO(zip_bundle(files))) as z:
        names = {n.split("/", 1)[1] for n in z.namelist()}
        readme = z.read("liveprop_run/README.txt").decode()
        state = torch.load(io.BytesIO(z.read("liveprop_run/model.pt")), weights_only=True)
    assert {"config.json", "metrics.jsonl", "metrics.csv", "model.pt", "model.safetensors",
            "README.txt", "decision_boundary.png"} <= names
    assert "out.weight" in state
    command = next(line.strip() for line in readme.splitlines()
                   if line.strip().startswith("python -m core train"))
    assert command.startswith(reproduce_command("playground", cfg))
    args = shlex.split(command)[3:]  # after "python -m core"
    args[args.index("--out") + 1] = str(tmp_path / "cli")
    out = subprocess.run([sys.executable, "-m", "core", *args, "--quiet"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    cli = tmp_path / "cli"
    assert {p.name for p in cli.iterdir()} == names, "the CLI folder and the zip differ"
    assert json.loads((cli / "config.json").read_text()) == json.loads(files["config.json"])
    cli_last = json.loads((cli / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("test_loss", "test_acc"):
        assert cli_last[key] == pytest.approx(rows[-1][key], rel=1e-4, abs=1e-6), key
    from safetensors.torch import load_file

    weights = load_file(str(cli / "model.safetensors"))
    assert set(weights) == set(state)


def test_reproduce_command_lists_only_changed_settings_quoted():
    cfg = get_demo("playground").config_cls(dataset="spiral", hidden="8,8", seed=3)
    cmd = reproduce_command("playground", cfg)
    assert cmd.startswith("python -m core train playground")
    assert "--set dataset=spiral" in cmd and "--set hidden=8,8" in cmd and "--set seed=3" in cmd
    assert "lr=" not in cmd  # the default is not repeated


def test_show_code_is_the_real_source_and_runs_to_the_same_numbers(tmp_path):
    import inspect

    from core.foundations import playground
    from core.showcode import trainer_script

    demo = get_demo("playground")
    cfg = demo.config_cls(dataset="xor", steps=150, hidden="4,4", seed=5)
    script = trainer_script(demo, cfg)
    assert inspect.getsource(playground.train) in script  # the module's own text
    assert inspect.getsource(playground.PlaygroundConfig) in script
    assert "import streamlit" not in script
    path = tmp_path / "run_playground.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    rows, _ = _train_in_process(demo, cfg)
    printed = out.stdout.strip().splitlines()[-1]
    assert printed.startswith("step 150 ")
    metrics = __import__("ast").literal_eval(printed.split(" ", 2)[2])
    assert metrics["test_acc"] == pytest.approx(rows[-1]["test_acc"], abs=1e-6)
    assert metrics["test_loss"] == pytest.approx(rows[-1]["test_loss"], rel=1e-4)


def test_show_code_covers_every_trainer():
    """Every demo's script parses and holds its trainer and config class."""
    import ast

    from core.registry import demo_index
    from core.showcode import trainer_script

    import_blocks = []
    for name in sorted(demo_index()):
        demo = get_demo(name)
        script = trainer_script(demo)
        tree = ast.parse(script)
        assert f"def {demo.train.__name__}(" in script, name
        assert f"class {demo.config_cls.__name__}" in script, name
        assert "from ." not in script, f"{name}: a script cannot import relatively"
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        bound = [a.asname or a.name for n in imports for a in n.names]
        assert len(bound) == len(set(bound)), f"{name}: a name is imported twice: {bound}"
        import_blocks.append("\n".join(ast.unparse(n) for n in imports
                                       if getattr(n, "module", "") != "__future__"))
    # every script's imports resolve from a clone (one process for all of them)
    out = subprocess.run([sys.executable, "-c", "\n".join(import_blocks)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]


def test_show_code_of_a_packaged_topic_inlines_its_model():
    """A trainer in a topic package (core/graphs/gnn/) imports its model from a sibling module:
    the script shows that source too, not an import line."""
    import inspect

    from core.graphs.gnn import model
    from core.showcode import trainer_script

    script = trainer_script(get_demo("gnn"))
    assert inspect.getsource(model.NodeGNN) in script
    assert "from core.graphs.gnn.model import" not in script


def test_every_run_panel_offers_download_and_show_code(clean_streamlit):
    """On a page: Show code holds the trainer's source before any run; after Train the
    Download run button is enabled and the session's run zips to a bundle."""
    from tests.apptest_util import is_done, open_page, train_until

    at = open_page("gridworld")
    code = next(e for e in at.expander if e.label.startswith("Show code"))
    assert any("def train(" in c.value for c in code.code), "the trainer's source is shown"
    download = next(d for d in at.get("download_button") if d.proto.label == "Download run")
    assert download.proto.disabled, "nothing to download before a run"
    at.select_slider(key="gridworld.episodes").set_value(200)
    at.slider(key="gridworld.pace_ms").set_value(0)
    train_until(at, is_done, timeout=120)
    at.run()
    download = next(d for d in at.get("download_button") if d.proto.label == "Download run")
    assert not download.proto.disabled


def test_run_zip_of_a_pool_run_holds_the_bundle():
    from core.engine import Run, RunPool, RunState
    from ui.takehome import run_zip

    demo = get_demo("playground")
    pool = RunPool(max_workers=1)
    try:
        run = pool.submit(Run(demo, demo.config_cls(steps=100, seed=2)))
        assert run.wait(120) and run.state == RunState.DONE, run.message
        with zipfile.ZipFile(io.BytesIO(run_zip(run))) as z:
            names = {n.split("/", 1)[1] for n in z.namelist()}
            rows = z.read("liveprop_playground/metrics.jsonl").decode().splitlines()
        assert {"config.json", "metrics.csv", "model.pt", "README.txt", "curves.png"} <= names
        assert json.loads(rows[-1])["step"] == 100
    finally:
        pool.shutdown()
