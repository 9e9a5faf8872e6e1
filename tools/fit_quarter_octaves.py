#!/usr/bin/env python3
"""Per-interval polynomials for the 32-interval tables of the float kernels on AVX-512 (and the
8-interval one of the exact GELU on AVX2)
(diffuse/nn/detail/quarter_octaves.hpp, diffuse/nn/detail/step_tables.hpp and the tables beside
them).

A function F is split into 32 intervals, one of two ways:
- quarter octaves of [0, 2^(E+8)): four per octave ([2^e, 2^(e+1)) for e = E .. E+7, each cut
  into quarters), the first reaching down to 0, so that a float t's biased exponent and two
  leading mantissa bits are the interval's index;
- quarter steps of [0, 7.875): interval k is centred on k/4 (k = 0 .. 31) and is 1/4 wide (the
  first [0, 1/8]), so that t rounded to a multiple of 1/4 (t + 2^21) carries k in its low bits;
  likewise eighth steps of [3.9375, 7.9375) (k = 32 .. 63 centred on k/8, t + 2^20), and half
  steps of [-8.25, 7.75) for a signed argument (k = -16 .. 15 centred on k/2, x + 2^22 + 8);
  or 8 half steps of [0, 3.75] (k = 0 .. 7 centred on k/2, t + 2^22, the three bits AVX2's
  8-entry vpermps reads).
On each interval, with m its midpoint and z = t - m (exact in float), F is interpolated at
Chebyshev nodes in 40-digit arithmetic (mpmath) by a polynomial c0 + c1 z + ... + c6 z^6. c0 is
stored as a float pair c0_hi + c0_lo, the others as floats.

The kernels evaluate q = c1 + ... + c6 z^5 by Horner's rule; the quarter-octave tables form
F = c0 + z q to twice the precision (z q is a small share of c0 there, so q's roundings count
for little), the step tables return c0_hi and c0_lo + z q unsummed for the caller's product
(z q reaches 0.85 of c0 near t = 4, so q's roundings do count; see the tests). The script prints,
per interval, the maximum relative error of the stored polynomial (exact arithmetic on the
rounded coefficients) against F and the largest |z q / c0|, then the C++ table (per
coefficient, the 32 intervals in order of t).

The functions (each smooth and bounded away from 0 on its intervals):
  normal_tail    H(t) = Phi(-t) exp(t^2/2),   quarter octaves, E = -4 (exact GELU, nn/normal_cdf.hpp)
  tanh_ratio     tanh(t) / t,                 quarter octaves, E = -4 (tanh, nn/kernels.hpp)
  normal_lower     Phi(-t),                   quarter steps  (exact GELU, nn/gelu.hpp)
  normal_lower_far Phi(-t),                   eighth steps   (exact GELU, nn/gelu.hpp)
  mish_gate        tanh(softplus(x)),          half steps     (Mish, nn/softplus.hpp)
  normal_lower_half Phi(-t),                  8 half steps   (exact GELU on AVX2; degree 7;
                                              c0_hi = F at the interval's right end)
  gelu_tanh_lower  (1 - tanh(w(t))) / 2,      quarter steps  (tanh GELU, nn/gelu.hpp),
                   w(t) = sqrt(2/pi) (t + 0.044715 t^3)
The error reported is relative to F, except for the quarter-step functions beyond t = 4.125
(normal_lower_half: beyond t = 3.25): there the GELUs use F only for x = t > 0, as
x (1 - F(t)) (nn/detail/step_tables.hpp), and the error is reported relative to 1 - F.

Run: python3 tools/fit_quarter_octaves.py FUNCTION [degree]   (needs python3-mpmath; default 6)
"""
import sys

import mpmath as mp

from chebyshev_fit import chebyshev_coefficients, chebyshev_to_monomials, rounded

mp.mp.dps = 40
NODES = 60
SAMPLES = 400


def tanh_ratio(t):
    return mp.tanh(t) / t if t != 0 else mp.mpf(1)


def normal_lower(t):
    return mp.erfc(t / mp.sqrt(2)) / 2


def gelu_tanh_lower(t):
    """1 - g(t) = g(-t) for the tanh GELU's gate g(x) = (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    return (1 - mp.tanh(mp.sqrt(2 / mp.pi) * (t + mp.mpf("0.044715") * t ** 3))) / 2


def mish_gate(x):
    """g(x) = tanh(softplus(x)), Mish = x g(x); signed argument."""
    return mp.tanh(mp.log1p(mp.exp(x)))


# name: (F, layout: the first exponent E of the quarter octaves, or (steps per unit, first k) of
# the steps, where the error is relative to F rather than to 1 - F)
FUNCTIONS = {
    "normal_tail": (lambda t: normal_lower(t) * mp.exp(t * t / 2), -4, mp.inf),
    "tanh_ratio": (tanh_ratio, -4, mp.inf),
    "normal_lower": (normal_lower, (4, 0), mp.mpf(4.125)),
    "gelu_tanh_lower": (gelu_tanh_lower, (4, 0), mp.mpf(4.125)),
    "normal_lower_far": (normal_lower, (8, 32), mp.inf),
    "mish_gate": (mish_gate, (2, -16), mp.inf),
    "normal_lower_half": (normal_lower, (2, 0, 8), mp.mpf(3.25)),
}

if len(sys.argv) < 2 or sys.argv[1] not in FUNCTIONS:
    sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(FUNCTIONS)}}} [degree]")
NAME = sys.argv[1]
F, LAYOUT, RELATIVE_UP_TO = FUNCTIONS[NAME]
DEGREE = int(sys.argv[2]) if len(sys.argv) > 2 else 6


def intervals():
    """(start, end, midpoint) of the 32 intervals in order of t; the first reaches down to 0."""
    if isinstance(LAYOUT, tuple):
        per_unit, first, count = LAYOUT if len(LAYOUT) == 3 else (*LAYOUT, 32)
        for k in range(first, first + count):
            mid, half = mp.mpf(k) / per_unit, mp.mpf(1) / (2 * per_unit)
            yield (max(mid - half, mp.mpf(0)) if first >= 0 else mid - half), mid + half, mid
        return
    for exponent in range(LAYOUT, LAYOUT + 8):
        for quarter in range(4):
            width = mp.mpf(2) ** exponent / 4
            start = mp.mpf(2) ** exponent + quarter * width
            first = exponent == LAYOUT and quarter == 0
            yield (mp.mpf(0) if first else start), start + width, start + width / 2


def fit(start, end, mid):
    """Chebyshev interpolant of F on [start, end] as monomials in z = t - mid."""
    centre, half = (start + end) / 2, (end - start) / 2
    cheb = chebyshev_coefficients(lambda v: F(centre + half * v), DEGREE + 1, NODES)
    in_v = chebyshev_to_monomials(cheb)
    # v = (z + mid - centre) / half: expand each v^i in powers of z.
    shift = mid - centre
    in_z = [mp.mpf(0)] * len(in_v)
    for i, a in enumerate(in_v):
        for k in range(i + 1):
            in_z[k] += a * mp.binomial(i, k) * shift ** (i - k) / half ** i
    return in_z


def c_literal(value):
    text = f"{float(value):.9g}"
    return text + ("f" if any(c in text for c in ".e") else ".0f")


worst = mp.mpf(0)
tables = [[] for _ in range(DEGREE + 2)]  # c0_hi, c0_lo, c1 .. c_DEGREE
for start, end, mid in intervals():
    coefficients = fit(start, end, mid)
    # normal_lower_half leads with F at the interval's right end (below F everywhere on it, F
    # decreasing): rest = c0_lo + z q >= 0, so lead + rest never cancels. Split at c0, rest
    # nearly halves lead at the far intervals' right ends and doubles its own rounding's weight.
    c0_hi = rounded(F(end) if NAME == "normal_lower_half" else coefficients[0], "float")
    c0_lo = rounded(coefficients[0] - c0_hi, "float")
    stored = [c0_hi + c0_lo] + [rounded(c, "float") for c in coefficients[1:]]
    error = linear_share = mp.mpf(0)
    for i in range(SAMPLES + 1):
        t = start + (end - start) * mp.mpf(i) / SAMPLES
        z = t - mid
        tail = mp.mpf(0)
        for a in reversed(stored[1:]):
            tail = tail * z + a
        value = F(t)
        error = max(error, abs(stored[0] + z * tail - value) / (value if t <= RELATIVE_UP_TO else 1 - value))
        linear_share = max(linear_share, abs(z * tail / stored[0]))
    worst = max(worst, error)
    print(f"t in [{float(start):g}, {float(end):g}): max relative error 2^{float(mp.log(error, 2)):.1f}, "
          f"|z q / c0| <= {float(linear_share):.3f}")
    for table, value in zip(tables, [c0_hi, c0_lo] + stored[1:]):
        table.append(value)
first_start = next(intervals())[0]
print(f"{NAME}, degree {DEGREE}: max relative error 2^{float(mp.log(worst, 2)):.1f} over t in [{float(first_start):g}, {float(end):g})")
names = ["c0_hi", "c0_lo"] + [f"c{k}" for k in range(1, DEGREE + 1)]
print(f"inline constexpr std::array<std::array<float, {len(tables[0])}>, {DEGREE + 2}> {NAME}_pieces = {{{{")
for name, table in zip(names, tables):
    rows = [", ".join(c_literal(v) for v in table[i:i + 5]) for i in range(0, len(table), 5)]
    print(f"    // {name}\n    {{{{" + ",\n      ".join(rows) + "}},")
print("}};")
