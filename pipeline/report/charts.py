"""The report's charts: each a function from a table (Arrow or pandas) to a :class:`matplotlib.figure.Figure`.

Notebooks reuse them::

    >>> from pipeline.report import charts
    >>> charts.top_ports(flows_table)            # a Figure; Jupyter shows it
    >>> charts.png_bytes(charts.drops_per_hour(hourly))

Figures are made with :class:`~matplotlib.figure.Figure` directly (never pyplot), so no global
state (backend, current figure, rcParams) is touched; PNGs are rendered by the Agg canvas.
Colours are the Okabe–Ito palette (safe for the common colour-vision deficiencies), each verdict
always in its own colour (:data:`VERDICT_COLOURS`), the heatmap in ``cividis``.  Labels taken from
the data (rule and host names are attacker-influenced) are cut to :data:`LABEL_CHARS` and have
``$`` escaped, so they can neither switch on mathtext nor push the plot off the figure.

Inputs: ``hourly`` has ``hour`` (the hour's start, local wall time of the report's zone), ``verdict``
and ``drops``; ``flows`` is the flows view (:meth:`pipeline.correlate.Session.flows`).
"""

from __future__ import annotations

import io
import ipaddress
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..correlate import VERDICTS
from ..schema import protocol_name
from ..suggest import SERVICES

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {"orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7", "black": "#000000"}
VERDICT_COLOURS = {
    "blocked-by-rule": OKABE_ITO["vermillion"],
    "negotiation-required": OKABE_ITO["blue"],
    "permitted-by-policy": OKABE_ITO["reddish purple"],
    "no-matching-filter": OKABE_ITO["orange"],
    "no-policy": OKABE_ITO["sky blue"],
    "boot-or-block-mode": OKABE_ITO["bluish green"],
}
BAR_COLOUR = OKABE_ITO["blue"]
HEATMAP = "cividis"
LABEL_CHARS = 48
FIGSIZE = (10.0, 4.8)
DPI = 100
DROPS_AXIS = "drops (events)"


def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data.to_pandas()
    return pd.DataFrame(data)


def label(text: Any, limit: int = LABEL_CHARS) -> str:
    """Data as a safe chart label: one line, at most ``limit`` characters, no mathtext."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("$", r"\$")


def _figure(height: float = FIGSIZE[1]) -> Figure:
    return Figure(figsize=(FIGSIZE[0], height), dpi=DPI, layout="constrained")


def _empty(fig: Figure, ax: Any, what: str) -> Figure:
    ax.text(0.5, 0.5, f"no {what} in this period", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG (no timestamp or version in the metadata, so the same data gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _hbar(fig: Figure, ax: Any, labels: list[str], values: list[int], colours: list[str] | str) -> None:
    positions = list(range(len(labels)))[::-1]  # the largest on top
    ax.barh(positions, values, color=colours, height=0.7)
    ax.set_yticks(positions, labels=labels)
    ax.set_xlabel(DROPS_AXIS)
    ax.margins(x=0.12)
    for y, v in zip(positions, values, strict=True):
        ax.annotate(f"{v:,}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def drops_per_hour(hourly: Any, *, zone: str = "UTC") -> Figure:
    """Drops per hour over the period, stacked by verdict."""
    df = _frame(hourly)
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_title(f"Drops per hour by verdict ({zone})")
    if df.empty or df["drops"].sum() == 0:
        return _empty(fig, ax, "drops")
    table = df.pivot_table(index="hour", columns="verdict", values="drops", aggfunc="sum", fill_value=0)
    table.index = pd.to_datetime(table.index)
    full = pd.date_range(table.index.min(), table.index.max(), freq="h")
    table = table.reindex(full, fill_value=0)
    # one filled step outline per verdict (a bar per hour would be hundreds of patches)
    edges = mdates.date2num(list(table.index) + [table.index[-1] + pd.Timedelta(hours=1)])
    bottom = np.zeros(len(table.index))
    for verdict in [v for v in VERDICTS if v in table.columns]:
        top = bottom + table[verdict].to_numpy(dtype=float)
        ax.stairs(top, edges, baseline=bottom, fill=True, color=VERDICT_COLOURS[verdict], label=verdict)
        bottom = top
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, max(float(bottom.max()) * 1.05, 1.0))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(f"time ({zone}), one bar per hour")
    ax.set_ylabel("drops per hour (events)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(title="verdict", loc="outside lower center", fontsize=8, title_fontsize=8, ncols=3, frameon=False)
    return fig


def hour_day_heatmap(hourly: Any, *, zone: str = "UTC") -> Figure:
    """Drops by hour of day (columns) and day (rows)."""
    df = _frame(hourly)
    days = 1 if df.empty else pd.to_datetime(df["hour"]).dt.date.nunique()
    fig = _figure(min(max(2.6, 1.4 + 0.32 * days), 12.0))
    ax = fig.add_subplot()
    ax.set_title(f"Drops by hour of day and day ({zone})")
    if df.empty or df["drops"].sum() == 0:
        return _empty(fig, ax, "drops")
    when = pd.to_datetime(df["hour"])
    grid = (df.assign(day=when.dt.date, hour_of_day=when.dt.hour)
            .pivot_table(index="day", columns="hour_of_day", values="drops", aggfunc="sum", fill_value=0)
            .reindex(columns=range(24), fill_value=0))
    all_days = pd.date_range(min(grid.index), max(grid.index), freq="D").date
    grid = grid.reindex(all_days, fill_value=0)
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap=HEATMAP, interpolation="nearest")
    ax.set_xticks(range(24), labels=[f"{h:02d}" for h in range(24)], fontsize=8)
    step = max(1, len(grid.index) // 20)
    ax.set_yticks(range(0, len(grid.index), step),
                  labels=[d.strftime("%a %Y-%m-%d") for d in grid.index[::step]], fontsize=8)
    ax.set_xlabel(f"hour of day ({zone})")
    ax.set_ylabel("day")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(DROPS_AXIS)
    return fig


def _service(protocol: Any, port: Any) -> str:
    name = protocol_name(None if pd.isna(protocol) else int(protocol)) or "?"
    service = SERVICES.get(int(port))
    return f"{name} {int(port)}" + (f" ({service})" if service else "")


def top_ports(flows: Any, *, top: int = 10) -> Figure:
    """The local service ports that inbound drops were aimed at, most drops first."""
    df = _frame(flows)
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_title(f"Top {top} blocked local service ports (inbound drops)")
    inbound = df[(df["direction"] == "inbound") & df["local_port"].notna()] if not df.empty else df
    if inbound.empty:
        return _empty(fig, ax, "inbound drops to a service port")
    grouped = (inbound.groupby(["protocol", "local_port"], dropna=False)["events"].sum()
               .sort_values(ascending=False, kind="stable").head(top))
    labels = [label(_service(p, port)) for p, port in grouped.index]
    _hbar(fig, ax, labels, [int(v) for v in grouped.to_numpy()], BAR_COLOUR)
    ax.set_ylabel("protocol and local port")
    return fig


def _network(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    return str(ipaddress.ip_network(f"{ip}/{24 if address.version == 4 else 64}", strict=False))


def top_sources(flows: Any, *, top: int = 10) -> Figure:
    """The remote addresses that sent the most dropped inbound traffic, with their /24 (or /64) network."""
    df = _frame(flows)
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_title(f"Top {top} remote sources of inbound drops, with their networks")
    inbound = df[(df["direction"] == "inbound") & df["remote_ip"].notna()] if not df.empty else df
    if inbound.empty:
        return _empty(fig, ax, "inbound drops with a remote address")
    grouped = inbound.groupby("remote_ip")["events"].sum().sort_values(ascending=False, kind="stable").head(top)
    labels = [label(f"{ip}  ({_network(ip)})") for ip in grouped.index]
    _hbar(fig, ax, labels, [int(v) for v in grouped.to_numpy()], BAR_COLOUR)
    ax.set_ylabel("remote address (network)")
    return fig


def drops_per_rule(flows: Any, *, top: int = 15) -> Figure:
    """Drops per deciding rule (host: rule), coloured by verdict."""
    df = _frame(flows)
    rows = 1 if df.empty else min(top, len(df.groupby(["host", "rule", "verdict"], dropna=False)))
    fig = _figure(max(FIGSIZE[1], 1.5 + 0.32 * rows))
    ax = fig.add_subplot()
    ax.set_title("Drops per rule (the filter that decided each drop)")
    if df.empty:
        return _empty(fig, ax, "drops")
    frame = df.assign(rule=df["rule"].fillna("(no rule)"))
    grouped = (frame.groupby(["host", "rule", "verdict"], dropna=False)["events"].sum()
               .sort_values(ascending=False, kind="stable").head(top))
    labels = [label(f"{h}: {r}") for h, r, _ in grouped.index]
    colours = [VERDICT_COLOURS.get(v, BAR_COLOUR) for _, _, v in grouped.index]
    _hbar(fig, ax, labels, [int(v) for v in grouped.to_numpy()], colours)
    ax.set_ylabel("host: rule")
    shown = [v for v in VERDICTS if v in {k[2] for k in grouped.index}]
    fig.legend(handles=[Patch(color=VERDICT_COLOURS[v], label=v) for v in shown], title="verdict",
               loc="outside lower center", fontsize=8, title_fontsize=8, ncols=3, frameon=False)
    return fig


#: The report's charts: file name (under ``charts/``), title for the page, function and which input it takes.
CHARTS: tuple[tuple[str, str, Any, str], ...] = (
    ("drops-per-hour.png", "Drops per hour by verdict", drops_per_hour, "hourly"),
    ("top-ports.png", "Top blocked local service ports", top_ports, "flows"),
    ("top-sources.png", "Top remote sources", top_sources, "flows"),
    ("hour-day-heatmap.png", "Drops by hour of day and day", hour_day_heatmap, "hourly"),
    ("drops-per-rule.png", "Drops per rule", drops_per_rule, "flows"),
)
