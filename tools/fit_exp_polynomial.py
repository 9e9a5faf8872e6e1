#!/usr/bin/env python3
"""Polynomial for exp on the reduced interval, used by diffuse/core/simd.hpp.

After the reduction x = k ln2 + r, |r| <= ln2/2, the kernels evaluate
    exp(r) = 1 + r + r^2 g(r),   g(r) = (exp(r) - 1 - r) / r^2,
so that expm1(r) = r + r^2 g(r) comes from the same polynomial without cancellation. g is
approximated by its Chebyshev interpolant of the given degree on [-ln2/2, ln2/2] (near-minimax;
nodes and sums in 60-digit arithmetic, mpmath), converted to monomials in r for Horner's rule.
The script prints the coefficients and the maximum relative error of 1 + r + r^2 g(r) against
exp(r) over 4001 points, with the coefficients rounded to the target type (float: degree 5,
2^-30.5; double: degree 10, 2^-61.3; the Taylor series needs degrees 7 and 13 for as much).
The float fit of degree 4 (2^-26.5, exp of degree 6) is the AVX2 short exponential's
(half_exp_short in simd.hpp): one fused multiply-add fewer, 0.09-0.18 ULP more.

Run: python3 tools/fit_exp_polynomial.py   (needs python3-mpmath)
"""
import mpmath as mp

from chebyshev_fit import chebyshev_coefficients, chebyshev_to_monomials, rounded

mp.mp.dps = 60
HALF_LN2 = mp.log(2) / 2
NODES = 200


def g(r):
    return mp.mpf(1) / 2 if r == 0 else (mp.expm1(r) - r) / (r * r)


def chebyshev_interpolant(degree):
    """Monomial coefficients (in r) of the degree-`degree` Chebyshev interpolant of g."""
    cheb = chebyshev_coefficients(lambda u: g(HALF_LN2 * u), degree + 1, NODES)
    in_u = chebyshev_to_monomials(cheb)
    return [c / HALF_LN2 ** i for i, c in enumerate(in_u)]  # u = r / (ln2/2)


def max_relative_error(coefficients):
    worst = mp.mpf(0)
    for i in range(4001):
        r = -HALF_LN2 + 2 * HALF_LN2 * i / 4000
        tail = mp.mpf(0)
        for c in reversed(coefficients):
            tail = tail * r + c
        worst = max(worst, abs((1 + r + r * r * tail) / mp.exp(r) - 1))
    return worst


for type_name, degree in (("float", 5), ("float", 4), ("double", 10)):
    exact = chebyshev_interpolant(degree)
    error = max_relative_error([rounded(c, type_name) for c in exact])
    print(f"{type_name}: degree {degree}, max relative error 2^{float(mp.log(error, 2)):.1f}")
    print("    " + ",\n    ".join(mp.nstr(c, 22) + "L" for c in exact))
