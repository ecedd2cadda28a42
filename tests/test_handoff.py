"""core.handoff: what one page hands another (today: DQN policy checkpoints for the Decision
Transformer), from the in-process store, from a file the CLI wrote, or trained on demand."""

import subprocess
import sys

import pytest
import torch

from core import handoff
from core.handoff import POLICIES
from core.protocol import Demo, Snapshot
from core.rl import dqn
from tests.conftest import ROOT

# a short DQN run that still evaluates (and so checkpoints) three times
SHORT = "steps=1500,learning_starts=500,train_freq=250,gradient_steps=4,hidden=16," \
        "eval_every=500,eval_episodes=1,seed=7,device=cpu"


@pytest.fixture(autouse=True)
def data_folder(tmp_path, monkeypatch):
    """Each test has its own data folder: the store of finished runs lives there."""
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    return tmp_path


def test_a_path_outside_the_data_folder_is_refused_without_touching_it(tmp_path):
    for path in ("/etc/passwd.pt", "../../secret.pt", "/no/such/file.pt"):
        with pytest.raises(ValueError, match="is not in the data folder") as e:
            handoff.obtain(POLICIES, "dqn", path)
        assert "no such file" not in str(e.value)  # the answer is the same whether it exists


def test_finished_runs_are_seen_by_another_process(tmp_path):
    handoff.publish(POLICIES, "dqn", dqn.DqnConfig(seed=5), fake_payload())
    code = ("from core import handoff; "
            "print([e.run for e in handoff.finished(handoff.POLICIES)])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**__import__("os").environ, "LIVEPROP_DATA": str(tmp_path)})
    assert out.stdout.strip() == "['seed=5']", out.stderr


def fake_payload(hidden: int = 8, n: int = 2, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return {"steps": torch.arange(1, n + 1) * 100, "eval_returns": torch.rand(n) * 500,
            "hidden": hidden, "state_dicts": [dqn.q_network(hidden).state_dict() for _ in range(n)]}


def test_run_names_list_the_non_default_settings_and_accept_old_names():
    assert handoff.run_name(dqn.DqnConfig()) == ""
    cfg = dqn.DqnConfig(steps=20_000, hidden=32, seed=3)
    assert handoff.run_name(cfg) == "seed=3,hidden=32,steps=20000"
    handoff.check_run("dqn", handoff.run_name(cfg))
    handoff.check_run("dqn", "total_steps=20000, width=32")  # names from before the renames
    handoff.check_run("dqn", "runs/dqn/cartpole_policies.pt")  # files are checked when obtained


@pytest.mark.parametrize("run, message", [
    ("nonsense", "'nonsense' is not a setting; write settings as key=value pairs"),
    ("steps=20000,colour=red", "unknown key 'colour'; known keys: seed, device"),
    ("steps=lots", "steps='lots' is not an integer; allowed: int in"),
    ("steps=10", "steps=10 is out of range"),
    ("eps_start=0.01", "ε end (0.04) must not exceed ε start (0.01)"),
])
def test_bad_run_strings_get_a_plain_sentence(run, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        handoff.check_run("dqn", run)
    with pytest.raises(ValueError, match="not a setting|unknown key|not an integer|out of range|"
                                         "must not exceed"):
        handoff.obtain(POLICIES, "dqn", run)


def test_unknown_demo_or_kind_is_a_value_error():
    with pytest.raises(ValueError, match="unknown demo 'dqm'; known demos: .*dqn"):
        handoff.check_run("dqm", "")
    with pytest.raises(ValueError, match="unknown kind 'encoders'; known kinds: cartpole_policies"):
        handoff.obtain("encoders", "dqn", "")
    with pytest.raises(ValueError, match="unknown kind"):
        handoff.finished("encoders")


def test_publish_finished_obtain_from_the_store_newest_first():
    a, b = fake_payload(seed=1), fake_payload(seed=2)
    cfg_a = dqn.DqnConfig(steps=3000, seed=101)
    handoff.publish(POLICIES, "dqn", cfg_a, a)
    handoff.publish(POLICIES, "dqn", dqn.DqnConfig(seed=102), b)
    done = handoff.finished(POLICIES)
    assert [(e.kind, e.demo, e.run) for e in done[:2]] == [
        (POLICIES, "dqn", "seed=102"), (POLICIES, "dqn", "seed=101,steps=3000")]
    assert torch.equal(done[1].payload["eval_returns"], a["eval_returns"])
    # the same settings however written (old field name, order, spaces) give the same run,
    # which is reused (nothing is trained: the payload is the published one, read back)
    again = handoff.obtain(POLICIES, "dqn", " total_steps=3000 , seed=101")
    assert torch.equal(again["eval_returns"], a["eval_returns"])
    assert handoff.finished(POLICIES)[0].run == "seed=101,steps=3000"  # used last: most recent


def test_the_store_keeps_a_bounded_number_of_runs_per_kind():
    for seed in range(200, 200 + handoff.STORE_SIZE + 2):
        handoff.publish(POLICIES, "dqn", dqn.DqnConfig(seed=seed), fake_payload(n=1))
    runs = [e.run for e in handoff.finished(POLICIES)]
    assert len(runs) == handoff.STORE_SIZE
    assert runs[0] == f"seed={200 + handoff.STORE_SIZE + 1}" and "seed=201" not in runs


def test_a_dqn_run_publishes_its_policies_and_the_cli_file_loads_back(tmp_path, monkeypatch):
    from core.__main__ import main

    last = list(dqn.train(handoff_config(SHORT)))[-1]
    payload = last.artifacts[POLICIES]
    assert payload["steps"].tolist() == [500, 1000, 1500] and payload["hidden"] == 16
    assert payload["eval_returns"].dtype == torch.float32 and len(payload["state_dicts"]) == 3
    with monkeypatch.context() as m:  # published at the end of the run: nothing is trained
        m.setattr(handoff, "_train", lambda *a: pytest.fail("trained again"))
        got = handoff.obtain(POLICIES, "dqn", SHORT)
    assert torch.equal(got["eval_returns"], payload["eval_returns"])
    obs = torch.randn(5, 4)
    net = handoff.policy(payload, 2)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert torch.equal(net(obs), last.model(obs))  # the final checkpoint is the final network
    assert net(obs).shape == (5, 2)
    # the CLI writes the final snapshot's artifact as DIR/cartpole_policies.pt
    out = tmp_path / "dqn"
    main(["train", "dqn", "--quiet", "--out", str(out),
          *sum((["--set", kv] for kv in SHORT.split(",")), [])])
    loaded = handoff.obtain(POLICIES, "dqn", str(out / f"{POLICIES}.pt"))
    assert torch.equal(loaded["steps"], payload["steps"])
    assert torch.equal(loaded["eval_returns"], payload["eval_returns"])
    assert torch.equal(handoff.policy(loaded, 1)(obs), handoff.policy(payload, 1)(obs))


def handoff_config(run: str) -> dqn.DqnConfig:
    from core.protocol import config_from_strings

    return config_from_strings(dqn.DqnConfig, dict(kv.split("=") for kv in run.split(",")))


def test_obtain_trains_a_run_it_has_not_seen():
    run = SHORT.replace("seed=7", "seed=8")
    payload = handoff.obtain(POLICIES, "dqn", run)
    assert payload["steps"].tolist() == [500, 1000, 1500]
    assert handoff.finished(POLICIES)[0].run == handoff.run_name(handoff_config(run))
    assert torch.equal(handoff.obtain(POLICIES, "dqn", run)["eval_returns"], payload["eval_returns"])


def test_files_written_before_the_renames_still_load(tmp_path):
    new = fake_payload(hidden=8, n=2)
    old = {"steps": new["steps"], "eval_returns": new["eval_returns"], "width": 8,
           "state_dicts": [{f"net.{k}": v for k, v in sd.items()} for sd in new["state_dicts"]]}
    torch.save(old, tmp_path / "checkpoints.pt")
    loaded = handoff.obtain(POLICIES, "dqn", str(tmp_path / "checkpoints.pt"))
    obs = torch.randn(3, 4)
    assert torch.equal(handoff.policy(loaded, 1)(obs), handoff.policy(new, 1)(obs))


def test_bad_files_get_a_plain_sentence(tmp_path):
    def obtain(name: str):
        return handoff.obtain(POLICIES, "dqn", str(tmp_path / name))

    with pytest.raises(ValueError, match="cannot read .*missing.pt': there is no such file"):
        obtain("missing.pt")
    (tmp_path / "text.pt").write_text("steps,returns\n1,2\n")
    with pytest.raises(ValueError, match="cannot read .*text.pt': it is not a file written by"):
        obtain("text.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not hold DQN policy checkpoints \\(missing steps, "
                                         "eval_returns, hidden, state_dicts\\)"):
        obtain("other.pt")
    torch.save({**fake_payload(hidden=8), "hidden": 16}, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match="checkpoint 0 of .* does not fit a Q-network with 16 "
                                         "hidden units"):
        obtain("shape.pt")
    torch.save({**fake_payload(n=2), "steps": torch.arange(3)}, tmp_path / "ragged.pt")
    with pytest.raises(ValueError, match="holds 2 checkpoints for 3 steps and 2 returns"):
        obtain("ragged.pt")


def test_a_producer_that_diverges_or_lacks_the_kind_is_a_value_error(monkeypatch):
    def diverging(cfg):
        yield Snapshot(1, 0.0, {"loss": float("nan")}, total_steps=2)
        yield Snapshot(2, 0.0, {"loss": 1.0}, {POLICIES: fake_payload()}, total_steps=2, final=True)

    def empty(cfg):
        yield Snapshot(1, 0.0, {"loss": 1.0}, total_steps=1, final=True)

    demos = {"dqn": Demo("dqn", dqn.DqnConfig, diverging), "other": Demo("other", dqn.DqnConfig,
                                                                         empty)}
    monkeypatch.setattr("core.registry.get_demo", demos.__getitem__)
    with pytest.raises(ValueError, match="the dqn run seed=301 diverged \\(loss became nan at step "
                                         "1\\), so it has no cartpole_policies"):
        handoff.obtain(POLICIES, "dqn", "seed=301")
    with pytest.raises(ValueError, match="the other demo does not produce cartpole_policies"):
        handoff.obtain(POLICIES, "other", "seed=301")


def test_policy_needs_no_dqn_import():
    code = ("import sys, torch; from core import handoff; from core.blocks.mlp import mlp; "
            "p = {'steps': torch.tensor([1]), 'eval_returns': torch.tensor([9.0]), 'hidden': 4, "
            "'state_dicts': [mlp([4, 4, 4, 2]).state_dict()]}; "
            "q = handoff.policy(p, 0)(torch.zeros(3, 4)); "
            "assert q.shape == (3, 2) and 'core.rl.dqn' not in sys.modules, sys.modules.keys()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_obtaining_a_run_not_finished_yet_yields_heartbeats_while_it_trains():
    """A consumer ``yield from obtain_steps(...)`` stays stoppable while the producer trains
    (the Decision Transformer naming a DQN run nobody has trained)."""
    gen = handoff.obtain_steps(POLICIES, "dqn", SHORT.replace("seed=7", "seed=9"))
    beats = []
    while True:
        try:
            beats.append(next(gen))
        except StopIteration as stop:
            payload = stop.value
            break
    assert beats and all(b.heartbeat and "training the dqn run" in b.phase for b in beats)
    fractions = [b.step / b.total_steps for b in beats]
    assert fractions == sorted(fractions) and fractions[-1] <= 1
    assert payload["steps"].tolist() == [500, 1000, 1500]


def test_a_clip_export_without_phrase_embeddings_is_trained_again(monkeypatch):
    """An export written before CLIP handed over its text embeddings cannot condition the
    prompted segmentation: obtaining that run trains it again and replaces the export; a run
    on digit strips (which has no such table) is reused."""
    from core.blocks.convnet import ConvEncoder
    from core.representation.clip import ClipConfig

    old = {"width": 8, "depth": 3, "state_dict": ConvEncoder(8, 3).state_dict(),
           "image_size": 32, "zero_shot_seen": 0.9, "data": "scenes"}
    new = {**old, "phrase_embeddings": torch.nn.functional.normalize(torch.randn(90, 16), dim=1)}
    trained = []

    def fake_train(kind, demo, config):
        trained.append(handoff.run_name(config))
        return new
        yield  # a generator, as the real one

    monkeypatch.setattr(handoff, "_train", fake_train)
    handoff.publish(handoff.IMAGE_ENCODERS, "clip", ClipConfig(seed=3), old)
    got = handoff.obtain(handoff.IMAGE_ENCODERS, "clip", "seed=3")
    assert trained == ["seed=3"] and torch.equal(got["phrase_embeddings"],
                                                 new["phrase_embeddings"])
    assert handoff.obtain(handoff.IMAGE_ENCODERS, "clip", "seed=3") is not None
    assert trained == ["seed=3"], "the new export is reused"
    digits = {**old, "data": "digits", "image_size": 16}
    handoff.publish(handoff.IMAGE_ENCODERS, "clip", ClipConfig(seed=4, data="digits"), digits)
    handoff.obtain(handoff.IMAGE_ENCODERS, "clip", "seed=4,data=digits")
    assert trained == ["seed=3"]
