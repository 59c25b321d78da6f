"""Adapter: gather every source's chunks into exactly N repetitions, summarise, compare each
reconstruction with the reference (paired by repetition), and draw seed 004 Figure 6: score box
plots per source (6A) and the reference's importances with each source's difference (6B/C)."""

import pandas as pd

from reconstudy.figures.style import save_figure
from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging
from reconstudy.stats import gather, importance_differences, score_table, summarise, write_table
from reconstudy.studies.figures import importance_differences_plot, prediction_scores

configure_logging(snakemake.log[0])
p = snakemake.params
meta = pd.DataFrame(p.sources).rename(columns={"id": "source"})[["source", "label", "rec", "R"]]
order = list(meta["source"])
labels = dict(zip(meta["source"], meta["label"]))
chunks = [pd.read_csv(path, sep="\t", keep_default_na=False) for path in snakemake.input]


def gathered(source):
    """Exactly N repetitions of one source (gather refuses gaps and duplicates)."""
    parts = [c[c["source"] == source].drop(columns="source") for c in chunks]
    return gather(parts, expected=int(p.repetitions)).assign(source=source)


runs = pd.concat([gathered(s) for s in order], ignore_index=True)
with atomic_path(snakemake.output.runs) as tmp:
    runs.to_csv(tmp, sep="\t", index=False)

n = int(p.repetitions)
describe = {
    "source": "reference / R<R>_<rec> = segmentation of that reconstruction; truth = phantom labels",
    "label": "display name; the phantom truth is the upper bound (no segmentation error)",
}
summary = meta.merge(
    pd.concat([summarise(runs[runs["source"] == s].drop(columns="source")).assign(source=s) for s in order]),
    on="source",
)
write_table(
    summary,
    snakemake.output.summary,
    simulated=p.simulated,
    caption=f"Random-forest diagnosis prediction per feature source over {n} repetitions of stratified CV: "
    "mean, SD and 95% percentile interval of accuracy, balanced accuracy and impurity importances",
    description=describe,
    methods=p.methods,
)
design = dict(reference=p.reference, order=order, n_boot=int(p.n_boot), seed=int(p.seed))
scores = meta.merge(score_table(runs, **design), on="source")
write_table(
    scores,
    snakemake.output.table,
    simulated=p.simulated,
    caption=f"Accuracy and balanced accuracy per reconstruction's segmentation ({n} CV repetitions; "
    f"95% percentile intervals), and the paired difference from {labels[p.reference]}",
    description=describe
    | {
        "ci_low": "2.5% quantile over repetitions",
        "diff_mean": f"mean over repetitions of (source - {p.reference}), same folds and forest seeds",
        "diff_ci_low": "2.5% quantile of the per-repetition difference",
        "diff_boot_low": "2.5% percentile-bootstrap bound of the mean difference (repetitions resampled)",
        "frac_higher": "share of repetitions in which the source scores higher than the reference",
    },
    extra={"reference": p.reference, "n_boot": int(p.n_boot), "seed": int(p.seed)},
    methods=p.methods,
)
differences = meta.merge(importance_differences(runs, **design), on="source")
write_table(
    differences,
    snakemake.output.differences,
    simulated=p.simulated,
    caption=f"Impurity importance of each feature minus that of {labels[p.reference]}, paired by CV "
    f"repetition ({n} repetitions): mean, 95% range over repetitions and bootstrap interval of the mean",
    description=describe
    | {
        "ci_low": "2.5% quantile of the per-repetition difference",
        "boot_low": "2.5% percentile-bootstrap bound of the mean difference",
        "consistent": "the 95% range over repetitions excludes 0 (same sign in >= 97.5% of them)",
        "boot_excludes_zero": "the bootstrap interval of the mean difference excludes 0 (Monte Carlo only)",
    },
    extra={"reference": p.reference, "n_boot": int(p.n_boot), "seed": int(p.seed)},
    methods=p.methods,
)
save_figure(
    prediction_scores(runs, order=order, labels=labels, simulated=p.simulated),
    snakemake.output.scores,
    snakemake.output.scores_pdf,
)
save_figure(
    importance_differences_plot(
        summary, differences, reference=p.reference, order=order, labels=labels, simulated=p.simulated
    ),
    snakemake.output.importance,
    snakemake.output.importance_pdf,
)
