"""Adapter: Wilcoxon of every rated reconstruction against the reference (per reader and pooled),
and Cohen's kappa between readers and between methods (docs/statistics.md)."""

import pandas as pd

from reconstudy.progress import configure_logging
from reconstudy.stats import compare_to_reference, kappa_table, write_table

configure_logging(snakemake.log[0])
p = snakemake.params
ratings = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str, "reader": str, "case": str})
simulated = "source" in ratings and (ratings["source"] == "simulated").any()

per_reader = compare_to_reference(
    ratings,
    value="score",
    condition="label",
    reference=p.reference,
    subject="subject",
    by=["reader", "criterion"],
)
pooled = compare_to_reference(
    ratings,
    value="score",
    condition="label",
    reference=p.reference,
    subject=["reader", "subject"],
    by=["criterion"],
).assign(reader="pooled")
tests = pd.concat([per_reader, pooled], ignore_index=True)
tests["label"] = pd.Categorical(tests["label"], [o for o in p.order if o != p.reference])
tests = tests.sort_values(["criterion", "reader", "label"]).astype({"label": str})
write_table(
    tests,
    snakemake.output.wilcoxon,
    simulated=simulated,
    caption=f"Paired Wilcoxon signed-rank tests of each reconstruction against {p.reference}, per reader and "
    "pooled over readers",
    units={"median_diff": "Likert points"},
    methods=p.methods,
)

weights = [None, "linear", "quadratic"]
likert = [1, 2, 3, 4, 5]
inter_rater = kappa_table(
    ratings,
    rating="score",
    item="subject",
    between="reader",
    by=["label", "criterion"],
    weights=weights,
    categories=likert,
).assign(agreement="inter-rater")
inter_method = kappa_table(
    ratings,
    rating="score",
    item="subject",
    between="label",
    by=["reader", "criterion"],
    weights=weights,
    categories=likert,
).assign(agreement="inter-method")
kappas = pd.concat([inter_rater, inter_method], ignore_index=True)
front = ["agreement", "criterion", "label", "reader"]
write_table(
    kappas[front + [c for c in kappas.columns if c not in front]],
    snakemake.output.kappa,
    simulated=simulated,
    caption="Cohen's kappa between readers (per reconstruction) and between reconstructions (per reader), "
    "unweighted and linear/quadratic weighted, with Wald 95% intervals",
    methods=p.methods,
)
