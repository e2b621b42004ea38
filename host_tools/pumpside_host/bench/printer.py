"""The bench's receipt printer: ESC/POS bytes back to text, as the paper would show it.

Understands what a receipt printer receives from the firmware (receipt.py): ESC @ init,
FS ( C (character encoding: UTF-8), ESC a (alignment), ESC E (bold), ESC d (feed),
GS V (cut). Text is UTF-8. A cut ends one receipt.
"""

ESC, FS, GS = 0x1B, 0x1C, 0x1D


def receipts(data):
    """The text of each receipt in `data` (a list of str, one per cut; an uncut tail
    counts as a receipt still being printed)."""
    out = []
    text = bytearray()
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b == ESC and i + 1 < n:
            cmd = data[i + 1]
            if cmd == 0x40:  # ESC @
                i += 2
            elif cmd == 0x64 and i + 2 < n:  # ESC d n: feed n lines
                text += b"\n" * data[i + 2]
                i += 3
            else:  # ESC a n, ESC E n, and other one-argument commands
                i += 3
        elif b == FS and i + 4 < n and data[i + 1] == 0x28:  # FS ( fn pL pH ...
            i += 5 + data[i + 3] + 256 * data[i + 4]
        elif b == GS and i + 1 < n and data[i + 1] == 0x56:  # GS V m [n]: cut
            i += 4 if i + 2 < n and data[i + 2] in (0x41, 0x42, 65, 66) else 3
            out.append(text.decode("utf-8", "replace").rstrip("\n"))
            text = bytearray()
        else:
            text.append(b)
            i += 1
    if text.strip():
        out.append(text.decode("utf-8", "replace").rstrip("\n"))
    return out
