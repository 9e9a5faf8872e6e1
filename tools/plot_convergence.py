#!/usr/bin/python3
"""Plot and tabulate the CSV of bench/convergence_plot.cpp (error against model evaluations).

    build/bench/convergence_plot convergence.csv
    /usr/bin/python3 tools/plot_convergence.py convergence.csv docs/convergence.png

writes the log-log plot (one panel per family, colour = the formula's order, grey reference slopes
of orders 1 to 4) and prints the Markdown table of docs/convergence.md: evaluations per step,
order, the fitted slope of -log(error) against log(evaluations) on two ranges, and the error at
100 evaluations (log-log interpolation between the two nearest runs). Samplers whose errors agree
to 1e-9 relative on every run (the same update written differently) share one line of the plot.
"""
import argparse
import csv
import math
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER_COLOURS = {1: "tab:blue", 2: "tab:orange", 3: "tab:green", 4: "tab:red"}
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "v", "D", "P"]
MID_RANGE = (32, 128)  # steps: the range the convergence tests fit for most samplers
LATE_RANGE = (128, 512)  # steps: the largest runs, nearest the asymptotic order
ADAPTIVE_LAST = 5  # the adaptive solver: the five tightest tolerances


def read(path):
    curves = OrderedDict()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            c = curves.setdefault(row["sampler"], {"family": row["family"], "order": int(row["order"]), "runs": []})
            c["runs"].append({
                "steps": int(row["steps"]) if row["steps"] else None,
                "rtol": float(row["rtol"]) if row["rtol"] else None,
                "evaluations": int(row["evaluations"]),
                "error": float(row["error"]),
            })
    return curves


def slope(runs):
    """Least-squares slope of -log(error) against log(evaluations)."""
    xs = [math.log(r["evaluations"]) for r in runs]
    ys = [-math.log(r["error"]) for r in runs]
    n, sx, sy = len(xs), sum(xs), sum(ys)
    sxx, sxy = sum(x * x for x in xs), sum(x * y for x, y in zip(xs, ys))
    return (n * sxy - sx * sy) / (n * sxx - sx * sx)


def in_steps(runs, lo, hi):
    return [r for r in runs if r["steps"] is not None and lo <= r["steps"] <= hi]


def error_at(runs, evaluations):
    """Log-log interpolation of the error at the given number of evaluations."""
    pts = sorted((r["evaluations"], r["error"]) for r in runs)
    for (e0, r0), (e1, r1) in zip(pts, pts[1:]):
        if e0 <= evaluations <= e1 and e1 > e0:
            w = math.log(evaluations / e0) / math.log(e1 / e0)
            return math.exp(math.log(r0) + w * math.log(r1 / r0))
    return None


def per_step(runs):
    """Evaluations per step from the two largest runs, and the fixed extra (warm-up) evaluations."""
    a, b = sorted(in_steps(runs, 1, 10**9), key=lambda r: r["steps"])[-2:]
    rate = (b["evaluations"] - a["evaluations"]) / (b["steps"] - a["steps"])
    extra = b["evaluations"] - rate * b["steps"]
    return rate, extra


def same(a, b):
    return len(a["runs"]) == len(b["runs"]) and all(
        abs(x["error"] - y["error"]) <= 1e-9 * abs(y["error"]) and x["evaluations"] == y["evaluations"]
        for x, y in zip(a["runs"], b["runs"]))


def plot(curves, out):
    families = list(OrderedDict.fromkeys(c["family"] for c in curves.values()))
    fig, axes = plt.subplots(2, 2, figsize=(15, 9), sharex=True, sharey=True)
    for ax, family in zip(axes.flat, families):
        # merge samplers with identical results into one labelled line
        lines = []
        for name, c in curves.items():
            if c["family"] != family:
                continue
            for line in lines:
                if same(line["curve"], c):
                    line["names"].append(name)
                    break
            else:
                lines.append({"curve": c, "names": [name]})
        used = {}
        for line in lines:
            c = line["curve"]
            k = used.get(c["order"], 0)
            used[c["order"]] = k + 1
            runs = sorted(c["runs"], key=lambda r: r["evaluations"])
            ax.loglog([r["evaluations"] for r in runs], [r["error"] for r in runs], color=ORDER_COLOURS[c["order"]],
                      linestyle=LINESTYLES[k % len(LINESTYLES)], marker=MARKERS[k % len(MARKERS)], markersize=3.5,
                      linewidth=1.3, label="\n= ".join(line["names"]) + f"  [{c['order']}]")
        # reference slopes from error 1e-1 at 200 evaluations, to the upper right of the data
        for p in (1, 2, 3, 4):
            xs = [200, 2e4]
            ys = [1e-1 * (x / xs[0]) ** -p for x in xs]
            ax.loglog(xs, ys, color="0.55", linewidth=0.9, linestyle=(0, (1, 2)), zorder=0)
            ax.text(xs[1] * 1.15, ys[1], f"order {p}", color="0.4", fontsize=7, va="center")
        ax.set_title(family, fontsize=10)
        ax.set_xlim(3, 1e5)
        ax.set_ylim(3e-10, 20)
        ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    for ax in axes[1]:
        ax.set_xlabel("model evaluations")
    for ax in axes[:, 0]:
        ax.set_ylabel("RMS error of the final sample")
    fig.suptitle("Probability-flow ODE of the 8-Gaussian ring, sigma 20 -> 0.05 log-uniform, double; "
                 "colour and [n]: the formula's order", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(out, dpi=100, pil_kwargs={"optimize": True})


def table(curves):
    print(f"| sampler | evaluations per step | order | slope {MID_RANGE[0]}-{MID_RANGE[1]} steps "
          f"| slope {LATE_RANGE[0]}-{LATE_RANGE[1]} steps | error at 100 evaluations |")
    print("|---|---|---|---|---|---|")
    for name, c in curves.items():
        runs = c["runs"]
        e100 = error_at(runs, 100)
        e100 = f"{e100:.2e}" if e100 is not None else "-"
        if runs[0]["steps"] is None:
            last = sorted(runs, key=lambda r: r["evaluations"])[-ADAPTIVE_LAST:]
            print(f"| {name} | adaptive ({runs[0]['evaluations']} - {runs[-1]['evaluations']} per run) | {c['order']} "
                  f"| - | {slope(last):.2f} (tightest {ADAPTIVE_LAST} tolerances) | {e100} |")
            continue
        rate, extra = per_step(runs)
        evals = f"{rate:g}" + (f" (+{extra:g})" if extra > 0 else "")
        print(f"| {name} | {evals} | {c['order']} | {slope(in_steps(runs, *MID_RANGE)):.2f} "
              f"| {slope(in_steps(runs, *LATE_RANGE)):.2f} | {e100} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="output of build/bench/convergence_plot")
    parser.add_argument("png", help="the plot to write, e.g. docs/convergence.png")
    args = parser.parse_args()
    curves = read(args.csv)
    plot(curves, args.png)
    table(curves)


if __name__ == "__main__":
    main()
