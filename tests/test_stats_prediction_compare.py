"""Prediction compared between feature sources: paired differences, intervals, pairing checks;
reconstudy.stats imports without scikit-learn."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from reconstudy.stats import importance_differences, run_repetitions, score_table


def runs_table(values):
    """Tidy runs from {source: {(metric, feature): [value per repetition]}}."""
    rows = []
    for source, items in values.items():
        for (metric, feature), vs in items.items():
            rows += [
                {
                    "seed": 1,
                    "source": source,
                    "repetition": r,
                    "metric": metric,
                    "feature": feature,
                    "value": v,
                }
                for r, v in enumerate(vs)
            ]
    return pd.DataFrame(rows)


REF = {
    ("accuracy", ""): [0.8, 0.7, 0.9, 0.8],
    ("balanced_accuracy", ""): [0.75, 0.7, 0.85, 0.8],
    ("importance", "hippocampus"): [0.5, 0.6, 0.4, 0.5],
    ("importance", "age"): [0.3, 0.2, 0.4, 0.3],
    ("importance", "sex"): [0.2, 0.2, 0.2, 0.2],
}
CS = {
    ("accuracy", ""): [0.7, 0.7, 0.8, 0.6],
    ("balanced_accuracy", ""): [0.7, 0.6, 0.8, 0.7],
    ("importance", "hippocampus"): [0.3, 0.5, 0.3, 0.3],
    ("importance", "age"): [0.5, 0.3, 0.5, 0.5],
    ("importance", "sex"): [0.2, 0.2, 0.2, 0.2],
}


def test_hand_computed_paired_differences():
    runs = runs_table({"reference": REF, "R8_cs": CS})
    scores = score_table(runs, reference="reference", n_boot=0).set_index(["source", "metric"])
    acc = scores.loc[("R8_cs", "accuracy")]
    d = np.array(CS[("accuracy", "")]) - np.array(REF[("accuracy", "")])  # -0.1, 0, -0.1, -0.2
    assert acc["mean"] == pytest.approx(0.7) and acc["diff_mean"] == pytest.approx(-0.1)
    assert acc["diff_sd"] == pytest.approx(np.std(d, ddof=1))
    assert (acc["diff_ci_low"], acc["diff_ci_high"]) == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])))
    assert acc["frac_higher"] == 0 and np.isnan(acc["diff_boot_low"])
    ref = scores.loc[("reference", "accuracy")]
    assert ref["mean"] == pytest.approx(0.8) and np.isnan(ref["diff_mean"])
    assert ref["ci_low"] == pytest.approx(np.quantile(REF[("accuracy", "")], 0.025))

    diffs = importance_differences(runs, reference="reference", n_boot=500, seed=3)
    # features ranked by the reference's mean importance; sex is identical in both: difference 0
    assert list(diffs["feature"]) == ["hippocampus", "age", "sex"]
    hip = diffs.set_index("feature").loc["hippocampus"]
    assert hip["diff_mean"] == pytest.approx(-0.15) and hip["mean_reference"] == pytest.approx(0.5)
    assert hip["boot_low"] <= hip["diff_mean"] <= hip["boot_high"] and bool(hip["boot_excludes_zero"])
    # -0.2, -0.1, -0.1, -0.2: the sign held in every repetition
    assert (hip["ci_low"], hip["ci_high"]) == pytest.approx((-0.2, -0.1)) and bool(hip["consistent"])
    age = diffs.set_index("feature").loc["age"]  # +0.2, +0.1, +0.1, +0.2
    assert age["diff_mean"] == pytest.approx(0.15) and bool(age["consistent"])
    sex = diffs.set_index("feature").loc["sex"]
    assert sex["diff_mean"] == pytest.approx(0) and sex["boot_low"] == sex["boot_high"] == pytest.approx(0)
    assert not bool(sex["boot_excludes_zero"]) and not bool(sex["consistent"])
    again = importance_differences(runs, reference="reference", n_boot=500, seed=3)
    pd.testing.assert_frame_equal(diffs, again)  # the bootstrap is seeded


def test_bootstrap_interval_matches_a_direct_bootstrap():
    rng = np.random.default_rng(0)
    n = 200
    ref = {("importance", "a"): rng.normal(0.5, 0.05, n), ("importance", "b"): rng.normal(0.5, 0.05, n)}
    other = {k: v + rng.normal(0.02, 0.05, n) for k, v in ref.items()}
    for k in (("accuracy", ""), ("balanced_accuracy", "")):
        ref[k] = other[k] = np.full(n, 0.7)
    runs = runs_table({"reference": ref, "cs": other})
    ours = importance_differences(runs, reference="reference", n_boot=4000, seed=1).set_index("feature")
    d = other[("importance", "a")] - ref[("importance", "a")]
    direct = [d[rng.integers(0, n, n)].mean() for _ in range(4000)]
    lo, hi = np.quantile(direct, [0.025, 0.975])
    # two independent bootstraps of the same mean agree to Monte Carlo precision
    assert ours.loc["a", "boot_low"] == pytest.approx(lo, abs=0.002)
    assert ours.loc["a", "boot_high"] == pytest.approx(hi, abs=0.002)
    assert (
        ours.loc["a", "boot_high"] - ours.loc["a", "boot_low"]
        < ours.loc["a", "ci_high"] - ours.loc["a", "ci_low"]
    )


def test_same_features_with_the_same_seed_differ_by_exactly_zero():
    """Sources run with one seed share folds and forest seeds: identical features, identical runs."""
    rng = np.random.default_rng(2)
    y = np.array(["CN", "AD"] * 10)
    X = pd.DataFrame(
        {"hippocampus": 4000 - 400 * (y == "AD") + rng.normal(0, 150, 20), "age": rng.normal(70, 5, 20)}
    )
    fit = {"reps": range(3), "seed": 7, "n_splits": 4, "n_estimators": 5}
    runs = pd.concat(
        [
            run_repetitions(X, y, **fit).assign(source="reference"),
            run_repetitions(X, y, **fit).assign(source="copy"),
            run_repetitions(X.assign(age=rng.permutation(X["age"].to_numpy())), y, **fit).assign(
                source="shuffled"
            ),
        ]
    )
    diffs = importance_differences(runs, reference="reference", n_boot=100)
    copy = diffs[diffs["source"] == "copy"]
    assert (copy["diff_mean"] == 0).all() and (copy["ci_low"] == 0).all() and (copy["ci_high"] == 0).all()
    assert (diffs[diffs["source"] == "shuffled"]["diff_sd"] > 0).any()
    scores = score_table(runs, reference="reference", order=["reference", "shuffled", "copy"], n_boot=0)
    assert list(dict.fromkeys(scores["source"])) == ["reference", "shuffled", "copy"]
    assert (scores[scores["source"] == "copy"]["diff_mean"] == 0).all()


def test_unpaired_or_malformed_runs_raise():
    runs = runs_table({"reference": REF, "R8_cs": CS})
    with pytest.raises(ValueError, match="same repetitions"):
        score_table(runs[~((runs["source"] == "R8_cs") & (runs["repetition"] == 3))], reference="reference")
    with pytest.raises(ValueError, match="not in the runs table's sources"):
        importance_differences(runs, reference="truth")
    with pytest.raises(ValueError, match="lacks columns"):
        score_table(runs.drop(columns="source"), reference="reference")
    with pytest.raises(ValueError, match="other features"):
        importance_differences(
            runs[runs["feature"] != "sex"].pipe(
                lambda t: pd.concat([t, runs[(runs["feature"] == "sex") & (runs["source"] == "reference")]])
            ),
            reference="reference",
        )
    with pytest.raises(ValueError, match="duplicate"):
        score_table(pd.concat([runs, runs.head(1)]), reference="reference")
    with pytest.raises(ValueError, match="alpha"):
        score_table(runs, reference="reference", alpha=1.5)
    with pytest.raises(ValueError, match="order names"):
        score_table(runs, reference="reference", order=["reference", "dl"])


def test_stats_imports_without_scikit_learn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import reconstudy.stats as s, reconstudy.studies\n"
        "print(s.wilcoxon_signed_rank([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])['test'])\n"
        "X = __import__('pandas').DataFrame({'a': [1.0, 2.0, 3.0, 4.0]})\n"
        "try:\n    s.run_repetitions(X, list('abab'), reps=[0], seed=0, n_splits=2)\n"
        "except ImportError:\n    print('needs sklearn')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["wilcoxon-exact", "needs sklearn"]
