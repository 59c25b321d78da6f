"""Adapter: cohort QSM tables (map errors, nucleus ROI differences) and the lesion-wise SIMULATED
raters with kappa (2x2 PRL, hyper/iso, 5-level confidence), sensitivity/specificity against the
true lesion kinds and Wilcoxon tests between methods (seed 003)."""

from pathlib import Path

import pandas as pd

from reconstudy.progress import configure_logging
from reconstudy.readers.figures import plot_rating_distributions
from reconstudy.stats import compare_to_reference, diagnostic_table, kappa_table, write_table
from reconstudy.studies.lesion_reading import consensus_from_truth, simulate_lesion_ratings

configure_logging(snakemake.log[0])
p = snakemake.params
out = snakemake.output


def read(paths):
    frames = [pd.read_csv(f, sep="\t", dtype={"subject": str}) for f in paths if Path(f).stat().st_size > 1]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


errors, roi, features = read(snakemake.input.errors), read(snakemake.input.roi), read(snakemake.input.lesions)
common = dict(simulated=p.simulated, methods=p.methods)
write_table(
    errors,
    out.errors,
    caption="Errors of each chi map against the fully sampled reference map inside the brain mask",
    units={"mae": "ppb", "rmse": "ppb", "bias": "ppb", "rmse_percent": "%"},
    **common,
)
write_table(
    roi,
    out.roi,
    caption="Mean chi of deep grey-matter nuclei, each map against the reference map",
    units={"mean_estimate": "ppb", "mean_reference": "ppb", "diff": "ppb"},
    **common,
)
if features.empty:
    raise ValueError(
        "studies.qsm_reading: the cohort has no lesions; put subjects of group 'ms' in the sheet"
    )
truth = []
for subject, path in zip(p.subjects, snakemake.input.truth):
    table = pd.read_csv(path, sep="\t")
    truth.append(table.assign(subject=str(subject)))
consensus = consensus_from_truth(pd.concat(truth, ignore_index=True))
# each rated map's error against the reference map lowers the raters' confidence on it
rated = errors[errors["R"] == float(p.rated_R)][["subject", "rec", "rmse_percent"]]
features = features.merge(
    rated.rename(columns={"rec": "method"}).assign(map_nrmse=lambda t: t["rmse_percent"] / 100),
    on=["subject", "method"],
    how="left",
).drop(columns="rmse_percent")
ratings = simulate_lesion_ratings(features, seed=int(p.seed), n_raters=int(p.n_raters))
ratings = ratings.merge(
    consensus[["subject", "lesion_id", "kind"]].rename(columns={"kind": "true_kind"}),
    on=["subject", "lesion_id"],
    how="left",
)
write_table(
    ratings, out.ratings, caption=f"Lesion-wise findings of simulated raters at R={p.rated_R}", **common
)

long = ratings.melt(
    id_vars=["subject", "lesion_id", "method", "rater"],
    value_vars=["prl", "contrast", "confidence"],
    var_name="finding",
    value_name="value",
)
kappas = []
for finding, weights, cats in (
    ("prl", [None], ["no", "yes"]),
    ("contrast", [None], ["hyper", "iso"]),
    ("confidence", [None, "linear", "quadratic"], [1, 2, 3, 4, 5]),
):
    part = long[long["finding"] == finding].copy()
    if finding == "confidence":
        part["value"] = part["value"].astype(int)
    design = dict(rating="value", item=["subject", "lesion_id"], weights=weights, categories=cats)
    kappas.append(
        kappa_table(part, between="rater", by=["method"], **design).assign(
            finding=finding, agreement="inter-rater"
        )
    )
    kappas.append(
        kappa_table(part, between="method", by=["rater"], **design).assign(
            finding=finding, agreement="inter-method"
        )
    )
kappas = pd.concat(kappas, ignore_index=True)
front = ["agreement", "finding", "method", "rater"]
write_table(
    kappas[front + [c for c in kappas.columns if c not in front]],
    out.kappa,
    caption="Cohen's kappa of lesion-wise findings between raters and between reconstruction methods "
    "(PRL yes/no and hyper/iso: 2x2 tables; confidence: 5 levels, weighted)",
    **common,
)
write_table(
    # 'method' names the statistic in diagnostic_table's output, so the reconstruction goes as 'rec'
    diagnostic_table(
        ratings.rename(columns={"method": "rec"}),
        consensus,
        finding="prl",
        item=["subject", "lesion_id"],
        by=["rater", "rec"],
        positive="yes",
    ),
    out.diagnostic,
    caption="Sensitivity and specificity of PRL findings against the true lesion kinds (Wilson intervals)",
    **common,
)
write_table(
    compare_to_reference(
        ratings,
        value="confidence",
        condition="method",
        reference=p.reference_rec,
        subject=["subject", "lesion_id"],
        by=["rater"],
    ),
    out.wilcoxon,
    caption=f"Wilcoxon signed-rank tests of lesion-wise confidence against {p.reference_rec}, per rater",
    **common,
)
figure_table = ratings.assign(
    label=ratings["method"].str.upper(),
    criterion="confidence",
    score=ratings["confidence"],
    reader=ratings["rater"],
)
plot_rating_distributions(
    figure_table,
    Path(out.png).with_suffix(""),
    order=[p.reference_rec.upper()] + sorted(set(figure_table["label"]) - {p.reference_rec.upper()}),
    criteria=[{"id": "confidence", "label": "Lesion classification confidence"}],
    title=f"Lesion-wise confidence per reconstruction (QSM at R={p.rated_R}), pooled over raters",
)
