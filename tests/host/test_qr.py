"""pumpside.qr against python-qrcode (the reference encoder) module for module, and
decoded with zbar as a phone would; the pay code's URL on the SSD1306's pixels is in
tests/mpy/test_qr_mpy.py (framebuf is MicroPython's) and tests/e2e/test_paycode_e2e.py."""
import qrcode
import qrcode.util
import qrscan
from hypothesis import given
from hypothesis import strategies as st

from pumpside import qr

_LEVELS = {qr.L: qrcode.constants.ERROR_CORRECT_L, qr.M: qrcode.constants.ERROR_CORRECT_M}


def reference(data, version, ecc, mask):
    ref = qrcode.QRCode(version=version, error_correction=_LEVELS[ecc], border=0,
                        mask_pattern=mask)
    ref.add_data(qrcode.util.QRData(data, mode=qrcode.util.MODE_8BIT_BYTE))
    ref.make(fit=False)
    return bytes(int(b) for row in ref.get_matrix() for b in row)


payloads = st.binary(max_size=134)  # version 6 at level L holds 134 bytes


@given(payloads, st.sampled_from((qr.L, qr.M)), st.integers(0, 7), st.integers(0, 6))
def test_every_module_is_the_reference_encoders(data, ecc, mask, min_version):
    if len(data) > qr.capacity(6, ecc):
        assert isinstance(qr_error(data, ecc), ValueError)
        return
    size, matrix = qr.encode(data, ecc, mask, min_version)
    version = (size - 17) // 4
    assert version >= min_version
    # the smallest version that holds the data at or above min_version
    assert qr.capacity(version, ecc) >= len(data)
    assert version == max(min_version, 1) or qr.capacity(version - 1, ecc) < len(data)
    assert bytes(matrix) == reference(data, version, ecc, mask)


def qr_error(data, ecc):
    try:
        qr.encode(data, ecc)
    except ValueError as e:
        return e
    return None


def test_capacity_is_the_standards_byte_mode_table():
    # ISO/IEC 18004 table 7, byte mode, versions 1..6
    assert [qr.capacity(v, qr.L) for v in range(1, 7)] == [17, 32, 53, 78, 106, 134]
    assert [qr.capacity(v, qr.M) for v in range(1, 7)] == [14, 26, 42, 62, 84, 106]


def test_too_long_is_a_clear_error():
    e = qr_error(bytes(135), qr.L)
    assert str(e) == "QR data too long"
    assert isinstance(qr_error(bytes(107), qr.M), ValueError)
    assert qr_error(bytes(134), qr.L) is None


# zbar hands byte-mode data back as text, guessing its charset: ASCII (what a URL is) comes
# back as it went in
ascii_payloads = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=106)


@given(ascii_payloads, st.sampled_from((qr.L, qr.M)))
def test_zbar_reads_the_code_with_the_chosen_mask(text, ecc):
    data = text.encode()
    code = qr.encode(data, ecc)
    assert qrscan.decode(qrscan.matrix_rows(code), margin=4, light=0) == [data]


def test_the_mask_is_chosen_by_penalty_and_readable_on_every_version():
    # one payload per version; every mask the penalty rules may pick is a valid code
    for n in (17, 32, 53, 78, 106, 134):
        data = bytes(32 + (i * 37) % 95 for i in range(n))
        for mask in range(8):
            code = qr.encode(data, qr.L, mask)
            assert qrscan.decode(qrscan.matrix_rows(code), margin=4, light=0) == [data]
        auto = qr.encode(data)
        assert any(auto[1] == qr.encode(data, qr.L, mask)[1] for mask in range(8))
