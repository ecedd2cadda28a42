"""Headless command line: train any Liveprop demo without the UI.

    python -m core list
    python -m core train playground --set dataset=spiral --set hidden=8,8 --seed 3 --out runs/p1

``train`` writes the run folder of :mod:`core.bundle` (the layout of a page's **Download run**
zip): ``config.json``, ``metrics.jsonl`` / ``metrics.csv`` (one row per snapshot with ``step``,
``time_s`` and every scalar metric), the final snapshot's image artifacts as PNG (other arrays in
``artifacts.npz``, dicts with tensors such as DQN checkpoints in ``NAME.pt``, other dicts in
``NAME.json``), the final weights (``model.safetensors`` and ``model.pt``; load with
``torch.load(path, weights_only=True)``) and ``README.txt`` with the command that reproduces it.
Bad input exits with status 2 and one line naming the problem and the allowed values.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn


def _fail(msg: str) -> NoReturn:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def cmd_list() -> None:
    from core.protocol import field_specs
    from core.registry import all_demos

    for name, demo in all_demos().items():
        print(f"{name}: {demo.title or demo.description}")
        for spec in field_specs(demo.config_cls):
            help_ = f"  {spec.help}" if spec.help else ""
            was = f"  [also: {', '.join(spec.aliases)}]" if spec.aliases else ""
            print(f"    {spec.name} = {spec.default!r}  ({spec.describe()}){help_}{was}")
        print()


def _progress(step: int, total: int | None, metrics: dict[str, float], width: int = 30) -> None:
    shown = "  ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:4]
                      if isinstance(v, (int, float)))
    if total:
        frac = min(1.0, step / total)
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        line = f"\r[{bar}] {step}/{total}  {shown}"
    else:
        line = f"\rstep {step}  {shown}"
    sys.stderr.write(line[:160].ljust(100))
    sys.stderr.flush()


def _config(args: argparse.Namespace) -> tuple[Any, Any]:
    """(demo, validated config) from the command line; exits with one line on bad input."""
    from core.protocol import config_from_strings
    from core.registry import get_demo

    try:
        demo = get_demo(args.demo)
    except KeyError as e:
        _fail(str(e.args[0]))
    values: dict[str, str] = {}
    for item in args.set or []:
        if "=" not in item:
            _fail(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        values[k.strip()] = v
    if args.seed is not None:
        values["seed"] = str(args.seed)
    try:
        return demo, config_from_strings(demo.config_cls, values)
    except ValueError as e:
        _fail(str(e))


def _train(demo: Any, cfg: Any, out: Path, quiet: bool) -> tuple[Any, list[dict[str, float]]]:
    """Drive the trainer, writing ``metrics.jsonl`` as it goes; (the last snapshot, the metric
    rows), or exit with one line (divergence, any trainer error)."""
    from core.bundle import metrics_row
    from core.executors import Driver
    from core.protocol import carry_artifacts

    driver, last, rows = Driver(demo, cfg), None, []
    with open(out / "metrics.jsonl", "w") as f:
        while True:
            snap, end = driver.next()
            if snap is not None:
                row = metrics_row(snap)
                rows.append(row)
                f.write(json.dumps(row) + "\n")
                f.flush()
                if not quiet:
                    _progress(snap.step, snap.total_steps, snap.metrics)
                last = carry_artifacts(last, snap)  # the bundle gets each artifact's newest
            if end is not None:
                break
    if not quiet:
        sys.stderr.write("\n")
    if end.state != "done":
        _fail(end.message)
    if last is None:
        _fail("the trainer produced no snapshot")
    return last, rows


def cmd_train(args: argparse.Namespace) -> None:
    """Train one demo and write its run folder (the layout of :mod:`core.bundle`)."""
    from core.bundle import bundle_files, write_bundle
    from core.protocol import config_to_dict

    demo, cfg = _config(args)
    out = Path(args.out or f"runs/{demo.name}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"demo": demo.name, **config_to_dict(cfg)},
                                                    indent=2))
    except OSError as e:
        _fail(f"cannot write to {str(out)!r}: {e.strerror or e}")
    last, rows = _train(demo, cfg, out, args.quiet)
    files = bundle_files(demo.name, cfg, rows, last, last.model)
    try:
        write_bundle(out, files)
    except OSError as e:
        _fail(f"cannot write to {str(out)!r}: {e.strerror or e}")
    final = ", ".join(f"{k}={v:.4g}" for k, v in last.metrics.items() if isinstance(v, (int, float)))
    print(f"{demo.name}: step {last.step} in {last.time_s:.1f}s  {final}")
    print(f"wrote {out}/: " + ", ".join(sorted(files)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list every demo with its config fields, defaults and ranges")
    p = sub.add_parser("train", help="train one demo headless and write its artifacts")
    p.add_argument("demo")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="output folder (default runs/DEMO)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "list":
            cmd_list()
        else:
            cmd_train(args)
    except KeyboardInterrupt:
        _fail("interrupted")


if __name__ == "__main__":
    main()
