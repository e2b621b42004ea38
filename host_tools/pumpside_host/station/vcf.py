"""Volume correction to 15 degC for refined products (ASTM D1250 / API MPMS 11.1 / ISO 91
Table 54B, "generalized products", the 1980 equations).

  alpha15 = K0 / rho15^2 + K1 / rho15          (rho15: density at 15 degC, kg/m3)
  VCF     = exp(-alpha15 * dt * (1 + 0.8 * alpha15 * dt)),   dt = t - 15 degC
  V15     = V(t) * VCF

Constants of Table 54B by density range:
  gasolines      653 - 770.5 kg/m3   K0 = 346.4228   K1 = 0.4388
  transition   770.5 - 787.5 kg/m3   alpha15 = -0.00336312 + 2680.3206 / rho15^2
  jet fuels    787.5 - 839   kg/m3   K0 = 594.5418   K1 = 0
  fuel oils      839 - 1075  kg/m3   K0 = 186.9696   K1 = 0.4862 (diesel)

The products' density when the delivery note gives none: 745 kg/m3 gasoline, 840 diesel.
The tables print the factor to four decimals; tests/host/test_tanks.py checks this code
against printed values. Host-side only (floats): the station stores the corrected volume
in whole millilitres.
"""
import math

DENSITY = {"gasoline": 745.0, "diesel": 840.0}


def alpha15(rho15):
    if not 653.0 <= rho15 <= 1075.0:
        raise ValueError("density %r kg/m3 is outside Table 54B (653-1075)" % rho15)
    if rho15 < 770.5:
        return 346.4228 / rho15 ** 2 + 0.4388 / rho15
    if rho15 < 787.5:
        return -0.00336312 + 2680.3206 / rho15 ** 2
    if rho15 < 839.0:
        return 594.5418 / rho15 ** 2
    return 186.9696 / rho15 ** 2 + 0.4862 / rho15


def vcf(rho15, celsius):
    """The volume correction factor from `celsius` to 15 degC."""
    if not -50.0 <= celsius <= 150.0:
        raise ValueError("temperature %r degC is outside the table" % celsius)
    a = alpha15(rho15)
    dt = celsius - 15.0
    return math.exp(-a * dt * (1.0 + 0.8 * a * dt))


def to15(ml, celsius, kind="gasoline", rho15=None):
    """`ml` observed at `celsius` as whole millilitres at 15 degC."""
    if kind not in DENSITY:
        raise ValueError("product kind %r: gasoline or diesel" % kind)
    return int(round(ml * vcf(rho15 or DENSITY[kind], celsius)))


def kind_of(grade):
    """gasoline or diesel from a grade code (0#, -10#, D..: diesel; the rest gasoline)."""
    g = str(grade).upper()
    return "diesel" if g.startswith(("0", "-", "D")) else "gasoline"
