"""The station's card desk (station/carddesk.py, cardbook.py) with the bench's virtual
issuing reader: issue and personalise a blank card, load it (圈存) with every cut point
recovered, report lost, unblock, replace, reset a PIN, look a card up; roles and audit."""
import json
import sqlite3

import pytest
from cardbench import (
    ADMIN,
    AUDITOR,
    CASHIER,
    HOLDER,
    ISSUER,
    MANAGER,
    PIN,
    T0,
    Pump,
    blank,
    masters,
    station,
)

from pumpside_host.bench.cards import T_LOAD
from pumpside_host.station.accounts import KeyFileError, load_master_keys
from pumpside_host.station.carddesk import DeskError
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.service import CARD_MUTATORS, Actor, Refused, Service

INIT_LOAD, CREDIT_LOAD, UPDATE_BINARY, WRITE_KEY = 0x50, 0x52, 0xD6, 0xD4
SECRETS = [k.hex() for k in masters()[ISSUER.issuer_id].values()]


@pytest.fixture
def desk(tmp_path):
    ledger, service = station(tmp_path / "station.db")
    yield ledger, service
    ledger.close()


def _issue(service, kind="registered", actor=CASHIER, **holder):
    card, reader = blank()
    asn = service.card_issue(actor, reader, kind, PIN, now=T0,
                             **(holder if kind == "anonymous" else dict(HOLDER, **holder)))
    return asn, card, reader


def _loaded(service, amount=5000):
    asn, card, reader = _issue(service)
    service.card_fund(CASHIER, asn, amount, now=T0)
    service.card_load(CASHIER, reader, PIN, now=T0 + 10)
    return asn, card, reader


def _dump(ledger):
    """Everything the store holds that a refused call could have changed."""
    return {table: ledger.db.execute("SELECT * FROM %s ORDER BY 1" % table).fetchall()
            for table in ("card_registry", "card_loads", "card_transfers", "audit",
                          "hotlist")}


def _nothing_secret(ledger, caplog=None):
    text = json.dumps(_dump(ledger)) + (caplog.text if caplog else "")
    for secret in SECRETS + [PIN, HOLDER["id_number"]]:
        assert secret not in text.lower(), "a secret in the store or the log"


# -- issue -----------------------------------------------------------------------------------
def test_a_registered_card_is_personalised_and_its_account_made_after_it_verifies(desk,
                                                                                  caplog):
    ledger, service = desk
    asn, card, reader = _issue(service)
    assert asn == "6200000000000001" and card.s["asn"] == asn
    # the card got its own diversified keys, the PIN, three files (EF15 last)
    assert card.s["keys"]["load"] == ISSUER.load_key(bytes.fromhex(asn)).hex()
    assert card.s["pin"] == PIN and set(card.s["files"]) == {"95", "96", "9c"}
    assert reader.sent.index(UPDATE_BINARY) > max(
        i for i, ins in enumerate(reader.sent) if ins == WRITE_KEY)
    # the firmware reads it as any card
    from pumpside.card.fuelcard import FuelCard
    fuel = FuelCard(reader)
    fuel.select()
    assert fuel.issuer()["asn"].hex() == asn and fuel.issuer()["status"] == 1
    assert fuel.holder()["name"] == b"Li Lei" and fuel.holder()["card_type"] == 1
    account = service.card(AUDITOR, asn)
    assert account["card"]["id_number"] == "****1234" and account["card"]["kind"] == \
        "registered" and account["balance"] == 0 and account["flags"] == []
    record = service.audit(ADMIN)[-1]
    assert (record["action"], record["target"], record["who"]) == (
        "card-issue", "6200********0001", "cas")
    _nothing_secret(ledger, caplog)


def test_an_anonymous_card_has_no_holder_and_cannot_be_lost_replaced_or_re_pinned(desk):
    ledger, service = desk
    asn, card, reader = _issue(service, "anonymous")
    assert service.card(AUDITOR, asn)["card"]["name"] == ""
    for call in (lambda: service.card_lost(CASHIER, asn),
                 lambda: service.card_unblock(MANAGER, asn, "1234"),
                 lambda: service.card_replace(MANAGER, blank()[1], asn, PIN, "1234"),
                 lambda: service.card_pin_reset(MANAGER, reader, "", "9999")):
        with pytest.raises(DeskError, match="anonymous: nobody can prove it is theirs"):
            call()
    assert not ledger.listed(asn)
    # stored value all the same
    service.card_fund(CASHIER, asn, 300)
    assert service.card_load(CASHIER, reader, PIN) == [1] and card.s["balance"] == 300


@pytest.mark.parametrize("kind, holder, why", [
    ("registered", {"name": ""}, "holder's name"),
    ("registered", {"id_number": "12"}, "ID number"),
    ("registered", {"phone": "call me"}, "phone number"),
    ("anonymous", {"name": "Han Meimei"}, "anonymous card has no holder"),
    ("gold", {}, "registered or anonymous"),
])
def test_bad_holder_data_is_refused_and_nothing_written(desk, kind, holder, why):
    ledger, service = desk
    card, reader = blank()
    args = dict(HOLDER, **holder) if kind != "anonymous" else holder
    with pytest.raises(DeskError, match=why):
        service.card_issue(CASHIER, reader, kind, PIN, **args)
    assert reader.sent == [] and service.cards(AUDITOR) == []


def test_a_bad_pin_and_missing_master_keys_are_refused(desk, tmp_path):
    ledger, service = desk
    card, reader = blank()
    with pytest.raises(DeskError, match="PIN is 4 to 6 digits"):
        service.card_issue(CASHIER, reader, "registered", "12ab", **HOLDER)
    ledger.cards.set_masters({ISSUER.issuer_id: dict(masters()[ISSUER.issuer_id],
                                                     load=None)})
    with pytest.raises(DeskError, match="load_key"):
        service.card_issue(CASHIER, reader, "registered", PIN, **HOLDER)
    assert service.cards(AUDITOR) == [] and card.s["files"] == {}


def test_an_issued_card_is_told_apart_from_a_blank_one(desk):
    ledger, service = desk
    asn, card, reader = _issue(service)
    with pytest.raises(DeskError, match="already issued: 6200\\*\\*\\*\\*\\*\\*\\*\\*0001"):
        service.card_issue(CASHIER, reader, "registered", PIN, **HOLDER)
    assert service.cards(AUDITOR) == [asn]


@pytest.mark.parametrize("fault", [
    ("fail", WRITE_KEY), ("fail", UPDATE_BINARY), ("cut", WRITE_KEY),
    ("cut", UPDATE_BINARY), ("cut", INIT_LOAD),  # the last: after EF15, at the check
])
def test_a_failed_write_leaves_no_card_on_record_and_the_card_can_be_issued_again(desk,
                                                                                  fault):
    ledger, service = desk
    card, reader = blank()
    if fault[0] == "fail":
        reader.fail(fault[1], 0x6581)  # memory failure
    else:
        reader.cut(fault[1])
    with pytest.raises(DeskError, match="not issued .*nothing is on record"):
        service.card_issue(CASHIER, reader, "registered", PIN, **HOLDER, now=T0)
    assert service.cards(AUDITOR) == [] and ledger.db.execute(
        "SELECT COUNT(*) FROM audit WHERE action = 'card-issue'").fetchone()[0] == 0
    reader.insert(card)
    asn = service.card_issue(CASHIER, reader, "registered", PIN, **HOLDER, now=T0)
    # a card cut after EF15 keeps its number; else the failed number is never given again
    assert asn == ("6200000000000001" if fault[1] == INIT_LOAD else "6200000000000002")
    assert service.cards(AUDITOR) == [asn] and card.s["asn"] == asn


def test_the_key_file_takes_load_and_purchase_keys_and_never_shows_one(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"issuers": [ISSUER.key_file_entry()]}))
    assert load_master_keys(str(path)) == masters()
    entry = dict(ISSUER.key_file_entry(), load_key="00" * 16)  # degenerates to DES
    path.write_text(json.dumps({"issuers": [entry]}))
    with pytest.raises(KeyFileError) as e:
        load_master_keys(str(path))
    assert "entry 0" in str(e.value) and not any(s in str(e.value).lower() for s in SECRETS)


# -- load ------------------------------------------------------------------------------------
def test_cash_at_the_desk_then_the_load_with_mac1_mac2_and_the_tac_recorded(desk):
    ledger, service = desk
    asn, card, reader = _loaded(service, 5000)
    assert card.s["balance"] == 5000 and card.s["load_ctc"] == 1
    assert card.s["log"][0]["type"] == T_LOAD and card.s["log"][0]["amount"] == 5000
    account = service.card(AUDITOR, asn)
    (load,) = account["loads"]
    assert (load["state"], load["how"], load["counter"], load["before"]) == (
        "done", "loaded", 0, 0) and len(load["tac"]) == 8
    assert account["balance"] == account["card_balance"] == 5000 and account["waiting"] == 0
    assert [r["action"] for r in service.audit(ADMIN)][-2:] == ["card-fund", "card-load"]


def test_a_load_without_money_waiting_or_with_a_wrong_pin_loads_nothing(desk):
    ledger, service = desk
    asn, card, reader = _issue(service)
    assert service.card_load(CASHIER, reader, PIN) == []
    service.card_fund(CASHIER, asn, 700)
    with pytest.raises(DeskError, match="wrong PIN, 2 tries left"):
        service.card_load(CASHIER, reader, "9999")
    assert card.s["balance"] == 0 and service.card(AUDITOR, asn)["waiting"] == 700
    with pytest.raises(ValueError, match="above 0"):
        service.card_fund(CASHIER, asn, 0)


def test_the_card_of_another_key_set_fails_mac1_and_nothing_is_loaded(desk):
    ledger, service = desk
    asn, card, reader = _issue(service)
    service.card_fund(CASHIER, asn, 700)
    card.s["keys"]["load"] = "11" * 8 + "22" * 8
    card._keys()
    with pytest.raises(DeskError, match="MAC1 does not verify"):
        service.card_load(CASHIER, reader, PIN)
    assert card.s["balance"] == 0 and service.card(AUDITOR, asn)["loads"][0]["state"] == \
        "pending"


@pytest.mark.parametrize("ins, executed, found", [
    (INIT_LOAD, False, None),  # pulled as INITIALIZE was sent: nothing happened
    (INIT_LOAD, True, None),  # pulled after INITIALIZE, its answer lost: nothing recorded
    (CREDIT_LOAD, False, "waiting again"),  # pulled after INITIALIZE was recorded
    (CREDIT_LOAD, True, "recovered from the card's log"),  # credited, its TAC lost
])
def test_a_load_cut_at_each_step_is_finished_once_at_the_next_insertion(desk, ins,
                                                                       executed, found):
    ledger, service = desk
    asn, card, reader = _issue(service)
    service.card_fund(CASHIER, asn, 5000, now=T0)
    reader.cut(ins, executed)
    with pytest.raises(DeskError):
        service.card_load(CASHIER, reader, PIN, now=T0 + 10)
    assert service.card(AUDITOR, asn)["waiting"] == 5000  # the money is not lost
    reader.insert(card)
    assert service.card_load(CASHIER, reader, PIN, now=T0 + 20) == [1]
    assert card.s["balance"] == 5000 and card.s["load_ctc"] == 1  # loaded once
    account = service.card(AUDITOR, asn)
    assert account["balance"] == 5000 and account["waiting"] == 0 and account["flags"] == []
    actions = [r["action"] for r in service.audit(ADMIN)]
    if found == "waiting again":
        assert "card-load-retry" in actions
    elif found:
        assert account["loads"][0]["how"] == found + ", TAC recomputed"


def test_a_station_stopped_between_credit_and_its_record_finds_the_load_on_restart(
        desk, tmp_path, monkeypatch):
    ledger, service = desk
    asn, card, reader = _issue(service)
    service.card_fund(CASHIER, asn, 4200, now=T0)

    class PowerCut(BaseException):
        pass

    def cut(*args, **kw):
        raise PowerCut()
    monkeypatch.setattr(service.desk, "finish_load", cut)
    with pytest.raises(PowerCut):
        service.card_load(CASHIER, reader, PIN, now=T0 + 10)
    assert card.s["balance"] == 4200
    ledger.close()
    ledger = Ledger(str(tmp_path / "station.db"))  # the station again, from its file
    ledger.cards.set_masters(masters())
    service = Service(ledger)
    assert service.card(AUDITOR, asn)["flags"] == [
        "a load was cut: insert the card at the desk to finish it"]
    tac = card.s.get("log")[0]
    card.s["log"].clear()  # and the card's log rolled over: its online counter tells
    reader.insert(card)
    assert service.card_load(CASHIER, reader, PIN, now=T0 + 20) == [1]
    account = service.card(AUDITOR, asn)
    assert card.s["balance"] == account["balance"] == 4200 and account["waiting"] == 0
    assert account["loads"][0]["how"] == \
        "recovered from the card's online counter, TAC recomputed"
    assert tac["amount"] == 4200 and len(account["loads"][0]["tac"]) == 8
    ledger.close()


def test_an_online_top_up_is_a_managers_and_waits_for_the_card(desk):
    ledger, service = desk
    asn, card, reader = _issue(service)
    with pytest.raises(Refused, match="cas \\(cashier\\) may not unblock"):
        service.card_fund(CASHIER, asn, 1000, "online")
    service.card_fund(MANAGER, asn, 1000, "online")
    service.card_fund(CASHIER, asn, 500)
    assert service.card_load(CASHIER, reader, PIN) == [1, 2] and card.s["balance"] == 1500


# -- lost, unblock, replace, PIN -------------------------------------------------------------
def test_lost_is_hotlisted_unblock_takes_it_off_with_the_holders_id(desk):
    ledger, service = desk
    asn, card, reader = _loaded(service)
    version = service.card_lost(CASHIER, asn)
    assert ledger.listed(asn) and ledger.hotlist_version() == version
    # what the next heartbeat sends every pump holding version 0
    to, add, remove = ledger.hotlist_delta(0, 100)
    assert (to, add, remove) == (version, [asn], [])
    with pytest.raises(DeskError, match="already reported lost"):
        service.card_lost(CASHIER, asn)
    with pytest.raises(DeskError, match="reported lost: unblock it first"):
        service.card_fund(CASHIER, asn, 100)
    with pytest.raises(Refused):
        service.card_unblock(CASHIER, asn, "1234")
    with pytest.raises(DeskError, match="identity check failed"):
        service.card_unblock(MANAGER, asn, "9999")
    service.card_unblock(MANAGER, asn, "1234")
    assert not ledger.listed(asn) and service.card(AUDITOR, asn)["card"]["status"] == "active"
    assert [r["action"] for r in service.audit(ADMIN)][-2:] == ["card-lost", "card-unblock"]


def test_replace_waits_for_offline_bills_then_carries_the_proven_balance(desk):
    ledger, service = desk
    asn, card, reader = _loaded(service, 5000)
    pump = Pump(ledger)
    pump.sell(card, 1200, T0 + 100)
    late = pump.sell(card, 300, T0 + 200, upload=False)  # still offline at the pump
    service.card_lost(CASHIER, asn, now=T0 + 1000)
    new_card, new_reader = blank()
    with pytest.raises(DeskError, match="replace it after 172800 s"):
        service.card_replace(MANAGER, new_reader, asn, "4321", "1234", now=T0 + 2000)
    assert new_reader.sent == []
    ledger.store("P1", [late])  # the offline bill arrives within the waiting time
    service.card_setting(MANAGER, "replace_wait_s", 3600)
    new, amount, loaded = service.card_replace(MANAGER, new_reader, asn, "4321", "1234",
                                               now=T0 + 5000)
    assert (amount, loaded) == (5000 - 1200 - 300, True)
    assert new_card.s["balance"] == 3500 and new_card.s["asn"] == new != asn
    old, fresh = service.card(AUDITOR, asn), service.card(AUDITOR, new)
    assert old["card"]["status"] == "closed" and old["card"]["replaced_by"] == new
    assert old["balance"] == 0 and old["transfers"][0]["amount"] == 3500
    assert fresh["card"]["replaces"] == asn and fresh["card"]["name"] == "Li Lei"
    assert fresh["balance"] == fresh["card_balance"] == 3500 and fresh["flags"] == []
    assert ledger.listed(asn) and not ledger.listed(new)
    with pytest.raises(DeskError, match="closed"):
        service.card_lost(CASHIER, asn)


def test_replace_moves_the_money_still_waiting_to_the_new_card(desk):
    ledger, service = desk
    asn, card, reader = _loaded(service, 1000)
    service.card_fund(MANAGER, asn, 700, "online")  # topped up online, never on the card
    service.card_fund(CASHIER, asn, 50)
    reader.cut(CREDIT_LOAD, False)
    with pytest.raises(DeskError, match="cut"):  # and one load cut on the card lost next
        service.card_load(CASHIER, reader, PIN)
    service.card_lost(CASHIER, asn, now=T0)
    new_card, new_reader = blank()
    new, amount, loaded = service.card_replace(MANAGER, new_reader, asn, PIN, "1234",
                                               now=T0 + 10 ** 6)
    assert (amount, loaded, new_card.s["balance"]) == (1750, True, 1750)
    assert service.card(AUDITOR, asn)["waiting"] == 0
    assert service.card(AUDITOR, new)["balance"] == 1750


def test_a_load_cut_on_a_card_replaced_while_grey_is_on_it_when_its_escape_says_so(desk):
    """The card took a cut load's CREDIT (its reply lost), then fuelled beyond what the
    station knew it held and was pulled (ESCAPE), then lost: the ESCAPE carries the
    balance the card had at its grey lock, so the load is on the lost card, spent on the
    escape's fuel, and the replacement carries what is left, not the load again."""
    ledger, service = desk
    asn, card, reader = _loaded(service, 1000)
    service.card_fund(CASHIER, asn, 500, now=T0 + 20)
    reader.cut(CREDIT_LOAD, True)
    with pytest.raises(DeskError, match="cut"):
        service.card_load(CASHIER, reader, PIN, now=T0 + 30)
    assert card.s["balance"] == 1500
    Pump(ledger).escape(card, 1200, T0 + 100)
    assert service.card(AUDITOR, asn)["card_balance"] == 1500  # at its grey lock
    service.card_lost(CASHIER, asn, now=T0 + 200)
    new_card, new_reader = blank()
    new, amount, loaded = service.card_replace(MANAGER, new_reader, asn, PIN, "1234",
                                               now=T0 + 10 ** 6)
    assert (amount, loaded, new_card.s["balance"]) == (300, True, 300)
    old = service.card(AUDITOR, asn)
    assert [load["state"] for load in old["loads"]] == ["done", "done"]
    assert (old["waiting"], old["balance"]) == (0, 1200)  # what its open escape owes
    assert old["escapes"][0]["amount"] == 1200 and not old["escapes"][0]["settled"]
    assert service.card(AUDITOR, new)["balance"] == 300
def test_two_bills_in_one_second_the_cards_counter_tells_which_is_last(desk):
    """A grey card's 补扣 (UNLOCK) and the sale after it in the same second: the card's
    balance the station last heard is the sale's, not the UNLOCK's (no false flag)."""
    ledger, service = desk
    asn, card, reader = _loaded(service, 5000)
    pump = Pump(ledger)
    escape = pump.escape(card, 300, T0 + 100, upload=False)
    unlock = pump.settle(card, T0 + 200, upload=False)
    sale = pump.sell(card, 700, T0 + 200, upload=False)
    ledger.store("P1", [escape, unlock, sale])
    account = service.card(AUDITOR, asn)
    assert account["balance"] == account["card_balance"] == card.s["balance"] == 4000
    assert account["flags"] == []


def test_replace_carries_the_loyalty_points_and_a_pending_voucher_to_the_new_card(desk):
    ledger, service = desk
    service.set_loyalty_rule(MANAGER, "grade", "*", 100)  # a point a minor unit
    reward = service.add_reward(MANAGER, "0.50 off", "amount", 50, 300)
    asn, card, reader = _loaded(service, 5000)
    pump = Pump(ledger)
    pump.sell(card, 1000, T0 + 100)  # 1000 points
    service.redeem(CASHIER, asn, reward, "r1", now=T0 + 200)  # a voucher, 700 left
    voucher = ledger.loyalty.voucher_for(asn)
    service.card_lost(CASHIER, asn, now=T0 + 300)
    new_card, new_reader = blank()
    new, _amount, on_card = service.card_replace(MANAGER, new_reader, asn, PIN, "1234",
                                                 now=T0 + 10 ** 6)
    assert on_card
    old, fresh = service.card(AUDITOR, asn), service.card(AUDITOR, new)
    assert old["points"] == {"earned": 1000, "redeemed": 300, "reversed": 0,
                             "carried": -700, "balance": 0}
    assert fresh["points"] == {"earned": 0, "redeemed": 0, "reversed": 0, "carried": 700,
                               "balance": 700}
    assert old["voucher"] is None and fresh["voucher"] == voucher
    assert [(r["kind"], r["points"]) for r in ledger.loyalty.journal(new)] == [("carried",
                                                                                 700)]
    assert "700 loyalty points, 1 vouchers" in service.audit(ADMIN)[-2]["new"]
    assert asn not in json.dumps(service.audit(ADMIN))  # masked
    # the voucher comes off the new card's next fill
    pump.sell_with_voucher(new_card, 1000 - 50, ledger.loyalty.vouchers(new)[0]["id"],
                           T0 + 10 ** 6 + 100)
    assert ledger.loyalty.voucher_for(new) is None
    assert ledger.loyalty.balance(new) == 700 + 950


def test_replace_needs_a_lost_card_and_the_holders_id(desk):
    ledger, service = desk
    asn, card, reader = _loaded(service)
    with pytest.raises(DeskError, match="report card .* lost first"):
        service.card_replace(MANAGER, blank()[1], asn, PIN, "1234")
    service.card_lost(CASHIER, asn, now=T0)
    with pytest.raises(DeskError, match="identity check failed"):
        service.card_replace(MANAGER, blank()[1], asn, PIN, "0000", now=T0 + 10 ** 6)


def test_a_replacement_whose_load_is_cut_keeps_the_money_waiting_on_the_new_card(desk):
    ledger, service = desk
    asn, card, reader = _loaded(service, 800)
    service.card_lost(CASHIER, asn, now=T0)
    new_card, new_reader = blank()
    new_reader.cut(CREDIT_LOAD, False)
    new, amount, loaded = service.card_replace(MANAGER, new_reader, asn, PIN, "1234",
                                               now=T0 + 10 ** 6)
    assert (amount, loaded, new_card.s["balance"]) == (800, False, 0)
    new_reader.insert(new_card)
    assert service.card_load(CASHIER, new_reader, PIN) == [2]
    assert new_card.s["balance"] == 800 == service.card(AUDITOR, new)["balance"]


def test_pin_reset_after_the_identity_check_never_shows_the_pin(desk, caplog):
    ledger, service = desk
    asn, card, reader = _loaded(service)
    with pytest.raises(DeskError, match="identity check failed"):
        service.card_pin_reset(MANAGER, reader, "0000", "8642")
    with pytest.raises(Refused):
        service.card_pin_reset(CASHIER, reader, "1234", "8642")
    service.card_pin_reset(MANAGER, reader, "1234", "8642")
    assert card.s["pin"] == "8642"
    record = service.audit(ADMIN)[-1]
    assert (record["action"], record["old"], record["new"]) == ("card-pin-reset", "(set)",
                                                               "(set)")
    assert "8642" not in json.dumps(service.audit(ADMIN))
    service.card_fund(CASHIER, asn, 100)
    assert service.card_load(CASHIER, reader, "8642") == [2]
    _nothing_secret(ledger, caplog)


# -- query, roles ----------------------------------------------------------------------------
def test_the_query_flags_the_card_and_its_bills_disagreeing(desk):
    ledger, service = desk
    asn, card, reader = _loaded(service, 5000)
    Pump(ledger).sell(card, 1000, T0 + 100)
    Pump(ledger, "P1").sell(card, 500, T0 + 200, upload=False)
    account = service.card(AUDITOR, asn, reader)
    assert (account["balance"], account["card_balance"]) == (4000, 3500)
    assert account["flags"] == ["the card says 3500, its bills 4000: bills may still be "
                                "offline at a pump"]
    assert [s["amount"] for s in account["sales"]] == [1000]
    with pytest.raises(DeskError, match="no card 6200\\*\\*\\*\\*\\*\\*\\*\\*0099"):
        service.card(AUDITOR, "6200000000000099")


def test_the_cards_last_word_is_its_newest_debit_by_its_counter_not_the_pumps_clocks(desk):
    """What the card last told the station is its bill of the highest CTC: an escape
    settled at the next insertion and the fill right after it in the same second, or
    after the pump's clock was set back, leave the fill's balance, not the UNLOCK's."""
    ledger, service = desk
    asn, card, reader = _loaded(service, 5000)
    pump = Pump(ledger)
    pump.escape(card, 300, T0 + 100)
    assert pump.settle(card, T0 + 200)["balance"] == 4700
    pump.sell(card, 1000, T0 + 200)  # the same second as the UNLOCK
    account = service.card(AUDITOR, asn)
    assert (account["balance"], account["card_balance"], account["flags"]) == (3700, 3700,
                                                                               [])
    pump.escape(card, 200, T0 + 300)
    pump.settle(card, T0 + 400)
    pump.sell(card, 500, T0 + 390)  # the pump's clock set back 10 s in between
    account = service.card(AUDITOR, asn)
    assert (account["balance"], account["card_balance"], account["flags"]) == (3000, 3000,
                                                                               [])
    assert card.s["balance"] == 3000

CALLS = {
    "card_issue": lambda s, a, r, asn: s.card_issue(a, blank()[1], "anonymous", PIN),
    "card_fund": lambda s, a, r, asn: s.card_fund(a, asn, 100),
    "card_load": lambda s, a, r, asn: s.card_load(a, r, PIN),
    "card_lost": lambda s, a, r, asn: s.card_lost(a, asn),
    "card_unblock": lambda s, a, r, asn: (s.card_lost(ADMIN, asn),
                                          s.card_unblock(a, asn, "1234")),
    "card_replace": lambda s, a, r, asn: (s.card_lost(ADMIN, asn, now=T0),
                                          s.card_replace(a, blank()[1], asn, PIN, "1234")),
    "card_pin_reset": lambda s, a, r, asn: s.card_pin_reset(a, r, "1234", "1357"),
    "card_setting": lambda s, a, r, asn: s.card_setting(a, "replace_wait_s", 60),
}
ALLOWED = {"administrator": set(CALLS), "manager": set(CALLS),
           "cashier": {"card_issue", "card_fund", "card_load", "card_lost"}, "auditor": set()}


def test_the_table_names_every_card_desk_call():
    assert set(CALLS) == set(CARD_MUTATORS)


@pytest.mark.parametrize("role", sorted(ALLOWED))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_every_role_against_every_card_desk_call(desk, role, call):
    ledger, service = desk
    asn, card, reader = _issue(service, actor=ADMIN)
    service.card_fund(ADMIN, asn, 100)
    before = _dump(ledger)
    actor = Actor("someone", role)
    if call in ALLOWED[role]:
        CALLS[call](service, actor, reader, asn)
        assert service.audit(ADMIN)[-1]["who"] in ("someone", "ann")
        assert any(r["who"] == "someone" for r in service.audit(ADMIN))
    else:
        with pytest.raises(Refused, match="someone \\(%s\\) may not" % role):
            CALLS[call](service, actor, reader, asn)
        after = _dump(ledger)
        # a refused call changed nothing (the preparing lost report aside)
        assert after["card_loads"] == before["card_loads"]
        assert after["card_transfers"] == before["card_transfers"] and \
            [r for r in after["audit"] if r[2] == "someone"] == []


def test_a_store_of_schema_7_gains_the_card_desk(tmp_path):
    path = str(tmp_path / "old.db")
    ledger = Ledger(path)
    ledger.close()
    db = sqlite3.connect(path)
    for table in ("card_registry", "card_loads", "card_transfers", "card_settings"):
        db.execute("DROP TABLE %s" % table)
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    ledger = Ledger(path)
    assert ledger.schema_version() >= 8  # step 8 and any later step
    assert Service(ledger).cards(AUDITOR) == []
    ledger.close()
