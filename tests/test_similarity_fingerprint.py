"""The tokeniser's normalisation, robust winnowing against a brute-force reference, stable hashes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mnist_mlp.course.fingerprint import dead_stores, kgram_hashes, tokenise, winnow
from mnist_mlp.errors import DataError

ORIGINAL = '''\
def forward(self, input):
    """Selu."""
    # scale and shift
    lam = 1.0507
    out = lam * np.where(input > 0, input, 1.67326 * (np.exp(input) - 1))
    self._saved_for_backward(input)
    return out
'''

DISGUISED = """\
def fwd(me, x):
    '''A different docstring,
    over two lines.'''
    lam = 1.0507  # constant
    y=lam*np.where( x>0 ,x,
        1.67326*(np.exp(x)-1),
    ) ; me._saved_for_backward(x)

    return (
        y
    )
"""


def test_renaming_comments_docstrings_and_formatting_leave_the_tokens_unchanged():
    assert tokenise(ORIGINAL).text == tokenise(DISGUISED).text


def test_identifiers_numbers_and_strings_are_anonymous_keywords_and_builtins_kept():
    tokens = tokenise("for i in range(len(xs)):\n    s = f'{i}' + \"b\" * 2.5e3\n").text
    assert " ".join(tokens) == (
        "for V in range ( len ( V ) ) : NEWLINE INDENT V = S + S * N NEWLINE DEDENT"
    )


def test_statements_that_compute_nothing_are_dropped_and_others_kept():
    padded = (
        "def f(x):\n    pass\n    debug = False\n    a, b = 1, -2\n    assert x\n"
        "    print('here', x)\n    if False:\n        x = x + 1\n        if x:\n            y = 2\n"
        "    return x\n"
    )
    assert tokenise(padded).text == tokenise("def f(x):\n    return x\n").text
    kept = tokenise("def f(x):\n    y = x\n    return x\n").text
    assert kept != tokenise("def f(x):\n    return x\n").text


def test_statement_structure_is_kept():
    inside = tokenise("if a:\n    b()\n    c()\n").text
    after = tokenise("if a:\n    b()\nc()\n").text
    assert inside != after and inside.count("INDENT") == 1


def test_token_lines_point_at_the_source():
    tokens = tokenise("x = 1\n\n# c\ny = x + z\n")
    assert [line for t, line in zip(tokens.text, tokens.lines) if t == "+"] == [4]


@pytest.mark.parametrize(
    "source, line",
    [("x = (1,\n", "line 2"), ("if x:\n    a\n  b\n", "line 3"), ("s = '''open\n", "line")],
)
def test_code_that_does_not_tokenise_raises_a_data_error_naming_the_line(source, line):
    with pytest.raises(DataError, match=f"does not tokenise \\({line}"):
        tokenise(source)


def _reference_winnow(hashes: list[int], w: int) -> list[int]:
    """Robust winnowing by its definition: each window examined on its own."""
    if len(hashes) <= w:
        low = min(hashes)
        return [max(i for i, h in enumerate(hashes) if h == low)]
    chosen, last = [], None
    for left in range(len(hashes) - w + 1):
        window = range(left, left + w)
        low = min(hashes[i] for i in window)
        if last is not None and last in window and hashes[last] == low:
            continue  # a tie with the previous choice keeps it
        last = max(i for i in window if hashes[i] == low)
        if not chosen or chosen[-1] != last:
            chosen.append(last)
    return chosen


@pytest.mark.parametrize("seed", range(30))
def test_winnowing_matches_the_definition_even_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    n, w = int(rng.integers(1, 60)), int(rng.integers(1, 9))
    hashes = rng.integers(0, 4, size=n).tolist()  # few values: ties everywhere
    assert winnow(hashes, w) == _reference_winnow(hashes, w)


@pytest.mark.parametrize("seed", range(20))
def test_any_shared_run_of_w_plus_k_minus_1_tokens_shares_a_fingerprint(seed):
    """Schleimer et al.'s guarantee, on token ids with a run planted in two random streams."""
    rng = np.random.default_rng(seed)
    k, w = 9, 4
    run = tuple(rng.integers(0, 50, size=w + k - 1).tolist())
    a = tuple(rng.integers(0, 50, size=int(rng.integers(0, 80))).tolist()) + run
    b = run + tuple(rng.integers(0, 50, size=int(rng.integers(0, 80))).tolist())
    ha, hb = kgram_hashes(a, k), kgram_hashes(b, k)
    assert {ha[i] for i in winnow(ha, w)} & {hb[i] for i in winnow(hb, w)}


def test_kgram_hashes_are_the_same_in_every_process():
    code = (
        "from mnist_mlp.course.fingerprint import kgram_hashes, tokenise;"
        f"print(kgram_hashes(tokenise({ORIGINAL!r}).ids, 9))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]),
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {f"{kgram_hashes(tokenise(ORIGINAL).ids, 9)}\n"}


def test_dead_stores_in_functions_are_left_out_and_read_names_kept():
    padded = (
        "LIMIT = 3\n"
        "def f(x):\n"
        "    shape_seen = x.shape; y = x + 1\n"
        "    _ = len([])\n"
        "    a, b = x, 2\n"
        "    self.cache = x * 2\n"
        "    return y + a + LIMIT\n"
    )
    spans, problem = dead_stores(padded)
    assert problem is None
    assert spans == [((3, 4), (3, 24)), ((4, 4), (4, 15))]
    plain = "LIMIT = 3\ndef f(x):\n    y = x + 1\n    a, b = x, 2\n    self.cache = x * 2\n"
    plain += "    return y + a + LIMIT\n"
    assert tokenise(padded, spans).text == tokenise(plain).text


def test_dead_stores_report_a_syntax_error_and_leave_nothing_out():
    spans, problem = dead_stores("def f(x)\n    return x\n")
    assert spans == [] and problem == "has a syntax error (line 1: expected ':')"
