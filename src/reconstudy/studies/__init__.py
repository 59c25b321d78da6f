"""Study-level evidence wired by workflow/rules/studies.smk (seed studies 000, 003, 004).

* :mod:`~reconstudy.studies.plan` — which reconstructions are read, prediction sources and chunks;
* :mod:`~reconstudy.studies.features` — regional volumes (true labels or a recon's segmentation)
  + age + sex per subject;
* :mod:`~reconstudy.studies.lesion_reading` — simulated lesion-wise QSM raters (seed 003);
* :mod:`~reconstudy.studies.figures` — metric box plots, prediction scores and importances;
* :mod:`~reconstudy.studies.methods` — the study part of the methods paragraph.

The statistics themselves live in :mod:`reconstudy.stats`; the reading packet, ratings and
simulated readers in :mod:`reconstudy.readers`. See docs/statistics.md ("Study configs").
"""

from reconstudy.studies.plan import chunk_ranges, prediction_sources, reading_cases, source_id

__all__ = ["chunk_ranges", "prediction_sources", "reading_cases", "source_id"]
