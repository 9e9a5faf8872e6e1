#!/usr/bin/env python3
"""Per-interval polynomials of the scaled normal tail for the tabulated float kernel of
diffuse/nn/normal_cdf.hpp (AVX-512 builds).

    H(t) = Phi(-t) exp(t^2/2),   t in [1/2, 16),

is split into 20 intervals, four per octave ([2^e, 2^(e+1)) for e = -1..3, each cut into
quarters), so that a float t's biased exponent and two leading mantissa bits are the interval's
index. On each interval, with m its midpoint and z = t - m (exact in float: t and m share a
binade), H is interpolated at Chebyshev nodes in 40-digit arithmetic (mpmath) by a polynomial
c0 + c1 z + ... + c6 z^6. c0 is stored as a float pair c0_hi + c0_lo, the others as floats.

The kernel evaluates q = c1 + ... + c6 z^5 by Horner's rule and H = c0 + z q to twice the
precision (z q is at most 4% of c0, so q's roundings count for little). The script prints,
per interval, the maximum relative error of the stored polynomial (exact arithmetic on the
rounded coefficients) against H and the largest |z q / c0|, then the C++ table
(detail::normal_tail_pieces: per coefficient, the 20 intervals in order of t).

Run: python3 tools/fit_normal_tail_table.py [degree]   (needs python3-mpmath; default 6)
"""
import sys

import mpmath as mp

from chebyshev_fit import chebyshev_coefficients, chebyshev_to_monomials, rounded

mp.mp.dps = 40
DEGREE = int(sys.argv[1]) if len(sys.argv) > 1 else 6
NODES = 60
SAMPLES = 400


def scaled_tail(t):
    return mp.erfc(t / mp.sqrt(2)) / 2 * mp.exp(t * t / 2)


def intervals():
    """(start, end, midpoint) of the 32 intervals in order of t; the first reaches down to 0."""
    for exponent in range(-4, 4):
        for quarter in range(4):
            width = mp.mpf(2) ** exponent / 4
            start = mp.mpf(2) ** exponent + quarter * width
            yield (mp.mpf(0) if exponent == -4 and quarter == 0 else start), start + width, start + width / 2


def fit(start, end, mid):
    """Chebyshev interpolant of H on [start, end] as monomials in z = t - mid."""
    centre, half = (start + end) / 2, (end - start) / 2
    cheb = chebyshev_coefficients(lambda v: scaled_tail(centre + half * v), DEGREE + 1, NODES)
    in_v = chebyshev_to_monomials(cheb)
    # v = (z + mid - centre) / half: expand each v^i in powers of z.
    shift = mid - centre
    in_z = [mp.mpf(0)] * len(in_v)
    for i, a in enumerate(in_v):
        for k in range(i + 1):
            in_z[k] += a * mp.binomial(i, k) * shift ** (i - k) / half ** i
    return in_z


def c_literal(value):
    return f"{float(value):.9g}f"


worst = mp.mpf(0)
tables = [[] for _ in range(DEGREE + 2)]  # c0_hi, c0_lo, c1 .. c_DEGREE
for start, end, mid in intervals():
    coefficients = fit(start, end, mid)
    c0_hi = rounded(coefficients[0], "float")
    c0_lo = rounded(coefficients[0] - c0_hi, "float")
    stored = [c0_hi + c0_lo] + [rounded(c, "float") for c in coefficients[1:]]
    error = linear_share = mp.mpf(0)
    for i in range(SAMPLES + 1):
        t = start + (end - start) * mp.mpf(i) / SAMPLES
        z = t - mid
        tail = mp.mpf(0)
        for a in reversed(stored[1:]):
            tail = tail * z + a
        error = max(error, abs((stored[0] + z * tail) / scaled_tail(t) - 1))
        linear_share = max(linear_share, abs(z * tail / stored[0]))
    worst = max(worst, error)
    print(f"t in [{float(start):g}, {float(end):g}): max relative error 2^{float(mp.log(error, 2)):.1f}, "
          f"|z q / c0| <= {float(linear_share):.3f}")
    for table, value in zip(tables, [c0_hi, c0_lo] + stored[1:]):
        table.append(value)
print(f"degree {DEGREE}: max relative error 2^{float(mp.log(worst, 2)):.1f} over t in [0, 16)")
names = ["c0_hi", "c0_lo"] + [f"c{k}" for k in range(1, DEGREE + 1)]
print(f"inline constexpr std::array<std::array<float, 32>, {DEGREE + 2}> normal_tail_pieces = {{{{")
for name, table in zip(names, tables):
    rows = [", ".join(c_literal(v) for v in table[i:i + 5]) for i in range(0, len(table), 5)]
    print(f"    // {name}\n    {{{{" + ",\n      ".join(rows) + "}},")
print("}};")
