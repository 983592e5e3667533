"""The report's charts (pipeline/report/charts.py): titled, labelled, readable, colour-blind-safe, no pyplot."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import datetime

import pyarrow as pa
import pytest
from conftest import SAMPLE_CONFIG
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from pipeline.config import load_config
from pipeline.correlate import flows
from pipeline.report import charts


@pytest.fixture(scope="module")
def sample_flows(sample_warehouse) -> pa.Table:
    return flows(sample_warehouse, load_config(SAMPLE_CONFIG))


def hourly() -> pa.Table:
    hours = [datetime(2026, 10, 24, h) for h in range(0, 24, 3)] + [datetime(2026, 10, 26, 5)]
    return pa.table({"hour": pa.array(hours * 2, pa.timestamp("s")),
                     "verdict": ["blocked-by-rule"] * len(hours) + ["no-policy"] * len(hours),
                     "drops": list(range(1, 2 * len(hours) + 1))})


def _overlaps(boxes) -> list:
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def _check(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    canvas = FigureCanvasAgg(fig)  # what png_bytes renders with
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    for axis in (ax.xaxis, ax.yaxis):
        labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
        assert labels, f"{ax.get_title()}: no tick labels"
        assert _overlaps([t.get_window_extent(renderer).expanded(1.0, 1.0) for t in labels]) == [], ax.get_title()
    inside = fig.bbox
    for text in [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_yticklabels()]:
        if text.get_visible() and text.get_text():
            box = text.get_window_extent(renderer)
            assert box.x0 >= inside.x0 - 1 and box.x1 <= inside.x1 + 1, f"{text.get_text()!r} is cut off"


@pytest.mark.parametrize("name", [c[0] for c in charts.CHARTS])
def test_every_chart_is_titled_labelled_and_has_no_overlapping_labels(name, sample_flows):
    _file, _title, make, source = next(c for c in charts.CHARTS if c[0] == name)
    fig = make(sample_flows if source == "flows" else hourly())
    _check(fig)
    assert charts.png_bytes(fig).startswith(b"\x89PNG")


def test_verdicts_keep_their_colour_and_the_palette_is_okabe_ito(sample_flows):
    assert set(charts.VERDICT_COLOURS.values()) <= set(charts.OKABE_ITO.values())
    assert len(set(charts.VERDICT_COLOURS.values())) == len(charts.VERDICT_COLOURS)
    fig = charts.drops_per_rule(sample_flows)
    used = {to_hex(p.get_facecolor()).upper() for p in fig.axes[0].patches}
    assert used <= {c.upper() for c in charts.VERDICT_COLOURS.values()}
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "WEB01: Block everything"  # the biggest on top
    stacked = charts.drops_per_hour(hourly())
    assert {to_hex(p.get_facecolor()).upper() for p in stacked.axes[0].patches} == \
        {charts.VERDICT_COLOURS["blocked-by-rule"], charts.VERDICT_COLOURS["no-policy"]}


def test_hostile_and_long_labels_are_cut_and_cannot_switch_on_mathtext():
    rows = pa.table({"host": ["H"] * 3, "rule": ["$\\frac{1}{0}$ " + "x" * 200, "$$", None],
                     "verdict": ["blocked-by-rule", "no-policy", "no-matching-filter"], "events": [5, 3, 1]})
    fig = charts.drops_per_rule(rows)
    _check(fig)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert all(len(t) <= charts.LABEL_CHARS + 2 for t in labels) and "H: (no rule)" in labels
    assert labels[0].startswith("H: \\$\\frac")


def test_empty_inputs_give_a_figure_that_says_so():
    empty_flows = pa.table({c: pa.array([], t) for c, t in (("host", pa.string()), ("direction", pa.string()),
                                                             ("protocol", pa.int16()), ("local_port", pa.int32()),
                                                             ("remote_ip", pa.string()), ("rule", pa.string()),
                                                             ("verdict", pa.string()), ("events", pa.int64()))})
    empty_hourly = pa.table({"hour": pa.array([], pa.timestamp("s")), "verdict": pa.array([], pa.string()),
                             "drops": pa.array([], pa.int64())})
    for _name, _title, make, source in charts.CHARTS:
        fig = make(empty_flows if source == "flows" else empty_hourly)
        assert any("in this period" in t.get_text() for t in fig.axes[0].texts)
        assert charts.png_bytes(fig).startswith(b"\x89PNG")


def test_charts_never_load_pyplot_or_change_rc_params():
    # (reading rcParams['backend'] would itself resolve the backend through pyplot: it is left out)
    rc = "{k: matplotlib.rcParams[k] for k in list(matplotlib.rcParams.keys()) if k != 'backend'}"
    code = (f"import matplotlib, sys; before = {rc}\n"
            "from pipeline.report import charts\n"
            "import pyarrow as pa\n"
            "charts.png_bytes(charts.top_ports(pa.table({'direction': ['inbound'], 'protocol': [6], "
            "'local_port': [22], 'events': [3]})))\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
            f"assert {rc} == before\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
