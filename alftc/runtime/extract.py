"""Pull a final answer out of a completion and normalise it for exact matching.

These are defaults. Every adapter takes an ``extractor`` callable
``text -> str | None`` to replace :func:`extract_answer`, and the estimator
methods take an ``equivalent`` callable to replace exact equality.

Extraction order in :func:`extract_answer`:

1. the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched;
2. else the text after the last "the answer is" / "final answer:" (case
   ignored), up to the end of that line;
3. else ``None`` (unparseable).

:func:`normalize_answer` then applies, in order:

- strip surrounding whitespace and one trailing period;
- remove one pair of enclosing math delimiters: ``$...$``, ``$$...$$``,
  ``\\(...\\)``, ``\\[...\\]``;
- unwrap ``\\text{}``, ``\\textbf{}``, ``\\mathrm{}``, ``\\mathbf{}``,
  ``\\operatorname{}`` to their content;
- ``\\dfrac`` and ``\\tfrac`` become ``\\frac``; ``\\left``, ``\\right``, the
  spacing commands ``\\!``, ``\\,``, ``\\;``, ``\\:`` and ``^\\circ`` /
  ``^{\\circ}`` are removed;
- remove all whitespace;
- remove thousands separators in numbers (``1,234,567`` becomes ``1234567``;
  a comma not followed by exactly three digits is kept, so tuples stay);
- write a plain decimal number in shortest form: ``+5``, ``5.0`` and
  ``5.`` become ``5``, ``0.50`` becomes ``0.5``, ``-0`` becomes ``0``.

Case is kept, because ``x`` and ``X`` differ in mathematics. An empty result
gives ``None``.
"""

from __future__ import annotations

import re

__all__ = ["extract_answer", "extract_boxed", "extract_answer_phrase", "normalize_answer"]

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_PHRASE = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:)\s*:?", re.IGNORECASE)
_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{")
_SPACING = re.compile(r"\\[!,;:]|\\left\b|\\right\b|\^\s*\{?\s*\\circ\s*\}?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


def extract_answer(text: str | None) -> str | None:
    """Return the normalised final answer of a completion, or None when there is none.

    >>> extract_answer("so the total is \\\\boxed{1,000}.")
    '1000'
    >>> extract_answer("The answer is $\\\\frac{1}{2}$.")
    '\\\\frac{1}{2}'
    >>> extract_answer("I am not sure") is None
    True
    """
    if not isinstance(text, str):
        return None
    raw = extract_boxed(text)
    if raw is None:
        raw = extract_answer_phrase(text)
    if raw is None:
        return None
    return normalize_answer(raw)


def extract_boxed(text: str) -> str | None:
    """Return the raw content of the last ``\\boxed{...}`` or ``\\fbox{...}``, braces matched.

    An unclosed last box gives None; ``\\boxed 5`` (no braces) gives the next token.
    """
    position = max(text.rfind(command) for command in _BOX_COMMANDS)
    if position < 0:
        return None
    command = next(c for c in _BOX_COMMANDS if text.startswith(c, position))
    rest = text[position + len(command):]
    stripped = rest.lstrip()
    if not stripped.startswith("{"):
        # "\boxed 5": the argument is one token.
        if rest[:1].isspace() and stripped:
            return stripped.split()[0].rstrip(".$")
        return None
    return _braced_content(stripped)


def _braced_content(text: str) -> str | None:
    """Return the content of the brace group that opens ``text``, or None if unbalanced."""
    depth = 0
    for index, char in enumerate(text):
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "{}":
            continue
        if char == "{" and (index == 0 or text[index - 1] != "\\"):
            depth += 1
        elif char == "}" and (index == 0 or text[index - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[1:index]
    return None


def extract_answer_phrase(text: str) -> str | None:
    """Return the rest of the line after the last "the answer is" or "final answer:"."""
    matches = list(_PHRASE.finditer(text))
    if not matches:
        return None
    tail = text[matches[-1].end():]
    line = tail.strip().splitlines()[0] if tail.strip() else ""
    return line or None


def normalize_answer(answer: str | None) -> str | None:
    """Normalise an answer string for exact matching; see the module docstring for the rules.

    >>> normalize_answer(" $1,234.50$. ")
    '1234.5'
    >>> normalize_answer("\\\\text{(B)}")
    '(B)'
    """
    if answer is None:
        return None
    text = answer.strip()
    if text.endswith("."):
        text = text[:-1].rstrip()
    text = _strip_delimiters(text)
    text = _unwrap_commands(text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _SPACING.sub("", text)
    text = "".join(text.split())
    text = _THOUSANDS.sub("", text)
    if text.endswith("."):
        text = text[:-1]
    if _DECIMAL.fullmatch(text):
        text = _shortest_decimal(text)
    return text or None


def _strip_delimiters(text: str) -> str:
    for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(text) >= len(opening) + len(closing) and text.startswith(opening) and text.endswith(closing):
            return text[len(opening):len(text) - len(closing)].strip()
    return text


def _unwrap_commands(text: str) -> str:
    while True:
        match = _WRAPPERS.search(text)
        if match is None:
            return text
        content = _braced_content(text[match.end() - 1:])
        if content is None:
            return text
        text = text[:match.start()] + content + text[match.end() + len(content) + 1:]


def _shortest_decimal(text: str) -> str:
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-")
    whole, _, fraction = digits.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    if whole == "0" and not fraction:
        sign = ""
    return sign + whole + ("." + fraction if fraction else "")
