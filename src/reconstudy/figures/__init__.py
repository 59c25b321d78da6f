"""Publication figures: one consistent style, PNG + PDF, saved atomically."""

from reconstudy.figures.style import METHOD_LABELS, save_figure, use_style

__all__ = ["METHOD_LABELS", "save_figure", "use_style"]
