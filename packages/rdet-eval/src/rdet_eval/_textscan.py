"""Fields and numbers of a whitespace-separated text, with a few array operations.

The DOTA file readers check the number of fields of every line *before* they parse any
number, so that a malformed line is an error naming its line, never a silent shift of
columns. Fields are what ``bytes.split()`` separates (runs of bytes other than ASCII
whitespace ``' \\t\\n\\r\\v\\f'``); lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (as
Python's universal newlines). :func:`scan_lines` finds them in blocks of 256 KiB (the
temporaries stay in the CPU's cache) and writes int32 offsets: fresh memory costs a page
fault per 4 KiB, a large part of the time on a virtual machine.

Numbers: Python's ``float`` (and numpy's text parsers, which cost as much) spends about as
long on one number as the whole metric should on one detection. :func:`parse_floats` reads
plain decimals (``-12.5``, ``964.542486``, ``0.17092082743112677``: a sign, at most 8 integer
digits, at most 19 significant digits) eight bytes at a time: each field's integer and fraction
digits are loaded as 64-bit words and turned into integers with three multiply-and-mask
steps (the well-known SWAR digit parse), checked digit by digit on the way. The number is
then ``mantissa / 10**decimals``: below 2**53 both operands are exact doubles, so IEEE
division gives the correctly rounded value, the very double ``float(field)`` gives; from
2**53 (17 to 19 digits, as ``repr`` writes half of all scores) the division is done in
numpy's long double where that has a 64-bit significand (x87), and kept unless it lands
exactly half-way between two doubles (see :func:`_divide_extended`). Every other field
(exponents, ``nan``, 20 or more digits, junk; 17 to 19 digits where long double is a mere
double) goes to ``float`` itself. The parse runs over 16,384 fields at a time, in text order, so that its temporaries and the
words it loads stay in cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Lines", "field_codes", "parse_floats", "parse_table", "scan_lines"]


@dataclass
class Lines:
    """The fields and lines of a text.

    Attributes:
        data: The buffer: the text, between ``pad`` bytes on each side (zero bytes, or
            anything: they are not part of the text).
        starts: ``(F,)`` offset (into ``data``) where each field begins.
        ends: ``(F,)`` where it ends (exclusive).
        count: ``(L,)`` number of fields of each line (0 for a blank line).
        first: ``(L,)`` index of each line's first field.
        start: ``(L,)`` offset (into ``data``) where each line begins.
        pad: Bytes before and after the text in ``data``.
    """

    data: bytes | bytearray
    starts: np.ndarray
    ends: np.ndarray
    count: np.ndarray
    first: np.ndarray
    start: np.ndarray
    pad: int = 0

    def text(self, line: int) -> str:
        """Line ``line`` (0-based), stripped and leniently decoded, for error messages."""
        end = int(self.start[line + 1]) if line + 1 < self.start.size else len(self.data) - self.pad
        return bytes(self.data[int(self.start[line]) : end]).decode("utf-8", "replace").strip()

    def fields(self, index: np.ndarray) -> list[bytes]:
        """The fields ``index`` as bytes."""
        data = self.data if isinstance(self.data, bytes) else memoryview(self.data)
        return [bytes(data[a:b]) for a, b in zip(self.starts[index].tolist(), self.ends[index].tolist())]

    @cached_property
    def padded(self) -> tuple[np.ndarray, np.ndarray, int]:
        """``(bytes uint8, words uint64, shift)``: the text with at least ``_PAD`` bytes on
        each side, the little-endian 64-bit word that starts at every byte of it (a strided
        view, no copy), and what to add to an offset of :attr:`starts` / :attr:`ends` to index
        them. The buffer itself when it has the padding (no copy), else a padded copy; made
        once per text, shared by every parse of its fields."""
        if self.pad >= _PAD:
            padded, shift = self.data, 0
        else:
            padded, shift = bytes(_PAD) + bytes(self.data) + bytes(_PAD), _PAD
        buf = np.frombuffer(padded, np.uint8)
        words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
        return buf, words, shift


def scan_lines(data: bytes | bytearray, pad: int = 0) -> Lines:
    """Fields and lines of ``data`` (see the module docstring), or of the text between its
    first and last ``pad`` bytes (offsets stay offsets into ``data``).

    Each field boundary is a change between whitespace and not: one comparison of every byte
    with its neighbour finds them all (starts and ends alternate). The text is scanned in
    blocks of ``_SCAN_BLOCK`` bytes, whose temporaries stay in the CPU's cache."""
    buf = np.frombuffer(data, np.uint8)
    n = buf.size - pad
    # offsets as int32 where they fit: half the memory, and fresh memory costs a page fault
    # per 4 KiB (written into arrays sized for the most fields there can be, (n + 1) // 2:
    # only the pages written are ever touched)
    offset = np.int32 if buf.size < 2**31 - 1 else np.int64
    starts = np.empty((n - pad + 1) // 2 + 1, offset)
    ends = np.empty_like(starts)
    breaks = []
    found = 0  # fields started so far
    in_field = False  # as if the text began after a space
    for a in range(pad, n, _SCAN_BLOCK):
        block = buf[a : min(a + _SCAN_BLOCK, n)]
        word = (block != 32) & (block - np.uint8(9) > 4)  # not ' ' nor '\t' '\n' '\v' '\f' '\r' (9 to 13)
        edges = np.flatnonzero(word[1:] != word[:-1])
        edges += a + 1
        if bool(word[0]) != in_field:
            edges = np.concatenate(([a], edges))
        # edges alternate: a start first unless the block begins inside a field
        new_starts = edges[int(in_field) :: 2]
        new_ends = edges[1 - int(in_field) :: 2]
        starts[found : found + new_starts.size] = new_starts
        ends[found - int(in_field) : found - int(in_field) + new_ends.size] = new_ends
        found += new_starts.size
        in_field = bool(word[-1])
        breaks.append(np.flatnonzero(block == 10) + a)
    if in_field:
        ends[found - 1] = n
    starts, ends = starts[:found], ends[:found]
    if data.find(b"\r", pad, n) >= 0:  # a lone \r ends a line too
        text = buf[pad:n]
        lone = text == 13
        lone[:-1] &= text[1:] != 10
        if lone.any():
            breaks = [np.flatnonzero(lone | (text == 10)) + pad]
    start = np.concatenate([[pad]] + [b + 1 for b in breaks]).astype(np.int64)
    first = np.searchsorted(starts, start)
    return Lines(data, starts, ends, np.diff(first, append=starts.size), first, start, pad)


_U = np.uint64
_ZEROS = _U(0x3030303030303030)  # '00000000'
_ONES = _U(0x0101010101010101)
_HIGH = _U(0x8080808080808080)
_DOTS = _U(0x2E2E2E2E2E2E2E2E)  # '........'
_OVER9 = _U(0x7676767676767676)  # + byte: carries into the high bit for bytes above 9
_KEEP_LOW = np.array([(1 << 8 * n) - 1 for n in range(9)], np.uint64)
_TOP_SHIFT = np.array([64 - 8 * k for k in range(9)], np.uint64)  # << this keeps the first k bytes, on top
_DOT_BITS = _HIGH & _KEEP_LOW  # the high bits of the first n bytes
_MAX_DIGITS = 19  # significant digits of the word parse: 10**19 < 2**64
_POW10 = np.array([float(10**k) for k in range(_MAX_DIGITS + 1)])  # exact doubles (to 10**22)
_IPOW10 = np.array([10**k for k in range(_MAX_DIGITS + 1)], np.uint64)
_LPOW10 = _POW10.astype(np.longdouble)
_EXTENDED = np.finfo(np.longdouble).nmant >= 63  # a 64-bit significand (x87 extended)
_PAD = 16
_KEY_WORDS = 4  # field_codes compares fields of up to 32 bytes as words
_SCAN_BLOCK = 1 << 18  # bytes per pass of scan_lines
_CHUNK = 16384  # fields per pass of the word parse: its temporaries fit a 512 KiB L2


def _digits8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Words of digit values (each byte its ASCII byte ``^ '0'``), the digits in the top bytes
    (the last in memory), zeros below -> (their value, whether they all are digits)."""
    ok = (((x + _OVER9) | x) & _HIGH) == 0
    x = (x * _U(10) + (x >> _U(8))) & _U(0x00FF00FF00FF00FF)
    x = (x * _U(100) + (x >> _U(16))) & _U(0x0000FFFF0000FFFF)
    x = (x * _U(10000) + (x >> _U(32))) & _U(0xFFFFFFFF)
    return x, ok


def _last_digits(words: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value of the last ``k`` bytes (0 to 8) of each word as digits, and whether they are."""
    keep = _TOP_SHIFT[k]  # shifting down and back up clears the other bytes
    return _digits8(((words ^ _ZEROS) >> keep) << keep)


def _parse_chunk(buf: np.ndarray, words: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, ...]:
    """Fields ``[s, e)`` (offsets into the padded text) -> ``(values, ok)``: ``ok`` where the
    field is a plain decimal that the word parse reads exactly (the value is garbage elsewhere)."""
    lead = buf[s]
    negative = lead == 45
    body = s + (negative | (lead == 43))
    length = e - body
    head = words[body]  # the body's first 8 bytes: the integer digits and the dot
    first8 = np.minimum(length, 8)
    # the first '.': the lowest high bit of the zero-byte test, its index from the float exponent
    x = head ^ _DOTS
    t = (x - _ONES) & ~x & _DOT_BITS[first8]
    lowest = (t & (~t + _U(1))).astype(np.float64)  # 2**(8 i + 7), exact; 0 if none
    n_int = np.minimum((((lowest.view(np.int64) >> 52) - 1023) >> 3) & 0xFF, first8)  # none: first8
    at8 = np.flatnonzero(n_int == 8)  # eight digits then the dot, or no dot in the first 8 bytes
    if at8.size:
        n_int[at8] = np.where(buf[body[at8] + 8] == 46, 8, length[at8])
    n_digits = length - (n_int < length)  # less the dot
    n_frac = n_digits - n_int
    ok = (n_int <= 8) & (n_frac <= _MAX_DIGITS) & (n_digits >= 1)
    n_int, n_frac = np.minimum(n_int, 8), np.minimum(n_frac, _MAX_DIGITS)
    iv, iok = _digits8((head ^ _ZEROS) << _TOP_SHIFT[n_int])  # the first n_int bytes, moved to the top
    fl, fok = _last_digits(words[e - 8], np.minimum(n_frac, 8))
    # at most 19 significant digits (a leading "0." is free): below 10**19 < 2**64, no overflow
    ok &= iok & fok & ((n_int + n_frac <= _MAX_DIGITS) | (iv == 0))
    mantissa = iv * _IPOW10[n_frac] + fl
    for w in (1, 2):  # the fraction's digits before its last 8 (16), in the words 8 (16) bytes earlier
        more = _subset(n_frac > 8 * w)
        if more is not None:
            digits, good = _last_digits(words[e[more] - 8 * (w + 1)], np.minimum(n_frac[more] - 8 * w, 8))
            mantissa[more] += digits * _IPOW10[8 * w]
            ok[more] &= good
    v = mantissa.astype(np.float64) / _POW10[n_frac]  # exact / exact below 2**53: correctly rounded
    big = _subset(ok & (mantissa >= _U(1 << 53)))
    if big is not None:
        v[big], ok[big] = _divide_extended(mantissa[big], n_frac[big])
    return np.copysign(v, 0.5 - negative), ok


def _subset(mask: np.ndarray) -> np.ndarray | slice | None:
    """Where ``mask`` holds: None if nowhere, every element as a slice (no gather: a column of
    long scores parses in chunks of its own), else the indices."""
    n = np.count_nonzero(mask)
    if n == 0:
        return None
    return slice(None) if n == mask.size else np.flatnonzero(mask)


def _divide_extended(mantissa: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mantissa / 10**k`` correctly rounded to float64 for mantissas of 2**53 to 2**64 (17 to
    19 digits, as ``repr`` writes many scores), where numpy's long double has a 64-bit
    significand (x87 on x86): both operands are exact there, the quotient is rounded once to
    64 bits, then to 53. That second rounding is wrong only when the first lands exactly
    half-way between two doubles (the true quotient is within half a 64-bit unit of it, so
    elsewhere on the same side of every half-way point): those, and every quotient where
    long double is narrower, are not ``ok`` (left to ``float``).

    Returns:
        ``(values (n,) float64, ok (n,) bool)``.
    """
    if not _EXTENDED:
        return np.zeros(mantissa.size), np.zeros(mantissa.size, bool)
    q = mantissa.astype(np.longdouble) / _LPOW10[k]
    v = q.astype(np.float64)
    _, exp = np.frexp(q)  # q in [2**(exp - 1), 2**exp): a double's half unit there is 2**(exp - 54)
    ok = np.abs(q - v.astype(np.longdouble)) != np.ldexp(np.longdouble(1), exp - 54)
    return v, ok


def parse_floats(lines: Lines, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``float(field)`` of fields ``index``, bit for bit.

    The word parse runs over ``_CHUNK`` fields at a time, so that its dozens of temporary
    arrays stay in the CPU's cache; the rare fields it cannot read go to ``float``. (Chunks
    follow ``index``: in text order, the words they load are close together.)

    Returns:
        ``(values, bad)``: float64 values, and the positions (into ``index``) of the fields
        that ``float`` rejects (their value is NaN).
    """
    return _parse(lines, index.size, _CHUNK, lambda a, b: index[a:b])


def parse_table(lines: Lines, first: np.ndarray, columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``float`` of the fields ``first[r] + columns[c]``: :func:`parse_floats` of a table whose
    row ``r`` starts at field ``first[r]``, without making the (rows, columns) index.

    Returns:
        ``(values (rows, len(columns)), bad)``: ``bad`` the flat (row-major) positions of the
        fields that ``float`` rejects.
    """
    cols = np.asarray(columns, np.int64)
    w = max(cols.size, 1)
    values, bad = _parse(
        lines,
        first.size * cols.size,
        max(1, _CHUNK // w) * w,
        lambda a, b: (first[a // w : b // w, None] + cols).ravel(),
    )
    return values.reshape(first.size, cols.size), bad


def _parse(
    lines: Lines, n: int, chunk: int, index_of: Callable[[int, int], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fields, ``chunk`` at a time, those of flat positions ``a:b`` being
    ``index_of(a, b)`` (``a`` a multiple of ``chunk``, ``b`` the next or ``n``)."""
    values = np.empty(n)
    if n == 0:
        return values, np.zeros(0, np.int64)
    buf, words, shift = lines.padded
    slow, slow_fields = [], []
    for a in range(0, n, chunk):
        index = index_of(a, min(a + chunk, n))
        v, ok = _parse_chunk(buf, words, lines.starts[index] + shift, lines.ends[index] + shift)
        values[a : a + index.size] = v
        if not ok.all():
            k = np.flatnonzero(~ok)
            slow.append(k + a)
            slow_fields.append(index[k])
    bad = []
    if slow:
        slow = np.concatenate(slow)
        fields = lines.fields(np.concatenate(slow_fields))
        try:
            values[slow] = list(map(float, fields))
        except ValueError:  # one by one, to find the fields float rejects
            parsed = []
            for k, field in zip(slow.tolist(), fields):
                try:
                    parsed.append(float(field))
                except ValueError:
                    parsed.append(np.nan)
                    bad.append(k)
            values[slow] = parsed
    return values, np.asarray(bad, np.int64)


def field_codes(lines: Lines, index: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """The distinct fields among ``index`` (in first-seen order) and the code of each.

    A field of up to 32 bytes is compared as its length and four 64-bit words (the bytes past
    its end masked off): runs of equal neighbours (an image's detections, one after another)
    collapse first, then one sort of the run heads finds the distinct ones; only those are
    sliced out of the text. Longer fields are compared as bytes.

    Returns:
        ``(distinct, codes)``: ``fields(index)[k] == distinct[codes[k]]``; codes ``(len(index),)`` int64.
    """
    if index.size == 0:
        return [], np.zeros(0, np.int64)
    s, e = lines.starts[index], lines.ends[index]
    length = e - s
    if int(length.max()) > 8 * _KEY_WORDS:
        return _codes_of(lines.fields(index))
    _, words, shift = lines.padded
    n_words = -(-int(length.max()) // 8)
    keys = [length] + [  # (a word past the text's end is masked off whole)
        words[np.minimum(s + (shift + 8 * w), words.size - 1)] & _KEEP_LOW[np.clip(length - 8 * w, 0, 8)]
        for w in range(n_words)
    ]
    change = np.zeros(index.size, bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    heads = np.flatnonzero(change)
    run = np.cumsum(change) - 1  # the run of each field
    head_keys = [key[heads] for key in keys]
    order = np.lexsort(head_keys[::-1])  # stable: equal heads stay in first-seen order
    new = np.zeros(heads.size, bool)
    new[0] = True
    for key in head_keys:
        k = key[order]
        new[1:] |= k[1:] != k[:-1]
    group = np.empty(heads.size, np.int64)
    group[order] = np.cumsum(new) - 1  # distinct value of each head, in sorted order
    first_head = order[new]  # each distinct value's first head (lexsort is stable)
    by_first = np.argsort(first_head)
    rank = np.empty(by_first.size, np.int64)
    rank[by_first] = np.arange(by_first.size)
    distinct = lines.fields(index[heads[first_head[by_first]]])
    return distinct, rank[group][run]


def _codes_of(tokens: list[bytes]) -> tuple[list[bytes], np.ndarray]:
    """Distinct tokens (in first-seen order) and the code of each."""
    distinct = dict.fromkeys(tokens)
    index = {t: i for i, t in enumerate(distinct)}
    return list(distinct), np.fromiter(map(index.__getitem__, tokens), np.int64, len(tokens))
