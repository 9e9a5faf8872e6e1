#!/usr/bin/env python3
"""Chebyshev coefficients of the scaled normal tail used by diffuse/nn/normal_cdf.hpp.

    Phi(-t) = exp(-t^2/2) * G(u) / (t + K),   t >= 0,  u = (t - K) / (t + K) in [-1, 1), K = 1.5,

G(u) = Phi(-t) exp(t^2/2) (t + K) is smooth on [-1, 1] and tends to 1/sqrt(2 pi) as t -> inf
(the Mills ratio), so a Chebyshev series in u approximates it with a uniformly small
*relative* error (the construction of Schonfelder, Math. Comp. 32 (1978) 1232). The series is
computed here from 120 Chebyshev nodes in 50-digit arithmetic (mpmath) and truncated where the
coefficients fall below 2^-28 (float) and 2^-58 (double) of c0.

Run: python3 tools/fit_normal_tail.py [K]   (needs python3-mpmath). K = 1.5 balances the number of
terms against the cancellation inside the Clenshaw sum (K = 4: 12/26 terms but ~5 ULP error in
float; K = 1.5: 15/37 terms, 3.4 ULP).
"""
import mpmath as mp

mp.mp.dps = 50
import sys
K = mp.mpf(sys.argv[1]) if len(sys.argv) > 1 else mp.mpf("1.5")
NODES = 120


def scaled_tail(u):
    if u == 1:
        return 1 / mp.sqrt(2 * mp.pi)
    t = K * (1 + u) / (1 - u)
    return mp.erfc(t / mp.sqrt(2)) / 2 * mp.exp(t * t / 2) * (t + K)


theta = [mp.pi * (k + mp.mpf(1) / 2) / NODES for k in range(NODES)]
values = [scaled_tail(mp.cos(x)) for x in theta]
coefficients = [(2 if j else 1) * mp.fsum(values[k] * mp.cos(j * theta[k]) for k in range(NODES)) / NODES
                for j in range(NODES)]

for name, eps in (("float", mp.mpf(2) ** -28), ("double", mp.mpf(2) ** -58)):
    last = max(j for j, c in enumerate(coefficients) if abs(c) > eps * abs(coefficients[0]))
    print(f"{name}: {last + 1} terms")
print("all terms above 2^-58:")
last = max(j for j, c in enumerate(coefficients) if abs(c) > mp.mpf(2) ** -58 * abs(coefficients[0]))
for c in coefficients[: last + 1]:
    print(mp.nstr(c, 22, min_fixed=0, max_fixed=0) + "L,")
