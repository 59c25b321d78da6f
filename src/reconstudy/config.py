"""Validation of the workflow config and the cohort sheet against JSON schemas.

Messages name the offending key (as a dotted path), what was found, and what is allowed,
so a user can fix ``config/config.yaml`` or the sheet without reading a traceback.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pandas as pd
import yaml


class ConfigError(ValueError):
    """A config or cohort-sheet problem the user must fix."""


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = []
    for part in error.absolute_path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed; allowed values: {', '.join(map(repr, schema['enum']))}"
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        return f"{error.message}; known keys here: {', '.join(allowed)}"
    if error.validator in ("minimum", "exclusiveMinimum"):
        bound = schema[error.validator]
        relation = ">=" if error.validator == "minimum" else ">"
        return f"{error.instance!r} is too small; it must be {relation} {bound}"
    return error.message


def validate(data: dict, schema_path, what: str) -> dict:
    """Validate ``data`` against the schema at ``schema_path``, filling schema defaults.

    Raises:
        ConfigError: listing every violation as ``<what>: key <path>: <explanation>``.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_cls = jsonschema.validators.validator_for(schema)

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, sub["default"])
        yield from validator_cls.VALIDATORS["properties"](validator, properties, instance, schema)

    extended = jsonschema.validators.extend(validator_cls, {"properties": set_defaults})
    errors = sorted(extended(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{what}: key {_key_path(e)}: {_explain(e)}" for e in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return data


def load_sheet(path, schema_path, acquisitions, simulate: bool) -> pd.DataFrame:
    """Read and validate the cohort sheet (TSV); index by subject label.

    Every row is checked against the sheet schema; subjects must be unique; a subject without
    a raw-data path for an acquisition is an error unless ``simulate`` is true.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"cohort sheet {path} does not exist: set `subjects:` in the config")
    sheet = pd.read_csv(path, sep="\t", dtype=str, comment="#").fillna("")
    if "subject" not in sheet.columns:
        raise ConfigError(f"{path}: the sheet needs a 'subject' column; found {list(sheet.columns)}")
    problems = []
    for number, row in enumerate(sheet.to_dict("records"), start=2):
        record = {k: v for k, v in row.items() if v != ""}
        for key in ("age", "anatomy"):
            if key in record:
                try:
                    record[key] = float(record[key]) if key == "age" else int(record[key])
                except ValueError:
                    problems.append(f"{path} line {number}: column {key}: {record[key]!r} is not a number")
        try:
            validate(record, schema_path, f"{path} line {number}")
        except ConfigError as err:
            problems.extend(line.strip() for line in str(err).splitlines()[1:])
    duplicated = sheet["subject"][sheet["subject"].duplicated()].tolist()
    if duplicated:
        problems.append(f"{path}: subjects listed more than once: {', '.join(duplicated)}")
    for acq in acquisitions:
        column = f"raw_{acq}"
        for number, raw in enumerate(sheet.get(column, pd.Series([], dtype=str)), start=2):
            if raw and not Path(raw).exists():
                problems.append(f"{path} line {number}: column {column}: raw-data file {raw} does not exist")
        missing = sheet["subject"][sheet.get(column, pd.Series([""] * len(sheet))).eq("")].tolist()
        if missing and not simulate:
            problems.append(
                f"{path}: subjects {', '.join(missing)} have no raw data for {acq}: fill column "
                f"{column} with a raw-data path, or set `simulate: true` to simulate them"
            )
    if problems:
        raise ConfigError("invalid cohort sheet:\n  " + "\n  ".join(problems))
    return sheet.set_index("subject", drop=False)
