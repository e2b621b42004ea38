"""QR codes (ISO/IEC 18004) for the idle screen's pay link: byte mode, versions 1 to 6,
error correction L or M, the mask chosen by the standard's penalty rules (or given).

`encode(data)` returns (size, matrix): matrix is a bytearray of size * size modules, row
by row, 1 = dark. Integers only; its working memory is the matrix, the codewords and
one line's scan (a version 6 code: 1,681 + 172 bytes). Written for this firmware (uQR,
a port of python-qrcode, keeps lists of booleans and runs out of heap on small boards).
Tested module for module against segno and decoded with zbar (tests/host/test_qr.py).
"""
from .compat import const

L = const(1)  # the format information's bits for the two levels
M = const(0)

# per version 1..6, level L then M: (error correction codewords per block, blocks); all
# blocks of these versions and levels are of one size
_EC = (7, 1, 10, 1, 10, 1, 16, 1, 15, 1, 26, 1, 20, 1, 18, 2, 26, 1, 24, 2, 18, 2, 16, 4)
_RAW = (26, 44, 70, 100, 134, 172)  # codewords of versions 1..6


def capacity(version, ecc=L):
    """Bytes of data a code of this version and level holds in byte mode."""
    k = (version - 1) * 4 + (2 if ecc == M else 0)
    return _RAW[version - 1] - _EC[k] * _EC[k + 1] - 2


def _mul(x, y):
    # GF(256) over the QR polynomial x^8 + x^4 + x^3 + x^2 + 1
    z = 0
    for i in range(7, -1, -1):
        z = (z << 1) ^ ((z >> 7) * 0x11D)
        z ^= ((y >> i) & 1) * x
    return z


def _ecc(data, n):
    """The Reed-Solomon remainder (n bytes) of the block `data`."""
    gen = bytearray(n)  # the generator polynomial's coefficients, highest first, x^n left out
    gen[n - 1] = 1
    root = 1
    for _ in range(n):
        for j in range(n):
            gen[j] = _mul(gen[j], root) ^ (gen[j + 1] if j + 1 < n else 0)
        root = _mul(root, 2)
    rem = bytearray(n)
    for b in data:
        f = b ^ rem[0]
        for j in range(n - 1):
            rem[j] = rem[j + 1]
        rem[n - 1] = 0
        for j in range(n):
            rem[j] ^= _mul(gen[j], f)
    return rem


def _codewords(data, version, ecc):
    k = (version - 1) * 4 + (2 if ecc == M else 0)
    nec, blocks = _EC[k], _EC[k + 1]
    raw = _RAW[version - 1]
    ndata = raw - nec * blocks
    buf = bytearray(ndata)
    n = len(data)
    # mode 0100 (byte), 8-bit count, the bytes; then the terminator's zeros, pad bytes
    buf[0] = 0x40 | n >> 4
    prev = n
    for i in range(n):
        buf[i + 1] = (prev & 15) << 4 | data[i] >> 4
        prev = data[i]
    buf[n + 1] = (prev & 15) << 4
    for i in range(n + 2, ndata):
        buf[i] = 0xEC if (i - n) & 1 == 0 else 0x11
    out = bytearray(raw)
    per = ndata // blocks
    for b in range(blocks):
        block = buf[b * per:(b + 1) * per]
        for i in range(per):
            out[i * blocks + b] = block[i]
        rem = _ecc(block, nec)
        for i in range(nec):
            out[ndata + i * blocks + b] = rem[i]
    return out


def _put(m, size, x, y, dark):
    m[y * size + x] = 2 | dark  # bit 1: a function module, never masked


def _format(m, size, ecc, mask):
    data = ecc << 3 | mask
    rem = data
    for _ in range(10):
        rem = (rem << 1) ^ ((rem >> 9) * 0x537)
    bits = (data << 10 | rem) ^ 0x5412
    for i in range(15):
        b = (bits >> i) & 1
        # first copy around the top-left finder, second split under and beside the others
        if i < 6:
            _put(m, size, 8, i, b)
        elif i < 8:
            _put(m, size, 8, i + 1, b)
        elif i == 8:
            _put(m, size, 7, 8, b)
        else:
            _put(m, size, 14 - i, 8, b)
        if i < 8:
            _put(m, size, size - 1 - i, 8, b)
        else:
            _put(m, size, 8, size - 15 + i, b)
    _put(m, size, 8, size - 8, 1)  # the dark module


def _patterns(m, size):
    for i in range(size):  # timing patterns
        _put(m, size, 6, i, 1 - i % 2)
        _put(m, size, i, 6, 1 - i % 2)
    for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):  # finders and their separators
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                x, y = cx + dx, cy + dy
                if 0 <= x < size and 0 <= y < size:
                    d = max(abs(dx), abs(dy))
                    _put(m, size, x, y, 0 if d == 2 or d == 4 else 1)
    if size > 21:  # versions 2..6: one alignment pattern
        c = size - 7
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                _put(m, size, c + dx, c + dy, 0 if max(abs(dx), abs(dy)) == 1 else 1)


def _place(m, size, words):
    i = 0
    end = len(words) * 8
    right = size - 1
    while right >= 1:
        if right == 6:  # the vertical timing pattern's column is skipped
            right = 5
        up = (right + 1) & 2 == 0
        for v in range(size):
            y = size - 1 - v if up else v
            for x in range(right, right - 2, -1):
                k = y * size + x
                if m[k] & 2 == 0 and i < end:
                    m[k] = (words[i >> 3] >> (7 - (i & 7))) & 1
                    i += 1
        right -= 2


def _apply(m, size, mask):
    for y in range(size):
        for x in range(size):
            k = y * size + x
            if m[k] & 2:
                continue
            if mask == 0:
                f = (x + y) % 2
            elif mask == 1:
                f = y % 2
            elif mask == 2:
                f = x % 3
            elif mask == 3:
                f = (x + y) % 3
            elif mask == 4:
                f = (x // 3 + y // 2) % 2
            elif mask == 5:
                f = x * y % 2 + x * y % 3
            elif mask == 6:
                f = (x * y % 2 + x * y % 3) % 2
            else:
                f = ((x + y) % 2 + x * y % 3) % 2
            if f == 0:
                m[k] ^= 1


def _penalty(m, size):
    score = 0
    dark = 0
    for line in range(2 * size):  # rows, then columns
        start = line * size if line < size else line - size
        step = 1 if line < size else size
        run = 0
        colour = -1
        win = 0  # the last 11 modules, light before the line (the quiet zone)
        for i in range(size + 4):
            c = m[start + i * step] & 1 if i < size else 0
            if i < size:
                dark += c
                if c == colour:
                    run += 1
                else:
                    if run >= 5:
                        score += run - 2
                    colour = c
                    run = 1
            win = (win << 1 | c) & 0x7FF
            # 1:1:3:1:1 with four light modules after it, or before it
            if win == 0x5D0 or (win == 0x05D and i >= 6):
                score += 40
        if run >= 5:
            score += run - 2
    for y in range(size - 1):
        for x in range(size - 1):
            k = y * size + x
            c = m[k] & 1
            if c == m[k + 1] & 1 and c == m[k + size] & 1 and c == m[k + size + 1] & 1:
                score += 3
    total = size * size
    dev = abs(dark * 20 - total * 10)  # |dark / total - 1/2| in 5 % steps, times total
    return score + (dev + total - 1) // total * 10 - 10 if dev else score


def encode(data, ecc=L, mask=-1, version=0):
    """(size, matrix) of the smallest code of at least `version` that holds `data`
    (bytes); ValueError when even version 6 cannot."""
    n = len(data)
    version = max(version, 1)
    while version <= 6 and capacity(version, ecc) < n:
        version += 1
    if version > 6:
        raise ValueError("QR data too long")
    size = 17 + 4 * version
    m = bytearray(size * size)
    _patterns(m, size)
    _format(m, size, ecc, 0)  # reserves the format areas
    _place(m, size, _codewords(data, version, ecc))
    if mask < 0:
        best = -1
        for k in range(8):
            _apply(m, size, k)
            _format(m, size, ecc, k)
            score = _penalty(m, size)
            if best < 0 or score < best:
                best, mask = score, k
            _apply(m, size, k)
    _apply(m, size, mask)
    _format(m, size, ecc, mask)
    for k in range(size * size):
        m[k] &= 1
    return size, m
