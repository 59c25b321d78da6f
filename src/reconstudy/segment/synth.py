"""Synthetic training images generated on the fly from label maps (the SynthSeg recipe).

Each sample is drawn from one whole-head label map and a ``numpy.random.Generator``:

1. **Geometry** — a patch of ``patch`` voxels of ``voxel_mm`` on RAS-aligned axes, centred on
   the brain, is pulled back into the 1 mm map through a random affine ``A`` (rotation,
   per-axis scaling, shift) and a smooth displacement ``u`` (separable linear upsampling
   of a coarse Gaussian grid): a voxel at ``r`` takes the label at ``c + A r + u(r)`` (nearest neighbour),
   then a random left-right flip swaps homologous labels. Optionally (``resize_probability``)
   hippocampi, amygdalae and lateral ventricles are then shrunk or grown by a random fraction
   (up to ``resize_range``) of their voxels, so sizes the training maps lack are seen; and
   (``harmonise_probability``) first brought to their normative share of the intracranial
   volume, as the phantom does to every subject (:func:`reconstudy.phantom.effects.harmonise`);
   and last (``atrophy_probability``) atrophied the way the phantom's impaired group is:
   hippocampi and amygdalae lose their outer voxels to the temporal horn's CSF, the lateral
   ventricles grow into the nearest parenchyma (:func:`reconstudy.phantom.effects.atrophy`).
2. **Contrast** — every label ``l`` gets intensity ``N(mu_l, sigma_l^2)``, with ``mu_l ~ U(0, 255)``
   and ``sigma_l ~ U(0, 25)`` (Gaussian mixture), optionally tied between homologues or within a
   tissue class (so shape, not contrast, must separate e.g. hippocampus and cortex), or derived
   from tissue T1/T2*/PD through a random T1-weighted or spoiled-GRE signal model.
3. **Artefacts** — a smooth multiplicative bias field ``exp(b)``, blur of a random lower
   acquisition resolution, Gaussian or Rician noise, then robust min-max normalisation to [0, 1]
   and a random gamma.

References:
    Billot B, Greve DN, Puonti O, et al. SynthSeg: segmentation of brain MRI scans of any
    contrast and resolution without retraining. Medical Image Analysis 86:102789, 2023.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from torch.nn import functional as F

from reconstudy.phantom import effects
from reconstudy.resources import resource_path
from reconstudy.segment.labels import HOMOLOGUES, to_classes

MAX_LABEL = 600
HARMONISE_SPREAD = 0.08  # the phantom's normative spread (reconstudy.phantom.effects.harmonise)
_BRAIN = (2, 3, 7, 8, 41, 42, 46, 47)
# Tissue classes whose labels may share one intensity (the phantom's T1w barely separates them).
TIE_GROUPS = (
    (4, 5, 14, 15, 24, 43, 44, 72),
    (2, 41, 7, 46, 16, 28, 60, 85),
    (3, 42, 8, 47, 17, 18, 53, 54, 26, 58),
    (10, 49, 11, 50, 12, 51, 13, 52),
)


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the generator (defaults: 2.5 mm patches of 64^3 voxels)."""

    voxel_mm: float = 2.5
    patch: tuple[int, int, int] = (64, 64, 64)
    rotation_deg: float = 12.0
    scaling: float = 0.12
    shift_mm: float = 20.0
    deformation_mm: float = 2.5
    flip_probability: float = 0.5
    tie_probability: float = 0.5
    prior_probability: float = 0.7
    bias_max: float = 0.4
    blur_probability: float = 0.6
    max_resolution_factor: float = 1.8
    noise_max: float = 0.06
    gamma_sd: float = 0.25
    resize_probability: float = 0.0
    resize_range: float = 0.3
    harmonise_probability: float = 0.0
    atrophy_probability: float = 0.0
    atrophy_max: float = 0.4
    ventricle_growth_max: float = 0.6

    def __post_init__(self):
        if not 0 <= self.resize_probability <= 1 or not 0 <= self.resize_range < 0.9:
            raise ValueError(
                "structure-size augmentation: resize_probability (--resize-probability) must be in "
                f"[0, 1] and resize_range (--resize-range) in [0, 0.9); got {self.resize_probability} "
                f"and {self.resize_range}"
            )
        if not 0 <= self.harmonise_probability <= 1:
            raise ValueError(
                "harmonise_probability (--harmonise-probability) must be in [0, 1]; got "
                f"{self.harmonise_probability}"
            )
        atrophy_ok = 0 <= self.atrophy_probability <= 1 and 0 <= self.atrophy_max < 0.9
        if not atrophy_ok or self.ventricle_growth_max < 0:
            raise ValueError(
                "atrophy augmentation: atrophy_probability (--atrophy-probability) must be in [0, 1], "
                "atrophy_max (--atrophy-max) in [0, 0.9) and ventricle_growth_max "
                f"(--ventricle-growth-max) >= 0; got {self.atrophy_probability}, {self.atrophy_max} "
                f"and {self.ventricle_growth_max}"
            )

    @property
    def resizes(self) -> bool:
        """Whether any structure is resized (no random draws for it otherwise)."""
        return self.resize_probability > 0 or self.harmonise_probability > 0 or self.atrophy_probability > 0

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=8)
def load_label_map(path: str):
    """Label map cropped to its non-zero box: (labels int16 (i, j, k), voxel->RAS affine, brain centre mm)."""
    image = nib.load(path)
    labels = np.asarray(image.dataobj).astype(np.int16)
    if labels.ndim != 3:
        raise ValueError(f"{path}: a label map must be 3D, got shape {labels.shape}")
    if labels.max() >= MAX_LABEL or labels.min() < 0:
        raise ValueError(f"{path}: labels must be FreeSurfer values in 0..{MAX_LABEL - 1}")
    nonzero = np.argwhere(labels > 0)
    if nonzero.size == 0:
        raise ValueError(f"{path}: the label map is empty")
    lo, hi = nonzero.min(0), nonzero.max(0) + 1
    labels = np.ascontiguousarray(labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])
    affine = image.affine.astype(np.float64).copy()
    affine[:3, 3] += affine[:3, :3] @ lo
    brain = np.argwhere(np.isin(labels, _BRAIN))
    if brain.size == 0:
        raise ValueError(f"{path}: no cerebral or cerebellar labels ({_BRAIN}) in the label map")
    centre_vox = (brain.min(0) + brain.max(0)) / 2
    centre = affine[:3, :3] @ centre_vox + affine[:3, 3]
    labels.setflags(write=False)
    return labels, affine, centre


def _rotation(rng, max_deg):
    angles = np.deg2rad(rng.uniform(-max_deg, max_deg, size=3))
    out = np.eye(3)
    for axis, angle in enumerate(angles):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [a for a in range(3) if a != axis]
        rot = np.eye(3)
        rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
        out = out @ rot
    return out


def _interpolation_matrix(n_fine, n_coarse):
    """(n_fine, n_coarse) linear interpolation weights spanning the fine axis end to end."""
    positions = np.linspace(0, n_coarse - 1, n_fine)
    return np.stack(
        [np.interp(positions, np.arange(n_coarse), np.eye(n_coarse)[i]) for i in range(n_coarse)], 1
    )


@functools.lru_cache(maxsize=32)
def _interpolation_matrices(shape, n_coarse, device):
    return tuple(
        torch.as_tensor(_interpolation_matrix(n, n_coarse), dtype=torch.float32, device=device) for n in shape
    )


def _smooth_field(rng, shape, n_coarse, amplitude, device) -> torch.Tensor:
    """Coarse Gaussian grid, interpolated separably (three small matrix products; no spline filter)."""
    coarse = torch.as_tensor(rng.normal(size=(n_coarse,) * 3) * amplitude, dtype=torch.float32, device=device)
    mz, my, mx = _interpolation_matrices(tuple(shape), n_coarse, device)
    field = torch.tensordot(mz, coarse, dims=([1], [0]))  # (a, j, k); one axis at a time is ~50x
    field = torch.tensordot(field, my, dims=([1], [1]))  # (a, k, b)   faster than a 4-operand einsum
    return torch.tensordot(field, mx, dims=([1], [1]))  # (a, b, c)


@functools.lru_cache(maxsize=8)
def _label_tensor(path: str, device):
    labels, _, _ = load_label_map(path)
    return torch.from_numpy(labels.astype(np.int64)).to(device)


@functools.lru_cache(maxsize=8)
def _patch_offsets(shape, voxel_mm, device):
    """RAS offsets (x=R, y=A, z=S) in mm of the patch voxels from the patch centre, (3, N)."""
    axes = [(torch.arange(n, dtype=torch.float32, device=device) - (n - 1) / 2) * voxel_mm for n in shape]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, z]).reshape(3, -1)


def _device_of(device):
    return torch.device("cpu" if device is None else device)


def sample_labels(
    path, config: SynthConfig, rng, *, deform: bool = True, device=None, return_flipped: bool = False
):
    """A randomly transformed label patch ``(z, y, x)`` (FreeSurfer values) from the map at ``path``.

    The random draws come from ``rng``; the voxel work runs in torch on ``device``. With
    ``device=None`` the patch is an int16 numpy array, otherwise an int64 tensor on ``device``.
    ``return_flipped``: return ``(patch, whether its sides were swapped)``.
    """
    labels, affine, centre = load_label_map(str(path))
    dev = _device_of(device)
    shape = tuple(int(n) for n in config.patch)
    r = _patch_offsets(shape, float(config.voxel_mm), dev)
    if deform:
        scales = 1 + rng.uniform(-config.scaling, config.scaling, size=3)
        matrix = _rotation(rng, config.rotation_deg) @ np.diag(scales)
        shift = rng.uniform(-config.shift_mm, config.shift_mm, size=3)
        amplitude = rng.uniform(0, config.deformation_mm)
        displacement = torch.stack(
            [_smooth_field(rng, shape, 5, amplitude, dev).reshape(-1) for _ in range(3)]
        )
    else:
        matrix, shift, displacement = np.eye(3), np.zeros(3), 0.0
    inv = np.linalg.inv(affine)
    # voxel index = inv (M r + c + u) + t: fold the affine pieces into one 3x3 and one offset.
    to_ijk = torch.as_tensor(inv[:3, :3] @ matrix, dtype=torch.float32, device=dev)
    offset = torch.as_tensor(inv[:3, :3] @ (centre + shift) + inv[:3, 3], dtype=torch.float32, device=dev)
    points = to_ijk @ r + offset[:, None]
    if deform:
        points = points + torch.as_tensor(inv[:3, :3], dtype=torch.float32, device=dev) @ displacement
    ijk = torch.round(points).long()
    size = torch.as_tensor(labels.shape, device=dev)[:, None]
    inside = ((ijk >= 0) & (ijk < size)).all(0)
    flat = (ijk[0] * labels.shape[1] + ijk[1]) * labels.shape[2] + ijk[2]
    source = _label_tensor(str(path), dev).reshape(-1)
    out = torch.where(
        inside, source[flat.clamp(0, source.numel() - 1)], torch.zeros((), dtype=torch.long, device=dev)
    )
    out = out.reshape(shape)
    flipped = bool(deform and rng.random() < config.flip_probability)
    if flipped:
        out = _swap_sides(out.flip(-1))
    if device is None:
        out = np.ascontiguousarray(out.numpy().astype(np.int16))
    return (out, flipped) if return_flipped else out


@functools.lru_cache(maxsize=1)
def _side_swap() -> np.ndarray:
    """Lookup: each label value -> its homologue on the other side (itself if it has none)."""
    lut = np.arange(MAX_LABEL, dtype=np.int64)
    for left, right in HOMOLOGUES.items():
        lut[left], lut[right] = right, left
    lut.setflags(write=False)
    return lut


@functools.lru_cache(maxsize=4)
def _side_swap_tensor(device) -> torch.Tensor:
    return torch.tensor(_side_swap(), device=device)  # a copy: the numpy table is read-only


def _swap_sides(labels: torch.Tensor) -> torch.Tensor:
    return _side_swap_tensor(labels.device)[labels]


@functools.lru_cache(maxsize=2)
def _tissue_table(path: str):
    table = {}
    with open(path) as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            table[int(row["label"])] = row
    return table


def _default_tissue_path() -> Path:
    return resource_path("tissue_properties.tsv")


def _prior_means(rng, present, tissue_path):
    """Intensity per label from a random T1-weighted or spoiled-GRE model of tissue T1, T2*, PD."""
    table = _tissue_table(str(tissue_path))
    field = "7t" if rng.random() < 0.5 else "3t"
    means = np.zeros(MAX_LABEL)
    kind = rng.integers(3)
    t_ref, te, flip = rng.uniform(500, 2500), rng.uniform(2, 35), np.deg2rad(rng.uniform(5, 35))
    for label in present:
        row = table.get(int(label))
        if row is None:
            means[label] = rng.uniform(0, 1)
            continue
        t1, t2s, pd = (float(row[f"t1_{field}_ms"]), float(row[f"t2star_{field}_ms"]), float(row["pd"]))
        if kind == 0:  # inversion-recovery-like T1w: short T1 bright, PD-gated
            value = np.exp(-t1 / t_ref) * min(1.0, pd / 0.5)
        elif kind == 1:  # spoiled GRE magnitude
            e1 = np.exp(-30.0 / t1)
            value = pd * np.sin(flip) * (1 - e1) / (1 - np.cos(flip) * e1) * np.exp(-te / t2s)
        else:  # T2*-weighted
            value = pd * np.exp(-te / t2s)
        means[label] = value * rng.normal(1, 0.06)
    peak = means[present].max()
    return means / peak * 255 if peak > 0 else means


def _gaussian_blur(image: torch.Tensor, sigmas) -> torch.Tensor:
    """Separable Gaussian blur of a (z, y, x) volume, edge values repeated (scipy ``mode="nearest"``,
    kernel truncated at 4 sigma as ``scipy.ndimage.gaussian_filter``)."""
    out = image[None, None]
    for axis, sigma in enumerate(sigmas):
        radius = int(4.0 * float(sigma) + 0.5)
        if radius < 1:
            continue
        t = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
        kernel = torch.exp(-0.5 * (t / float(sigma)) ** 2)
        kernel = kernel / kernel.sum()
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = kernel.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = radius
        out = F.conv3d(F.pad(out, pad, mode="replicate"), kernel.reshape(shape))
    return out[0, 0]


def synthesize_image(labels, config: SynthConfig, rng, tissue_path=None):
    """A synthetic image (float32, [0, 1]) with the anatomy of ``labels`` (FreeSurfer values).

    ``labels`` is a numpy array (the image comes back as numpy) or a tensor (the image stays on
    its device). The per-label parameters are drawn from ``rng``; per-voxel noise from a torch
    generator seeded by ``rng``, so a given ``rng`` state gives the same image on every run.
    """
    as_numpy = isinstance(labels, np.ndarray)
    labels = torch.from_numpy(labels.astype(np.int64)) if as_numpy else labels.long()
    dev = labels.device
    present = torch.unique(labels).cpu().numpy()
    if rng.random() < config.prior_probability:
        means = _prior_means(rng, present, tissue_path or _default_tissue_path())
        sds = np.full(MAX_LABEL, rng.uniform(0, 8))
    else:
        means = rng.uniform(0, 255, size=MAX_LABEL)
        sds = rng.uniform(0, 25, size=MAX_LABEL)
        if rng.random() < config.tie_probability:
            for left, right in HOMOLOGUES.items():
                means[right] = means[left] * rng.normal(1, 0.02)
        for group in TIE_GROUPS:
            if rng.random() < config.tie_probability / 2:
                means[list(group)] = means[group[0]] * rng.normal(1, 0.04, size=len(group))
    noise = torch.Generator(device=dev)
    noise.manual_seed(int(rng.integers(2**62)))

    def randn():
        return torch.randn(labels.shape, generator=noise, device=dev)

    means_t = torch.as_tensor(means, dtype=torch.float32, device=dev)
    sds_t = torch.as_tensor(sds, dtype=torch.float32, device=dev)
    image = (means_t[labels] + sds_t[labels] * randn()).clamp_min(0)
    if rng.random() < config.blur_probability:
        factors = rng.uniform(1.0, config.max_resolution_factor, size=3)
        image = _gaussian_blur(image, 0.42 * factors)
    image = image * torch.exp(_smooth_field(rng, labels.shape, 4, rng.uniform(0, config.bias_max), dev))
    scale = _percentiles(image, (0.99,))[0] or 1.0
    sigma = rng.uniform(0, config.noise_max) * scale
    if rng.random() < 0.5:
        image = torch.hypot(image + sigma * randn(), sigma * randn())
    else:
        image = image + sigma * randn()
    image = _normalise_tensor(image)
    image = image ** float(np.exp(rng.normal(0, config.gamma_sd)))
    return image.numpy() if as_numpy else image


def _percentiles(image: torch.Tensor, fractions) -> list[float]:
    """Linearly interpolated percentiles (as ``numpy.percentile``), from one selection per value."""
    flat = image.reshape(-1)
    out = []
    for fraction in fractions:
        position = fraction * (flat.numel() - 1)
        below = int(position)
        low = flat.kthvalue(below + 1).values
        high = flat.kthvalue(min(below + 2, flat.numel())).values
        out.append(float(low + (high - low) * (position - below)))
    return out


def _normalise_tensor(image: torch.Tensor) -> torch.Tensor:
    lo, hi = _percentiles(image, (0.005, 0.995))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return torch.zeros_like(image)
    return ((image - lo) / (hi - lo)).clamp(0, 1)


def tissue_image(labels, kind: str = "t1w", noise: float = 0.01, rng=None, tissue_path=None) -> np.ndarray:
    """A deterministic tissue-model image of a label map (for tests and demonstrations).

    ``t1w``: exp(-T1 / 1200 ms) min(1, PD / 0.5) (short T1 bright, as MPRAGE/MP2RAGE);
    ``gre``: PD exp(-20 ms / T2*); 3 T values from the tissue table, plus Gaussian noise of
    ``noise`` times the maximum.
    """
    table = _tissue_table(str(tissue_path or _default_tissue_path()))
    lut = np.zeros(MAX_LABEL)
    for label, row in table.items():
        t1, t2s, pd = float(row["t1_3t_ms"]), float(row["t2star_3t_ms"]), float(row["pd"])
        if kind == "t1w":
            lut[label] = np.exp(-t1 / 1200) * min(1.0, pd / 0.5)
        elif kind == "gre":
            lut[label] = pd * np.exp(-20.0 / t2s)
        else:
            raise ValueError(f"kind must be 't1w' or 'gre', got {kind!r}")
    image = lut[np.asarray(labels)]
    if noise:
        rng = rng if rng is not None else np.random.default_rng(0)
        image = image + noise * image.max() * rng.standard_normal(image.shape)
    return image.astype(np.float32)


def normalise(image: np.ndarray) -> np.ndarray:
    """Robust min-max scaling to [0, 1]: the 0.5th and 99.5th percentiles map to 0 and 1."""
    lo, hi = np.percentile(image, [0.5, 99.5])
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros_like(image, dtype=np.float32)
    return np.clip((image - lo) / (hi - lo), 0, 1).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _compartment_lookup(tissue_path: str, compartments: tuple[str, ...]) -> np.ndarray:
    """Bool lookup by label value: the label's tissue-table compartment is one of ``compartments``."""
    lookup = np.zeros(MAX_LABEL, bool)
    for label, row in _tissue_table(tissue_path).items():
        lookup[label] = row.get("compartment") in compartments
    return lookup


def _parenchyma_lookup(tissue_path: str) -> np.ndarray:
    return _compartment_lookup(tissue_path, ("parenchyma",))


@functools.lru_cache(maxsize=8)
def normative_changes(path: str, tissue_path: str) -> dict[int, float]:
    """Per structure of ``effects.BASELINE``: the fractional size change that brings the map's
    structure to its normative share of the map's intracranial volume (absent ones left out)."""
    labels, _, _ = load_label_map(path)
    intracranial = _compartment_lookup(tissue_path, ("parenchyma", "csf"))  # the phantom's brain mask
    icv = int(intracranial[labels].sum())
    counts = np.bincount(labels.ravel(), minlength=MAX_LABEL)
    return {
        label: fraction * icv / counts[label] - 1
        for label, fraction in effects.BASELINE.items()
        if counts[label]
    }


def resize_structures(
    labels: np.ndarray, config: SynthConfig, rng, tissue_path=None, *, path=None, flipped=False
) -> np.ndarray:
    """Shrink or grow hippocampi, amygdalae and lateral ventricles of a label patch (a copy).

    With probability ``config.harmonise_probability`` (needs ``path``, the map the patch came
    from; ``flipped``: its sides were swapped) all six structures are first set to their
    normative share of intracranial volume, x U(1 - 0.08, 1 + 0.08) as the phantom draws it:
    the training maps hold them at 0.3-2.1 times that, while every phantom subject is
    harmonised. Then each is resized with probability ``config.resize_probability`` by a further
    factor U(1 - resize_range, 1 + resize_range)
    (:func:`reconstudy.phantom.effects.resize_structure`): two training maps hold two sizes of
    each, and a network trained on them follows those shapes more than the image
    (docs/segmentation.md, "Structure-size augmentation"). Last, with probability
    ``config.atrophy_probability``, each hippocampus and amygdala loses U(0, atrophy_max) of its
    voxels from the surface inward to the inferior lateral ventricle and the lateral ventricles
    grow by U(0, ventricle_growth_max), as the phantom's impaired group is made
    (:func:`reconstudy.phantom.effects.atrophy`): the resizing above hands a shrunk structure's
    voxels to its neighbours, which at 2.5 mm teaches the network to keep calling a structure
    whose rim has turned to CSF (docs/segmentation.md, "Atrophy augmentation").
    """
    tissue = str(tissue_path or _default_tissue_path())
    parenchyma = _parenchyma_lookup(tissue)
    out = np.array(labels, copy=True)
    voxel = (float(config.voxel_mm),) * 3
    if config.harmonise_probability > 0 and path is None:  # checked before any draw, not by chance
        raise ValueError("resize_structures: harmonise_probability > 0 needs the label map's path")
    normative = {}
    if config.harmonise_probability > 0 and rng.random() < config.harmonise_probability:
        normative = normative_changes(str(path), tissue)
    for label in effects.BASELINE:
        change = 0.0
        source = int(_side_swap()[label]) if flipped else label
        if source in normative:
            change = (1 + normative[source]) * (1 + rng.uniform(-HARMONISE_SPREAD, HARMONISE_SPREAD)) - 1
        if rng.random() < config.resize_probability:
            extra = rng.uniform(-config.resize_range, config.resize_range)
            change = extra if source not in normative else (1 + change) * (1 + extra) - 1
        if change:
            effects.resize_structure(out, label, change, parenchyma, voxel, rng)
    if config.atrophy_probability > 0 and rng.random() < config.atrophy_probability:
        loss = {label: float(rng.uniform(0, config.atrophy_max)) for label in effects.ATROPHY}
        effects.atrophy(out, voxel, loss, rng)
        growth = float(rng.uniform(0, config.ventricle_growth_max))
        effects.grow_ventricles(out, voxel, growth, parenchyma, rng)
    return out


def training_pair(paths, config: SynthConfig, rng, tissue_path=None, device=None):
    """One (image (z, y, x) float32, classes (z, y, x) int64) pair from a random map of ``paths``:
    numpy arrays, or tensors on ``device`` when one is given."""
    path = paths[int(rng.integers(len(paths)))]
    labels, flipped = sample_labels(path, config, rng, device=device, return_flipped=True)
    if config.resizes:  # no draws otherwise: older runs keep their random stream
        resized = resize_structures(
            labels if device is None else labels.cpu().numpy(),
            config,
            rng,
            tissue_path,
            path=path,
            flipped=flipped,
        )
        labels = resized if device is None else torch.from_numpy(resized).to(labels.device)
    image = synthesize_image(labels, config, rng, tissue_path)
    if device is None:
        return image, to_classes(labels)
    return image, _class_lut(labels.device)[labels]


@functools.lru_cache(maxsize=4)
def _class_lut(device):
    return torch.as_tensor(to_classes(np.arange(MAX_LABEL)), device=device)
