"""Fuel-card cryptography of DOMAIN.md 1: the bench's virtual card and PSAM compute
with it, and the station verifies the cards' TACs with it.

The terminal's firmware never holds a key: on a real pump these functions live on the
card and in the PSAM, and at the station with the issuer's keys. 3DES keys are 16 bytes
(two-key), the MAC is single-DES CBC-MAC, IV 0, ISO 9797-1 padding method 2, left 4 bytes.
docs/card.md lists what each MAC covers.
"""
from Crypto.Cipher import DES, DES3

FF8 = b"\xff" * 8


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def des3(key16, block8):
    return DES3.new(key16, DES3.MODE_ECB).encrypt(block8)


def diversify(key16, data8):
    """Child key = 3DES_K(data) || 3DES_K(data xor FF..FF)."""
    return des3(key16, data8) + des3(key16, xor(data8, FF8))


def card_key(master16, issuer8, asn8):
    """A card's key from the issuer's master key: diversified by issuer, then by card."""
    return diversify(diversify(master16, issuer8), asn8)


def session_key(card_key16, card_random4, ctc2, ttc_low2):
    return des3(card_key16, card_random4 + ctc2 + ttc_low2)


def single(key16):
    """The single-DES key of a 16-byte key (left xor right), as PBOC's TAC uses."""
    return xor(key16[:8], key16[8:])


def pad(data):
    data = data + b"\x80"
    return data + bytes(-len(data) % 8)


def cbc_mac(key8, padded):
    """The last block of DES-CBC over already padded data, IV 0 (ISO 9797-1 alg. 1)."""
    return DES.new(key8, DES.MODE_CBC, iv=bytes(8)).encrypt(padded)[-8:]


def mac(key8, data):
    """DES CBC-MAC, IV 0, ISO 9797-1 padding 2, first 4 bytes."""
    return cbc_mac(key8, pad(data))[:4]
