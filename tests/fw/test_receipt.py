from pumpside import receipt
from pumpside import record as rec


def _bill():
    bill = rec.new_bill()
    bill.update({"sale": 42, "nozzle": 3, "grade": "92", "price": 7211, "ml": 20000,
                 "amount": 14422, "balance": 5578,
                 "asn": bytes.fromhex("6200000000000017") + b"\0\0",
                 "psam_ttc": 77, "tac": bytes.fromhex("1a2b3c4d")})
    return bill


DT = bytes.fromhex("20261123153000")


def test_receipt_text_has_what_the_customer_and_auditor_need():
    text = receipt.lines(_bill(), "Station 7", DT, list_price=7590, points=144)
    body = "\n".join(text)
    for want in ("Station 7", "Pump/Nozzle", "92", "20.00 L", "7.211/L", "144.22", "55.78",
                 "TTC", "77", "1A2B3C4D", "2026-11-23 15:30:00", "Discount", "7.58", "144"):
        assert want in body, want
    assert all(len(line) <= receipt.WIDTH for line in text[3:])


def test_card_number_masked():
    assert receipt.mask(bytes.fromhex("6200000000000017")) == "6200********0017"
    body = "\n".join(receipt.lines(_bill(), "S", DT))
    assert "620000000000001700" not in body and "6200********0017" in body


def test_no_discount_line_without_a_discount():
    body = "\n".join(receipt.lines(_bill(), "S", DT, list_price=7211))
    assert "Discount" not in body


def test_escpos_bytes():
    data = receipt.escpos(["Station", "RECEIPT", "", "x"])
    assert data.startswith(b"\x1b@") and receipt.UTF8_MODE in data
    assert data.endswith(receipt.FEED_CUT) and b"Station\n" in data
    assert "加油".encode() in receipt.escpos(["加油"])
