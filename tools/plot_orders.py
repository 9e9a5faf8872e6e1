#!/usr/bin/python3
"""Plot and tabulate the CSV of bench/order_plot.cpp (error against step size).

    build/bench/order_plot orders.csv
    /usr/bin/python3 tools/plot_orders.py orders.csv docs/orders.png

writes a log-log plot with one panel per problem (the ODE tableaus; the SDE schemes' strong error on
geometric Brownian motion and on Ornstein-Uhlenbeck), each method labelled with its fitted order (the
least-squares slope of log(error) against log(h) over the runs whose error is above 1e-12, where
rounding does not yet dominate), and prints the Markdown table of docs/ode.md.
"""
import argparse
import csv
import math
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = OrderedDict([
    ("ode", "ODE: y' = y - t^2 + 1 to t = 2 (global error)"),
    ("gbm", "SDE: GBM dX = 2X dt + X dW (strong error)"),
    ("ou", "SDE: OU dX = -X dt + 0.8(1+t) dW (strong error)"),
])
FLOOR = 1e-12


def read(path):
    curves = OrderedDict()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["panel"], row["method"])
            c = curves.setdefault(key, {"order": float(row["order"]), "h": [], "error": []})
            c["h"].append(float(row["h"]))
            c["error"].append(float(row["error"]))
    return curves


def slope(h, error):
    pts = [(math.log(a), math.log(b)) for a, b in zip(h, error) if b > FLOOR]
    n = len(pts)
    sx = sum(p[0] for p in pts)
    sy = sum(p[1] for p in pts)
    sxx = sum(p[0] ** 2 for p in pts)
    sxy = sum(p[0] * p[1] for p in pts)
    return (n * sxy - sx * sy) / (n * sxx - sx * sx)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("png")
    args = parser.parse_args()
    curves = read(args.csv)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.8))
    print("| problem | method | theory | fitted order |")
    print("|---|---|---|---|")
    for ax, (panel, title) in zip(axes, PANELS.items()):
        for i, ((p, method), c) in enumerate((k, v) for k, v in curves.items() if k[0] == panel):
            fitted = slope(c["h"], c["error"])
            ax.loglog(c["h"], c["error"], marker="osv^Dxp+*"[i % 9], linestyle="-", markersize=4,
                      label="%s (theory %g, fitted %.2f)" % (method, c["order"], fitted))
            print("| %s | %s | %g | %.2f |" % (panel, method, c["order"], fitted))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step size h")
        ax.set_ylabel("error")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Observed convergence orders of diffuse::ode (bench/order_plot.cpp, double)")
    fig.tight_layout()
    fig.savefig(args.png, dpi=90)


if __name__ == "__main__":
    main()
