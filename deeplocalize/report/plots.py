"""The report's figures, drawn with matplotlib's Agg canvas and returned as PNG bytes.

No pyplot: figures are built on `matplotlib.figure.Figure` with an Agg canvas,
so making a report never changes the plotting backend of a notebook or an
application, and works without a display.

Each function returns PNG bytes, or None when the trace holds nothing to draw.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from deeplocalize.vocab import accuracy_key


@dataclass
class Plot:
    """One rendered figure: a file-friendly name, a title, a caption, PNG bytes.

    Example:
        >>> Plot("loss", "Loss and accuracy", "per step", png_bytes).name
        'loss'
    """

    name: str
    title: str
    caption: str
    png: bytes


RED = "#c0392b"
AMBER = "#d97706"
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e4e7eb"
PALETTE = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d",
           "#9333ea", "#ea580c", "#0d9488", "#4f46e5", "#ca8a04"]
DPI = 100
WIDTH = 11.0


def _figure(height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()


def _style(ax, ylabel: str = "", title: str = "") -> None:
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9aa5b1")
    ax.tick_params(colors=MUTED, labelsize=9)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    if ylabel:
        ax.set_ylabel(ylabel, color=INK, fontsize=10)
    if title:
        ax.set_title(title, color=INK, fontsize=11, loc="left", fontweight="bold")


def _steps(trace) -> np.ndarray:
    steps = trace.column("step")
    if steps.size == 0 or np.all(np.isnan(steps)):
        return np.arange(trace.n_steps, dtype=float)
    return steps


def detection_marks(diagnosis) -> list[tuple[int, str, str, str]]:
    """Steps to mark on time plots: ``(step, label, colour, linestyle)``.

    The step of the problem the verdict rests on (red, dashed) and, when an
    earlier warning exists, the first detection (amber, dotted).

    Example:
        >>> detection_marks(d)
        [(3, 'nan at step 3', '#c0392b', '--'), (0, 'first warning at step 0', '#d97706', ':')]
    """
    if diagnosis is None:
        return []
    marks = []
    top = diagnosis.primary
    if top is not None and top.step is not None:
        marks.append((int(top.step), f"{top.kind} at step {top.step}", RED, "--"))
    first = diagnosis.first_detection_step
    if first is not None and (not marks or first < marks[0][0]):
        marks.append((int(first), f"first warning at step {first}", AMBER, ":"))
    return marks


def _mark_detection(ax, diagnosis, label: bool) -> None:
    marks = detection_marks(diagnosis)
    lo, hi = ax.get_xlim()
    for i, (step, text, colour, style) in enumerate(marks):
        ax.axvline(step, color=colour, linestyle=style, linewidth=1.5, zorder=5)
        if not label:
            continue
        right = hi > lo and (step - lo) / (hi - lo) > 0.6  # write on the side with room
        ax.annotate(
            text, xy=(step, 0.5 - 0.16 * i), xycoords=("data", "axes fraction"),
            xytext=(-6 if right else 6, 0), textcoords="offset points", ha="right" if right else "left",
            va="center", color=colour, fontsize=9, fontweight="bold",
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )


def _accuracy_key(trace) -> str | None:
    """The accuracy to plot: a known one (`accuracy_key`), else any logged
    metric whose name says accuracy."""
    keys = [k for k in trace.steps if "acc" in k.lower() and not k.startswith("val_")]
    return accuracy_key(keys) or (keys[0] if keys else None)


def loss_accuracy(trace, diagnosis=None) -> bytes | None:
    """Loss (and accuracy, when logged) per step, the detection step marked.

    Non-finite losses are drawn as red crosses at the top of the panel.

    Example:
        >>> png = loss_accuracy(trace, diagnosis)
        >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    if trace.n_steps == 0:
        return None
    x = _steps(trace)
    loss = trace.column("loss")
    acc_key = _accuracy_key(trace)
    n_panels = 2 if acc_key else 1
    fig = _figure(2.6 * n_panels + 0.4)
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]

    ax = axes[0]
    finite = np.isfinite(loss)
    ax.plot(x[finite], loss[finite], color=PALETTE[0], linewidth=1.6, marker="o" if finite.sum() < 40 else None,
            markersize=3, label="loss (per batch)")
    running = trace.column("loss_running")
    if np.isfinite(running).any():
        ax.plot(x, running, color=PALETTE[0], alpha=0.35, linewidth=1.2, label="loss (running mean)")
    positive = loss[finite & (loss > 0)]
    if positive.size and positive.max() / max(positive.min(), 1e-300) > 100:
        ax.set_yscale("log")
    bad = ~finite & ~np.isnan(x)
    if bad.any():
        ax.plot(x[bad], np.full(bad.sum(), 0.97), transform=ax.get_xaxis_transform(), linestyle="none",
                marker="x", color=RED, markersize=8, markeredgewidth=2, label="loss NaN/Inf", clip_on=False)
    val = trace.epoch_column("val_loss") if trace.epochs else np.array([])
    if val.size and np.isfinite(val).any():
        epochs = trace.column("epoch")
        ends = [np.nanmax(x[epochs == e]) if (epochs == e).any() else np.nan for e in range(len(val))]
        ax.plot(ends, val, color=PALETTE[2], marker="s", markersize=5, linewidth=1.4, label="val loss (epoch end)")
    if ax.get_yscale() == "linear":
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}".replace("e+0", "e").replace("e+", "e")))
    _style(ax, "loss", "Loss per step")
    _mark_detection(ax, diagnosis, label=True)
    ax.legend(loc="best", fontsize=8, framealpha=0.85, edgecolor="none")

    if acc_key:
        ax = axes[1]
        acc = trace.column(acc_key)
        ax.plot(x, acc, color=PALETTE[1], linewidth=1.6, marker="o" if trace.n_steps < 40 else None,
                markersize=3, label=f"{acc_key} (running mean, as Keras logs it)")
        val_acc = trace.epoch_column(f"val_{acc_key}") if trace.epochs else np.array([])
        if val_acc.size and np.isfinite(val_acc).any():
            epochs = trace.column("epoch")
            ends = [np.nanmax(x[epochs == e]) if (epochs == e).any() else np.nan for e in range(len(val_acc))]
            ax.plot(ends, val_acc, color=PALETTE[2], marker="s", markersize=5, linewidth=1.4,
                    label=f"val {acc_key} (epoch end)")
        lo, hi = np.nanmin(np.append(acc, 0.0)), np.nanmax(np.append(acc, 1.0))
        ax.set_ylim(min(lo, 0.0) - 0.03, max(hi, 1.0) + 0.03)
        _style(ax, acc_key, "Accuracy per step")
        _mark_detection(ax, diagnosis, label=False)
        ax.legend(loc="best", fontsize=8, framealpha=0.85, edgecolor="none")
    axes[-1].set_xlabel("training step", color=INK, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _edges(x: np.ndarray) -> np.ndarray:
    if x.size == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


def gradient_heatmap(trace, diagnosis=None) -> bytes | None:
    """Layers × steps heatmaps of gradient norms on a log colour scale.

    One panel for the gradient of the loss w.r.t. each layer's output, one for
    its weight gradient. Grey: not recorded; red: NaN or Inf.

    Example:
        >>> png = gradient_heatmap(trace, diagnosis)
    """
    from matplotlib import colors

    if trace.n_steps == 0 or not trace.layers:
        return None
    x = _steps(trace)
    panels = []
    for stat, nan_stat, inf_stat, title in (
        ("grad_norm", "grad_nan", "grad_inf", "‖∂loss/∂output‖ per layer (log scale)"),
        ("gw_norm", "gw_nan", "gw_inf", "‖∂loss/∂weights‖ per layer (log scale)"),
    ):
        values = trace.stat(stat).T.astype(float)  # layers × steps
        bad = (np.nan_to_num(trace.stat(nan_stat).T) + np.nan_to_num(trace.stat(inf_stat).T)) > 0
        bad |= np.isinf(values)
        rows = np.isfinite(values).any(axis=1) | bad.any(axis=1)
        if rows.any():
            panels.append((title, values, bad, rows))
    if not panels:
        return None
    names = trace.layer_names
    faulty = diagnosis.faulty_layer if diagnosis is not None else None
    heights = [max(int(rows.sum()), 1) for _, _, _, rows in panels]
    fig = _figure(sum(0.32 * h + 1.0 for h in heights) + 0.6)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    edges = _edges(x[np.isfinite(x)] if np.isfinite(x).all() else np.arange(trace.n_steps, dtype=float))
    cmap = colors.LinearSegmentedColormap.from_list("grad", ["#e3eef9", "#9ecae1", "#3182bd", "#08306b"])
    cmap = cmap.with_extremes(bad="#c8ccd2")
    for ax, (title, values, bad, rows) in zip(axes, panels):
        sub = values[rows]
        positive = sub[np.isfinite(sub) & (sub > 0)]
        lo, hi = (positive.min(), positive.max()) if positive.size else (1e-8, 1.0)
        if hi <= lo:
            lo, hi = lo / 10, hi * 10
        shown = np.where(np.isfinite(sub) & (sub > 0), sub, np.nan)
        shown = np.where(np.isfinite(sub) & (sub <= 0), lo, shown)  # exact zeros: bottom of the scale
        y_edges = np.arange(sub.shape[0] + 1) - 0.5
        mesh = ax.pcolormesh(edges, y_edges, np.ma.masked_invalid(shown), cmap=cmap,
                             norm=colors.LogNorm(vmin=lo, vmax=hi), shading="flat")
        bad_sub = bad[rows]
        if bad_sub.any():
            overlay = np.ma.masked_where(~bad_sub, np.ones_like(sub))
            ax.pcolormesh(edges, y_edges, overlay, cmap=colors.ListedColormap([RED]), shading="flat")
        row_names = [n for n, keep in zip(names, rows) if keep]
        _style(ax, "", title)
        ax.grid(False)
        ax.set_yticks(np.arange(len(row_names)))
        ax.set_yticklabels(row_names, fontsize=9)
        for label, name in zip(ax.get_yticklabels(), row_names):
            if name == faulty:
                label.set_color(RED)
                label.set_fontweight("bold")
        ax.set_ylim(len(row_names) - 0.5, -0.5)  # first layer on top
        _mark_detection(ax, diagnosis, label=False)
        cbar = fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.03)
        cbar.ax.tick_params(labelsize=8, colors=MUTED)
        cbar.outline.set_visible(False)
    axes[-1].set_xlabel("training step   (grey: not recorded · red: NaN/Inf)", color=INK, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def activation_health(trace, diagnosis=None) -> bytes | None:
    """Per-layer activation health over time: dead/zero units, saturation, max |value|.

    Example:
        >>> png = activation_health(trace, diagnosis)
    """
    if trace.n_steps == 0 or not trace.layers:
        return None
    x = _steps(trace)
    names = trace.layer_names
    faulty = diagnosis.faulty_layer if diagnosis is not None else None
    max_abs = np.fmax(np.abs(trace.stat("act_min")), np.abs(trace.stat("act_max")))
    panels = [
        ("Dead units (zero for the whole batch; dotted: share of zero values)", "fraction",
         trace.stat("act_dead_frac"), trace.stat("act_zero_frac"), False),
        ("Saturated units (sigmoid / tanh / softmax outputs at their limits)", "fraction",
         trace.stat("act_sat_frac"), None, False),
        ("Largest |activation| per layer", "max |value|", max_abs, None, True),
    ]
    fig = _figure(7.6)
    axes = fig.subplots(3, 1, sharex=True)
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    handles = {}
    for ax, (title, ylabel, main, extra, log) in zip(axes, panels):
        drawn = False
        for j, name in enumerate(names):
            y = main[:, j].astype(float)
            if log:
                y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
            if not np.isfinite(y).any():
                continue
            width = 2.6 if name == faulty else 1.4
            (line,) = ax.plot(x, y, color=colours[name], linewidth=width, zorder=4 if name == faulty else 3,
                              label=name + ("  ◀ faulty" if name == faulty else ""))
            handles.setdefault(name, line)
            drawn = True
            if extra is not None and np.isfinite(extra[:, j]).any():
                ax.plot(x, extra[:, j], color=colours[name], linewidth=1.0, linestyle=":", alpha=0.8)
        finite = main[np.isfinite(main) & (main > 0)] if log else np.array([])
        if log and drawn and finite.size and finite.max() / finite.min() > 30:
            ax.set_yscale("log")
        elif not log:
            ax.set_ylim(-0.03, 1.03)
        if not drawn:
            ax.text(0.5, 0.5, "no layer reports this statistic", transform=ax.transAxes, ha="center",
                    va="center", color=MUTED, fontsize=9)
        _style(ax, ylabel, title)
        _mark_detection(ax, diagnosis, label=ax is axes[0])
    axes[-1].set_xlabel("training step", color=INK, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    if handles:
        fig.legend(list(handles.values()), [h.get_label() for h in handles.values()], loc="upper center",
                   bbox_to_anchor=(0.5, 1.0), ncol=min(len(handles), 6), fontsize=9, frameon=False)
    return _png(fig)


def all_plots(trace, diagnosis=None) -> list[Plot]:
    """Every figure the trace can support, in report order.

    Example:
        >>> [p.name for p in all_plots(trace, diagnosis)]
        ['loss_accuracy', 'gradient_heatmap', 'activation_health']
    """
    specs = [
        ("loss_accuracy", "Loss and accuracy", loss_accuracy,
         "Per training step. The dashed red line marks the step of the problem the verdict rests on; "
         "a dotted amber line, an earlier warning."),
        ("gradient_heatmap", "Gradient norms per layer", gradient_heatmap,
         "Each row is a layer (forward order, top to bottom); colour is the gradient norm on a log scale. "
         "Exploding gradients show as a dark band growing over time, vanishing ones as pale rows."),
        ("activation_health", "Activation health per layer", activation_health,
         "Dead units (ReLU outputs stuck at zero), saturated units (sigmoid/tanh/softmax at their limits) "
         "and the largest absolute activation, per layer over time. The faulty layer is drawn thicker."),
    ]
    out = []
    for name, title, draw, caption in specs:
        png = draw(trace, diagnosis)
        if png:
            out.append(Plot(name=name, title=title, caption=caption, png=png))
    return out
