"""Build, table files and verify: exact rows, measured figures, atomic and reproducible writes."""

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import mpmath
import pytest
from click.testing import CliRunner

from alftc import tables
from alftc.bernstein import exact_bernstein_to_monomial
from alftc.cli import main
from alftc.families import parse_family
from alftc.measure import bias_sup, variance_sup
from alftc.methods.plugin import plugin_values
from alftc.methods.ustat import ustat_values
from alftc.runtime import TableFormatError, load_table
from alftc.verify import verify_file


def build(runner, out, *args):
    return runner.invoke(main, ["build", "--out", str(out), "-q", *args])


@pytest.mark.parametrize("b", [2, 3, 4])
@pytest.mark.parametrize("K", [4, 5, 9, 16, 33])
def test_ustat_rows_exactly_unbiased(b, K):
    family = parse_family(f"beta:{b}")
    values = ustat_values(family, K)
    monomial = exact_bernstein_to_monomial(values)
    # R_b(p) = (p^(b-1) - 1)/(b-1): constant -1/(b-1), leading 1/(b-1), nothing else.
    assert monomial[0] == Fraction(-1, b - 1)
    assert monomial[b - 1] == Fraction(1, b - 1)
    assert all(a == 0 for j, a in enumerate(monomial) if j not in (0, b - 1))


def test_ustat_needs_K_at_least_b():
    runner = CliRunner()
    result = runner.invoke(main, ["build", "--K", "2", "--family", "beta:3", "--method", "ustat", "--no-cache"])
    assert result.exit_code == 2
    assert "K >= 3" in result.output
    assert "K = 2" in result.output


def test_family_beta_zero_rejected(tmp_path):
    result = CliRunner().invoke(main, ["build", "--K", "4", "--family", "beta:0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "does not vanish at p = 0" in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("spec", ["0", "3..2", "abc", "4..", "4,4"])
def test_build_rejects_bad_K(tmp_path, spec):
    result = CliRunner().invoke(main, ["build", "--K", spec, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--K" in result.output or "K =" in result.output
    assert not list(tmp_path.iterdir())


def _independent_kl_plugin_bias(K):
    """Sup of |p (B_r(p) - log p)| by mpmath.findroot on mpmath.diff, from a dense mp grid."""
    with mpmath.workdps(40):
        r = [mpmath.log(mpmath.mpf(c) / K) for c in range(1, K + 1)]
        n = K - 1

        def beta(p):
            mean = mpmath.fsum(r[k] * mpmath.binomial(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1))
            return p * (mean - mpmath.log(p))

        grid = [mpmath.mpf(j) / 400 for j in range(1, 400)]
        values = [abs(beta(p)) for p in grid]
        best = max(values[-1], abs(beta(mpmath.mpf(1))))
        for i in range(1, len(grid) - 1):
            if values[i] >= values[i - 1] and values[i] >= values[i + 1]:
                root = mpmath.findroot(lambda p: mpmath.diff(beta, p), grid[i])
                best = max(best, abs(beta(root)))
        return best


@pytest.mark.parametrize("K", [4, 8, 16])
def test_kl_plugin_bias_matches_independent(K):
    family = parse_family("kl")
    measured = bias_sup(family, plugin_values(family, K)).value
    expected = _independent_kl_plugin_bias(K)
    assert abs(measured - expected) <= mpmath.mpf("1e-25") * expected


def test_two_sup_searches_agree_on_variance():
    values = plugin_values(parse_family("kl"), 12)
    critical = variance_sup(values, method="critical").value
    scan = variance_sup(values, method="scan").value
    assert abs(critical - scan) <= mpmath.mpf("1e-25") * critical


def test_build_writes_twin_files(tmp_path, epoch):
    result = build(CliRunner(), tmp_path, "--K", "4..6", "--family", "kl,beta:2", "--method", "ustat,plugin")
    assert result.exit_code == 0, result.output
    json_doc = json.loads((tmp_path / "alftc-tables.json").read_text())
    keys = [row["key"] for row in json_doc["rows"]]
    assert "beta:2/ustat/default/K=4" in keys
    assert "kl/plugin/default/K=6" in keys
    assert not any(key.startswith("kl/ustat") for key in keys)
    assert json_doc["created"] == "2023-11-14T22:13:20Z"
    h5_doc = load_table(tmp_path / "alftc-tables.h5").document
    assert h5_doc == json_doc


def test_build_notes_skipped_combination(tmp_path):
    result = CliRunner().invoke(
        main, ["build", "--K", "4", "--family", "kl,beta:2", "--method", "ustat", "--out", str(tmp_path), "-q"]
    )
    assert result.exit_code == 0
    assert "skipped kl/ustat" in result.output


def test_rows_carry_30_digits(tmp_path):
    build(CliRunner(), tmp_path, "--K", "5", "--family", "kl", "--method", "plugin")
    row = json.loads((tmp_path / "alftc-tables.json").read_text())["rows"][0]
    for text in row["values_decimal"]:
        digits = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) >= 30 or text == "0"


def test_build_is_byte_reproducible(tmp_path, epoch):
    runner = CliRunner()
    for name in ("a", "b"):
        result = build(runner, tmp_path / name, "--K", "4..8", "--family", "kl,beta:3", "--method", "plugin,ustat", "--no-cache")
        assert result.exit_code == 0, result.output
    for suffix in ("json", "h5"):
        first = (tmp_path / "a" / f"alftc-tables.{suffix}").read_bytes()
        second = (tmp_path / "b" / f"alftc-tables.{suffix}").read_bytes()
        assert first == second, suffix


def test_build_merges_and_replaces_rows(tmp_path):
    runner = CliRunner()
    build(runner, tmp_path, "--K", "4,5", "--family", "kl", "--method", "plugin")
    build(runner, tmp_path, "--K", "5,6", "--family", "beta:2", "--method", "ustat")
    keys = [row["key"] for row in json.loads((tmp_path / "alftc-tables.json").read_text())["rows"]]
    assert keys == [
        "beta:2/ustat/default/K=5",
        "beta:2/ustat/default/K=6",
        "kl/plugin/default/K=4",
        "kl/plugin/default/K=5",
    ]
    build(runner, tmp_path, "--K", "7", "--family", "kl", "--method", "plugin", "--fresh")
    keys = [row["key"] for row in json.loads((tmp_path / "alftc-tables.json").read_text())["rows"]]
    assert keys == ["kl/plugin/default/K=7"]


def test_interrupted_write_keeps_previous_files(tmp_path, monkeypatch):
    runner = CliRunner()
    build(runner, tmp_path, "--K", "4", "--family", "kl", "--method", "plugin")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    original = tables._write_hdf5

    def failing_write(doc, path):
        original(doc, path)
        raise KeyboardInterrupt("interrupted mid-write")

    monkeypatch.setattr(tables, "_write_hdf5", failing_write)
    result = build(runner, tmp_path, "--K", "4..9", "--family", "kl", "--method", "plugin")
    assert result.exit_code != 0
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before


def test_failed_json_write_leaves_no_temporary(tmp_path, monkeypatch):
    def failing_json(doc, path):
        Path(path).write_text("{partial")
        raise OSError("disk full")

    monkeypatch.setattr(tables, "_write_json", failing_json)
    with pytest.raises(OSError):
        tables.write_tables(tables.make_document([], {}, {"dps": 40, "min_digits": 30}),
                            tmp_path / "t.json", tmp_path / "t.h5")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_table(tmp_path):
    result = build(CliRunner(), tmp_path, "--K", "4..6", "--family", "kl,beta:2", "--method", "plugin,ustat")
    assert result.exit_code == 0, result.output
    return tmp_path


def test_verify_passes_on_fresh_build(small_table):
    for name in ("alftc-tables.json", "alftc-tables.h5"):
        report = verify_file(small_table / name)
        assert report.ok, [c for c in report.failures]
    names = {check.name for check in report.checks}
    assert {"schema", "checksum", "exact zero bias", "Monte Carlo mean", "bias recomputed"} <= names


def _damaged_copies(folder, name):
    data = (folder / name).read_bytes()
    truncated = folder / f"truncated-{name}"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = folder / f"flipped-{name}"
    middle = bytearray(data)
    index = len(middle) // 2
    if name.endswith(".json"):
        # Flip a digit inside a number, so the JSON stays well formed.
        index = data.index(b'"values": [') + 20
        while not chr(middle[index]).isdigit():
            index += 1
        middle[index] = ord("7") if middle[index] != ord("7") else ord("3")
    else:
        middle[index] ^= 0x01
    flipped.write_bytes(bytes(middle))
    return truncated, flipped


@pytest.mark.parametrize("name", ["alftc-tables.json", "alftc-tables.h5"])
def test_damaged_files_detected(small_table, name):
    for damaged in _damaged_copies(small_table, name):
        report = verify_file(damaged)
        assert not report.ok, damaged.name
        with pytest.raises(TableFormatError):
            load_table(damaged)


def test_verify_cli_exit_codes(small_table):
    runner = CliRunner()
    good = runner.invoke(main, ["verify", str(small_table / "alftc-tables.json"), "-q"])
    assert good.exit_code == 0, good.output
    assert "verify passed" in good.output
    truncated, _ = _damaged_copies(small_table, "alftc-tables.json")
    bad = runner.invoke(main, ["verify", str(truncated), "--json", str(small_table / "report.json")])
    assert bad.exit_code == 1
    report = json.loads((small_table / "report.json").read_text())
    assert report["ok"] is False
    assert report["failures"] >= 1


def test_verify_catches_wrong_recorded_bias(small_table):
    path = small_table / "alftc-tables.json"
    doc = json.loads(path.read_text())
    row = next(r for r in doc["rows"] if r["method"] == "plugin")
    row["bias_decimal"] = str(float(row["bias_decimal"]) * 1.001)
    row["bias"] = float(row["bias_decimal"])
    from alftc.runtime.format import document_checksum

    doc["checksum"]["value"] = document_checksum(doc)
    path.write_text(json.dumps(doc))
    report = verify_file(path)
    failed = {(c.subject, c.name) for c in report.failures}
    assert (row["key"], "bias recomputed") in failed


def test_verify_catches_offset_between_c_and_N(small_table, monkeypatch):
    import numpy as np

    from alftc.runtime import grouping

    original = grouping.counts_from_codes

    def shifted_counts(codes, valid=None):
        # A runtime that counted one sample too many for small counts, as an
        # off-by-one between c and N = c - 1 would.
        counts = original(codes, valid)
        return np.minimum(counts + 1, codes.shape[1])

    monkeypatch.setattr(grouping, "counts_from_codes", shifted_counts)
    report = verify_file(small_table / "alftc-tables.json")
    failed = {c.subject for c in report.failures if c.name == "Monte Carlo mean"}
    assert "kl/plugin/default/K=6" in failed
    assert "beta:2/ustat/default/K=5" in failed


def test_show_prints_rows(small_table):
    result = CliRunner().invoke(
        main, ["show", str(small_table / "alftc-tables.json"), "--family", "beta:2", "--method", "ustat", "--K", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "beta:2/ustat/default/K=4" in result.output
    assert "r[  4]" in result.output
    assert "kl/plugin" not in result.output


def test_show_without_match_names_filter(small_table):
    path = str(small_table / "alftc-tables.json")
    result = CliRunner().invoke(main, ["show", path, "--method", "remez"])
    assert result.exit_code == 2
    assert "--method remez" in result.output
    assert "plugin, ustat" in result.output

    result = CliRunner().invoke(main, ["show", path, "--family", "kl", "--K", "9"])
    assert result.exit_code == 2
    assert "--K 9" in result.output
    assert "4, 5, 6" in result.output


def test_show_missing_file():
    result = CliRunner().invoke(main, ["show", "does-not-exist.json"])
    assert result.exit_code == 4
    assert "not found" in result.output


def test_end_to_end_subprocess(tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    alftc = [sys.executable, "-m", "alftc"]
    built = subprocess.run(
        alftc + ["build", "--K", "4,8", "--family", "kl,beta:3", "--method", "plugin,ustat", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env,
    )
    assert built.returncode == 0, built.stderr
    assert "wrote 6 rows" in built.stdout
    checked = subprocess.run(
        alftc + ["verify", str(tmp_path / "alftc-tables.json"), str(tmp_path / "alftc-tables.h5"), "--json", "-"],
        capture_output=True, text=True, env=env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["ok"] is True


def test_parallel_build_then_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    runner = CliRunner()
    arguments = ["--K", "4..9", "--family", "kl", "--method", "remez", "--jobs", "2", "--cache-dir", str(cache)]
    first = build(runner, tmp_path / "a", *arguments)
    assert first.exit_code == 0, first.output
    assert len(list(cache.glob("*.json"))) == 6

    from alftc.methods import remez

    def no_rebuild(*args, **kwargs):
        raise AssertionError("a cached row was rebuilt")

    monkeypatch.setattr(remez, "build", no_rebuild)
    second = build(runner, tmp_path / "b", *arguments)
    assert second.exit_code == 0, second.output
    assert (tmp_path / "a" / "alftc-tables.json").read_bytes() != b""
    rows_a = json.loads((tmp_path / "a" / "alftc-tables.json").read_text())["rows"]
    rows_b = json.loads((tmp_path / "b" / "alftc-tables.json").read_text())["rows"]
    assert rows_a == rows_b


def test_cache_key_depends_on_problem():
    from alftc.build import BuildRequest, cache_key
    from alftc.methods import BuildOptions

    kl = parse_family("kl")
    base = cache_key(BuildRequest("aqp", kl, (8,), BuildOptions()), 8)
    assert base == cache_key(BuildRequest("aqp", kl, (8, 9), BuildOptions()), 8)
    assert base != cache_key(BuildRequest("aqp", kl, (8,), BuildOptions()), 9)
    assert base != cache_key(BuildRequest("aqp", kl, (8,), BuildOptions(dps=80)), 8)
    assert base != cache_key(BuildRequest("aqp", kl, (8,), BuildOptions(extra={"variance_budget": 1.0})), 8)
    assert base != cache_key(BuildRequest("remez", kl, (8,), BuildOptions()), 8)
