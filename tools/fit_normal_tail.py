#!/usr/bin/env python3
"""Polynomial coefficients of the scaled normal tail used by diffuse/nn/normal_cdf.hpp.

    Phi(-t) = exp(-t^2/2) * G(u) / (t + K),   u = (t - K) / (t + K),  K = 1.5,

G(u) = Phi(-t) exp(t^2/2) (t + K) is smooth and tends to 1/sqrt(2 pi) as t -> inf (the Mills
ratio), so a polynomial in u approximates it with a uniformly small *relative* error (the
construction of Schonfelder, Math. Comp. 32 (1978) 1232). The kernel uses this form only for
t >= 1/2 (a series serves below), and only up to where the result underflows: t <= 14.6 for
float, t <= 38.6 for double (x Phi(-x) < 2^-150 resp. 2^-1075 beyond). On that u interval G is
interpolated at Chebyshev nodes in 40-digit arithmetic (mpmath), the series truncated where its
coefficients fall below 2^-28 (float) / 2^-58 (double) of the first, and converted to monomials
in u for Horner's rule. Fitting the used interval only (instead of all of t >= 0) takes 11
terms instead of 15 (float) and 30 instead of 37 (double) for the same accuracy.

The script prints, per type, the number of terms, the maximum relative error of the polynomial
with its coefficients rounded to the type against G over the interval, the condition number
max sum|a_k u^k| / |G| of Horner's sum, and the coefficients.

Run: python3 tools/fit_normal_tail.py   (needs python3-mpmath)
"""
import mpmath as mp

from chebyshev_fit import chebyshev_coefficients, chebyshev_to_monomials, rounded

mp.mp.dps = 40
K = mp.mpf("1.5")
NODES = 120
T_LOW = mp.mpf("0.49")  # a little below the switch at 1/2


def scaled_tail(t):
    return mp.erfc(t / mp.sqrt(2)) / 2 * mp.exp(t * t / 2) * (t + K)


def u_of(t):
    return (t - K) / (t + K)


def fit(t_high, eps):
    u_low, u_high = u_of(T_LOW), u_of(t_high)
    mid, half = (u_low + u_high) / 2, (u_high - u_low) / 2
    cheb = chebyshev_coefficients(lambda v: scaled_tail(K * (1 + mid + half * v) / (1 - mid - half * v)), NODES, NODES)
    n = 1 + max(j for j, c in enumerate(cheb) if abs(c) > eps * abs(cheb[0]))
    # Chebyshev series in v = (u - mid) / half -> monomials in v -> monomials in u.
    in_v = chebyshev_to_monomials(cheb[:n])
    in_u = [mp.mpf(0)] * n
    for i, a in enumerate(in_v):
        for k in range(i + 1):
            in_u[k] += a * mp.binomial(i, k) * (-mid) ** (i - k) / half ** i
    return in_u


for type_name, t_high, eps in (("float", mp.mpf("14.6"), mp.mpf(2) ** -28), ("double", mp.mpf("38.6"), mp.mpf(2) ** -58)):
    coefficients = fit(t_high, eps)
    stored = [rounded(c, type_name) for c in coefficients]
    worst = condition = mp.mpf(0)
    for i in range(1601):
        t = T_LOW * (t_high / T_LOW) ** (mp.mpf(i) / 1600)
        u = u_of(t)
        value = mp.mpf(0)
        for a in reversed(stored):
            value = value * u + a
        exact = scaled_tail(t)
        worst = max(worst, abs(value / exact - 1))
        condition = max(condition, mp.fsum(abs(a * u ** k) for k, a in enumerate(stored)) / exact)
    print(f"{type_name}: {len(coefficients)} terms on t in [{T_LOW}, {t_high}], "
          f"max relative error 2^{float(mp.log(worst, 2)):.1f}, condition {float(condition):.2f}")
    print("    " + ",\n    ".join(mp.nstr(c, 22, min_fixed=0, max_fixed=0) + "L" for c in coefficients))
