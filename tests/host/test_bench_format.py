"""`make bench` prints every figure as `name: value unit`, nothing else."""
import io
import re

import pytest

from pumpside_host import benchmarks

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
                 "firmware_min_heapsize_kib"):
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
