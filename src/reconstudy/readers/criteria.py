"""Rating criteria and the five-point Likert scale of a reader study.

The defaults are the three criteria of seed study 000 (overall image quality, pathology
conspicuity, overall clinical value), each rated 1 = very poor, 2 = poor, 3 = adequate,
4 = good, 5 = very good. A study config may name others, e.g. seed 003's lesion-wise
confidence in rim lesions or the central vein sign:

```yaml
reading:
  criteria:
    - {id: overall_quality, label: Overall image quality}
    - {id: prl_confidence, label: Confidence in paramagnetic rim lesions}
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LIKERT_SCALE = {1: "very poor", 2: "poor", 3: "adequate", 4: "good", 5: "very good"}
SCORES = tuple(LIKERT_SCALE)

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Criterion:
    """One rated property: a short machine ID (CSV column value) and a label readers see."""

    id: str
    label: str

    def as_dict(self) -> dict:
        return {"id": self.id, "label": self.label}


DEFAULT_CRITERIA = (
    Criterion("overall_quality", "Overall image quality"),
    Criterion("pathology_conspicuity", "Pathology conspicuity"),
    Criterion("clinical_value", "Overall clinical value"),
)


def parse_criteria(spec=None) -> tuple[Criterion, ...]:
    """Criteria from config: ``None`` (defaults), IDs, ``{id, label}`` dicts or :class:`Criterion`.

    A plain ID gets a label made from it (``pathology_conspicuity`` → "Pathology conspicuity").
    """
    if spec is None:
        return DEFAULT_CRITERIA
    if isinstance(spec, str):
        spec = [s for s in (part.strip() for part in spec.split(",")) if s]
    criteria = []
    for item in spec:
        if isinstance(item, Criterion):
            criteria.append(item)
            continue
        if isinstance(item, str):
            cid, label = item, item.replace("_", " ").capitalize()
        elif isinstance(item, dict) and "id" in item:
            cid, label = str(item["id"]), str(item.get("label") or item["id"].replace("_", " ").capitalize())
        else:
            raise ValueError(f"reading.criteria: each entry must be an ID or {{id, label}}; got {item!r}")
        if not _ID.match(cid):
            raise ValueError(
                f"reading.criteria: ID {cid!r} must be lower-case letters, digits and underscores "
                "(e.g. overall_quality)"
            )
        criteria.append(Criterion(cid, label))
    ids = [c.id for c in criteria]
    if not criteria or len(set(ids)) != len(ids):
        raise ValueError(f"reading.criteria: need at least one criterion and unique IDs; got {ids}")
    return tuple(criteria)
