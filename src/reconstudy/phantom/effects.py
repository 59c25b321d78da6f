"""Group effects on a subject's label map: atrophy, ventricle growth, white-matter lesions.

* ``impaired``: hippocampus and amygdala lose a fraction of their volume from their surface
  inward (the voxels nearest the structure boundary go first) and the lost tissue becomes
  CSF of the inferior lateral ventricle (temporal horn); the lateral ventricles grow into the
  nearest parenchyma. Both mimic the pattern of Alzheimer-type neurodegeneration (e.g.
  Jack et al., Neurology 1997; Frisoni et al., Nat Rev Neurol 2010).
* ``ms``: spherical white-matter lesions, some with a paramagnetic rim (iron-laden
  microglia at the edge of chronic active lesions; Dal-Bianco et al., Acta Neuropathol 2017;
  Absinta et al., JAMA Neurol 2019), others hyperintense or isointense on QSM (Chen et al.,
  Radiology 2014; Wisnieff et al., Magn Reson Med 2015).

All choices come from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

WHITE_MATTER = (2, 41)
ATROPHY = {17: 5, 18: 5, 53: 44, 54: 44}  # hippocampus/amygdala -> inferior lateral ventricle
LATERAL_VENTRICLES = (4, 43)
# Normative size of each structure as a fraction of intracranial volume (see harmonise).
BASELINE = {17: 0.0027, 53: 0.0027, 18: 0.00115, 54: 0.00115, 4: 0.0085, 43: 0.0085}
LESION_KINDS = ("prl", "hyper", "iso")

# one row per placed lesion: where it is (voxel indices and RAS mm) and how big
LESION_COLUMNS = [
    "lesion_id", "kind", "centre_x", "centre_y", "centre_z",
    "centre_ras_x_mm", "centre_ras_y_mm", "centre_ras_z_mm", "radius_mm",
]


def _bbox(mask, margin):
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + margin + 1, mask.shape)
    return tuple(slice(a, b) for a, b in zip(lo, hi))


def _rank_select(score, n, rng):
    """Indices of the ``n`` smallest scores, ties broken at random."""
    order = np.lexsort((rng.random(score.size), score))
    return order[:n]


def atrophy(labels, voxel_zyx, fraction, rng):
    """Remove ``fraction`` of each hippocampus/amygdala from the outside in (in place)."""
    for label, replacement in ATROPHY.items():
        mask = labels == label
        n_remove = int(round(fraction[label] * mask.sum()))
        if n_remove == 0:
            continue
        box = _bbox(mask, 1)
        sub = mask[box]
        depth = ndi.distance_transform_edt(sub, sampling=voxel_zyx)[sub]
        chosen = _rank_select(depth, n_remove, rng)
        coords = tuple(c[chosen] + s.start for c, s in zip(np.nonzero(sub), box))
        labels[coords] = replacement


def _grow(labels, label, n_add, parenchyma, voxel_zyx, rng):
    """Relabel the ``n_add`` parenchyma voxels nearest to structure ``label`` (in place).

    Voxels of the other ``BASELINE`` structures are never taken, so resizing one leaves the others.
    """
    mask = labels == label
    margin = int(np.ceil(20.0 / min(voxel_zyx))) + 2
    box = _bbox(mask, margin)
    sub = mask[box]
    candidates = parenchyma[labels[box]] & ~sub & ~np.isin(labels[box], list(BASELINE))
    distance = ndi.distance_transform_edt(~sub, sampling=voxel_zyx)[candidates]
    chosen = _rank_select(distance, min(n_add, distance.size), rng)
    coords = tuple(c[chosen] + s.start for c, s in zip(np.nonzero(candidates), box))
    labels[coords] = label


def _shrink(labels, label, n_remove, voxel_zyx, rng):
    """Give the ``n_remove`` outermost voxels of ``label`` the label of their nearest neighbour outside it.

    The replacement is never another ``BASELINE`` structure.
    """
    mask = labels == label
    box = _bbox(mask, int(np.ceil(20.0 / min(voxel_zyx))))
    sub = mask[box]
    depth = ndi.distance_transform_edt(sub, sampling=voxel_zyx)
    blocked = sub | np.isin(labels[box], list(BASELINE))
    _, nearest = ndi.distance_transform_edt(blocked, sampling=voxel_zyx, return_indices=True)
    inside = np.nonzero(sub)
    chosen = _rank_select(depth[inside], n_remove, rng)
    local = tuple(c[chosen] for c in inside)
    source = tuple(n[local] for n in nearest)
    labels[tuple(c + s.start for c, s in zip(local, box))] = labels[box][source]


def resize_structure(labels, label, change, parenchyma, voxel_zyx, rng):
    """Grow (``change`` > 0) or shrink (< 0) structure ``label`` by ``|change|`` of its voxels (in place).

    Shrinking hands the outermost voxels to their nearest neighbour outside the structure;
    growing takes the nearest parenchyma (``parenchyma``: bool lookup by label value). Other
    ``BASELINE`` structures are never taken or given voxels.
    """
    n_change = int(round(abs(change) * int((labels == label).sum())))
    if n_change == 0:
        return
    if change < 0:
        _shrink(labels, label, n_change, voxel_zyx, rng)
    else:
        _grow(labels, label, n_change, parenchyma, voxel_zyx, rng)


def harmonise(labels, intracranial, parenchyma, voxel_zyx, rng, spread=0.08):
    """Resize hippocampi, amygdalae and lateral ventricles to normative fractions of intracranial volume.

    The three source anatomies differ two- to four-fold in these structures (one is an older
    head with large ventricles and small hippocampi), which would swamp the group effects. Each
    structure is set to ``BASELINE[label] x (1 + U(-spread, spread))`` of the intracranial voxel
    count (shrinking from its surface, or growing into the nearest parenchyma), so group
    differences come from the group effect. Targets: hippocampus ~4 ml, amygdala ~1.7 ml,
    lateral ventricle ~13 ml each for a 1.5 l intracranial volume (healthy adults in their 60s;
    e.g. Jack et al., Neurology 1997; Walhovd et al., Neurobiol Aging 2011).
    """
    icv = int(intracranial[labels].sum())
    for label, fraction in BASELINE.items():
        n = int((labels == label).sum())
        if n == 0:
            continue
        target = int(round(fraction * icv * (1 + rng.uniform(-spread, spread))))
        if target < n:
            _shrink(labels, label, n - target, voxel_zyx, rng)
        elif target > n:
            _grow(labels, label, target - n, parenchyma, voxel_zyx, rng)


def grow_ventricles(labels, voxel_zyx, growth, parenchyma, rng):
    """Grow each lateral ventricle by ``growth`` of its volume into the nearest parenchyma (in place)."""
    for label in LATERAL_VENTRICLES:
        n_add = int(round(growth * (labels == label).sum()))
        if n_add:
            _grow(labels, label, n_add, parenchyma, voxel_zyx, rng)


def place_lesions(labels, affine, voxel_zyx, n_range, radius_range, prl_fraction, rng):
    """Non-overlapping spherical lesions centred in cerebral white matter.

    Returns:
        ``(lesion_map, rim_mask, table)``: int16 ids (0 = none), bool rim voxels of
        paramagnetic-rim lesions, and one row per lesion (id, kind, centre voxel (x, y, z),
        centre RAS mm, radius_mm). Susceptibility columns are filled in by the caller.
    """
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    n_prl = int(rng.binomial(n, prl_fraction))
    if prl_fraction > 0 and n >= 2:
        n_prl = min(max(n_prl, 1), n - 1)  # every MS subject has both rim and rimless lesions
    others = rng.choice(["hyper", "iso"], size=n - n_prl).tolist()
    kinds = ["prl"] * n_prl + others
    kinds = [kinds[i] for i in rng.permutation(n)]
    wm = np.isin(labels, WHITE_MATTER)
    depth = ndi.distance_transform_edt(wm, sampling=voxel_zyx)
    lesion_map = np.zeros(labels.shape, np.int16)
    rim = np.zeros(labels.shape, bool)
    rim_width = max(1.5, 0.75 * max(voxel_zyx))
    rows, centres = [], []
    for lesion_id, kind in enumerate(kinds, start=1):
        radius = float(rng.uniform(*radius_range))
        if kind == "prl":
            radius = max(radius, rim_width + min(voxel_zyx))  # leave room for a core inside the rim
        eligible = np.argwhere(depth >= min(radius, depth.max() * 0.8))
        for _ in range(200):
            centre = eligible[rng.integers(len(eligible))]
            mm = centre * voxel_zyx
            if all(np.linalg.norm(mm - c) >= radius + r + 2.0 for c, r in centres):
                break
        else:
            break  # no room left for another lesion: keep those placed so far
        centres.append((mm, radius))
        reach = np.ceil(radius / np.asarray(voxel_zyx)).astype(int)
        box = tuple(slice(max(c - r, 0), min(c + r + 1, n_)) for c, r, n_ in zip(centre, reach, labels.shape))
        grids = np.meshgrid(*(np.arange(s.start, s.stop) for s in box), indexing="ij")
        dist = np.sqrt(sum(((g - c) * v) ** 2 for g, c, v in zip(grids, centre, voxel_zyx)))
        sphere = (dist <= radius) & wm[box]
        lesion_map[box][sphere] = lesion_id
        if kind == "prl":
            rim[box] |= sphere & (dist > radius - rim_width)
        ras = affine[:3, :3] @ centre[::-1] + affine[:3, 3]
        rows.append(
            {
                "lesion_id": lesion_id,
                "kind": kind,
                "centre_x": int(centre[2]),
                "centre_y": int(centre[1]),
                "centre_z": int(centre[0]),
                "centre_ras_x_mm": float(ras[0]),
                "centre_ras_y_mm": float(ras[1]),
                "centre_ras_z_mm": float(ras[2]),
                "radius_mm": radius,
            }
        )
    table = pd.DataFrame(rows, columns=LESION_COLUMNS)
    return lesion_map, rim, table


def lesion_properties(kind: str, chi_wm: float, rng) -> tuple[float, float]:
    """(core χ, rim χ) in ppm relative to water for one lesion; rim is NaN without a rim.

    PRL: core near or slightly above white matter, rim clearly paramagnetic; hyper: diffusely
    paramagnetic; iso: white-matter-like. Magnitudes follow the ranges reported by Chen et al.
    2014 and Dal-Bianco et al. 2017, chosen large enough to be visible at 2.5 mm.
    """
    if kind == "prl":
        return chi_wm + rng.uniform(0.0, 0.02), chi_wm + rng.uniform(0.09, 0.13)
    if kind == "hyper":
        return chi_wm + rng.uniform(0.03, 0.06), float("nan")
    if kind == "iso":
        return chi_wm + rng.uniform(-0.005, 0.005), float("nan")
    raise ValueError(f"lesion kind must be one of {LESION_KINDS}, got {kind!r}")
