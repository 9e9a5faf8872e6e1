#!/usr/bin/env python3
"""Coefficients of the table-free float exact GELU on AVX2 (diffuse/nn/detail/normal_tail_rational.hpp,
used by diffuse/nn/normal_cdf.hpp and diffuse/nn/gelu.hpp):

    Phi(-t) = exp(-t^2/2) H(t),   H(t) = B(t) / (kappa t B(t) + A(t)),   t = |x| in [0, T_HIGH],

kappa = sqrt(2 pi) rounded to float.

- H is the scaled normal tail of nn/normal_cdf.hpp (the Mills ratio over sqrt(2 pi)): H(0) = 1/2
  and H(t) ~ 1/(sqrt(2 pi) t) as t -> inf. 1/H(t) - kappa t = A(t)/B(t) is smooth (deg A = 4,
  deg B = 5, so A/B ~ 1/t), with A(0) = 2 and B(0) = 1 exactly, so that H(0) = 1/2 exactly.
  The kernel forms t B = t + t^2 B1(t) and kappa t B + A = 2 + (kappa t B + t A1(t))
  (B = 1 + t B1, A = 2 + t A1), each rounded once near t = 0 (where the parts added to t and 2
  are small), and t H = t B / (kappa t B + A) by one division, in which the rounding of t B (and
  B's) counts only as A / (kappa t B + A), little where t B dominates.
- exp(-t^2/2) = 2^k E(rho) with t^2 = -2k ln2 + rho, |rho| <= ln2 (+ the rounding of k), and
  E(rho) = exp(-rho/2) = 1 + rho R(rho), R a polynomial of degree 5 (E(0) = 1 exactly).

Both are fitted toward the minimax relative error (linearized least squares, reweighted by
Lawson's rule) in double precision (numpy) against the functions in 40-digit arithmetic (mpmath);
the coefficients are then rounded to float one at a time, the remaining ones refitted after
each. T_HIGH = 13 is where the kernel's exponential without a general scaling ends (k >= -122;
beyond, the kernel takes the full-range path). The script prints the errors with the
coefficients as stored, the error of t H(t) evaluated in float as the kernel does (Horner with
fused multiply-adds, then t B, kappa t B + A and one division; emulated in double and rounded
to float after every operation), the error of the whole GELU emulated the same way (in ULP, on
grids of [-T_HIGH, T_HIGH] and near 0), and writes the C++ header to stdout.

Run: python3 tools/fit_normal_tail_rational.py > include/diffuse/nn/detail/normal_tail_rational.hpp
(needs numpy and python3-mpmath; the report goes to stderr; about ten seconds)
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 40
T_HIGH = 13.0
A_DEGREE = 4
B_DEGREE = 5
E_DEGREE = 6
RHO_HIGH = 0.7  # |rho| <= ln2 (1 + 2^-16) in the kernel
POINTS = 2000
ITERATIONS = 150
f32 = np.float32
KAPPA = f32(float(mp.sqrt(2 * mp.pi)))


def scaled_tail(t):
    t = mp.mpf(t)
    return mp.erfc(t / mp.sqrt(2)) / 2 * mp.exp(t * t / 2)


def lawson(columns, target, weight_of, error_of, fixed, scale):
    """Coefficients c (columns @ c ~ target) toward the least max |error_of(c)| by Lawson's
    iteration on least squares weighted by 1/weight_of(the previous iterate's denominator),
    with the coefficients in `fixed` held at their values."""
    n = columns.shape[1]
    free = [i for i in range(n) if i not in fixed]
    rhs = target - sum(columns[:, i] * v for i, v in fixed.items()) if fixed else target
    law = np.full(len(target), 1.0 / len(target))
    best, best_c = np.inf, None
    denominator = None
    for _ in range(ITERATIONS):
        w = np.sqrt(law) / weight_of(denominator)
        s, *_ = np.linalg.lstsq(columns[:, free] * scale[free] * w[:, None], rhs * w, rcond=None)
        c = np.zeros(n)
        c[free] = s * scale[free]
        for i, v in fixed.items():
            c[i] = v
        error, denominator = error_of(c)
        worst = np.max(np.abs(error))
        if worst < best:
            best, best_c = worst, c
        law = law * np.abs(error) ** 0.7 + 1e-300
        law /= law.sum()
    return best, best_c


def fit_sequentially(columns, target, weight_of, error_of, scale, given):
    """The fit (with the coefficients `given` held at their values), then its other coefficients
    rounded to float one at a time, the rest refitted after each."""
    fixed = dict(given)
    _, c = lawson(columns, target, weight_of, error_of, fixed, scale)
    for i in range(len(c)):
        if i in fixed:
            continue
        fixed[i] = float(f32(c[i]))
        if len(fixed) < len(c):
            _, c = lawson(columns, target, weight_of, error_of, fixed, scale)
    return [f32(fixed[i]) for i in range(len(c))]


def fit_tail():
    """A and B with A(0) = 2, B(0) = 1."""
    theta = np.pi * (np.arange(POINTS) + 0.5) / POINTS
    t = (1 - np.cos(theta)) / 2 * T_HIGH
    h = np.array([float(scaled_tail(v)) for v in t])
    r = 1 / h - float(KAPPA) * t  # A/B
    va = np.vander(t, A_DEGREE + 1, increasing=True)
    vb = np.vander(t, B_DEGREE + 1, increasing=True)
    # Unknowns a_0..a_4, b_1..b_5 (b_0 = 1): A - r (B - 1) = r, weighted by 1/((kappa t + r) B),
    # since an error e in A/B moves H by e/(kappa t + A/B) relative.
    columns = np.hstack([va, -r[:, None] * vb[:, 1:]])
    scale = np.concatenate([T_HIGH ** -np.arange(A_DEGREE + 1), T_HIGH ** -np.arange(1, B_DEGREE + 1)])

    def error_of(c):
        b = vb @ np.concatenate([[1.0], c[A_DEGREE + 1:]])
        return (b / (float(KAPPA) * t * b + va @ c[: A_DEGREE + 1]) - h) / h, b

    coefficients = fit_sequentially(columns, r, lambda b: (float(KAPPA) * t + r) * (1 if b is None else b), error_of,
                                    scale, {0: 2.0})
    return coefficients[: A_DEGREE + 1], [f32(1.0)] + coefficients[A_DEGREE + 1:]


def fit_exponential():
    """R's coefficients: E(rho) = exp(-rho/2) = 1 + rho R(rho)."""
    theta = np.pi * (np.arange(POINTS) + 0.5) / POINTS
    rho = np.cos(theta) * RHO_HIGH
    e = np.array([float(mp.exp(-mp.mpf(v) / 2)) for v in rho])
    columns = np.vander(rho, E_DEGREE + 1, increasing=True)
    scale = RHO_HIGH ** -np.arange(E_DEGREE + 1)
    coefficients = fit_sequentially(columns, e, lambda _: e, lambda c: ((columns @ c - e) / e, None), scale, {0: 1.0})
    return coefficients[1:]


def fma(a, b, c):
    return f32(float(a) * float(b) + float(c))


def horner(coefficients, x):
    s = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        s = fma(s, x, c)
    return s


LN2 = mp.log(2)
LN2_HI = f32(float(LN2))
LN2_LO = f32(float(LN2 - mp.mpf(float(LN2_HI))))
HALF_LOG2E = f32(float(1 / (2 * LN2)))


def t_times_tail(t, a, b):
    """t H(t) as the kernel evaluates it: t B = t + t^2 B1(t) and kappa t B + A = 2 + (kappa t B
    + t A1(t)), with B = 1 + t B1, A = 2 + t A1, so that near t = 0 each is rounded once."""
    s = f32(float(t) * float(t))
    t_b = fma(s, horner(b[1:], t), t)
    small = fma(KAPPA, t_b, f32(float(t) * float(horner(a[1:], t))))
    return f32(float(t_b) / float(f32(2.0 + float(small))))


def gelu_as_kernel(x, a, b, r):
    """nn/gelu.hpp's AVX2 path, step by step in float."""
    x = f32(x)
    s = f32(float(x) * float(x))
    s_lo = fma(x, x, -s)
    k = float(np.rint(float(s) * -float(HALF_LOG2E)))
    rho_hi = fma(k, f32(2 * LN2_HI), s)
    assert mp.mpf(float(rho_hi)) == mp.mpf(k) * 2 * mp.mpf(float(LN2_HI)) + mp.mpf(float(s)), "rho_hi is exact"
    rho = f32(float(fma(k, f32(2 * LN2_LO), rho_hi)) + float(s_lo))
    gaussian = float(fma(rho, horner(r, rho), 1.0)) * 2.0 ** k  # exact: a normal power of two
    return f32(-float(t_times_tail(f32(abs(x)), a, b)) * gaussian + max(float(x), 0.0))


def ulp_error(value, x):
    x = mp.mpf(float(x))
    exact = x * mp.erfc(-x / mp.sqrt(2)) / 2
    if exact == 0:
        return 0.0
    exponent = max(int(mp.floor(mp.log(abs(exact), 2))), -126)
    return float(abs(mp.mpf(float(value)) - exact) / mp.mpf(2) ** (exponent - 23))


def main():
    a, b = fit_tail()
    r = fit_exponential()
    assert all(c > 0 for c in a + b), "A and B have positive coefficients"
    grid = np.concatenate([np.linspace(0, T_HIGH, 8001), np.geomspace(1e-6, 1, 2001)]).astype(np.float32)
    stored = evaluated = mp.mpf(0)
    for t in grid:
        exact = scaled_tail(float(t))
        bt = mp.polyval([mp.mpf(float(c)) for c in reversed(b)], float(t))
        at = mp.polyval([mp.mpf(float(c)) for c in reversed(a)], float(t))
        stored = max(stored, abs(bt / (mp.mpf(float(KAPPA)) * float(t) * bt + at) / exact - 1))
        if t > 0:
            evaluated = max(evaluated, abs(mp.mpf(float(t_times_tail(t, a, b))) / (float(t) * exact) - 1))
    e_stored = max(abs((1 + v * mp.polyval([mp.mpf(float(c)) for c in reversed(r)], v)) / mp.exp(-mp.mpf(v) / 2) - 1)
                   for v in np.linspace(-RHO_HIGH, RHO_HIGH, 2801))
    points = np.concatenate([np.linspace(-T_HIGH, T_HIGH, 26001), np.linspace(-4, -0.5, 7001),
                             np.geomspace(1e-6, 1, 7001), -np.geomspace(1e-6, 1, 7001)]).astype(np.float32)
    worst, where = 0.0, 0.0
    for x in points:
        e = ulp_error(gelu_as_kernel(x, a, b, r), x)
        if e > worst:
            worst, where = e, float(x)

    def log2(v):
        return float(mp.log(v, 2))

    print(f"H = B/(kappa t B + A) on [0, {T_HIGH:g}], stored coefficients: 2^{log2(stored):.1f} relative; "
          f"t H evaluated in float: {float(evaluated) / 2.0 ** -24:.2f} x 2^-24", file=sys.stderr)
    print(f"E = exp(-rho/2) on |rho| <= {RHO_HIGH}, stored coefficients: 2^{log2(e_stored):.1f} relative",
          file=sys.stderr)
    print(f"GELU as the kernel evaluates it, {len(points)} points of [-{T_HIGH:g}, {T_HIGH:g}]: "
          f"{worst:.2f} ULP (x = {where:.6g})", file=sys.stderr)

    def row(values):
        texts = [f"{float(v):.9g}" for v in values]
        return ", ".join(text + ("f" if any(ch in text for ch in ".e") else ".0f") for text in texts)

    print(f"""// diffuse/nn/detail/normal_tail_rational.hpp: the scaled normal tail H(t) = Phi(-t) exp(t^2/2) as
// one rational function, and exp(-rho/2) on |rho| <= ln2 as a polynomial: the table-free fits of
// the float exact GELU on AVX2 (nn/normal_cdf.hpp, nn/gelu.hpp). Data only; generated by
// tools/fit_normal_tail_rational.py (minimax relative error by reweighted least squares against
// 40-digit values, the coefficients rounded to float one at a time and the rest refitted):
//   H(t) = B(t) / (kappa t B(t) + A(t)) on [0, {T_HIGH:g}], kappa = sqrt(2 pi) as a float,
//     2^{log2(stored):.1f} relative with the coefficients as stored;
//   E(rho) = exp(-rho/2) = 1 + rho R(rho) on |rho| <= {RHO_HIGH}, 2^{log2(e_stored):.1f} relative.
// A(0) = 2 and B(0) = 1 make H(0) = 1/2 exact; every coefficient of A and B is positive, so
// Horner's rule in t >= 0 sums without cancellation.
#pragma once

#include <array>

namespace diffuse::nn::kernels::detail {{

// The fits' range in t = |x|: there exp(-t^2/2) = 2^k E(rho) has k >= -122 (a normal power of two).
inline constexpr float normal_tail_rational_top = {T_HIGH:.1f}f;
inline constexpr float normal_tail_rational_kappa = {row([KAPPA])};
// A(t) = 2 + t A1(t), B(t) = 1 + t B1(t); A1(t) = sum_i normal_tail_rational_a1[i] t^i,
// B1(t) = sum_i normal_tail_rational_b1[i] t^i.
inline constexpr std::array<float, {A_DEGREE}> normal_tail_rational_a1 = {{{row(a[1:])}}};
inline constexpr std::array<float, {B_DEGREE}> normal_tail_rational_b1 = {{{row(b[1:])}}};
// R(rho) = sum_i exp_minus_half_rest[i] rho^i, exp(-rho/2) = 1 + rho R(rho).
inline constexpr std::array<float, {E_DEGREE}> exp_minus_half_rest = {{{row(r)}}};

}}  // namespace diffuse::nn::kernels::detail""")


main()
