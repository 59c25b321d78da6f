"""Held-out evaluation rows: several subjects, DL and another method, known answers."""

import numpy as np
import pytest
import torch

from reconstudy.recon.dl.varnet import VarNet
from reconstudy.training.data import rss_image
from reconstudy.training.evaluate import HeldOutSubject, evaluate_subjects, fold_summary, undersample
from reconstudy.training.synthetic import synthetic_kspace

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def subjects():
    out = []
    for seed in (0, 1):
        kspace, truth = synthetic_kspace((24, 28, 6), n_coils=3, seed=seed)
        out.append(HeldOutSubject(f"syn{seed}", 3, kspace, truth > 0.05))
    return out


def test_rows_for_every_subject_method_and_r(subjects):
    def perfect(kspace):  # ignores the mask: the fully sampled image, SSIM 1 by construction
        full = subjects[0].kspace if kspace.data.shape == subjects[0].kspace.data.shape else None
        return rss_image(full.data[0])[None].astype(np.complex64)

    rows = evaluate_subjects(
        VarNet(num_cascades=0, sens_chans=0),
        subjects[:1],
        [2, 4],
        calibration=6,
        seed=1,
        others={"oracle": ([4], perfect)},
        reference="rss",
    )
    assert list(rows["rec"]) == ["dl", "dl", "oracle"] and list(rows["R"]) == [2.0, 4.0, 4.0]
    assert rows.loc[rows.rec == "oracle", "ssim"].item() == pytest.approx(1.0)
    assert rows.loc[rows.R == 2, "ssim"].item() > rows.loc[(rows.R == 4) & (rows.rec == "dl"), "ssim"].item()


def test_two_subjects_and_summary(subjects):
    rows = evaluate_subjects(
        VarNet(num_cascades=0, sens_chans=0), subjects, [4], calibration=6, reference="rss"
    )
    assert list(rows["subject"]) == ["syn0", "syn1"]
    summary = fold_summary(rows)
    assert len(summary) == 1 and summary["ssim"].item() == pytest.approx(rows["ssim"].mean())


def test_unknown_reference_is_refused(subjects):
    with pytest.raises(ValueError, match="reference"):
        evaluate_subjects(VarNet(num_cascades=0), subjects, [4], reference="truth")


def test_undersample_keeps_only_the_mask(subjects):
    mask = np.zeros((24, 28), dtype=bool)
    mask[::2] = True
    under = undersample(subjects[0].kspace, mask)
    assert np.array_equal(under.sampling_mask, mask)
    assert not under.data[:, :, 1::2].any() and np.array_equal(
        under.data[:, :, ::2], subjects[0].kspace.data[:, :, ::2]
    )


def test_held_out_record_checks_the_seed_000_claim():
    import pandas as pd

    from reconstudy.training.evaluate import held_out_record

    rows = pd.DataFrame(
        {
            "subject": ["a", "b"] * 3,
            "rec": ["cs", "cs", "dl", "dl", "dl", "dl"],
            "R": [4.0, 4.0, 6.0, 6.0, 8.0, 8.0],
            "ssim": [0.90, 0.92, 0.95, 0.93, 0.91, 0.90],
        }
    )
    record = held_out_record(rows, 3, "sense")
    claim = record["acceptance"]
    assert claim["cs_R4_ssim"] == pytest.approx(0.91) and claim["dl_R8_ssim"] == pytest.approx(0.905)
    assert claim["dl_R6_ssim_above_cs_R4"] and not claim["dl_R8_ssim_at_least_cs_R4"]
    table = record["leave_one_anatomy_out"]["rows"]
    assert len(table) == 6 and {row["fold_test_anatomy"] for row in table} == {3}
    assert "note" in held_out_record(rows[rows["rec"] == "dl"], 3, "sense")["acceptance"]


def test_super_resolution_is_scored_against_the_same_low_resolution_acquisition(subjects):
    from reconstudy.recon.dl.superres import SuperResolution
    from reconstudy.training.evaluate import held_out_record

    # Untrained, the SR model returns the CG-SENSE of the centre box: the two rows nearly agree.
    model = SuperResolution(chans=4, num_pools=2, cg_iterations=15)
    rows = evaluate_subjects(model, subjects[:1], [4], calibration=6, sr_factor=2)
    assert list(rows["rec"]) == ["dl_sr", "sense_lowres"] and list(rows["R"]) == [4.0, 4.0]
    assert rows["ssim"].iloc[0] == pytest.approx(rows["ssim"].iloc[1], abs=0.03)
    assert rows["ssim"].max() < 0.99  # a quarter of k-space: not the full-resolution reference
    claim = held_out_record(rows, 3, "sense")["acceptance"]
    assert set(claim) == {"dl_sr_ssim", "sense_lowres_ssim", "dl_sr_ssim_above_sense_lowres"}
