"""Run one ReconStudy command without importing every command module (for lent GPU machines).

``reconstudy.cli`` imports all of ``reconstudy.commands`` to build its parser, so a missing
optional package of an unrelated command (e.g. scikit-learn for the statistics) stops every
command. This runs just the named ones::

    python benchmarks/device_run.py train-dl --config ... --out ...
    python benchmarks/device_run.py train-seg --label-maps ... --out ...
"""

from __future__ import annotations

import argparse
import importlib
import sys

MODULES = {"train-dl": "train", "train-seg": "train_seg"}


def _segment_package_without_backends() -> None:
    """Make ``reconstudy.segment.*`` importable when its ``__init__`` cannot be imported.

    The package's ``__init__`` imports the FreeSurfer backend, which needs nipype; training
    needs only ``synth``, ``train``, ``unet3d`` and ``labels``. When the import fails, register
    an empty package module with the right search path so those submodules still load.
    """
    import importlib.util
    import types

    try:
        importlib.import_module("reconstudy.segment")
    except ImportError as err:
        spec = importlib.util.find_spec("reconstudy.segment")
        package = types.ModuleType("reconstudy.segment")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["reconstudy.segment"] = package
        print(f"device_run: reconstudy.segment imported without its backends ({err})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from reconstudy.progress import configure_logging

    argv = sys.argv[1:] if argv is None else argv
    _segment_package_without_backends()
    parser = argparse.ArgumentParser(prog="device_run")
    parser.add_argument("--log", default=None, help=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in MODULES.values():
        importlib.import_module(f"reconstudy.commands.{module}").register(subparsers)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    configure_logging(getattr(args, "log", None))
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"reconstudy: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
