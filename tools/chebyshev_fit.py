"""Helpers shared by the polynomial fits in tools/ (fit_exp_polynomial.py, fit_normal_tail.py)."""
import struct

import mpmath as mp


def chebyshev_coefficients(f, count, nodes):
    """The first `count` coefficients c_j of the Chebyshev interpolant of f on [-1, 1] at
    `nodes` Chebyshev points: f(v) ~ sum_j c_j T_j(v)."""
    theta = [mp.pi * (k + mp.mpf(1) / 2) / nodes for k in range(nodes)]
    values = [f(mp.cos(x)) for x in theta]
    return [(2 if j else 1) * mp.fsum(values[k] * mp.cos(j * theta[k]) for k in range(nodes)) / nodes
            for j in range(count)]


def chebyshev_to_monomials(cheb):
    """sum_j cheb[j] T_j(v) as monomial coefficients in v (T_{j+1} = 2v T_j - T_{j-1})."""
    t_polys = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    while len(t_polys) < len(cheb):
        nxt = [mp.mpf(0)] * (len(t_polys) + 1)
        for i, a in enumerate(t_polys[-1]):
            nxt[i + 1] += 2 * a
        for i, a in enumerate(t_polys[-2]):
            nxt[i] -= a
        t_polys.append(nxt)
    monomials = [mp.mpf(0)] * len(cheb)
    for j, c in enumerate(cheb):
        for i, a in enumerate(t_polys[j]):
            monomials[i] += c * a
    return monomials


def rounded(value, type_name):
    """value rounded to float or double, back as an mpf."""
    if type_name == "float":
        return mp.mpf(struct.unpack("f", struct.pack("f", float(value)))[0])
    return mp.mpf(float(value))
