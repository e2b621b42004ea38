"""`make bench` prints every figure as `name: value unit`, nothing else."""
import io
import re

import pytest

from pumpside_host import benchmarks
from sourcetree import ROOT

LINE = re.compile(r"^[a-z0-9_]+: -?[0-9.]+ \S+$")


@pytest.mark.parametrize("name, value, unit, line", [
    ("record_bytes", 107, "B", "record_bytes: 107 B"),
    ("drain_vs_raw_ratio", "0.023", "ratio", "drain_vs_raw_ratio: 0.023 ratio"),
    ("delta", -3, "ms", "delta: -3 ms"),
])
def test_figure_prints_name_value_unit(name, value, unit, line):
    out = io.StringIO()
    benchmarks.figure(name, value, unit, out)
    assert out.getvalue() == line + "\n" and LINE.match(line)


@pytest.mark.parametrize("name, value, unit", [
    ("firmware_heap_free_after_boot", 97344, "B (of 192K)"),  # extra words after the unit
    ("hotlist_lookups_listed", 29, "of 200"),
    ("drain_sales", "16 count", "(16 in the ledger)"),
    ("Bad-Name", 1, "B"),
    ("no_unit", 1, ""),
    ("not_a_number", "n/a", "B"),
])
def test_figure_refuses_what_is_not_a_figure(name, value, unit):
    out = io.StringIO()
    with pytest.raises(ValueError):
        benchmarks.figure(name, value, unit, out)
    assert out.getvalue() == ""


def test_quick_bench_prints_only_figure_lines(capsys):
    """The real benchmarks, small (about 10 s): every line of stdout is a figure, the
    MicroPython scripts' lines included, and the issue's figures are all there."""
    assert benchmarks.main(quick=True) == 0
    lines = capsys.readouterr().out.splitlines()
    bad = [line for line in lines if not LINE.match(line)]
    assert not bad, bad
    names = {line.split(":")[0] for line in lines}
    for want in ("control_reaction_us_p50", "control_reaction_us_p99", "record_bytes",
                 "flash_bytes_programmed_per_sale", "flash_bytes_erased_per_sale",
                 "journal_commit_us_p50", "journal_commit_us_p99", "firmware_heap_size",
                 "hotlist_lookup_reads_worst", "hotlist_lookups", "drain_sales_in_ledger",
                 "drain_sales_per_s", "drain_vs_raw_ratio",
                 "firmware_heap_free_after_boot_drain_backlog", "link_heap_peak_bytes",
                 "station_ingest_sales_per_s", "station_ingest_sales",
                 "firmware_code_heap_bytes", "firmware_data_heap_peak_bytes",
                 "firmware_min_heapsize_kib", "flash_sales_of_life_esp32",
                 "flash_sales_of_life_pico_w", "flash_wear_spread_esp32",
                 "flash_wear_spread_pico_w", "web_forecourt_p99_ms", "web_sales_query_ms",
                 "report_month_ms", "report_year_ms", "report_ledger_sales"):
        assert want in names, want
    assert len(names) == len(lines), "a figure printed twice"
    # every sale crosses two stage thresholds (slow-down, close): one sample each, so the
    # full run's sales give the 200 samples a p99 needs
    samples = int([line for line in lines if line.startswith("control_reaction_samples:")][0]
                  .split()[1])
    assert samples == 2 * benchmarks.QUICK["reaction_sales"]
    assert 2 * benchmarks.FULL["reaction_sales"] >= 200


def test_quick_heap_figures_are_sane(capsys):
    """The heap scenario (benchmarks.firmware_heap) with the quick preset: a 16-sale backlog
    and 4 event-log records drained during one card sale. Its figures are there once each
    and hang together; their size is `make bench`'s to print, not this test's to judge."""
    preset = benchmarks.QUICK["heap"]
    benchmarks.firmware_heap(**preset)
    lines = capsys.readouterr().out.splitlines()
    assert all(LINE.match(line) for line in lines), lines
    got = {line.split(":")[0]: float(line.split()[1]) for line in lines}
    assert len(got) == len(lines), "a figure printed twice"
    code, mpy = got["firmware_code_heap_bytes"], got["firmware_code_mpy_bytes"]
    # every module the card sale with its link loads, none twice; loaded on a 64-bit port,
    # their bytecode and names take more heap than their .mpy files hold
    assert got["firmware_code_modules"] >= 30
    assert 0 < mpy < code < 1024 * preset["kib"][1]
    after_boot = got["firmware_data_heap_after_boot_bytes"]
    assert 0 < after_boot <= got["firmware_data_heap_peak_bytes"]
    assert got["firmware_heap_peak_total_bytes"] > code + after_boot
    low, high, step = preset["kib"]
    least = got["firmware_min_heapsize_kib"]
    assert least in range(low, high + 1, step)
    assert least * 1024 > got["firmware_heap_peak_total_bytes"]  # the live peak fits in it
    assert got["firmware_heap_backlog_sales"] == preset["backlog"]
    assert got["firmware_heap_samples"] > 0


def test_board_flash_blocks_are_the_boards_journal_partitions():
    """The flash life is figured on the boards' own partitions: the ESP32's `journal` row
    of the partition table in docs/boards.md, the Pico W's JOURNAL_BYTES."""
    blocks = dict(benchmarks.BOARD_FLASH_BLOCKS)
    docs = (ROOT / "docs" / "boards.md").read_text()
    row = re.search(r"^ *journal, +data, 0x40, +0x[0-9A-Fa-f]+, +(0x[0-9A-Fa-f]+),", docs, re.M)
    assert blocks["esp32"] * 4096 == int(row.group(1), 16)
    rp2 = (ROOT / "boards" / "rp2" / "board.py").read_text()
    kib = re.search(r"^JOURNAL_BYTES = const\((\d+) \* 1024\)", rp2, re.M)
    assert blocks["pico_w"] * 4096 == int(kib.group(1)) * 1024


def test_flash_wear_figures_are_sane():
    """mp/bench_wear.py, small: 30 sales on a 64-block flash. The figures hang together:
    every erase is one block's, so the spread is at least 1 and the most worn block holds
    at least the mean; the life is blocks x cycles over the blocks erased per sale."""
    sales, blocks, cycles = 30, 64, 100000
    out = benchmarks.mp_figures("bench_wear.py", "t", blocks, sales, cycles)
    lines = out.splitlines()
    assert all(LINE.match(line) for line in lines), lines
    got = {line.split(":")[0]: float(line.split()[1]) for line in lines}
    per_sale = got["flash_blocks_erased_per_sale_t"]
    assert got["flash_blocks_t"] == blocks
    # a sale copies its segment's tail and compacts the journal's directory: at least one
    # erase, and far fewer than its 62 commits (each commit erasing would be a broken fs)
    assert 1 <= per_sale < 10
    life = got["flash_sales_of_life_t"]
    assert abs(life - blocks * cycles / per_sale) <= life / 100  # per_sale is rounded
    mean = per_sale * sales / blocks
    assert 1 <= got["flash_wear_spread_t"] <= blocks
    assert got["flash_block_erases_max_t"] >= mean
    assert abs(got["flash_wear_spread_t"] - got["flash_block_erases_max_t"] / mean) < 0.05
