"""The ``reconstudy`` command line: the workflow's steps, usable outside Snakemake.

Each subcommand lives in ``reconstudy.commands.<name>`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a callable taking the parsed arguments.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import reconstudy
import reconstudy.commands
from reconstudy.progress import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconstudy",
        description=(
            "Accelerated MRI reconstruction studies: convert raw k-space, undersample, "
            "reconstruct (zero-filled, SENSE, CS, DL), compute QSM, segment, and score against "
            "a reference. The Snakemake workflow runs the same steps for a whole cohort."
        ),
    )
    parser.add_argument("--version", action="version", version=f"reconstudy {reconstudy.__version__}")
    parser.add_argument("--log", help="also append log lines to this file")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(reconstudy.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"reconstudy.commands.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    configure_logging(args.log)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"reconstudy: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
