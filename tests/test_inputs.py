"""Parsing of K specifications and family names, and their error messages."""

from fractions import Fraction

import pytest

from alftc.errors import InputError
from alftc.families import parse_families, parse_family
from alftc.kspec import parse_K


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8", [8]),
        ("4..7", [4, 5, 6, 7]),
        ("4,8,16..18", [4, 8, 16, 17, 18]),
        (" 16..17 , 4 ", [4, 16, 17]),
        ("2", [2]),
    ],
)
def test_parse_K_valid(text, expected):
    assert parse_K(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("0", "K = 0"),
        ("1", "K = 1"),
        ("3..2", "below the start"),
        ("abc", "'abc'"),
        ("4..", "both ends"),
        ("..4", "both ends"),
        ("4,4", "more than once"),
        ("4..6,5", "K = 5 appears more than once"),
        ("4,,8", "empty entry"),
        ("", "expected a value"),
        ("4.5", "'4.5'"),
        ("5000", "between 2 and 4096"),
    ],
)
def test_parse_K_invalid(text, fragment):
    with pytest.raises(InputError) as raised:
        parse_K(text)
    assert fragment in str(raised.value)


def test_family_names_canonical():
    assert parse_family("kl").name == "kl"
    assert parse_family("beta:1").name == "kl"
    assert parse_family("beta:1.0").name == "kl"
    assert parse_family("beta:3/2").name == "beta:1.5"
    assert parse_family("BETA:2").name == "beta:2"
    assert parse_family("beta:1/3").name == "beta:1/3"


def test_family_polynomial_degree():
    assert parse_family("beta:2").polynomial_degree == 1
    assert parse_family("beta:4").polynomial_degree == 3
    assert parse_family("kl").polynomial_degree is None
    assert parse_family("beta:2.5").polynomial_degree is None


def test_family_exact_parameter():
    assert parse_family("beta:0.1").b == Fraction(1, 10)


@pytest.mark.parametrize("text", ["beta:0", "beta:-1", "beta:-0.5"])
def test_family_nonpositive_rejected_with_reason(text):
    with pytest.raises(InputError) as raised:
        parse_family(text)
    message = str(raised.value)
    assert "b must be > 0" in message
    assert "does not vanish at p = 0" in message


@pytest.mark.parametrize("text", ["foo", "beta:", "beta:x", "beta:nan", "beta:1/0", "kl:2"])
def test_family_invalid_names(text):
    with pytest.raises(InputError):
        parse_family(text)


def test_family_list_duplicates_rejected():
    with pytest.raises(InputError, match="appears twice"):
        parse_families("kl,beta:1")
