"""Blinded reading packets: shuffled, opaque cases plus a key kept outside the packet.

A packet is a folder a reader can open anywhere (a laptop, a reading-room PC, a PACS import):

```
<out>/index.html              rating form (opens from disk, no network)
<out>/packet.json             case IDs, criteria and scale (no key)
<out>/README.txt              instructions for readers
<out>/images/<case>.png       montage per case
<out>/dicom/<case>/IM0001.dcm de-identified MR series per case
<out>_key.tsv                 NEXT TO the packet: case → subject, method, R (+ JSON sidecar)
```

Blinding: cases are sorted (so the input order does not matter), shuffled with a generator
seeded from ``(seed, PACKET_STREAM)`` and given random IDs from the same generator, so the same
cases and seed always give the same packet while nothing in it (file names, PNG metadata,
DICOM headers, the form) names the subject or the method. Every case of a subject shares one
display window and one stored-value range.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.io.nifti import load_image
from reconstudy.progress import Progress
from reconstudy.readers.criteria import LIKERT_SCALE, Criterion, parse_criteria
from reconstudy.readers.dicom import write_dicom_series
from reconstudy.readers.form import render_form
from reconstudy.readers.montage import Window, render_montage, save_png

# Stream tag mixed into the seed so the packet's shuffle never coincides with another use of it.
PACKET_STREAM = 7001
# Voxels per case sampled for the display window; percentiles of 2 million voxels are exact to
# well below one grey level.
WINDOW_SAMPLES = 2_000_000
KEY_COLUMNS = ["case", "subject", "method", "R", "label", "order"]


@dataclass
class ReadingCase:
    """One image to be read: a subject reconstructed by one method at one acceleration.

    Args:
        subject: subject ID (never shown to readers).
        method: method name, e.g. ``"CS"``; a label such as ``"CS R=4"`` with ``R`` left
            ``None`` is split into method and R.
        image: ``(z, y, x)`` array or a NIfTI path.
        R: acceleration factor, or ``None`` for a method without one.
        affine: voxel-to-RAS+ affine for an array image (1 mm isotropic if omitted); ignored
            for a NIfTI path, whose own affine is used.
        roi: optional ``((z0, z1), (y0, y1), (x0, x1))`` voxel bounds to zoom on.
    """

    subject: str
    method: str
    image: object
    R: float | None = None
    affine: np.ndarray | None = field(default=None, repr=False)
    roi: tuple | None = None

    def __post_init__(self):
        self.subject = str(self.subject)
        match = re.fullmatch(r"\s*(.*?)\s+R\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*", str(self.method))
        if self.R is None and match:
            self.method, self.R = match.group(1), float(match.group(2))
        if self.R is not None:
            self.R = int(self.R) if float(self.R).is_integer() else float(self.R)
        if not self.subject or not str(self.method):
            raise ValueError(
                f"a reading case needs a subject and a method; got {self.subject!r}, {self.method!r}"
            )

    @property
    def label(self) -> str:
        """Method label as shown in figures, e.g. ``"DL R=8"``."""
        return self.method if self.R is None else f"{self.method} R={self.R:g}"

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``(z, y, x)`` volume and its affine."""
        if isinstance(self.image, (str, os.PathLike)):
            volume, affine = load_image(self.image)
        else:
            volume = np.asarray(self.image)
            affine = np.eye(4) if self.affine is None else np.asarray(self.affine, float)
        if np.iscomplexobj(volume):
            raise TypeError(f"case {self.subject}/{self.label}: pass a magnitude image, not complex data")
        if volume.ndim != 3:
            raise ValueError(
                f"case {self.subject}/{self.label}: expected a 3D (z, y, x) image, got {volume.shape}"
            )
        return volume.astype(np.float32, copy=False), affine


@dataclass(frozen=True)
class Packet:
    """What :func:`export_packet` wrote."""

    directory: Path
    key_path: Path
    key: pd.DataFrame
    criteria: tuple[Criterion, ...]


def key_path_for(packet_dir) -> Path:
    """The key file of a packet: ``<packet>_key.tsv`` next to (never inside) the packet folder."""
    packet_dir = Path(packet_dir)
    return packet_dir.parent / f"{packet_dir.name}_key.tsv"


def blind_order(cases: Sequence[ReadingCase], seed: int) -> tuple[list[int], list[str], str]:
    """Reading order and opaque IDs for ``cases``, reproducible from ``seed`` alone.

    Returns:
        ``(order, ids, packet_id)``: ``order[n]`` is the index (into ``cases``) of the n-th case
        shown; ``ids[n]`` is its opaque ID; ``packet_id`` tags the packet and its key.
    """
    keys = [(c.subject, c.label) for c in cases]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"each (subject, method) may appear once in a packet; repeated: {duplicates}")
    canonical = sorted(range(len(cases)), key=lambda n: keys[n])
    rng = np.random.default_rng([int(seed), PACKET_STREAM])
    order = [canonical[n] for n in rng.permutation(len(cases))]
    digits = max(4, int(np.ceil(np.log(max(len(cases), 1) * 1000) / np.log(16))))
    numbers = rng.choice(16**digits, size=len(cases), replace=False)
    ids = [f"case-{int(v):0{digits}x}" for v in numbers]
    packet_id = rng.bytes(4).hex()
    return order, ids, packet_id


def _readme(n_cases: int, criteria) -> str:
    lines = [
        "Blinded reading packet",
        "",
        f"{n_cases} cases. Open index.html in a web browser (no installation, no network needed).",
        "Enter your reader ID, rate every case on each criterion from 1 to 5, then press",
        "'Export CSV' and send the downloaded file back. Scores are kept in the browser while you work.",
        "",
        "Criteria: " + "; ".join(c.label for c in criteria),
        "Scale: " + ", ".join(f"{k} = {v}" for k, v in LIKERT_SCALE.items()),
        "",
        "dicom/<case>/ holds the same case as a DICOM series for a PACS viewer (import the folder).",
    ]
    return "\n".join(lines) + "\n"


def export_packet(
    cases: Sequence[ReadingCase],
    out_dir,
    *,
    seed: int,
    criteria=None,
    dicom: bool = True,
    overwrite: bool = False,
    title: str = "Blinded reading",
) -> Packet:
    """Write a blinded reading packet to ``out_dir`` and its key to ``<out_dir>_key.tsv``.

    The packet is built in a hidden temporary folder next to ``out_dir`` and renamed into
    place only when complete; the key and its JSON sidecar are written atomically beside it.

    Args:
        cases: the images to read (at least one); every (subject, method, R) once.
        out_dir: packet folder to create.
        seed: study seed; the same cases and seed give the same shuffle, IDs and UIDs.
        criteria: rating criteria (see :func:`reconstudy.readers.criteria.parse_criteria`);
            seed 000's overall quality, pathology conspicuity and clinical value by default.
        dicom: also write a DICOM series per case.
        overwrite: replace an existing packet (and key) instead of refusing.
        title: heading of the rating form.

    Returns:
        A :class:`Packet` with the folder, the key path and the key table.
    """
    cases = list(cases)
    if not cases:
        raise ValueError("a reading packet needs at least one case")
    criteria = parse_criteria(criteria)
    out_dir = Path(out_dir)
    key_path = key_path_for(out_dir)
    if out_dir.exists() and not overwrite:
        raise ValueError(
            f"{out_dir}: a packet already exists there; choose another folder "
            "or pass overwrite=True (--overwrite)"
        )
    order, ids, packet_id = blind_order(cases, seed)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "images").mkdir()
        windows = _subject_windows(cases)
        # Files are written in reading order, never grouped by subject or method: creation order
        # (inode numbers) must not hint at what a case is; timestamps are equalised below.
        progress = Progress(len(cases), "reading packet", unit="case")
        for n, index in enumerate(order):
            case, cid = cases[index], ids[n]
            volume, affine = case.load()
            window, value_range = windows[case.subject]
            try:
                montage = render_montage(volume, affine, window, roi=case.roi)
            except ValueError as err:
                raise ValueError(f"case {case.subject}/{case.label}: {err}") from err
            save_png(montage, tmp / "images" / f"{cid}.png")
            if dicom:
                write_dicom_series(
                    tmp / "dicom" / cid,
                    volume,
                    affine,
                    case_id=cid,
                    value_range=(value_range.low, value_range.high),
                    window=window,
                    rng=np.random.default_rng([int(seed), PACKET_STREAM, 1 + n]),
                )
            progress.advance(1)

        manifest = {
            "format": "reconstudy-reading-packet/1",
            "packet_id": packet_id,
            "title": title,
            "criteria": [c.as_dict() for c in criteria],
            "scale": {str(k): v for k, v in LIKERT_SCALE.items()},
            "cases": [
                {
                    "id": ids[n],
                    "image": f"images/{ids[n]}.png",
                    **({"dicom": f"dicom/{ids[n]}"} if dicom else {}),
                }
                for n in range(len(order))
            ],
        }
        (tmp / "packet.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (tmp / "index.html").write_text(render_form(manifest), encoding="utf-8")
        (tmp / "README.txt").write_text(_readme(len(order), criteria))
        _finalise_files(tmp)

        key = pd.DataFrame(
            [
                {
                    "case": ids[n],
                    "subject": cases[index].subject,
                    "method": cases[index].method,
                    "R": cases[index].R,
                    "label": cases[index].label,
                    "order": n + 1,
                }
                for n, index in enumerate(order)
            ],
            columns=KEY_COLUMNS,
        )
        sidecar = {
            "description": "Unblinding key of a reconstudy reading packet. Keep it away from readers.",
            "packet": out_dir.name,
            "packet_id": packet_id,
            "seed": int(seed),
            "criteria": [c.as_dict() for c in criteria],
            "scale": {str(k): v for k, v in LIKERT_SCALE.items()},
            "columns": {
                "case": "opaque case ID shown to readers",
                "subject": "subject ID",
                "method": "reconstruction method",
                "R": "acceleration factor (empty when not applicable)",
                "label": "method label used in figures",
                "order": "position of the case in the reading order (1-based)",
            },
        }
        with (
            atomic_path(key_path, mode=0o600) as tmp_key,
            atomic_path(key_path.with_suffix(".json"), mode=0o600) as tmp_json,
        ):
            key.to_csv(tmp_key, sep="\t", index=False)
            tmp_json.write_text(json.dumps(sidecar, indent=2) + "\n")
            _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Packet(out_dir, key_path, key, tuple(criteria))


def _subject_windows(cases: Sequence[ReadingCase]) -> dict[str, tuple[Window, Window]]:
    """Per subject: display window (0.5–99.5 % of all its cases pooled) and full value range."""
    by_subject: dict[str, list[ReadingCase]] = {}
    for case in cases:
        by_subject.setdefault(case.subject, []).append(case)
    windows = {}
    for subject, group in sorted(by_subject.items()):
        # One volume in memory at a time: keep a strided sample (for percentiles) and the range.
        samples, ranges = [], []
        for case in group:
            volume = case.load()[0]
            stride = max(1, volume.size // WINDOW_SAMPLES)
            samples.append(volume.ravel()[::stride].copy())
            ranges.append(Window.value_range(volume))
        full_range = Window.value_range([[r.low, r.high] for r in ranges])
        windows[subject] = (Window.from_volumes(samples), full_range)
    return windows


def _finalise_files(root: Path) -> None:
    """Give every file and folder of the packet one modification time and ordinary permissions.

    Temporary files are created private (0600/0700); a packet is meant to be copied to readers,
    so it gets the permissions of a normal file under the user's umask. The key stays private.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    stamp = root.stat().st_mtime
    for path in [*root.rglob("*"), root]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
        os.utime(path, (stamp, stamp))


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, replacing an existing ``dst`` only after ``src`` is complete."""
    if dst.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", dir=dst.parent))
        os.replace(dst, trash / dst.name)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(src, dst)
