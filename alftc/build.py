"""Build orchestration: check requests, compute drafts, measure them, cache and write rows.

Each draft becomes a row only after both extremum searches of
:mod:`alftc.measure` agree on its sup bias and sup variance, and, for exact
rows, after the zero bias is proved in rational arithmetic.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import mpmath

from alftc import __version__
from alftc.bernstein import exact_bernstein_to_monomial
from alftc.errors import InputError, TableFileError, VerificationError
from alftc.families import Family, parse_family
from alftc.measure import bias_sup, measure_dps, rounding_bias, variance_sup
from alftc.methods import BuildOptions, get_method
from alftc.rows import MIN_DIGITS, Draft, Row, decimal_string

__all__ = [
    "BuildRequest",
    "finish_row",
    "run_build",
    "default_cache_dir",
    "AGREEMENT",
]

# Relative agreement required between the two independent sup computations.
AGREEMENT = mpmath.mpf("1e-20")


@dataclass(frozen=True)
class BuildRequest:
    """One (method, family) pair with the K values to build and its options."""

    method: str
    family: Family
    Ks: tuple[int, ...]
    options: BuildOptions = field(default_factory=BuildOptions)


def default_cache_dir() -> Path:
    """Return the cache folder: $ALFTC_CACHE_DIR, else $XDG_CACHE_HOME/alftc, else ~/.cache/alftc."""
    if os.environ.get("ALFTC_CACHE_DIR"):
        return Path(os.environ["ALFTC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "alftc"


def check_request(request: BuildRequest) -> None:
    """Raise :class:`InputError` when the method cannot build some K of the request."""
    method = get_method(request.method)
    for K in request.Ks:
        method.check(request.family, K, request.options)


def finish_row(method: str, family: Family, draft: Draft) -> Row:
    """Turn a draft into a row: round the values, measure bias and variance twice, compare.

    Raises
    ------
    VerificationError
        When the two sup computations disagree, or an exact row is not exactly unbiased.
    """
    digits = max(MIN_DIGITS, draft.digits)
    facts = dict(draft.facts)
    with mpmath.workdps(digits + 20):
        values_decimal = tuple(decimal_string(_to_mpf(v), digits) for v in draft.values)

    if draft.exact:
        _prove_unbiased(family, draft)
        facts["values_rational"] = [str(Fraction(v)) for v in draft.values]

    dps = measure_dps(values_decimal) + max(0, digits - MIN_DIGITS)
    facts["measure_dps"] = dps
    with mpmath.workdps(dps):
        variance = _agreed_sup(
            lambda how: variance_sup(values_decimal, dps=dps, method=how), "variance", family, method, draft
        )
        if draft.exact:
            # The proof above is exact and B_r - R vanishes identically, so an extremum
            # search would chase rounding noise. Measure the rounding on a fixed grid instead.
            residue = rounding_bias(family, values_decimal, dps=dps)
            if residue > mpmath.mpf(10) ** (-digits + 2):
                raise VerificationError(
                    f"{family.name}/{method} K={draft.K}: exact row shows bias {mpmath.nstr(residue, 5)} "
                    f"from its stored decimals"
                )
            bias_text = "0"
        else:
            bias = _agreed_sup(
                lambda how: bias_sup(family, values_decimal, dps=dps, method=how), "bias", family, method, draft
            )
            bias_text = decimal_string(bias.value, MIN_DIGITS + 5)
        variance_text = decimal_string(variance.value, MIN_DIGITS + 5)

    return Row(
        family=family.name,
        beta=family.parameter,
        method=method,
        variant=draft.variant,
        K=draft.K,
        values_decimal=values_decimal,
        bias_decimal=bias_text,
        variance_decimal=variance_text,
        exact=draft.exact,
        facts=facts,
    )


def _to_mpf(value):
    if isinstance(value, Fraction) or isinstance(value, int):
        value = Fraction(value)
        return mpmath.mpf(value.numerator) / value.denominator
    return mpmath.mpf(value)


def _prove_unbiased(family: Family, draft: Draft) -> None:
    """Check in exact rationals that the Bernstein polynomial of the row equals R."""
    degree = family.polynomial_degree
    if degree is None:
        raise VerificationError(f"{family.name}: only polynomial targets have exact rows")
    monomial = exact_bernstein_to_monomial([Fraction(v) for v in draft.values])
    expected = [Fraction(0)] * len(monomial)
    expected[0] = Fraction(-1, degree)
    expected[degree] += Fraction(1, degree)
    if monomial != expected:
        raise VerificationError(
            f"{family.name} K={draft.K}: the row's Bernstein polynomial is not R_b exactly"
        )


def _agreed_sup(compute: Callable[[str], Any], what: str, family: Family, method: str, draft: Draft):
    first = compute("critical")
    second = compute("scan")
    scale = max(first.value, second.value)
    floor = mpmath.mpf(10) ** (-mpmath.mp.dps + 10)
    if abs(first.value - second.value) > AGREEMENT * scale + floor:
        raise VerificationError(
            f"{family.name}/{method} K={draft.K}: the two sup {what} searches disagree "
            f"({mpmath.nstr(first.value, 25)} at p={mpmath.nstr(first.argmax, 8)} versus "
            f"{mpmath.nstr(second.value, 25)} at p={mpmath.nstr(second.argmax, 8)})"
        )
    return first if first.value >= second.value else second


# Modules whose code decides a row's values or its measured figures.
_NUMERICAL_MODULES = ("aqp", "bernstein", "build", "chebyshev", "families", "measure", "remez", "rows")


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """Return a SHA-256 of the numerical source files, so edited code never reuses stale rows."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    sources = [package / f"{name}.py" for name in _NUMERICAL_MODULES]
    for path in sources + sorted((package / "methods").glob("*.py")):
        digest.update(path.name.encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(request: BuildRequest, K: int, chunk: Sequence[int] = ()) -> str:
    """Return the content key of one K: problem definition, precision, code and chunk.

    ``chunk`` lists the K values built together with this one. A method may
    warm-start each K from the previous one in its chunk, which changes digits
    beyond the solver's tolerance, so a row is reused only from the same chunk.
    """
    content = {
        "alftc": __version__,
        "code": _code_digest(),
        "method": request.method,
        "family": request.family.name,
        "K": K,
        "chunk": list(chunk),
        "dps": request.options.dps,
        "extra": request.options.extra,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cache_read(cache_dir: Path | None, key: str) -> list[Row] | None:
    if cache_dir is None:
        return None
    path = cache_dir / f"{key}.json"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return [Row.from_json(obj) for obj in payload["rows"]]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _cache_write(cache_dir: Path | None, key: str, rows: list[Row]) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{key}.json"
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"rows": [row.to_json() for row in rows]}), encoding="utf-8")
    os.replace(temporary, path)


def build_chunk(method: str, family_name: str, Ks: Sequence[int], options: BuildOptions) -> list[dict]:
    """Build and finish the rows of one chunk of K values; runs in a worker process."""
    family = parse_family(family_name)
    module = get_method(method)
    finished: dict[int, list[Row]] = {}
    for draft in module.build(family, list(Ks), options):
        finished.setdefault(draft.K, []).append(finish_row(method, family, draft))
    # Ks is one chunk of _chunks, so it is also the chunk in each cache key.
    request = BuildRequest(method, family, tuple(Ks), options)
    results = []
    for K in Ks:
        rows = finished.get(K, [])
        if not rows:
            raise VerificationError(f"{family.name}/{method}: the method returned no row for K={K}")
        _cache_write(options.cache_dir, cache_key(request, K, Ks), rows)
        results.append({"K": K, "rows": [row.to_json() for row in rows]})
    return results


_PARALLEL_METHODS = {"remez", "aqp"}


# Chunks are blocks of K values with the same K // CHUNK_SIZE. The blocks do not
# depend on --jobs or on what is cached, because a method may warm-start within
# a chunk, and the table bytes must depend on the request alone.
CHUNK_SIZE = 8


def _chunks(Ks: Sequence[int], method: str) -> list[list[int]]:
    """Split sorted K values into chunks built together (one chunk per K for cheap methods)."""
    if method not in _PARALLEL_METHODS:
        return [[K] for K in Ks]
    blocks: dict[int, list[int]] = {}
    for K in Ks:
        blocks.setdefault(K // CHUNK_SIZE, []).append(K)
    # Largest K first, so the slowest chunks start early.
    return [blocks[index] for index in sorted(blocks, reverse=True)]


def run_build(
    requests: Sequence[BuildRequest],
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[Row]:
    """Build every request and return the finished rows.

    Cached K values are read from each request's cache folder; the rest are
    built in up to ``jobs`` worker processes. On any failure no rows are
    returned: the exception propagates after the workers are cancelled.
    """
    for request in requests:
        check_request(request)

    rows: list[Row] = []
    tasks = []
    for request in requests:
        for chunk in _chunks(request.Ks, request.method):
            cached = [_cache_read(request.options.cache_dir, cache_key(request, K, chunk)) for K in chunk]
            if all(found is not None for found in cached):
                for found in cached:
                    rows.extend(found)
                    if progress:
                        progress(1)
            else:
                tasks.append((request.method, request.family.name, chunk, request.options))

    if not tasks:
        return rows

    def collect(results):
        for item in results:
            rows.extend(Row.from_json(obj) for obj in item["rows"])
            if progress:
                progress(1)

    parallel = [task for task in tasks if task[0] in _PARALLEL_METHODS and jobs > 1]
    serial = [task for task in tasks if task not in parallel]
    for task in sorted(serial, key=lambda task: task[2][0]):
        collect(build_chunk(*task))
    if parallel:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(build_chunk, *task) for task in parallel]
            try:
                for future in concurrent.futures.as_completed(futures):
                    collect(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return rows


def merge_rows(existing: Sequence[Row], new: Sequence[Row]) -> list[Row]:
    """Return ``existing`` with every row of ``new`` added, replacing rows with the same key."""
    by_key = {row.key: row for row in existing}
    for row in new:
        by_key[row.key] = row
    return sorted(by_key.values(), key=Row.sort_key)


def read_existing(json_path: Path) -> tuple[list[Row], list[dict]]:
    """Read the rows and build records of an existing table, or nothing if there is none."""
    from alftc.tables import load_rows

    if not json_path.exists():
        return [], []
    try:
        doc, rows = load_rows(json_path)
    except TableFileError as error:
        raise TableFileError(
            f"{error}\nThe build merges new rows into the existing table and will not "
            f"overwrite a damaged one; pass --fresh to start a new table instead"
        ) from None
    return rows, list(doc.get("parameters", {}).get("builds", []))
