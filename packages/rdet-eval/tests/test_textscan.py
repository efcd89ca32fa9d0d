"""The vectorised text scan behind the DOTA readers: the same fields as ``bytes.split``, the
same lines as universal newlines, the same doubles as ``float``."""

import numpy as np
import pytest

from rdet_eval._textscan import parse_floats, scan_lines


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
