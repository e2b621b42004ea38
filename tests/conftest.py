"""Every tier under CPython: Hypothesis judges behaviour, never time. Tests assert what
the code does; on a loaded 2-core machine (the tiers run in parallel) a slow draw or a
slow example is no failure (speed is `make bench`'s)."""
from hypothesis import HealthCheck, settings

settings.register_profile("pumpside", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pumpside")
