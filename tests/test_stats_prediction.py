"""Random-forest prediction: chunked == single job, gather checks, inputs, CLI, OASIS-1 table."""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reconstudy.commands import predict as predict_command
from reconstudy.stats import (
    design_from_table,
    encode_categories,
    gather,
    run_repetitions,
    summarise,
    write_table,
)
from reconstudy.stats.features import parse_encoding, positive_labels, read_table

OASIS = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "oasis1" / "oasis_cross-sectional.csv"
)
FAST = {"n_estimators": 5}


def cohort(n=60, seed=0, classes=("CN", "AD")):
    """Hippocampal volume tracks diagnosis; 'noise' is unrelated."""
    rng = np.random.default_rng(seed)
    y = np.array([classes[i % len(classes)] for i in range(n)])
    code = np.array([classes.index(c) for c in y], float)
    X = pd.DataFrame(
        {
            "hippocampus": 4000 - 500 * code + rng.normal(0, 200, n),
            "age": 70 + 3 * code + rng.normal(0, 6, n),
            "sex": rng.integers(0, 2, n).astype(float),
            "noise": rng.normal(0, 1, n),
        }
    )
    return X, y


def test_chunks_equal_single_job(tmp_path):
    X, y = cohort()
    whole = run_repetitions(X, y, reps=range(4), seed=11, **FAST)
    paths = []
    for i, reps in enumerate([range(0, 1), range(1, 4)]):
        part = run_repetitions(X, y, reps=reps, seed=11, **FAST)
        paths.append(write_table(part, tmp_path / f"chunk{i}.tsv")["tsv"])
    gathered = gather(paths[::-1], expected=4)  # order of chunks does not matter
    whole_path = write_table(whole, tmp_path / "whole.tsv")["tsv"]
    pd.testing.assert_frame_equal(gathered, gather([whole_path]), check_exact=True)
    in_memory = [run_repetitions(X, y, reps=r, seed=11, **FAST) for r in ([2, 3], [0, 1])]
    pd.testing.assert_frame_equal(gather(in_memory), gather([whole]), check_exact=True)
    assert sorted(gathered["repetition"].unique()) == [0, 1, 2, 3]
    n_rows_per_rep = 2 + X.shape[1]
    assert len(gathered) == 4 * n_rows_per_rep


def test_gathered_table_has_exactly_n_repetitions():
    X, y = cohort()
    n = 5
    chunks = [run_repetitions(X, y, reps=range(a, min(a + 2, n)), seed=3, **FAST) for a in range(0, n, 2)]
    runs = gather(chunks, expected=n)
    summary = summarise(runs)
    assert set(summary["n_repetitions"]) == {n}
    with pytest.raises(ValueError, match="missing \\[4\\]"):
        gather(chunks[:2], expected=n)
    with pytest.raises(ValueError, match="appears in chunks"):
        gather([chunks[0], chunks[0]])
    other_seed = run_repetitions(X, y, reps=[7], seed=4, **FAST)
    with pytest.raises(ValueError, match="different seeds"):
        gather([chunks[0], other_seed])


def test_seed_changes_results_and_signal_is_found():
    X, y = cohort(n=80)
    a = run_repetitions(X, y, reps=range(2), seed=1, n_estimators=15)
    b = run_repetitions(X, y, reps=range(2), seed=2, n_estimators=15)
    assert not a["value"].equals(b["value"])
    s = summarise(a).set_index(["metric", "feature"])["mean"]
    assert s[("balanced_accuracy", "")] > 0.8
    imp = s["importance"]
    assert imp.idxmax() == "hippocampus"
    assert imp.sum() == pytest.approx(1.0)


def test_noise_only_is_near_chance_and_multiclass_works():
    X, y = cohort(n=90, classes=("CN", "MCI", "AD"))
    X = X[["noise", "sex"]]
    runs = run_repetitions(X, y, reps=range(3), seed=5, **FAST)
    bacc = runs.loc[runs.metric == "balanced_accuracy", "value"]
    assert bacc.between(0.1, 0.6).all()


def test_malformed_inputs_raise():
    X, y = cohort()
    with pytest.raises(ValueError, match="labels has"):
        run_repetitions(X, y[:-1], reps=[0], seed=0)
    bad = X.copy()
    bad.iloc[3, 0] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        run_repetitions(bad, y, reps=[0], seed=0)
    with pytest.raises(ValueError, match="not numeric"):
        run_repetitions(X.assign(sex=["M"] * len(X)), y, reps=[0], seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        run_repetitions(X, ["CN"] * len(X), reps=[0], seed=0)
    with pytest.raises(ValueError, match="fewer folds"):
        run_repetitions(X, ["AD"] * 5 + ["CN"] * (len(X) - 5), reps=[0], seed=0)
    with pytest.raises(ValueError, match="reps is empty"):
        run_repetitions(X, y, reps=[], seed=0)


def test_table_helpers():
    table = pd.DataFrame({"M/F": ["F", "M", "M", None], "CDR": [0, 0.5, None, 1], "age": [70, 80, 75, 90]})
    assert encode_categories(table, {"M/F": {"F": 0, "M": 1}})["M/F"].tolist()[:3] == [0, 1, 1]
    with pytest.raises(ValueError, match="categories \\['X'\\]"):
        encode_categories(table.assign(**{"M/F": ["F", "X", "M", "F"]}), {"M/F": {"F": 0, "M": 1}})
    assert parse_encoding("M/F=F:0,M:1") == ("M/F", {"F": 0.0, "M": 1.0})
    labels = positive_labels(table, "CDR>0")
    assert labels.tolist()[:2] == [False, True] and pd.isna(labels.iloc[2])
    with pytest.raises(ValueError, match="must look like"):
        positive_labels(table, "CDR")
    with pytest.raises(ValueError, match="drop-missing"):
        design_from_table(
            table, label="CDR", features=["age", "M/F"], positive="CDR>0", encode={"M/F": {"F": 0, "M": 1}}
        )
    X, y, record = design_from_table(
        table,
        label="CDR",
        features=["age", "M/F"],
        positive="CDR>0",
        encode={"M/F": {"F": 0, "M": 1}},
        drop_missing=True,
    )
    assert record["n_used"] == 2 and record["n_dropped"] == 2 and list(y) == [False, True]


def main(argv):
    """Run ``reconstudy predict`` through its own parser (the CLI registry imports every command)."""
    parser = argparse.ArgumentParser(prog="reconstudy")
    predict_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_predict(tmp_path, capsys):
    X, y = cohort()
    table = X.assign(dx=y, sex=np.where(X["sex"] > 0, "M", "F"))
    path = tmp_path / "cohort.tsv"
    table.to_csv(path, sep="\t", index=False)
    out = tmp_path / "res" / "pred.tsv"
    args = [
        "predict",
        "--table",
        str(path),
        "--label",
        "dx",
        "--features",
        "hippocampus,age,sex",
        "--encode",
        "sex=F:0,M:1",
        "--repetitions",
        "2",
        "--trees",
        "5",
        "--seed",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "balanced_accuracy: mean" in capsys.readouterr().out
    for name in ("pred.tsv", "pred.json", "pred.md", "pred.tex", "pred_summary.tsv", "pred_summary.json"):
        assert (out.parent / name).is_file()
    runs = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert sorted(runs["repetition"].unique()) == [0, 1]
    # the CLI chunk of repetition 1 equals repetition 1 of the full run
    chunk = tmp_path / "chunk.tsv"
    assert main([*args[:-2], "--reps", "1:2", "--out", str(chunk)]) == 0
    pd.testing.assert_frame_equal(gather([chunk]), gather([runs[runs.repetition == 1]]))
    with pytest.raises(ValueError, match="nope"):
        main([*args[:3], "--label", "nope", *args[5:]])
    assert not (tmp_path / "nope.tsv").exists()


def test_oasis1_cdr_prediction():
    if not OASIS.is_file():
        pytest.skip(f"OASIS-1 table not found at {OASIS}")
    X, y, record = design_from_table(
        read_table(OASIS),
        label="CDR",
        features=["Age", "M/F", "eTIV", "nWBV", "Educ"],
        positive="CDR>0",
        encode={"M/F": {"F": 0, "M": 1}},
        drop_missing=True,
    )
    assert record["n_used"] == 235 and record["classes"] == {"False": 135, "True": 100}
    runs = run_repetitions(X, y, reps=range(3), seed=2026, n_estimators=25)
    s = summarise(runs).set_index(["metric", "feature"])
    assert 0.6 < s.loc[("balanced_accuracy", ""), "mean"] < 0.9
    # atrophy (nWBV) and age carry the signal, sex little
    imp = s.loc["importance", "mean"]
    assert imp["nWBV"] > imp["M/F"] and imp["Age"] > imp["M/F"]
