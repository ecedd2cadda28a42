"""ui.charts: one builder per kind of figure (Vega-Lite curves, Plotly class scatter) and
show_chart, which draws either kind."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from ui.charts import PALETTE, class_scatter, line_chart


def spec(chart) -> dict:
    """The chart's Vega-Lite spec, checked against Vega-Lite's JSON schema (altair's copy)."""
    import altair as alt

    d = chart.to_dict()
    alt.LayerChart.from_dict({**d, "data": {"values": chart.data.to_dict("records")}})
    return d


def data_of(chart) -> pd.DataFrame:
    return chart.data


HISTORY = pd.DataFrame({"step": [1.0, 2.0, 3.0, 4.0], "loss": [1.0, 0.5, 0.0, -0.1],
                        "acc": [np.nan, 0.2, 0.4, 0.6]})


def test_line_chart_draws_the_named_metrics_and_skips_missing_ones_and_gaps():
    chart = line_chart(HISTORY, ["loss", "acc", "not_logged"], "Losses", y_title="nats",
                       names={"acc": "accuracy"})
    d = data_of(chart)
    assert set(d["series"]) == {"loss", "accuracy"}
    assert len(d[d["series"] == "accuracy"]) == 3, "the NaN before accuracy exists is a gap"
    assert d[d["series"] == "loss"]["x"].tolist() == [1.0, 2.0, 3.0, 4.0]
    s = spec(chart)
    color = s["layer"][0]["encoding"]["color"]
    assert color["scale"] == {"domain": ["loss", "accuracy"], "range": PALETTE[:2]}
    assert s["title"] == "Losses"
    assert s["layer"][0]["encoding"]["x"]["title"] == "step"
    assert s["layer"][0]["encoding"]["y"]["title"] == "nats"


def test_line_chart_colours_log_axis_and_emphasis():
    chart = line_chart(HISTORY, ["loss", "acc"], log_y=True, colors={"acc": "#000000"},
                       emphasis="acc", x="step")
    d = data_of(chart)
    assert (d["value"] > 0).all(), "a log axis leaves out values <= 0"
    s = spec(chart)
    line = s["layer"][0]
    assert line["encoding"]["y"]["scale"]["type"] == "log"
    assert line["encoding"]["color"]["scale"]["range"] == [PALETTE[0], "#000000"]
    width = line["encoding"]["strokeWidth"]
    assert "acc" in json.dumps(width["condition"]) and width["condition"]["value"] > width["value"]
    assert "title" not in s


def test_line_chart_of_an_empty_history_is_an_empty_chart():
    chart = line_chart(pd.DataFrame([]), ["loss"], "Loss")
    assert data_of(chart).empty
    spec(chart)  # still a valid Vega-Lite spec


def test_class_scatter_one_trace_per_class_and_highlighted_points_on_top():
    xy = np.arange(20, dtype=float).reshape(10, 2)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    mark = np.zeros(10, bool)
    mark[[0, 1]] = True
    fig = class_scatter(xy, labels, ["zero", "one", "two"], "Map", highlight=mark,
                        index=np.arange(100, 110), index_label="image", height=300)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["zero", "one", "two", "labelled"]
    assert [len(t.x) for t in fig.data] == [3, 2, 3, 2]
    assert fig.data[0].marker.color == PALETTE[0] and fig.data[2].marker.color == PALETTE[2]
    assert list(fig.data[0].customdata) == [103, 106, 109]  # point 100 is highlighted
    assert "image #%{customdata}" in fig.data[0].hovertemplate
    star = fig.data[3]
    assert star.marker.symbol == "star" and list(star.marker.color) == [PALETTE[0], PALETTE[1]]
    assert fig.layout.title.text == "Map" and fig.layout.height == 300


def test_class_scatter_rejects_mismatched_input():
    xy = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"xy \(N, 2\)"):
        class_scatter(np.zeros((4, 3)), np.zeros(4), ["a"])
    with pytest.raises(ValueError, match=r"labels"):
        class_scatter(xy, np.zeros(3), ["a"])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        class_scatter(xy, np.array([0, 1, 2, 0]), ["a", "b"])
    with pytest.raises(ValueError, match="highlight"):
        class_scatter(xy, np.zeros(4), ["a"], highlight=np.ones(3, bool))
    empty = class_scatter(np.zeros((0, 2)), np.zeros(0), ["a", "b"])
    assert [len(t.x) for t in empty.data] == [0, 0]


SCRIPT = '''
import numpy as np
import pandas as pd
import streamlit as st
from ui.charts import class_scatter, line_chart, show_chart
h = pd.DataFrame({"step": [1.0, 2.0], "loss": [1.0, 0.5]})
show_chart(line_chart(h, ["loss"], "Loss curve"), key="t.loss")
col = st.columns(2)[1]
show_chart(class_scatter(np.zeros((2, 2)), np.array([0, 1]), ["a", "b"], "Scatter"),
           key="t.map", where=col)
'''


def run_script(script: str, tmp_path) -> AppTest:
    """Run ``script`` as a Streamlit app that imports this repository; asserts no exception."""
    from tests.conftest import ROOT

    path = tmp_path / "app.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n" + script)
    at = AppTest.from_file(str(path), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_show_chart_draws_either_kind_in_the_given_container(tmp_path):
    at = run_script(SCRIPT, tmp_path)
    vega, plotly = at.get("vega_lite_chart"), at.get("plotly_chart")
    assert len(vega) == 1 and "Loss curve" in vega[0].proto.spec
    assert len(plotly) == 1 and "Scatter" in plotly[0].proto.spec
    assert "t.map" in plotly[0].proto.id
    assert at.columns[1].get("plotly_chart") and not at.columns[0].get("plotly_chart")


COMPARE = '''
from dataclasses import dataclass
from core.engine import Run, RunPool
from core.protocol import Demo, Snapshot, param
from ui.live import compare_chart

@dataclass(frozen=True)
class Cfg:
    lr: float = param(0.1, lo=0.0, hi=1.0)

def train(cfg):
    for step in range(1, 4):
        yield Snapshot(step, 0.0, {"loss": cfg.lr * step}, total_steps=3, final=step == 3)

demo = Demo("cmp", Cfg, train)
from core.executors import ThreadExecutor  # a trainer defined in a script: not for processes

pool = RunPool(max_workers=1, executor=ThreadExecutor())
runs = [pool.submit(Run(demo, Cfg(lr=lr))) for lr in (0.1, 0.2)]
for r in runs:
    r.wait(10)
compare_chart(runs, runs[-1], ("loss",), key="cmp")
'''


def test_compare_overlay_draws_every_run_labelled_by_its_settings(tmp_path):
    at = run_script(COMPARE, tmp_path)
    assert at.expander[0].label == "Compare runs (2)"
    chart = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    domain = chart["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert len(domain) == 2 and domain[0].endswith("lr=0.1") and domain[1].endswith(
        "(current settings)")
    assert "(current settings)" in json.dumps(chart["layer"][0]["encoding"]["strokeWidth"])


def test_images_are_encoded_once_crisp_and_no_wider_than_streamlit_draws_them():
    import io

    from PIL import Image

    from ui.charts import MAX_IMAGE_WIDTH, png_bytes

    rng = np.random.default_rng(0)
    digit = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    data = png_bytes(digit)
    assert png_bytes(digit.copy()) is data, "the same pixels are encoded once"
    big = np.asarray(Image.open(io.BytesIO(data)))
    k = 300 // 28  # nearest-neighbour upscaling: every pixel a k x k block, lossless
    assert np.array_equal(big, digit.repeat(k, 0).repeat(k, 1))
    other = digit.copy()
    other[0, 0] ^= 1
    assert png_bytes(other) != data
    walk = rng.integers(0, 256, (28, 28 * 11, 3), dtype=np.uint8)  # a wide strip
    w = Image.open(io.BytesIO(png_bytes(walk))).size[0]
    assert w <= MAX_IMAGE_WIDTH and w % walk.shape[1] == 0
    # an explicit scale: its own pixels, or k x k blocks; each scale encoded (and cached) apart
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(digit, 1)))), digit)
    three = np.asarray(Image.open(io.BytesIO(png_bytes(digit, 3))))
    assert np.array_equal(three, digit.repeat(3, 0).repeat(3, 1))
    floats = digit.astype(np.float32) / 255  # float images in [0, 1] as st.image takes them
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(floats, 1)))), digit)
    with pytest.raises(ValueError, match="scale"):
        png_bytes(digit, 0)
    wide = rng.integers(0, 256, (100, 400, 3), dtype=np.uint8)  # shape and scale are in the key
    assert Image.open(io.BytesIO(png_bytes(wide, 2))).size == (800, 200)
    assert Image.open(io.BytesIO(png_bytes(wide, 3))).size == (1200, 300)
    assert Image.open(io.BytesIO(png_bytes(wide.reshape(400, 100, 3), 2))).size == (200, 800)
