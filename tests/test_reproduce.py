"""Every demo's Download-run bundle reproduces from its README command (issue 20).

For each demo of the registry, on a tiny config: train in process as the app's workers do
(:class:`core.executors.Driver`, one torch thread), build the bundle a page downloads
(:func:`core.bundle.bundle_files` zipped), run the ``python -m core train ...`` command its
README.txt gives, and compare the final metrics: every numeric metric both final rows have,
except wall-clock measurements (:data:`WALL_CLOCK`) and the diagnostics sampled on the clock
(:data:`SAMPLED_DIAGNOSTICS`), each with its reason.

The commands run in one long-lived subprocess for the whole file (:class:`Cli`), which passes
each command's arguments to ``core.__main__.main``, all that ``python -m core`` runs, so the file
pays for importing torch and the topics once. A command starts before its in-process run (the
two train at once, on one torch thread each) and the test then checks that the README gives
exactly that command. The command's run snapshots after every step and evaluates at every
snapshot (:data:`EVERY_STEP`) while the in-process run keeps the app's cadence (0.25 s,
:class:`core.protocol.EvalBudget`): a final metric that depends on the cadence (a mean over the
steps since the previous snapshot, an evaluation that draws from the training's random stream)
fails here.
"""

from __future__ import annotations

import io
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import zipfile

import pytest
import torch

from core.bundle import bundle_files, metrics_row, reproduce_command, zip_bundle
from core.executors import Driver
from core.protocol import config_from_strings
from core.registry import demo_index, get_demo
from tests.conftest import ROOT

SEED = 3  # not the default, so every command carries --set seed=3
# on the CPU: the question is whether the config fixes the run, not whether CUDA's kernels are
# deterministic (some are not: atomics in scatter and in convolutions' backward passes)
DEVICE = "cpu"

# One tiny config per registered demo (a second or two of training each): the overrides of the
# config class's defaults. tests/test_reproduce.py::test_every_demo_has_a_tiny_config checks
# that no registered demo is missing.
TINY: dict[str, dict[str, object]] = {
    # foundations
    "playground": {"dataset": "xor", "steps": 150, "hidden": "4,4"},
    "module": {"steps": 60},
    "broadcast_bug": {"steps": 50},
    "matmul": {"max_size": 256, "seconds": 0.1},
    "dataloader": {"epochs": 1, "max_batches": 5, "batch_size": 16, "load_ms": 0.0,
                   "throughput": False},
    "optimizers": {"steps": 30, "animate_s": 0.0},
    "optimizer_sweep": {"n_lrs": 3, "n_starts": 2, "steps": 20},
    "lr_finder": {"num_it": 40, "steps": 20, "hidden": 8, "batch_size": 32},
    "optimizer_landscape": {"optimizers": "sgd,adam", "steps": 20, "hidden": 8, "grid": 9,
                            "batch_size": 32},
    # vision
    "cnn": {"n_train": 1000, "epochs": 1, "n_layers": 1, "channels": 2, "batch_size": 256},
    "gumbel_classifier": {"steps": 10, "channels": 8, "batch_size": 32},
    "gumbel_vae": {"steps": 20, "hidden": 64, "n_latents": 4, "n_classes": 4,
                   "batch_size": 32},
    "segmentation": {"steps": 10, "image_size": 32, "batch_size": 4,
                     "clip_run": "steps=10,batch_size=16,width=8,d_model=16"},
    "vit": {"steps": 10, "n_layers": 1, "d_model": 32, "n_heads": 1, "data_fraction": 0.05,
            "batch_size": 16},
    # generative
    "gan": {"steps": 10, "g_channels": 8, "d_channels": 8, "latent_dim": 8, "batch_size": 16},
    "gan2d": {"steps": 20, "g_hidden": 16, "d_hidden": 16, "batch_size": 32},
    "vae": {"epochs": 1, "channels": 8, "batch_size": 256},
    "ae": {"epochs": 1, "channels": 8, "batch_size": 256},
    "gan_vae_ae": {"seconds": 3, "channels": 8, "latent_dim": 4, "batch_size": 16},
    "ssgan": {"steps": 10, "hidden": 250, "latent_dim": 8, "batch_size": 25,
              "labels_per_class": 1},
    # sequences
    "transformer": {"steps": 20, "d_model": 16, "n_layers": 1, "n_heads": 1, "batch_size": 32,
                    "length": 4, "warmup": 0},
    "seq2seq": {"steps": 20, "hidden": 16, "embed_dim": 8, "batch_size": 32},
    "captioning": {"steps": 10, "n_train": 200, "hidden": 32, "n_layers": 1, "n_heads": 1,
                   "batch_size": 8, "eval_size": 20},
    "forecasting": {"epochs": 1, "hidden": 4, "window": 16, "horizon": 4, "dropout": 0.1},
    "adding": {"steps": 10, "seq_len": 5, "hidden": 4, "models": "rnn", "batch_size": 16},
    # representation learning
    "simclr": {"epochs": 1, "channels": 16, "proj_dim": 8, "batch_size": 256,
               "embedding": "pca", "map_points": 200, "eval_steps": 10, "evaluate": False},
    "clip": {"steps": 10, "batch_size": 16, "width": 8, "d_model": 16, "proj_dim": 4},
    # graphs
    "gnn": {"epochs": 20, "hidden": 4},
    "gnn_depth": {"epochs": 10, "hidden": 4},
    "gnn_graph": {"epochs": 2, "hidden": 8, "n_layers": 1},
    # reinforcement learning
    "dqn": {"steps": 1000, "learning_starts": 100, "train_freq": 100, "gradient_steps": 4,
            "eval_every": 500, "eval_episodes": 1, "hidden": 16, "buffer_size": 1000},
    "gridworld": {"episodes": 20, "max_steps": 50, "slip": 0.2},
    "decision_transformer": {"steps": 50, "n_episodes": 20, "d_model": 16, "n_layers": 1,
                             "n_heads": 1, "batch_size": 16, "targets": "50,100",
                             "eval_episodes": 1, "context_len": 4},
}

# Metrics that measure the wall clock, so no two runs agree on them: name -> why.
WALL_CLOCK = {
    "time_s": "seconds since the run started (every metrics row has it)",
    "gflops_cpu": "matmul: products per second measured on this machine now",
    "gflops_cuda": "matmul: the same on the GPU",
    "samples_per_s": "dataloader: batches received per second",
    "best_samples_per_s": "dataloader: the best measured rate of the throughput sweep",
    "time_vit": "vit: seconds spent training the ViT",
    "time_cnn": "vit: seconds spent training the CNN baseline",
    "eval_time_s": "dqn: seconds spent in greedy evaluations",
}
# Diagnostics measured on the first training step after the previous snapshot
# (core/diagnostics.py): which step that is follows the wall clock by design.
SAMPLED_DIAGNOSTICS = ("diag.act_mean/", "diag.act_std/", "diag.dead/", "diag.saturated/",
                       "diag.update_ratio/")

# The command's run snapshots after every step and evaluates at every snapshot, except for
# these demos (name -> why), whose command runs at the app's cadence.
EVERY_STEP = {"LIVEPROP_SNAPSHOT_S": "0", "LIVEPROP_EVAL_ALWAYS": "1"}
APP_CADENCE = {
    "gan_vae_ae": "an evaluation after every step of its three wall-clock budgets would take "
                  "minutes (evaluations do not count against the budgets)",
}

# Demos that stop on the wall clock: their bundle pins the work done
# (``RunOptions.reproducible``), so the README's command is known only once the run finished and
# the command runs after it: name -> what is pinned.
PINNED = {"gan_vae_ae": "batches: the number of batches each of the three models saw"}


def _config(name: str):
    demo = get_demo(name)
    return demo, config_from_strings(demo.config_cls, {**TINY[name], "seed": SEED, "device": DEVICE})


def _train_in_process(demo, cfg) -> tuple[list[dict[str, float]], object]:
    """Drive the trainer as the app's workers do (one torch thread); (metric rows, last
    snapshot)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        driver, rows, last = Driver(demo, cfg), [], None
        while True:
            snap, end = driver.next()
            if snap is not None:
                if not snap.heartbeat:
                    rows.append(metrics_row(snap))
                last = snap
            if end is not None:
                assert end.state == "done", end.message
                return rows, last
    finally:
        torch.set_num_threads(threads)


_SERVER = """
import json, os, sys, torch
torch.set_num_threads(1)
from core.__main__ import main
base = dict(os.environ)
for line in sys.stdin:
    request = json.loads(line)
    os.environ.clear()
    os.environ.update({**base, **request["env"]})
    try:
        main(request["argv"])
        rc = 0
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
        rc = 1
    sys.stderr.flush()
    print("@@rc", rc, flush=True)
"""


class Cli:
    """One ``python`` process that runs ``python -m core`` commands one after the other (the
    arguments go to ``core.__main__.main``, which is all ``python -m core`` runs)."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.pending = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def submit(self, command: str, env: dict[str, str]) -> None:
        """Start ``command`` (``python -m core ...``) with the variables ``env`` set; the result
        of a command not collected yet is dropped first."""
        while self.pending:
            self.result()
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "core"], command
        self.proc.stdin.write(json.dumps({"argv": argv[3:], "env": env}) + "\n")
        self.proc.stdin.flush()
        self.pending += 1

    def result(self, timeout: float = 300) -> tuple[int, str]:
        """(exit status, output) of the command submitted last."""
        out = []
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                self.pending = 0
                return -1, "".join(out) + "\n(the CLI process ended)"
            if line.startswith("@@rc "):
                self.pending -= 1
                return int(line.split()[1]), "".join(out)
            out.append(line)

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def cli():
    c = Cli()
    yield c
    c.close()


def test_every_demo_has_a_tiny_config():
    """A demo registered without an entry in TINY would go untested: name it here."""
    assert sorted(demo_index()) == sorted(TINY), "add the demo to TINY (or drop a stale entry)"
    for name in TINY:  # every tiny config is valid
        _config(name)


def _excluded(key: str) -> bool:
    return key in WALL_CLOCK or key.startswith(SAMPLED_DIAGNOSTICS)


def _final_metrics_match(app: dict[str, float], cli: dict[str, float]) -> list[str]:
    """The keys both rows have whose values differ (rel 1e-4); raises if they share none."""
    shared = sorted(k for k in app.keys() & cli.keys() if not _excluded(k))
    assert len(shared) > 1, f"no metric to compare besides the step: {sorted(app)}"
    return [f"{k}: app {app[k]!r}, cli {cli[k]!r}" for k in shared
            if cli[k] != pytest.approx(app[k], rel=1e-4, abs=1e-6, nan_ok=True)]


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_bundle_command_reproduces_the_final_metrics(name, cli, tmp_path):
    demo, cfg = _config(name)
    out = tmp_path / "cli"

    def submit(command: str) -> None:
        cli.submit(command.replace("--out my_run", f"--out {shlex.quote(str(out))} --quiet"),
                   {} if name in APP_CADENCE else EVERY_STEP)

    if name not in PINNED:  # the command the README will give, started now so that both
        command = f"{reproduce_command(name, cfg)} --out my_run"  # runs train at once (2 cores)
        submit(command)
    rows, last = _train_in_process(demo, cfg)
    assert last is not None and last.final
    files = bundle_files(demo.name, cfg, rows, last, last.model)
    if name in PINNED:
        pinned = cfg.reproducible(last.metrics)
        assert pinned != cfg, f"{name}: the bundle does not pin {PINNED[name]}"
        command = f"{reproduce_command(name, pinned)} --out my_run"
        submit(command)
    with zipfile.ZipFile(io.BytesIO(zip_bundle(files))) as z:
        names = {n.split("/", 1)[1] for n in z.namelist()}
        readme = z.read("liveprop_run/README.txt").decode()
    assert command in [line.strip() for line in readme.splitlines()], \
        "the CLI ran another command than the README gives"
    rc, output = cli.result()
    assert rc == 0, output[-3000:]
    assert {p.name for p in out.iterdir()} == names, "the CLI folder and the zip differ"
    assert json.loads((out / "config.json").read_text()) == json.loads(files["config.json"])
    cli_rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert cli_rows[-1]["step"] == rows[-1]["step"]
    differ = _final_metrics_match(rows[-1], cli_rows[-1])
    assert not differ, f"{name}: the final metrics differ:\n" + "\n".join(differ)


def test_a_metric_that_differs_is_reported():
    """The comparison itself: equal rows pass, a changed metric is named, wall-clock ones and
    sampled diagnostics are left out."""
    app = {"step": 10, "time_s": 1.0, "loss": 0.5, "diag.act_mean/fc": 0.1, "nan": float("nan")}
    same = {**app, "time_s": 2.0, "loss": 0.50000001, "diag.act_mean/fc": 0.2}
    assert _final_metrics_match(app, same) == []
    assert _final_metrics_match(app, {**same, "loss": 0.51}) == ["loss: app 0.5, cli 0.51"]
    with pytest.raises(AssertionError, match="no metric"):
        _final_metrics_match({"step": 1, "time_s": 1.0}, {"step": 1, "time_s": 2.0})

