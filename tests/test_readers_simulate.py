"""Simulated readers: seeded, labelled, and monotone in image quality on average."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reconstudy.readers.ratings import read_ratings
from reconstudy.readers.simulate import quality_by_case, simulate_ratings


def test_seeded_tidy_and_labelled():
    quality = {"case-a": 0.7, "case-b": 0.9}
    a = simulate_ratings(quality, seed=3, n_readers=2)
    pd.testing.assert_frame_equal(a, simulate_ratings(quality, seed=3, n_readers=2))
    assert not a.equals(simulate_ratings(quality, seed=4, n_readers=2))
    assert list(a.columns) == ["reader", "case", "criterion", "score", "source"]
    assert (a["source"] == "simulated").all() and len(a) == 2 * 2 * 3
    assert a["score"].between(1, 5).all()
    key = pd.DataFrame({"case": list(quality)})
    assert len(read_ratings(a, key=key)) == len(a)  # flows through ingest like real ratings


def test_mean_score_monotone_in_quality():
    quality = pd.Series(np.linspace(0.6, 1.0, 9), index=[f"case-{n}" for n in range(9)])
    means = np.mean(
        [
            simulate_ratings(quality, seed=s, n_readers=3)
            .groupby("case", sort=False)["score"]
            .mean()
            .to_numpy()
            for s in range(40)
        ],
        axis=0,
    )
    assert np.all(np.diff(means) > 0)
    assert means[0] < 1.6 and means[-1] > 4.4  # anchors: worst case ~ very poor, best ~ very good


def test_reader_bias_and_noise_free_limit():
    quality = {"case-a": 0.0, "case-b": 0.5, "case-c": 1.0}
    exact = simulate_ratings(quality, seed=1, n_readers=2, reader_bias_sd=0, case_sd=0, noise_sd=0)
    assert exact.groupby("case")["score"].unique().map(list).to_dict() == {
        "case-a": [1],
        "case-b": [3],
        "case-c": [5],
    }
    lenient = simulate_ratings(
        quality,
        seed=1,
        n_readers=1,
        reader_bias_sd=0,
        case_sd=0,
        noise_sd=0,
        criterion_offsets={"clinical_value": -1.0},
    )
    assert lenient.set_index(["case", "criterion"]).loc[("case-b", "clinical_value"), "score"] == 2


def test_quality_lookup_and_errors():
    key = pd.DataFrame({"case": ["c1", "c2"], "subject": ["s1", "s1"], "method": ["CS", "DL"], "R": [4, 8]})
    wide = pd.DataFrame({"subject": ["s1", "s1"], "rec": ["CS", "DL"], "R": [4, 8], "ssim": [0.9, 0.8]})
    assert quality_by_case(key, wide, "ssim").to_dict() == {"c1": 0.9, "c2": 0.8}
    tidy = wide.melt(id_vars=["subject", "rec", "R"], var_name="metric", value_name="value")
    assert quality_by_case(key, tidy, "ssim").to_dict() == {"c1": 0.9, "c2": 0.8}
    with pytest.raises(ValueError, match="no 'ssim' for 1 packet case"):
        quality_by_case(key, wide.iloc[:1], "ssim")
    with pytest.raises(ValueError, match="lacks column"):
        quality_by_case(key, wide, "psnr")
    with pytest.raises(ValueError, match="finite"):
        simulate_ratings({"c": float("nan")}, seed=1)
    with pytest.raises(ValueError, match="unknown criteria"):
        simulate_ratings({"c": 1.0}, seed=1, criterion_offsets={"nope": 1})
