# ReconStudy: raw multi-coil k-space -> undersampling -> reconstruction -> metrics -> statistics,
# figures and report. See README.md; the layout and conventions are in docs/.
import os

from snakemake.utils import min_version

min_version("9.0")


# The embedded default; --configfile layers a study or test config on top of it.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/undersample.smk"
include: "workflow/rules/recon.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/qsm.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/studies.smk"


localrules:
    all,


rule all:
    input:
        get_final_outputs() + study_outputs(),
    default_target: True
