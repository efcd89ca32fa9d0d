"""Fields and numbers of a whitespace-separated text, with a few array operations.

The DOTA file readers check the number of fields of every line *before* they parse any
number, so that a malformed line is an error naming its line, never a silent shift of
columns. Fields are what ``bytes.split()`` separates (runs of bytes other than ASCII
whitespace ``' \\t\\n\\r\\v\\f'``); lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (as
Python's universal newlines).

Numbers: Python's ``float`` (and numpy's text parsers, which cost as much) spends about as
long on one number as the whole metric should on one detection. :func:`parse_floats` reads
plain decimals (``-12.5``, ``964.542486``, ``0.8531052720111976``: a sign, at most 8 integer
digits, at most 16 significant digits) eight bytes at a time: each field's integer and fraction
digits are loaded as 64-bit words and turned into integers with three multiply-and-mask
steps (the well-known SWAR digit parse), checked digit by digit on the way. The number is
then ``mantissa / 10**decimals`` with a mantissa below 2**53: both operands are exact doubles,
so IEEE division gives the correctly rounded value, the very double ``float(field)`` gives.
Every other field (exponents, ``nan``, 17 significant digits, junk) goes to ``float`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Lines", "parse_floats", "scan_lines"]

_WHITESPACE = b" \t\n\r\x0b\x0c"
_IS_WHITESPACE = np.zeros(256, bool)
_IS_WHITESPACE[list(_WHITESPACE)] = True


@dataclass
class Lines:
    """The fields and lines of a text.

    Attributes:
        data: The text.
        starts: ``(F,)`` byte offset where each field begins.
        ends: ``(F,)`` where it ends (exclusive).
        count: ``(L,)`` number of fields of each line (0 for a blank line).
        first: ``(L,)`` index of each line's first field.
        start: ``(L,)`` byte offset where each line begins.
    """

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    count: np.ndarray
    first: np.ndarray
    start: np.ndarray

    def text(self, line: int) -> str:
        """Line ``line`` (0-based), stripped and leniently decoded, for error messages."""
        end = int(self.start[line + 1]) if line + 1 < self.start.size else len(self.data)
        return self.data[int(self.start[line]) : end].decode("utf-8", "replace").strip()

    def fields(self, index: np.ndarray) -> list[bytes]:
        """The fields ``index`` as bytes."""
        data = self.data
        return [data[a:b] for a, b in zip(self.starts[index].tolist(), self.ends[index].tolist())]


def scan_lines(data: bytes) -> Lines:
    """Fields and lines of ``data`` (see the module docstring)."""
    buf = np.frombuffer(data, np.uint8)
    low = buf < 33
    # the usual case has no control characters besides whitespace: one comparison
    word = ~low if _IS_WHITESPACE[buf[low]].all() else ~_IS_WHITESPACE[buf]
    edge = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    ends = np.flatnonzero(edge == -1)
    if b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"):
        breaks = np.flatnonzero(buf == 10)
    else:  # a lone \r ends a line too
        lf = buf == 10
        cr = buf == 13
        cr[:-1] &= ~lf[1:]
        breaks = np.flatnonzero(lf | cr)
    start = np.concatenate(([0], breaks + 1))
    first = np.searchsorted(starts, start)
    return Lines(data, starts, ends, np.diff(first, append=starts.size), first, start)


_U = np.uint64
_ZEROS = _U(0x3030303030303030)  # '00000000'
_ONES = _U(0x0101010101010101)
_HIGH = _U(0x8080808080808080)
_DOTS = _U(0x2E2E2E2E2E2E2E2E)  # '........'
_OVER9 = _U(0x7676767676767676)  # + byte: carries into the high bit for bytes above 9
_ALL = (1 << 64) - 1
_KEEP_HIGH = np.array([_ALL ^ ((1 << 8 * (8 - k)) - 1) if k else 0 for k in range(9)], np.uint64)
_KEEP_LOW = np.array([(1 << 8 * n) - 1 for n in range(9)], np.uint64)
_POW10 = np.array([float(10**k) for k in range(17)])  # exact doubles
_IPOW10 = np.array([10**k for k in range(17)], np.uint64)
_PAD = 16


def _digits8(words: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Words whose top ``k`` bytes (the last ``k`` in memory) are ASCII digits, first digit
    lowest in memory -> (their value, whether they all are digits). k in 0..8."""
    keep = _KEEP_HIGH[k]
    x = ((words & keep) | (_ZEROS & ~keep)) ^ _ZEROS  # digit values; the rest 0
    ok = (((x + _OVER9) | x) & _HIGH) == 0
    x = (x * _U(10) + (x >> _U(8))) & _U(0x00FF00FF00FF00FF)
    x = (x * _U(100) + (x >> _U(16))) & _U(0x0000FFFF0000FFFF)
    x = (x * _U(10000) + (x >> _U(32))) & _U(0xFFFFFFFF)
    return x, ok


def _first_dot(words: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Byte index of the first '.' among the low ``n`` bytes (the first in memory) of each
    word, 8 if none."""
    x = words ^ _DOTS
    t = (x - _ONES) & ~x & _HIGH & _KEEP_LOW[n]  # the lowest set bit marks the first '.'
    lowest = (t & (~t + _U(1))).astype(np.float64)  # 2**(8 i + 7): exact
    bit = (lowest.view(np.int64) >> 52) - 1023  # its exponent
    return np.where(t != 0, bit >> 3, 8)


def parse_floats(lines: Lines, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``float(field)`` of fields ``index``, bit for bit.

    Returns:
        ``(values, bad)``: float64 values, and the positions (into ``index``) of the fields
        that ``float`` rejects (their value is NaN).
    """
    values = np.full(index.size, np.nan)
    if index.size == 0:
        return values, np.zeros(0, np.int64)
    padded = bytes(_PAD) + lines.data + bytes(_PAD)
    buf = np.frombuffer(padded, np.uint8)
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))  # at every byte
    s = lines.starts[index] + _PAD
    e = lines.ends[index] + _PAD
    lead = buf[s]
    negative = lead == 45
    body = s + (negative | (lead == 43))
    length = e - body
    # the dot: at most 8 integer digits, so within the body's first 9 bytes
    d0 = _first_dot(words[body], np.clip(length, 0, 8))
    d1 = _first_dot(words[body + 8], np.clip(length - 8, 0, 8))
    dot = np.where(d0 < 8, d0, np.where(d1 == 0, 8, -1))
    n_int = np.where(dot >= 0, dot, length)
    n_frac = np.where(dot >= 0, length - dot - 1, 0)
    ok = (n_int <= 8) & (n_frac >= 0) & (n_frac <= 16) & (n_int + n_frac >= 1)
    n_int, n_frac = np.clip(n_int, 0, 8), np.clip(n_frac, 0, 16)
    iv, iok = _digits8(words[body + n_int - 8], n_int)
    low = np.minimum(n_frac, 8)
    fl, fok = _digits8(words[e - 8], low)
    fh, hok = _digits8(words[e - 8 - low], n_frac - low)
    # at most 16 significant digits (a leading "0." is free): below 10**16, no overflow
    ok &= iok & fok & hok & ((n_int + n_frac <= 16) | (iv == 0))
    mantissa = iv * _IPOW10[n_frac] + fh * _IPOW10[low] + fl
    ok &= mantissa < _U(1 << 53)
    v = mantissa.astype(np.float64) / _POW10[n_frac]
    values[ok] = np.where(negative, -v, v)[ok]
    bad = []
    slow = np.flatnonzero(~ok)
    for k, field in zip(slow.tolist(), lines.fields(index[slow])):
        try:
            values[k] = float(field)
        except ValueError:
            bad.append(k)
    return values, np.asarray(bad, np.int64)
