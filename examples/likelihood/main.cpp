// likelihood: the log-density of points under a diffusion model by the probability-flow ODE
// (diffuse/sde/likelihood.hpp), beside the exact one. The model is a 2-D Gaussian mixture's exact
// noise prediction on a continuous process (VP, sub-VP or VE), so the model's density is known in
// closed form: the PF-ODE log-density of test points (exact divergence, and the Hutchinson-Skilling
// estimate over many probes) is printed beside the mixture's analytic log p_eps, and the PF-ODE
// density on a grid is drawn as a PNG with the analytic density's contours over it.
//
//   likelihood [--sde vp|sub_vp|ve] [--dataset ring|checkerboard] [--points N] [--probes K]
//              [--grid G] [--rtol R] [--seed S] [--max-error E] [--out DIR] [--quiet]
//
// Exit 1 when the exact-divergence log-density (with the mixture's own p_T at T) misses the analytic
// one by more than --max-error, or a Hutchinson mean misses the exact value by more than 5 standard
// errors (+ 1e-4 for the two solves' own errors): the run checks what it prints.
#include <diffuse/core/random.hpp>
#include <diffuse/models/gaussian_mixture.hpp>
#include <diffuse/sde/sde.hpp>

#include "../common/cli.hpp"
#include "../common/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

using T = double;
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

constexpr const char* usage = R"(usage: likelihood [options]
  --sde vp|sub_vp|ve             continuous process of the model (default vp)
  --dataset ring|checkerboard    the mixture the model is exact for (default ring: 8 Gaussians)
  --points N                     test points, 2..1000 (default 8: 6 from the data, 2 off it)
  --probes K                     Hutchinson probes per point, 2..100000 (default 200)
  --grid G                       density grid of G x G points for the PNG, 2..512 (default 64)
  --rtol R                       ODE tolerance (rtol = atol), in (0, 0.1] (default 1e-7)
  --seed S                       random seed, a non-negative integer (default 0)
  --max-error E                  largest accepted error of the exact-divergence log-density (default 1e-4)
  --out DIR                      output directory for density.png (default out)
  --quiet                        print the summary lines only
)";

struct arguments {
    std::string sde = "vp", dataset = "ring", out = "out";
    diffuse::index points = 8, probes = 200, grid = 64;
    double rtol = 1e-7, max_error = 1e-4;
    unsigned long long seed = 0;
    bool quiet = false;
};

arguments parse(int argc, char** argv) {
    arguments a;
    examples::for_each_option(argc, argv, usage, a.quiet, [&](const std::string& flag, const std::string& value) {
        if (flag == "--sde") a.sde = value;
        else if (flag == "--dataset") a.dataset = value;
        else if (flag == "--out") a.out = value;
        else if (flag == "--points") a.points = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--probes") a.probes = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--grid") a.grid = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--rtol") a.rtol = examples::parse_number<double>(flag, value);
        else if (flag == "--max-error") a.max_error = examples::parse_number<double>(flag, value);
        else if (flag == "--seed") a.seed = examples::parse_number<unsigned long long>(flag, value);
        else
            throw diffuse::invalid("option", flag,
                                   "--sde, --dataset, --points, --probes, --grid, --rtol, --seed, --max-error, --out, "
                                   "--quiet, --help");
    });
    diffuse::require(a.sde == "vp" || a.sde == "sub_vp" || a.sde == "ve", "--sde", a.sde, "vp, sub_vp, ve");
    diffuse::require(a.dataset == "ring" || a.dataset == "checkerboard", "--dataset", a.dataset, "ring, checkerboard");
    diffuse::require(a.points >= 2 && a.points <= 1000, "--points", a.points, "an integer in [2, 1000]");
    diffuse::require(a.probes >= 2 && a.probes <= 100000, "--probes", a.probes, "an integer in [2, 100000]");
    diffuse::require(a.grid >= 2 && a.grid <= 512, "--grid", a.grid, "an integer in [2, 512]");
    diffuse::require(a.rtol > 0.0 && a.rtol <= 0.1, "--rtol", a.rtol, "a number in (0, 0.1]");
    diffuse::require(a.max_error > 0.0, "--max-error", a.max_error, "a number > 0");
    return a;
}

using mixture = diffuse::models::gaussian_mixture<T>;
using process = diffuse::schedule::process<T>;

// The PF-ODE log-density of `x` (points of 2 values) with the exact score divergence: `with_prior` uses
// the process's Gaussian prior for p_T (what a trained model gets), `with_true_end` the mixture's own
// marginal at T (so the only error left is the ODE's).
template <class Score>
diffuse::ode::statistics exact_log_density(const Score& score, const mixture& target, const process& p, T rtol,
                                           const array& x, array& with_prior, array& with_true_end) {
    using namespace diffuse;
    const diffuse::index n = x.size() / 2;
    const auto divergence = [&target, &p](T t, const_view<T> y, view<T> out) {
        target.score_divergence(y, p.alpha(t), p.sigma(t), out);
    };
    sde::likelihood<T> lik(n, 2, {.rtol = rtol, .atol = rtol});
    with_prior.resize(n);
    const auto stats = lik.log_density(score, divergence, x, with_prior);
    array end(n);
    target.log_density_t(lik.code(), p.alpha(p.t_max()), p.sigma(p.t_max()), flat(end));
    with_true_end = end + lik.divergence_integral();
    return stats;
}

// The PF-ODE density on a G x G grid as the background (white to blue), the analytic density's
// contours at 10, 30, 50, 70 and 90% of its peak as dark lines, the test points as red dots.
void write_png(const std::filesystem::path& path, const mixture& target, const process& p, T eps, diffuse::index g,
               const array& grid_log_p, const array& points, double half_width, const std::string& title,
               double grid_error) {
    constexpr int size = 384;
    examples::scatter_plot plot(size, half_width, title);
    const auto pixels = plot.pixel_centres<array>();
    array analytic(size * size);
    target.log_density_t(diffuse::cflat(pixels), p.alpha(eps), p.sigma(eps), diffuse::flat(analytic));
    const T peak = analytic.maxCoeff();
    // The contour band of each pixel: how many of the levels its analytic density exceeds.
    std::vector<int> band(static_cast<std::size_t>(size * size));
    for (std::size_t i = 0; i < band.size(); ++i) {
        const T v = std::exp(analytic[static_cast<diffuse::index>(i)] - peak);
        band[i] = static_cast<int>(v > 0.1) + (v > 0.3) + (v > 0.5) + (v > 0.7) + (v > 0.9);
    }
    const examples::rgb contour{20, 20, 20};
    int pixel = 0;  // shade() visits the pixels row by row
    plot.shade([&](double x, double y) {
        const int row = pixel / size, col = pixel % size;
        ++pixel;
        const auto at = [&](int r, int c) { return band[static_cast<std::size_t>(r * size + c)]; };
        if ((col + 1 < size && at(row, col + 1) != at(row, col)) ||
            (row + 1 < size && at(row + 1, col) != at(row, col)))
            return contour;
        // The grid cell of the PF-ODE density this pixel lies in.
        const auto cell = [&](double v) {
            const auto k = static_cast<diffuse::index>((v + half_width) / (2 * half_width) * static_cast<double>(g));
            return std::clamp<diffuse::index>(k, 0, g - 1);
        };
        // 0..1 (the PF-ODE density can exceed the analytic peak by its error)
        const T s = std::min<T>(std::exp(grid_log_p[cell(y) * g + cell(x)] - peak), 1);
        return examples::rgb{static_cast<unsigned char>(255 - 200 * s), static_cast<unsigned char>(255 - 140 * s), 255};
    });
    const examples::rgb point_colour{200, 20, 30};
    plot.dots(points, point_colour);
    char background[96];
    std::snprintf(background, sizeof background, "PF-ODE density (darker: higher; max |log error| %.1e)", grid_error);
    plot.legend({{background, {55, 115, 255}},
                 {"analytic density: 10, 30, 50, 70, 90% of peak", contour},
                 {"test points", point_colour}});
    plot.write(path);
}

}  // namespace

int main(int argc, char** argv) {
    const auto parsed = examples::parse_or_usage(argc, argv, usage, parse);
    if (!parsed) return 2;
    const arguments& args = *parsed;
    try {
        using namespace diffuse;
        const mixture target = args.dataset == "ring" ? mixture::ring() : mixture::checkerboard();
        const process p = args.sde == "ve" ? process::ve() : args.sde == "sub_vp" ? process::sub_vp() : process::vp();
        // The mixture's exact noise prediction, told the process's model time, read as a score.
        const auto network = [&target, p](const_view<T> y, double model_time, view<T> out) {
            const T t = p.time_at_model_time(model_time);
            target.epsilon(y, p.alpha(t), p.sigma(t), out);
        };
        const sde::score_model<T, decltype(network)> score(network, p, predict::prediction::epsilon);
        const T eps = sde::likelihood_options<T>{}.eps;

        // Test points: from the data, the first two replaced by points off it.
        array x(2 * args.points);
        random::generator data(args.seed);
        target.sample(flat(x), data);
        const double half_width = args.dataset == "ring" ? 6.5 : 2.5;
        x.head(4) << 0.0, 0.0, 0.9 * half_width, -0.2 * half_width;

        array analytic(args.points), with_prior, with_true_end;
        target.log_density_t(cflat(x), p.alpha(eps), p.sigma(eps), flat(analytic));
        const auto stats = exact_log_density(score, target, p, args.rtol, x, with_prior, with_true_end);

        // Hutchinson: each point repeated `probes` times, one probe per copy, all in one solve.
        const diffuse::index copies = args.points * args.probes;
        array repeated(2 * copies), estimates(copies);
        for (diffuse::index i = 0; i < args.points; ++i)
            for (diffuse::index k = 0; k < args.probes; ++k)
                repeated.segment(2 * (i * args.probes + k), 2) = x.segment(2 * i, 2);
        sde::likelihood<T> hutchinson(copies, 2, {.rtol = args.rtol, .atol = args.rtol});
        random::generator probes(args.seed + 17);
        const auto h_stats =
            hutchinson.log_density_hutchinson(score, sde::probe::rademacher, probes, repeated, estimates);

        if (!args.quiet) {
            std::printf("process %s, %s mixture, eps = %g, rtol = atol = %g\n", args.sde.c_str(), args.dataset.c_str(),
                        eps, args.rtol);
            std::printf("%8s %8s %12s %12s %10s %12s %10s %22s %9s\n", "x", "y", "analytic", "PF-ODE", "error",
                        "prior p_T", "error", "Hutchinson (+- s.e.)", "bits/dim");
        }
        double worst = 0, worst_prior = 0, worst_z = 0;
        int hutchinson_failures = 0;
        for (diffuse::index i = 0; i < args.points; ++i) {
            const auto e = estimates.segment(i * args.probes, args.probes);
            const double mean = e.mean();
            const double se = std::sqrt((e - mean).square().sum() / static_cast<double>(args.probes - 1) /
                                        static_cast<double>(args.probes));
            const double error = with_true_end[i] - analytic[i], prior_error = with_prior[i] - analytic[i];
            worst = std::max(worst, std::abs(error));
            worst_prior = std::max(worst_prior, std::abs(prior_error));
            // Rademacher probes are exact where the Jacobian is diagonal (the ring's centre): se ~ 0 there,
            // and the two solves differ by their own error only.
            const double miss = std::abs(mean - with_prior[i]);
            if (miss > 5 * se + 1e-4) hutchinson_failures += 1;
            if (se > 1e-6) worst_z = std::max(worst_z, miss / se);
            if (!args.quiet) {
                char h[40];
                std::snprintf(h, sizeof h, "%.4f +- %.4f", mean, se);
                // bits per dimension of the continuous density (no dequantization offset: bins = width = 1)
                std::printf("%8.3f %8.3f %12.6f %12.6f %10.1e %12.6f %10.1e %22s %9.4f\n", x[2 * i], x[2 * i + 1],
                            analytic[i], with_true_end[i], error, with_prior[i], prior_error, h,
                            sde::bits_per_dim(with_true_end[i], 2, 1.0, 1.0));
            }
        }

        // The density on a grid (prior p_T, as a trained model would be evaluated).
        const diffuse::index g = args.grid;
        array grid_points(2 * g * g), grid_analytic(g * g), grid_prior, grid_true_end;
        for (diffuse::index row = 0; row < g; ++row)
            for (diffuse::index col = 0; col < g; ++col) {
                grid_points[2 * (row * g + col)] = (col + 0.5) / g * 2 * half_width - half_width;
                grid_points[2 * (row * g + col) + 1] = (row + 0.5) / g * 2 * half_width - half_width;
            }
        target.log_density_t(cflat(grid_points), p.alpha(eps), p.sigma(eps), flat(grid_analytic));
        const auto g_stats = exact_log_density(score, target, p, args.rtol, grid_points, grid_prior, grid_true_end);
        // The log-density error where the density is at least 1e-3 of its peak (below, both are ~0).
        const T peak = grid_analytic.maxCoeff();
        const auto visible = grid_analytic > peak + std::log(1e-3);
        const double grid_error = visible.select((grid_prior - grid_analytic).abs(), T(0)).maxCoeff();

        std::filesystem::create_directories(args.out);
        const std::filesystem::path png = std::filesystem::path(args.out) / "density.png";
        write_png(png, target, p, eps, g, grid_prior, x, half_width,
                  "PF-ODE likelihood, " + args.sde + ", " + args.dataset + " mixture", grid_error);

        std::printf(
            "exact divergence: max |log p error| %.2e with the true p_T (%ld evaluations), %.2e with the "
            "Gaussian prior\n",
            worst, static_cast<long>(stats.evaluations), worst_prior);
        std::printf(
            "Hutchinson (Rademacher, %ld probes a point, %ld evaluations): largest |mean - exact| %.2f "
            "standard errors (points where it exceeds 1e-6)\n",
            static_cast<long>(args.probes), static_cast<long>(h_stats.evaluations), worst_z);
        std::printf("density grid %ldx%ld (%ld evaluations): max |log p error| %.2e where p >= 1e-3 peak; wrote %s\n",
                    static_cast<long>(g), static_cast<long>(g), static_cast<long>(g_stats.evaluations), grid_error,
                    png.string().c_str());
        if (worst > args.max_error) {
            std::printf("FAILED: the exact-divergence error %.2e exceeds --max-error %g\n", worst, args.max_error);
            return 1;
        }
        if (hutchinson_failures > 0) {
            std::printf("FAILED: %d Hutchinson means miss the exact value by more than 5 standard errors + 1e-4\n",
                        hutchinson_failures);
            return 1;
        }
    } catch (const diffuse::error& e) {
        std::cerr << "likelihood: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
