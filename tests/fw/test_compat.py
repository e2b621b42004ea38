from pumpside.compat import ticks_add, ticks_diff, ticks_ms


def test_ticks_diff_across_wrap():
    t = ticks_ms()
    later = ticks_add(t, 1000)
    assert ticks_diff(later, t) == 1000
    assert ticks_diff(t, later) == -1000
    # far past the counter's wrap: differences stay small and signed
    big = ticks_add(t, 3 * (1 << 28))
    assert ticks_diff(ticks_add(big, 7), big) == 7
