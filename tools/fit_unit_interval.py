#!/usr/bin/env python3
"""Polynomials on the unit interval for the float kernels that take exp(-|x|) in [0, 1] as
their variable instead of dividing or taking a logarithm (diffuse/core/simd.hpp and nn/).

F is interpolated at Chebyshev nodes of [0, 1] in 40-digit arithmetic (mpmath), converted to
monomials in u (Horner's rule in u itself: no shift to round) and rounded to float. The script
prints the maximum relative error of the rounded polynomial (exact arithmetic) on 4000 points
of [0, 1] and the C++ array, constant term first.

The functions:
  log1p_ratio  V(u) = (log(1 + u)/u - 1)/u     log(1 + u) = u + u (u V(u))  (simd::log1p_unit_interval)

Run: python3 tools/fit_unit_interval.py FUNCTION DEGREE   (needs python3-mpmath)
"""
import sys

import mpmath as mp

from chebyshev_fit import chebyshev_coefficients, chebyshev_to_monomials, rounded

mp.mp.dps = 40
NODES = 80
SAMPLES = 4000


def log1p_ratio(u):
    return (mp.log1p(u) / u - 1) / u if u != 0 else mp.mpf(-0.5)


FUNCTIONS = {"log1p_ratio": log1p_ratio}

if len(sys.argv) != 3 or sys.argv[1] not in FUNCTIONS:
    sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(FUNCTIONS)}}} DEGREE")
F = FUNCTIONS[sys.argv[1]]
DEGREE = int(sys.argv[2])

# On [-1, 1] in v = 2u - 1, then as monomials in u = (v + 1)/2: sum_j a_j (2u - 1)^j.
in_v = chebyshev_to_monomials(chebyshev_coefficients(lambda v: F((v + 1) / 2), DEGREE + 1, NODES))
in_u = [mp.mpf(0)] * (DEGREE + 1)
for j, a in enumerate(in_v):
    for i in range(j + 1):
        in_u[i] += a * mp.binomial(j, i) * mp.mpf(2) ** i * (-1) ** (j - i)
coefficients = [rounded(c, "float") for c in in_u]

worst = max(abs(mp.polyval(coefficients[::-1], u) / F(u) - 1) for u in (mp.mpf(k) / SAMPLES for k in range(SAMPLES + 1)))
print(f"// {sys.argv[1]}, degree {DEGREE}: max relative error 2^{float(mp.log(worst, 2)):.1f} (float coefficients, exact arithmetic)")
print(f"inline constexpr std::array<float, {DEGREE + 1}> {sys.argv[1]}_float = {{")
print("    " + ", ".join(f"{float(c):.9g}f" for c in coefficients) + "};")
