"""Charts for the monthly report: matplotlib (Agg) → PNG bytes, with an explicitly chosen CJK font.

Without a CJK font matplotlib draws Chinese as empty boxes. We look for Noto Sans CJK SC /
WenQuanYi (Debian: fonts-noto-cjk, fonts-wqy-microhei) among the registered fonts and, if the
font cache predates their installation, among the system's font files. `cjk_font()` returns
None when there is none, and the report says so in plain words.
"""
from __future__ import annotations

import io
from functools import lru_cache
from typing import Any, Callable, Sequence

PREFERRED = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
    "Noto Sans CJK JP", "Noto Sans CJK TC", "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang SC",
)
FILE_HINTS = ("notosanscjk", "wqy-microhei", "wqy-zenhei", "sourcehansans", "droidsansfallback")
COLORS = ("#2e7d32", "#1565c0", "#ef6c00", "#6a1b9a", "#c62828")
Draw = Callable[[Any], None]  # draws on a matplotlib Axes


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a CJK-capable font known to matplotlib, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in PREFERRED:
        if name in names:
            return name
    for path in sorted(font_manager.findSystemFonts()):
        if any(h in path.lower().replace(" ", "") for h in FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in PREFERRED if n in names), None)


def _render(draw: Draw, width: float, height: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    family = [f for f in (cjk_font(), "DejaVu Sans") if f]
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": family,
                                "axes.unicode_minus": False, "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(width, height), dpi=96)
        try:
            draw(ax)
            ax.spines[["top", "right"]].set_visible(False)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
        finally:
            plt.close(fig)
    return buf.getvalue()


def hbar(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> bytes:
    """Horizontal bars (e.g. active experts per field)."""
    def draw(ax: Any) -> None:
        ys = range(len(labels))
        ax.barh(list(ys), list(values), color=COLORS[0])
        ax.set_yticks(list(ys), list(labels))
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        for y, v in zip(ys, values):
            ax.annotate(f"{v:g}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)

    return _render(draw, 8, max(2.5, 0.38 * len(labels) + 1))


def grouped_bars(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str,
                 ylabel: str, *, rotate: bool = False) -> bytes:
    """Vertical bars, one group per category, one bar per series (e.g. panels per month)."""
    def draw(ax: Any) -> None:
        n = max(1, len(series))
        width = 0.8 / n
        xs = list(range(len(categories)))
        for i, (name, values) in enumerate(series):
            ax.bar([x - 0.4 + width * (i + 0.5) for x in xs], list(values), width, label=name,
                   color=COLORS[i % len(COLORS)])
        ax.set_xticks(xs, list(categories), rotation=45 if rotate else 0, ha="right" if rotate else "center")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.yaxis.get_major_locator().set_params(integer=True)
        if len(series) > 1:
            ax.legend(frameon=False)

    return _render(draw, 8, 3.6)
