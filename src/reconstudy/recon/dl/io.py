"""Model files: weights (``.pt``, a plain state dict) plus a JSON manifest next to them.

The manifest ``<name>.json`` records what is needed to trust and rebuild a model: the sha256
of the weights file, the architecture and its configuration, the training configuration, the
training data, the validation metrics and the command that retrains it. Weights are read with
``torch.load(..., weights_only=True)``, so a model file can never run code when loaded.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reconstudy.io.atomic import atomic_path
from reconstudy.recon.dl.modl import MoDL
from reconstudy.recon.dl.superres import SuperResolution
from reconstudy.recon.dl.varnet import VarNet

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "VarNet": VarNet,
    "MoDL": MoDL,
    "SuperResolution": SuperResolution,
}
MANIFEST_VERSION = 1


def manifest_path(model_path) -> Path:
    """The manifest that belongs to ``model_path``: same name with the suffix ``.json``."""
    return Path(model_path).with_suffix(".json")


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_model(architecture: str, config: dict) -> nn.Module:
    """Instantiate a registered architecture from its configuration dictionary."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown DL architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**config)


def architecture_of(model: nn.Module) -> str:
    for name, cls in ARCHITECTURES.items():
        if type(model) is cls:
            return name
    raise TypeError(f"{type(model).__name__} is not a registered DL architecture ({sorted(ARCHITECTURES)})")


def save_model(
    path,
    model: nn.Module,
    *,
    training: dict | None = None,
    data: dict | None = None,
    validation: dict | None = None,
    retrain: str | None = None,
) -> dict:
    """Write ``model``'s weights to ``path`` and its manifest next to it; return the manifest.

    Both files are written atomically; the manifest's sha256 is computed from the bytes that
    were written, so a later change to either file is detected by :func:`load_model`.
    """
    path = Path(path)
    state = {key: value.detach().to("cpu", torch.float32) for key, value in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        digest, size = sha256_of(tmp), tmp.stat().st_size
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "file": path.name,
        "sha256": digest,
        "size_bytes": size,
        "architecture": {"name": architecture_of(model), "config": dict(model.config)},
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "training": _jsonable(training or {}),
        "data": _jsonable(data or {}),
        "validation": _jsonable(validation or {}),
        "retrain": retrain or "",
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
    }
    with atomic_path(manifest_path(path)) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(model_path) -> dict:
    """Read and check the manifest of ``model_path``; raise with the manifest's name on problems."""
    model_path, mpath = Path(model_path), manifest_path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"DL model file {model_path} does not exist (its manifest would be {mpath})")
    if not mpath.is_file():
        raise FileNotFoundError(
            f"DL model {model_path} has no manifest {mpath}; models must be written by "
            "reconstudy.recon.dl.io.save_model (e.g. `reconstudy train-dl`)"
        )
    try:
        manifest = json.loads(mpath.read_text())
        manifest["architecture"]["name"], manifest["architecture"]["config"], manifest["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(
            f"manifest {mpath} is not a valid DL model manifest ({err!r}); rewrite it with save_model"
        ) from err
    return manifest


def load_model(model_path, device="cpu") -> tuple[nn.Module, dict]:
    """Load a model and its manifest, verifying the checksum and the architecture.

    Raises:
        FileNotFoundError: the model or its manifest is missing.
        ValueError: the weights do not match the manifest's sha256 (corrupted or replaced
            file), cannot be read, or do not fit the manifest's architecture; the message names
            the manifest and how to fix it.
    """
    model_path, mpath = Path(model_path), manifest_path(model_path)
    manifest = read_manifest(model_path)
    retrain = manifest.get("retrain") or "reconstudy train-dl --config <config> --out <model.pt>"
    digest = sha256_of(model_path)
    if digest != manifest["sha256"]:
        raise ValueError(
            f"DL model {model_path} is corrupted or was replaced: its sha256 {digest[:12]}... differs "
            f"from {manifest['sha256'][:12]}... recorded in manifest {mpath}; restore the file or "
            f"retrain: {retrain}"
        )
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several unpickling error types
        raise ValueError(f"cannot read DL weights {model_path} (manifest {mpath}): {err}") from err
    arch = manifest["architecture"]
    try:
        model = build_model(arch["name"], arch["config"])
    except TypeError as err:
        raise ValueError(
            f"architecture config {arch['config']} in manifest {mpath} is invalid: {err}"
        ) from err
    except ValueError as err:
        raise ValueError(f"{err} (manifest {mpath})") from err
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ValueError(
            f"weights in {model_path} do not fit architecture {arch['name']} {arch['config']} recorded in "
            f"manifest {mpath} ({' '.join(line.strip() for line in first[:3])}); the manifest and weights "
            f"belong to different models: retrain with {retrain}"
        ) from err
    return model.to(device).eval(), manifest


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
