import matplotlib.image as mpimg
import numpy as np

from reconstudy.figures import save_figure
from reconstudy.figures.masks import save_mask_figure
from reconstudy.figures.metrics import metrics_vs_r
from reconstudy.figures.montage import methods_montage
from test_evaluation import cohort_table


def test_metrics_figure_has_a_panel_per_metric(tmp_path):
    table = cohort_table()
    table["nmse"] = 1 - table["ssim"]
    figure = metrics_vs_r(table)
    assert len(figure.axes) == 3
    legend = [text.get_text() for text in figure.axes[-1].get_legend().get_texts()]
    assert legend == ["Zero-filled", "SENSE", "CS (L1-wavelet)"]  # one line per method
    save_figure(figure, tmp_path / "m.png", tmp_path / "m.pdf")
    assert (tmp_path / "m.pdf").read_bytes()[:4] == b"%PDF"
    assert mpimg.imread(tmp_path / "m.png").std() > 0.05  # not blank


def test_montage_layout_and_content(tmp_path):
    z, y, x = np.mgrid[:20, :24, :22]
    reference = ((z - 10) ** 2 + (y - 12) ** 2 + (x - 11) ** 2 < 64).astype(float)
    recons = {(rec, R): reference * (1 - 0.02 * R) for rec in ("zf", "cs") for R in (4.0, 8.0)}
    figure = methods_montage(reference, recons, reference > 0, "test")
    image_axes = [ax for ax in figure.axes if ax.images]
    # 2 methods x (reference + 2 R) image panels + 2 x 2 error maps (zoom insets are children)
    assert len(image_axes) == 2 * 3 + 2 * 2
    assert all(ax.child_axes and ax.child_axes[0].images for ax in image_axes)
    assert figure.axes[0].get_title() == "fully sampled"
    save_figure(figure, tmp_path / "montage.png")
    assert mpimg.imread(tmp_path / "montage.png").shape[0] > 100


def test_mask_figure(tmp_path):
    mask = np.zeros((16, 20), bool)
    mask[::2, ::3] = True
    save_mask_figure(mask, tmp_path / "mask.png", title="R = 6")
    assert (tmp_path / "mask.png").stat().st_size > 1000


def test_error_gain_keeps_error_maps_unsaturated():
    from reconstudy.figures.montage import error_gain_for

    # errors of ~4 % of the window: x20 puts their 95th percentile at 80 %, x10 would waste the window
    errors = [np.full(100, 0.04), np.full(50, 0.02), np.full(50, 0.05)]
    assert error_gain_for(errors, vmax=1.0) == 20.0
    assert error_gain_for(errors, vmax=1.0, fill=0.6) == 10.0
    assert error_gain_for([np.full(10, 0.7)], vmax=1.0) == 1.0  # large errors are shown as they are
    assert error_gain_for([np.zeros(10)], vmax=1.0) == 20.0
