"""Small, valid table documents for tests and examples, built without mpmath.

The rows are the two tables with closed forms: the plug-in reward
r_K[c] = log(c/K) (family ``kl``) or R_b(c/K) (family ``beta:B``), and the
exact U-statistic of ``beta:2``, r_K[c] = (c-1)/(K-1) - 1. Their ``bias`` and
``variance`` fields are placeholders (0), not measured figures; use
``alftc build`` for real tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from alftc.runtime.format import SCHEMA, SCHEMA_VERSION, document_checksum

__all__ = ["plugin_row", "ustat_beta2_row", "make_document", "write_table"]


def _row(family: str, beta: str, method: str, variant: str, K: int, values: list[float],
         exact: bool) -> dict[str, Any]:
    return {
        "key": f"{family}/{method}/{variant}/K={K}",
        "family": family,
        "beta": beta,
        "method": method,
        "variant": variant,
        "K": K,
        "values": [float(v) for v in values],
        "values_decimal": [repr(float(v)) for v in values],
        "bias": 0.0,
        "bias_decimal": "0",
        "variance": 0.0,
        "variance_decimal": "0",
        "exact": exact,
        "facts": {"note": "test row; bias and variance not measured"},
    }


def plugin_row(K: int, b: float = 1.0, variant: str = "default") -> dict[str, Any]:
    """Return the plug-in row r_K[c] = R_b(c/K); b = 1 gives family ``kl`` and log(c/K)."""
    if b == 1:
        values = [math.log(c / K) for c in range(1, K + 1)]
        family, beta = "kl", "1"
    else:
        values = [((c / K) ** (b - 1) - 1) / (b - 1) for c in range(1, K + 1)]
        beta = f"{b:g}"
        family = f"beta:{beta}"
    return _row(family, beta, "plugin", variant, K, values, exact=False)


def ustat_beta2_row(K: int) -> dict[str, Any]:
    """Return the exact unbiased ``beta:2`` row r_K[c] = (c-1)/(K-1) - 1 (needs K >= 2)."""
    if K < 2:
        raise ValueError(f"the beta:2 U-statistic needs K >= 2, got K = {K}")
    values = [(c - 1) / (K - 1) - 1 for c in range(1, K + 1)]
    return _row("beta:2", "2", "ustat", "default", K, values, exact=True)


def make_document(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Return a checksummed schema-1 document holding ``rows``, sorted by key fields."""
    rows = sorted(rows, key=lambda row: (row["family"], row["method"], row["variant"], row["K"]))
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "alftc_version": "0.1.0",
        "created": "1970-01-01T00:00:00Z",
        "parameters": {"K": sorted({row["K"] for row in rows}), "note": "test document"},
        "precision": {"dps": 17},
        "rows": rows,
    }
    document["checksum"] = {"algorithm": "sha256", "value": document_checksum(document)}
    return document


def write_table(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write a document to ``path``: HDF5 for a ``.h5``/``.hdf5`` suffix (needs h5py), else JSON."""
    path = Path(path)
    document = make_document(rows)
    if path.suffix.lower() in (".h5", ".hdf5"):
        _write_hdf5(path, document)
    else:
        path.write_text(json.dumps(document, indent=1, allow_nan=False), encoding="utf-8")
    return path


def _write_hdf5(path: Path, document: dict[str, Any]) -> None:
    import h5py
    import numpy as np

    text = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as handle:
        for name in ("schema", "alftc_version", "created"):
            handle.attrs[name] = document[name]
        handle.attrs["schema_version"] = document["schema_version"]
        handle.attrs["parameters"] = json.dumps(document["parameters"])
        handle.attrs["precision"] = json.dumps(document["precision"])
        handle.attrs["checksum_algorithm"] = document["checksum"]["algorithm"]
        handle.attrs["checksum"] = document["checksum"]["value"]
        rows = handle.create_group("rows")
        for index, row in enumerate(document["rows"]):
            group = rows.create_group(f"{index:06d}")
            for name in ("key", "family", "beta", "method", "variant", "bias_decimal", "variance_decimal"):
                group.attrs[name] = row[name]
            group.attrs["K"] = row["K"]
            group.attrs["bias"] = row["bias"]
            group.attrs["variance"] = row["variance"]
            group.attrs["exact"] = row["exact"]
            group.attrs["facts"] = json.dumps(row["facts"])
            group.create_dataset("values", data=np.asarray(row["values"], dtype=np.float64))
            group.create_dataset("values_decimal", data=np.asarray(row["values_decimal"], dtype=object), dtype=text)
