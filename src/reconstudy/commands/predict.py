"""``reconstudy predict``: random-forest prediction from a plain table of features and labels."""

from __future__ import annotations

import argparse
import logging
import re

from reconstudy.stats.features import design_from_table, parse_encoding, read_table
from reconstudy.stats.prediction import check_design, run_repetitions, summarise
from reconstudy.stats.tables import table_paths, write_table

log = logging.getLogger("reconstudy")


def _reps(text: str | None, n: int) -> range:
    if text is None:
        if n < 1:
            raise ValueError(f"--repetitions must be >= 1, got {n}")
        return range(n)
    m = re.fullmatch(r"(\d+):(\d+)", text)
    if not m or int(m[1]) >= int(m[2]):
        raise ValueError(f"--reps {text!r} must be START:STOP with START < STOP, e.g. 0:100")
    return range(int(m[1]), int(m[2]))


def run(args: argparse.Namespace) -> int:
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    if not features:
        raise ValueError("--features: give at least one column, e.g. --features Age,eTIV,nWBV")
    encode = dict(parse_encoding(spec) for spec in args.encode or [])
    table = read_table(args.table)
    X, y, record = design_from_table(
        table,
        label=args.label,
        features=features,
        positive=args.positive,
        encode=encode,
        drop_missing=args.drop_missing,
    )
    reps = _reps(args.reps, args.repetitions)
    check_design(X, y, n_splits=args.folds)  # fail before any work or output
    log.info(
        "predict: %d rows used (%d dropped), classes %s, repetitions %d..%d",
        record["n_used"],
        record["n_dropped"],
        record["classes"],
        reps.start,
        reps.stop - 1,
    )
    runs = run_repetitions(X, y, reps=reps, seed=args.seed, n_splits=args.folds, n_estimators=args.trees)
    method = (
        f"Random forest ({args.trees} trees, scikit-learn, n_jobs=1), stratified {args.folds}-fold "
        f"cross-validation repeated {len(reps)} times (repetitions {reps.start}..{reps.stop - 1}) with fold "
        f"and forest seeds drawn from numpy default_rng([{args.seed}, repetition]); accuracy and balanced "
        "accuracy of pooled out-of-fold predictions; impurity importances averaged over folds."
    )
    label_text = args.positive or args.label
    extra = {
        "table": str(args.table),
        "label": label_text,
        "features": features,
        "encode": encode,
        "seed": args.seed,
        "repetitions": [reps.start, reps.stop],
        "design": record,
    }
    write_table(
        runs,
        args.out,
        units={"value": "fraction"},
        methods=method,
        description={
            "repetition": "CV repetition r; its folds and forests are seeded by (seed, r)",
            "metric": "accuracy, balanced_accuracy (pooled out-of-fold predictions) or importance",
            "feature": "feature name for importances; empty for model-level scores",
            "value": "score, or impurity importance averaged over folds",
        },
        caption=f"Per-repetition cross-validated scores and importances predicting {label_text}",
        extra=extra,
    )
    summary = summarise(runs, alpha=args.alpha)
    summary_path = table_paths(args.out)["tsv"].with_name(table_paths(args.out)["tsv"].stem + "_summary.tsv")
    write_table(
        summary,
        summary_path,
        methods=method,
        extra=extra,
        description={
            "mean": "mean over repetitions",
            "ci_low": f"{100 * args.alpha / 2:g}th percentile over repetitions",
            "ci_high": f"{100 * (1 - args.alpha / 2):g}th percentile over repetitions",
        },
        caption=f"Prediction of {label_text}: mean and percentile interval over repetitions",
    )
    for row in summary[summary["feature"] == ""].itertuples():
        print(
            f"{row.metric}: mean {row.mean:.3f} (sd {row.sd:.3f}), {100 * (1 - args.alpha):g}% interval "
            f"[{row.ci_low:.3f}, {row.ci_high:.3f}] over {row.n_repetitions} repetitions"
        )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="random-forest prediction of a diagnosis from a table of features (repeated stratified CV)",
        description=(
            "Predict a class label from the feature columns of a TSV/CSV table with a random forest, "
            "scored by stratified k-fold cross-validation repeated N times (seed 004's design). Writes "
            "the per-repetition table (OUT .tsv/.json/.md/.tex) and a summary with percentile intervals "
            "(OUT_summary.*). Example: reconstudy predict --table oasis.csv --label CDR --positive 'CDR>0' "
            "--features Age,M/F,eTIV,nWBV,Educ --encode 'M/F=F:0,M:1' --drop-missing --repetitions 100 "
            "--seed 1 --out results/predict.tsv"
        ),
    )
    parser.add_argument("--table", required=True, help="subject table (.tsv or .csv), one row per subject")
    parser.add_argument("--label", required=True, help="column with the diagnosis / class label")
    parser.add_argument("--features", required=True, help="comma-separated feature columns")
    parser.add_argument("--positive", help="binary label from an expression on a column, e.g. 'CDR>0'")
    parser.add_argument(
        "--encode",
        action="append",
        metavar="COL=CAT:CODE,...",
        help="numeric coding of a categorical feature, e.g. 'M/F=F:0,M:1' (repeatable)",
    )
    parser.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop rows with a missing label or feature (otherwise they are an error)",
    )
    parser.add_argument(
        "--repetitions", type=int, default=100, help="number of CV repetitions N (default 100)"
    )
    parser.add_argument(
        "--reps",
        metavar="START:STOP",
        help="run only repetitions START..STOP-1 (a chunk; overrides --repetitions)",
    )
    parser.add_argument("--seed", type=int, default=0, help="study seed (default 0)")
    parser.add_argument("--folds", type=int, default=10, help="folds per repetition (default 10)")
    parser.add_argument("--trees", type=int, default=100, help="trees per forest (default 100)")
    parser.add_argument("--alpha", type=float, default=0.05, help="1 - interval level (default 0.05)")
    parser.add_argument("--out", required=True, help="per-repetition results table (.tsv)")
    parser.set_defaults(func=run)
