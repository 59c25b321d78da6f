"""``reconstudy reading``: blinded reading packets, rating ingest, simulated readers, figures."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
import yaml

log = logging.getLogger("reconstudy")

CASES_HELP = (
    "TSV with one row per image to read: subject, method (e.g. CS, or a label 'CS R=4'), R (optional), "
    "image (NIfTI path, relative to the TSV's folder), "
    "roi (optional 'z0:z1,y0:y1,x0:x1' voxel bounds to zoom on)"
)


def _config_reading(path) -> tuple[dict, int | None]:
    """``reading`` block and master seed of a study config (``{}``, None without one)."""
    if path is None:
        return {}, None
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such config file")
    config = yaml.safe_load(path.read_text()) or {}
    return dict(config.get("reading") or {}), config.get("seed")


def _parse_roi(text, where: str):
    if text is None or (isinstance(text, float) and pd.isna(text)) or not str(text).strip():
        return None
    parts = str(text).split(",")
    bounds = [re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", p) for p in parts]
    if len(parts) != 3 or not all(bounds):
        raise ValueError(f"{where}: roi {text!r} must look like 'z0:z1,y0:y1,x0:x1' (voxel index bounds)")
    return tuple((int(m[1]), int(m[2])) for m in bounds)


def read_cases(path):
    """Reading cases from a TSV (see ``CASES_HELP``)."""
    from reconstudy.readers import ReadingCase

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such cases table")
    sheet = pd.read_csv(path, sep="\t", dtype={"subject": str, "method": str, "image": str})
    missing = [c for c in ("subject", "method", "image") if c not in sheet.columns]
    if missing:
        raise ValueError(f"{path}: cases table lacks column(s) {missing}; {CASES_HELP}")
    cases = []
    for n, row in enumerate(sheet.to_dict("records"), start=2):
        image = Path(row["image"])
        image = image if image.is_absolute() else path.parent / image
        R = row.get("R")
        cases.append(
            ReadingCase(
                row["subject"],
                row["method"],
                image,
                R=None if pd.isna(R) else R,
                roi=_parse_roi(row.get("roi"), f"{path}:{n}"),
            )
        )
    return cases


def run_packet(args) -> int:
    from reconstudy.readers import export_packet

    reading, config_seed = _config_reading(args.config)
    seed = args.seed if args.seed is not None else reading.get("seed", config_seed)
    if seed is None:
        raise ValueError("reading packet: give --seed (or a --config with a top-level seed)")
    criteria = args.criteria or reading.get("criteria")
    packet = export_packet(
        read_cases(args.cases),
        args.out,
        seed=int(seed),
        criteria=criteria,
        dicom=not args.no_dicom,
        overwrite=args.overwrite,
        title=args.title or reading.get("title", "Blinded reading"),
    )
    print(f"packet: {packet.directory} ({len(packet.key)} cases); open {packet.directory / 'index.html'}")
    print(f"key (keep away from readers): {packet.key_path}")
    return 0


def run_ingest(args) -> int:
    from reconstudy.readers.ratings import read_key, read_ratings, unblind
    from reconstudy.stats.tables import write_table

    key, sidecar = read_key(args.key)
    criteria = args.criteria or sidecar.get("criteria")
    ratings = read_ratings(args.ratings, key=key, criteria=criteria)
    table = unblind(ratings, key)
    simulated = "source" in table and (table["source"] == "simulated").any()
    write_table(
        table,
        args.out,
        simulated=simulated,
        caption=f"Reader ratings, un-blinded ({table['reader'].nunique()} readers, {len(key)} cases)",
        methods="Blinded reading of shuffled, opaque cases; 1-5 Likert scores per criterion "
        "(1 = very poor, 2 = poor, 3 = adequate, 4 = good, 5 = very good).",
        units={"score": "Likert 1-5", "R": "acceleration factor"},
        extra={"key": str(args.key), "ratings": [str(p) for p in args.ratings], "criteria": criteria},
    )
    print(
        f"{len(table)} ratings by {table['reader'].nunique()} reader(s) validated and un-blinded "
        f"-> {args.out}"
    )
    return 0


def run_simulate(args) -> int:
    from reconstudy.readers.ratings import read_key
    from reconstudy.readers.simulate import quality_by_case, simulate_ratings

    key, sidecar = read_key(args.key)
    metrics = pd.read_csv(args.metrics, sep="\t")
    for column, value in (("acq", args.acq),):
        if value is not None:
            if column not in metrics:
                raise ValueError(f"{args.metrics}: --{column} given but the table has no {column!r} column")
            metrics = metrics[metrics[column].astype(str) == value]
    quality = quality_by_case(key, metrics, args.metric)
    if args.lower_is_better:
        quality = -quality
    reading, config_seed = _config_reading(args.config)
    seed = args.seed if args.seed is not None else reading.get("seed", config_seed)
    if seed is None:
        raise ValueError("reading simulate: give --seed (or a --config with a top-level seed)")
    ratings = simulate_ratings(
        quality, seed=int(seed), criteria=sidecar.get("criteria"), n_readers=args.readers
    )
    from reconstudy.io.atomic import atomic_path

    with atomic_path(args.out) as tmp:
        ratings.to_csv(tmp, index=False, lineterminator="\n")
    print(f"{len(ratings)} SIMULATED ratings ({args.readers} readers, driven by {args.metric}) -> {args.out}")
    return 0


def run_figure(args) -> int:
    from reconstudy.readers.figures import plot_rating_distributions, rating_distribution
    from reconstudy.readers.ratings import read_key
    from reconstudy.stats.tables import write_table

    table = pd.read_csv(args.ratings, sep="\t", dtype={"subject": str, "reader": str, "case": str})
    criteria = read_key(args.key)[1].get("criteria") if args.key else None
    order = [s.strip() for s in args.order.split(";")] if args.order else None
    paths = plot_rating_distributions(table, args.out, order=order, criteria=criteria, title=args.title)
    dist = rating_distribution(table, order=order, criteria=criteria)
    simulated = "source" in dist and (dist["source"] == "simulated").any()
    write_table(
        dist,
        Path(f"{args.out}.tsv"),
        simulated=simulated,
        units={"proportion": "fraction"},
        caption="Distribution of ratings per method and criterion, pooled over readers",
    )
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reading",
        help="reader studies: blinded packets, rating ingest, simulated readers, figures",
        description="Run a blinded reader study: export a reading packet (shuffled opaque cases, "
        "PNG montages, DICOM series, an HTML rating form) with its key kept beside it, ingest and "
        "validate the readers' CSVs, un-blind them, simulate readers for the demo, and plot rating "
        "distributions. See docs/reader-study.md.",
    )
    sub = parser.add_subparsers(title="steps", metavar="STEP")

    p = sub.add_parser(
        "packet",
        help="export a blinded reading packet and its key",
        description="Write OUT/ (index.html, images/, dicom/, packet.json) and OUT_key.tsv next to it.",
    )
    p.add_argument("--cases", required=True, help=CASES_HELP)
    p.add_argument("--out", required=True, help="packet folder to create (the key goes to <out>_key.tsv)")
    p.add_argument("--seed", type=int, help="shuffle/ID seed (default: the config's reading.seed or seed)")
    p.add_argument("--config", help="study config; its reading.criteria, reading.title and seed are used")
    p.add_argument(
        "--criteria", help="comma-separated criterion IDs (default: config, else seed 000's three)"
    )
    p.add_argument("--title", help="heading of the rating form")
    p.add_argument("--no-dicom", action="store_true", help="skip the DICOM series")
    p.add_argument("--overwrite", action="store_true", help="replace an existing packet and key")
    p.set_defaults(func=run_packet)

    p = sub.add_parser(
        "ingest",
        help="validate rating CSVs and un-blind them with the key",
        description="Check every row (scores 1-5, known cases and criteria, no duplicates, no "
        "reader missing cases), then join the key: subject, method, R, reader, criterion, score.",
    )
    p.add_argument("ratings", nargs="+", help="CSV files exported by the form (reader,case,criterion,score)")
    p.add_argument("--key", required=True, help="the packet's <packet>_key.tsv")
    p.add_argument("--criteria", help="comma-separated criterion IDs (default: from the key's sidecar)")
    p.add_argument("--out", required=True, help="un-blinded table (.tsv; .json/.md/.tex written beside it)")
    p.set_defaults(func=run_ingest)

    p = sub.add_parser(
        "simulate",
        help="simulated readers driven by an image metric (labelled 'simulated')",
        description="Ordinal reader model: latent score from a metric per case, reader bias, case "
        "effect and noise, rounded to 1-5. Output has the form's CSV columns plus source=simulated.",
    )
    p.add_argument("--key", required=True, help="the packet's <packet>_key.tsv")
    p.add_argument(
        "--metrics", required=True, help="metrics TSV with subject, method|rec, R and the metric column"
    )
    p.add_argument("--metric", default="ssim", help="metric column driving the latent quality (default ssim)")
    p.add_argument("--lower-is-better", action="store_true", help="the metric is an error (e.g. nrmse)")
    p.add_argument("--acq", help="keep only metric rows of this acquisition (e.g. T1w)")
    p.add_argument(
        "--readers", type=int, default=3, help="number of simulated readers (default 3, as seed 000)"
    )
    p.add_argument("--seed", type=int, help="seed (default: the config's reading.seed or seed)")
    p.add_argument("--config", help="study config providing the seed")
    p.add_argument("--out", required=True, help="ratings CSV to write")
    p.set_defaults(func=run_simulate)

    p = sub.add_parser(
        "figure",
        help="rating distributions per method and criterion (seed 000 Figure 1)",
        description="Stacked proportion bars of scores 1-5 per method label, one panel per "
        "criterion, pooled over readers; writes OUT.png, OUT.pdf and the table OUT.tsv.",
    )
    p.add_argument("--ratings", required=True, help="un-blinded table from 'reconstudy reading ingest'")
    p.add_argument("--out", required=True, help="output path without suffix")
    p.add_argument("--key", help="packet key, for criterion labels")
    p.add_argument("--order", help="method labels in display order, ';'-separated, e.g. 'CS R=4;DL R=6'")
    p.add_argument("--title", help="figure title")
    p.set_defaults(func=run_figure)

    parser.set_defaults(func=lambda args: parser.print_help() or 2)
