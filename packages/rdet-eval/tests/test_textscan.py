"""The vectorised text scan behind the DOTA readers: the same fields as ``bytes.split``, the
same lines as universal newlines, the same doubles as ``float``."""

import numpy as np
import pytest

from rdet_eval import _textscan as textscan
from rdet_eval._textscan import field_codes, parse_floats, parse_table, scan_lines


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\n",
        b"a b c\nd e\n\nf",
        b"  lead and trail  \r\nnext\tline\x0b\x0cx\r\n",
        b"lone\rcarriage\rreturns\r",
        b"mixed\r\nends\rand\nmore",
        b"control\x01inside a\x00field\n\x1f",
        "ünïcode names 1.5\n".encode(),
    ],
)
def test_fields_and_lines_are_bytes_split_and_universal_newlines(text):
    lines = scan_lines(text)
    # universal newlines: \n, \r\n, \r (unlike str.splitlines, \x0b and \x0c end no line)
    expected = [len(x.split()) for x in text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")]
    assert lines.count.tolist() == expected
    assert [text[a:b] for a, b in zip(lines.starts, lines.ends)] == text.split()
    assert int(lines.count.sum()) == len(text.split())


def test_numbers_are_floats_bit_for_bit():
    rng = np.random.default_rng(0)
    xs = np.concatenate(
        [
            rng.uniform(-1e8, 1e8, 3000),
            rng.uniform(0, 1, 3000),
            10.0 ** rng.uniform(-12, 9, 3000),
            [0.0, -0.0],
        ]
    )
    fields = [repr(float(x)) for x in xs]  # up to 17 significant digits, exponents
    fields += [f"{x:.{k}f}" for x, k in zip(xs, rng.integers(0, 12, xs.size))]
    fields += [f"{x:+.3f}" for x in xs[:500]]
    fields += [
        "007",
        "-0",
        "+5",
        "-.5",
        "5.",
        ".5",
        "99999999.99999999",
        "12345678.1234567890",
        "1e5",
        "1E-3",
    ]
    fields += ["1_0", "nan", "-inf", "Infinity", "9007199254740993", "0.9007199254740993"]
    bad_fields = [
        "1.2.3",
        "--1",
        "-",
        ".",
        "1-2",
        "0x10",
        "1O",
        "+-1",
        "e5",
        "١٢",
    ]  # float(bytes) rejects all
    text = " ".join(fields + bad_fields).encode()
    lines = scan_lines(text)
    values, bad = parse_floats(lines, np.arange(lines.starts.size))
    expected = np.array([float(f) for f in fields])
    got = values[: len(fields)]
    same = (expected.view(np.int64) == got.view(np.int64)) | (np.isnan(expected) & np.isnan(got))
    assert same.all(), [fields[i] for i in np.flatnonzero(~same)]
    assert bad.tolist() == list(range(len(fields), len(fields) + len(bad_fields)))


# -- the scan in blocks, a padded buffer, the word parse's rarer paths (issue 16, item 5) -------

ODD_TEXTS = [
    b"",
    b"a b c\nd e\n\nf",
    b"  lead and trail  \r\nnext\tline\x0b\x0cx\r\n",
    b"lone\rcarriage\rreturns\r",
    b"mixed\r\nends\rand\nmore\r",
    b"control\x01inside a\x00field\n\x1f",
    b"\r\n\r\n  \n",
]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 18])
@pytest.mark.parametrize("pad", [b"", b"\x00" * 16, b"x\ry"])
def test_the_scan_in_blocks_and_between_padding_is_the_same(monkeypatch, block, pad):
    """Fields and lines do not depend on where the blocks of the scan fall, nor on the bytes
    around the text of a padded buffer (offsets then count from the buffer's start)."""
    monkeypatch.setattr(textscan, "_SCAN_BLOCK", block)
    for text in ODD_TEXTS:
        lines = scan_lines(bytearray(pad + text + pad), pad=len(pad))
        expected = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        assert lines.count.tolist() == [len(x.split()) for x in expected]
        assert lines.fields(np.arange(lines.starts.size)) == text.split()
        assert [lines.text(k) for k in range(lines.count.size)] == [x.decode().strip() for x in expected]


def _same_doubles(got, expected):
    return (got.view(np.int64) == expected.view(np.int64)) | (np.isnan(got) & np.isnan(expected))


@pytest.mark.parametrize("extended", [True, False])
@pytest.mark.parametrize("chunk", [5, 16384])
def test_long_decimals_and_chunk_edges_are_floats_bit_for_bit(monkeypatch, extended, chunk):
    """17 to 19 significant digits (``repr`` of a score) take the long-double division where
    numpy has one (every quotient that lands half-way between two doubles goes to ``float``),
    ``float`` itself elsewhere; fields at the edges of the parse's chunks are read whole."""
    monkeypatch.setattr(textscan, "_CHUNK", chunk)
    if not extended:
        monkeypatch.setattr(textscan, "_EXTENDED", False)
    rng = np.random.default_rng(1)
    fields = [repr(float(x)) for x in rng.uniform(0, 1, 2000)]
    fields += [repr(float(x)) for x in rng.uniform(-1e8, 1e8, 2000)]
    digits = rng.integers(0, 10, (3000, 19)).astype(str)
    n_int = rng.integers(0, 9, 3000)
    n_all = rng.integers(15, 21, 3000)
    fields += [
        "".join(d[:i]) + "." + "".join(d[i:n]) for d, i, n in zip(digits, n_int, np.maximum(n_all, n_int + 1))
    ]
    fields += ["-0.00000000000000001", "+12345678.12345678901", "99999999.9999999999", "0." + "9" * 19]
    text = " ".join(fields).encode()
    lines = scan_lines(text)
    values, bad = parse_floats(lines, np.arange(lines.starts.size))
    assert bad.size == 0
    assert _same_doubles(values, np.array([float(f) for f in fields])).all()


def test_the_quotients_half_way_between_two_doubles_are_left_to_float():
    """The long-double quotient is rounded twice; the check finds the quotients where that
    could differ from one rounding, and every other one is the correctly rounded double."""
    if not textscan._EXTENDED:
        pytest.skip("numpy's long double here has no 64-bit significand: the path is unused")
    rng = np.random.default_rng(2)
    mantissa = rng.integers(1 << 53, 10**19, 200_000, dtype=np.uint64)
    k = rng.integers(0, 20, mantissa.size)
    values, ok = textscan._divide_extended(mantissa, k)
    assert 0 < (~ok).sum() < mantissa.size // 100  # about 1 in 2048
    exact = np.array([float(f"{m}e-{e}") for m, e in zip(mantissa.tolist(), k.tolist())])
    assert (values[ok] == exact[ok]).all()
    assert (values[~ok] != exact[~ok]).any()  # those would be wrong without the check


def test_a_table_is_parse_floats_of_its_fields():
    text = b"a 1 2 3\nb 4 x 6\n\nc 7 8 1e3\n"
    lines = scan_lines(text)
    first = lines.first[lines.count == 4]
    index = first[:, None] + np.arange(1, 4)
    values, bad = parse_table(lines, first, range(1, 4))
    flat, flat_bad = parse_floats(lines, index.ravel())
    assert _same_doubles(values.ravel(), flat).all() and bad.tolist() == flat_bad.tolist() == [4]
    assert values[2].tolist() == [7.0, 8.0, 1000.0]


@pytest.mark.parametrize("sort_names", [False, True])
def test_field_codes_are_the_distinct_fields_in_first_seen_order(sort_names):
    """Names up to 32 bytes are compared as words (differences after byte 8, 16 and 24 count,
    and a name that is another's prefix is not it), longer names as bytes."""
    rng = np.random.default_rng(3)
    pool = ["P0001", "P0001x", "P000", "image_00000001", "image_00000002", "a" * 17 + "b", "a" * 17 + "c"]
    pool += ["x" * 24 + "1", "x" * 24 + "2", "ü" * 5, "long_" * 8, "long_" * 8 + "2"]
    names = [pool[k] for k in rng.integers(0, len(pool), 500)]
    if sort_names:
        names.sort()  # runs of equal names, as a result file's lines per image
    text = "\n".join(f"{n} 0.5" for n in names).encode()
    lines = scan_lines(text)
    short = lines.first[(lines.ends - lines.starts)[lines.first] <= 32]
    for index in (lines.first, short):  # with names over 32 bytes (compared as bytes), and without
        distinct, codes = field_codes(lines, index)
        tokens = lines.fields(index)
        assert distinct == list(dict.fromkeys(tokens))
        assert [distinct[c] for c in codes] == tokens
    assert field_codes(lines, np.zeros(0, np.int64))[1].size == 0
