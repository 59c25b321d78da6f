"""Reader studies: blinded packets, a rating form, rating ingest and simulated readers.

Typical session (see docs/reader-study.md)::

    packet = export_packet(cases, "results/reading/packet", seed=1)   # key written beside it
    # readers open packet/index.html, rate, export CSVs
    ratings = read_ratings(["R1.csv", "R2.csv"], key=packet.key, criteria=packet.criteria)
    table = unblind(ratings, packet.key)
    plot_rating_distributions(table, "results/figures/ratings")
"""

from reconstudy.readers.criteria import DEFAULT_CRITERIA, LIKERT_SCALE, Criterion, parse_criteria
from reconstudy.readers.packet import Packet, ReadingCase, blind_order, export_packet, key_path_for

__all__ = [
    "DEFAULT_CRITERIA",
    "LIKERT_SCALE",
    "Criterion",
    "Packet",
    "ReadingCase",
    "blind_order",
    "export_packet",
    "key_path_for",
    "parse_criteria",
]
