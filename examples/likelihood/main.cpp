// likelihood: the log-density of points under a diffusion model by the probability-flow ODE
// (diffuse/sde/likelihood.hpp), beside the exact one. The model is a 2-D Gaussian mixture's exact
// noise prediction on a continuous process (VP, sub-VP or VE), so the model's density is known in
// closed form: the PF-ODE log-density of test points (exact divergence, and the Hutchinson-Skilling
// estimate over many probes) is printed beside the mixture's analytic log p_eps, and the PF-ODE
// density on a grid is drawn as a PNG with the analytic density's contours over it.
//
// With --model model.bin the model is instead the MLP examples/train_and_sample trained (its settings
// from model.txt beside it): the learned PF-ODE log-density of test points (divergence by central
// finite differences of the score in 2-D, checked against Hutchinson) beside the exact one where the
// data is a mixture, the mean log-likelihood of held-out data in nats and bits/dim, and the learned
// density on a grid as a PNG (with the true density's contours for the two mixtures).
//
//   likelihood [--sde vp|sub_vp|ve] [--dataset ring|checkerboard] [--points N] [--probes K]
//              [--grid G] [--rtol R] [--seed S] [--max-error E] [--out DIR] [--quiet]
//   likelihood --model PATH [--points N] [--probes K] [--held-out N] [--grid G] [--rtol R] [--seed S]
//              [--out DIR] [--quiet]
//
// Exit 1 when the exact-divergence log-density (with the mixture's own p_T at T) misses the analytic
// one by more than --max-error, or a Hutchinson mean misses the exact value by more than 5 standard
// errors (+ 1e-4 for the two solves' own errors): the run checks what it prints. With --model, exit 1
// when a Hutchinson mean misses the finite-difference value by more than 5 standard errors + 1e-3.
#include <diffuse/core/random.hpp>
#include <diffuse/models/gaussian_mixture.hpp>
#include <diffuse/nn/serialize.hpp>
#include <diffuse/sde/sde.hpp>

#include "../common/cli.hpp"
#include "../common/plot.hpp"
#include "../common/toy_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace {

using T = double;
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

constexpr const char* usage = R"(usage: likelihood [options]
  --model PATH                   the weights examples/train_and_sample wrote (model.bin, with model.txt
                                 beside it): evaluate the trained MLP instead of the exact mixture model
  --sde vp|sub_vp|ve             continuous process of the exact model (default vp; not with --model)
  --dataset ring|checkerboard    the mixture the exact model is exact for (default ring: 8 Gaussians;
                                 not with --model, which trained on the dataset model.txt names)
  --points N                     test points, 2..1000 (default 8: 6 from the data, 2 off it)
  --probes K                     Hutchinson probes per point, 2..100000 (default 200)
  --held-out N                   with --model: held-out data points, 2..100000 (default 1000)
  --grid G                       density grid of G x G points for the PNG, 2..512 (default 64)
  --rtol R                       ODE tolerance (rtol = atol), in (0, 0.1] (default 1e-7, 1e-5 with --model)
  --seed S                       random seed, a non-negative integer (default 0)
  --max-error E                  largest accepted error of the exact-divergence log-density (default 1e-4)
  --out DIR                      output directory for density.png (default out)
  --quiet                        print the summary lines only
)";

struct arguments {
    std::string sde = "vp", dataset = "ring", out = "out", model;
    diffuse::index points = 8, probes = 200, grid = 64, held_out = 1000;
    double rtol = 1e-7, max_error = 1e-4;
    unsigned long long seed = 0;
    bool quiet = false;
};

arguments parse(int argc, char** argv) {
    arguments a;
    bool exact_model_flag = false, rtol_set = false;
    examples::for_each_option(argc, argv, usage, a.quiet, [&](const std::string& flag, const std::string& value) {
        exact_model_flag = exact_model_flag || flag == "--sde" || flag == "--dataset" || flag == "--max-error";
        rtol_set = rtol_set || flag == "--rtol";
        if (flag == "--sde") a.sde = value;
        else if (flag == "--dataset") a.dataset = value;
        else if (flag == "--model") a.model = value;
        else if (flag == "--held-out") a.held_out = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--out") a.out = value;
        else if (flag == "--points") a.points = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--probes") a.probes = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--grid") a.grid = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--rtol") a.rtol = examples::parse_number<double>(flag, value);
        else if (flag == "--max-error") a.max_error = examples::parse_number<double>(flag, value);
        else if (flag == "--seed") a.seed = examples::parse_number<unsigned long long>(flag, value);
        else
            throw diffuse::invalid("option", flag,
                                   "--model, --sde, --dataset, --points, --probes, --held-out, --grid, --rtol, --seed, "
                                   "--max-error, --out, --quiet, --help");
    });
    if (!a.model.empty()) {
        diffuse::require(!exact_model_flag, "option", "--sde, --dataset or --max-error",
                         "none of them with --model (model.txt names the dataset)");
        if (!rtol_set) a.rtol = 1e-5;
    }
    diffuse::require(a.held_out >= 2 && a.held_out <= 100000, "--held-out", a.held_out, "an integer in [2, 100000]");
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

// A density on a G x G grid as the background (white to blue), the reference density's contours at
// 10, 30, 50, 70 and 90% of its peak as dark lines (when `reference` fills the log-density of the
// pixel centres), the test points as red dots. The background is scaled to the reference's peak (or
// its own without one).
void write_png(const std::filesystem::path& path, double half_width, const std::string& title, diffuse::index g,
               const array& grid_log_p, const std::function<void(const array&, array&)>& reference,
               const std::string& background, const std::string& contours, const array& points) {
    constexpr int size = 384;
    examples::scatter_plot plot(size, half_width, title);
    // The contour band of each pixel: how many of the levels its reference density exceeds.
    std::vector<int> band(static_cast<std::size_t>(size * size), 0);
    T peak = grid_log_p.maxCoeff();
    if (reference) {
        array analytic(size * size);
        reference(plot.pixel_centres<array>(), analytic);
        peak = analytic.maxCoeff();
        for (std::size_t i = 0; i < band.size(); ++i) {
            const T v = std::exp(analytic[static_cast<diffuse::index>(i)] - peak);
            band[i] = static_cast<int>(v > 0.1) + (v > 0.3) + (v > 0.5) + (v > 0.7) + (v > 0.9);
        }
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
        // The grid cell of the density this pixel lies in.
        const auto cell = [&](double v) {
            const auto k = static_cast<diffuse::index>((v + half_width) / (2 * half_width) * static_cast<double>(g));
            return std::clamp<diffuse::index>(k, 0, g - 1);
        };
        // 0..1 (the density can exceed the reference's peak by its error)
        const T s = std::min<T>(std::exp(grid_log_p[cell(y) * g + cell(x)] - peak), 1);
        return examples::rgb{static_cast<unsigned char>(255 - 200 * s), static_cast<unsigned char>(255 - 140 * s), 255};
    });
    const examples::rgb point_colour{200, 20, 30};
    plot.dots(points, point_colour);
    std::vector<std::pair<std::string, examples::rgb>> legend{{background, {55, 115, 255}}};
    if (reference) legend.push_back({contours, contour});
    legend.push_back({"test points", point_colour});
    plot.legend(legend);
    plot.write(path);
}

// G x G points at the centres of the cells of [-half_width, half_width]^2, row by row from the bottom.
array grid_points(diffuse::index g, double half_width) {
    array out(2 * g * g);
    for (diffuse::index row = 0; row < g; ++row)
        for (diffuse::index col = 0; col < g; ++col) {
            out[2 * (row * g + col)] = (col + 0.5) / g * 2 * half_width - half_width;
            out[2 * (row * g + col) + 1] = (row + 0.5) / g * 2 * half_width - half_width;
        }
    return out;
}

// The mean and standard error of each point's `probes` consecutive Hutchinson estimates.
std::pair<double, double> mean_and_error(const array& estimates, diffuse::index point, diffuse::index probes) {
    const auto e = estimates.segment(point * probes, probes);
    const double mean = e.mean();
    return {mean, std::sqrt((e - mean).square().sum() / static_cast<double>(probes - 1) / static_cast<double>(probes))};
}

// Each of the n points of `x` repeated `probes` times (one Hutchinson probe per copy, all in one solve).
array repeat_points(const array& x, diffuse::index probes) {
    const diffuse::index n = x.size() / 2;
    array repeated(2 * n * probes);
    for (diffuse::index i = 0; i < n; ++i)
        for (diffuse::index k = 0; k < probes; ++k) repeated.segment(2 * (i * probes + k), 2) = x.segment(2 * i, 2);
    return repeated;
}

// The MLP examples/train_and_sample trained (objective epsilon, v_prediction or sample), as the model of
// the VP process (score_sde's beta_min 0.1, beta_max 20, the continuous limit of the 1000-step
// linear-beta DDPM it trained on). At time t the network is told the DDPM timestep whose alphas_cumprod
// equals the process's alpha(t)^2 and sees x scaled by the same c_in as in training, in double precision
// (the float weights converted on load).
class trained_network {
public:
    explicit trained_network(const std::filesystem::path& weights)
        : settings_(examples::read_settings(weights)),
          levels_(false),
          network_(examples::toy_network<T>(settings_.width)),
          process_(process::vp(0.1, 20.0, diffuse::schedule::model_times::continuous_time)) {
        // sde::likelihood integrates to the process's end T = 1, where the flow's drift f = -1/(1 - t) is singular.
        diffuse::require(settings_.objective != "flow", "objective (model.txt)", settings_.objective,
                         "epsilon, v_prediction, sample (the flow process's PF-ODE is singular at T = 1)");
        auto loaded = diffuse::nn::load_mlp<T>(weights.string());
        diffuse::require(loaded.widths() == network_.net().widths(), "layer widths of", weights.string(),
                         "those of width " + std::to_string(settings_.width) + " (model.txt)");
        network_.net() = std::move(loaded);
    }

    const examples::training_settings& settings() const { return settings_; }
    const process& continuous_process() const { return process_; }
    diffuse::predict::prediction prediction() const { return diffuse::predict::parse_prediction(settings_.objective); }

    // The network's output at continuous time t (the process's model time is t itself).
    void operator()(diffuse::const_view<T> x, double t, diffuse::view<T> out) const {
        const T alpha = process_.alpha(static_cast<T>(t)), sigma = process_.sigma(static_cast<T>(t));
        if (scaled_.size() < x.size()) scaled_.resize(x.size());  // grows with the batch only
        scaled_.head(x.size()) = x * examples::input_scale<T>(alpha, sigma, static_cast<T>(settings_.sigma_data));
        network_(diffuse::const_view<T>(scaled_.data(), x.size()), levels_.time_of(alpha * alpha), out);
    }

private:
    examples::training_settings settings_;
    examples::noise_levels<T> levels_;
    mutable diffuse::nn::time_conditioned_mlp<T> network_;  // its call keeps a workspace
    process process_;
    mutable array scaled_;
};

// div score(t, x) per point by central differences along the two axes (4 score calls): h =
// cbrt(machine epsilon) max(1, max|x|) as in sde::likelihood's Hutchinson, error about 1e-10 relative.
template <class Score>
class finite_difference_divergence {
public:
    finite_difference_divergence(const Score& score, diffuse::index points)
        : score_(score), shifted_(2, points), plus_(2, points), minus_(2, points) {}

    void operator()(T t, diffuse::const_view<T> x, diffuse::view<T> out) {
        const Eigen::Map<const Eigen::Matrix<T, 2, Eigen::Dynamic>> centre(x.data(), 2, x.size() / 2);
        const T h = std::cbrt(std::numeric_limits<T>::epsilon()) * std::max(T(1), x.abs().maxCoeff());
        out.setZero();
        for (int axis = 0; axis < 2; ++axis) {
            shifted_ = centre;
            shifted_.row(axis).array() += h;
            score_(t, diffuse::const_view<T>(shifted_.data(), x.size()), diffuse::view<T>(plus_.data(), x.size()));
            shifted_.row(axis).array() -= 2 * h;
            score_(t, diffuse::const_view<T>(shifted_.data(), x.size()), diffuse::view<T>(minus_.data(), x.size()));
            out += (plus_.row(axis) - minus_.row(axis)).array().transpose() / (2 * h);
        }
    }

private:
    const Score& score_;
    Eigen::Matrix<T, 2, Eigen::Dynamic> shifted_, plus_, minus_;
};

// The learned log-density in data units of the n points of `x`: the network saw x scaled by `scale`,
// so log p(x) = log p_scaled(scale x) + 2 log(scale).
template <class Score>
array learned_log_density(const Score& score, T eps, T rtol, T scale, const array& x) {
    const diffuse::index n = x.size() / 2;
    diffuse::sde::likelihood<T> lik(n, 2, {.rtol = rtol, .atol = rtol, .eps = eps});
    finite_difference_divergence<Score> divergence(score, n);
    array out(n);
    const array scaled = scale * x;
    lik.log_density(score, std::ref(divergence), scaled, out);
    return out + 2 * std::log(scale);
}

int run_trained(const arguments& args) {
    using namespace diffuse;
    const trained_network network(args.model);
    const examples::dataset<T> data(network.settings().dataset);
    const T scale = static_cast<T>(data.scale(network.settings().sigma_data));
    const process& p = network.continuous_process();
    const sde::score_model<T, const trained_network&> score(network, p, network.prediction());
    // Start where the network was trained: DDPM's first level has sigma = 0.01 (alpha(1e-3)^2 of the
    // VP process is alphas_cumprod at timestep 0.1); below it the network extrapolates.
    const T eps = 1e-3;
    const auto* mixture = data.mixture();
    // The true density at eps, in data units: x_eps = alpha(eps) scale y + sigma(eps) noise, y ~ data.
    const auto exact = [&](const array& x, array& out) {
        out.resize(x.size() / 2);
        const array scaled = scale * x;
        mixture->log_density_t(cflat(scaled), p.alpha(eps) * scale, p.sigma(eps), flat(out));
        out += 2 * std::log(scale);
    };

    // Test points: from the data, the first two replaced by points off it.
    const double half_width = data.half_width();
    array x(2 * args.points);
    random::generator rng(args.seed);
    data.sample(flat(x), rng);
    x.head(4) << 0.0, 0.0, 0.9 * half_width, -0.2 * half_width;
    const array learned = learned_log_density(score, eps, static_cast<T>(args.rtol), scale, x);
    array truth;
    if (mixture != nullptr) exact(x, truth);

    // Hutchinson (the library's finite-difference J z) on the same points: checks the divergence above.
    const array repeated = scale * repeat_points(x, args.probes);
    array estimates(args.points * args.probes);
    sde::likelihood<T> hutchinson(args.points * args.probes, 2,
                                  {.rtol = static_cast<T>(args.rtol), .atol = static_cast<T>(args.rtol), .eps = eps});
    random::generator probes(args.seed + 17);
    hutchinson.log_density_hutchinson(score, sde::probe::rademacher, probes, repeated, estimates);
    estimates += 2 * std::log(scale);

    const examples::training_settings& s = network.settings();
    if (!args.quiet) {
        std::printf(
            "trained MLP %s (width %ld, objective %s, %s data, sigma_data %g): process %s, eps = %g, rtol = "
            "atol = %g\n",
            args.model.c_str(), static_cast<long>(s.width), s.objective.c_str(), s.dataset.c_str(), s.sigma_data, "vp",
            eps, args.rtol);
        std::printf("%8s %8s %12s %22s", "x", "y", "learned", "Hutchinson (+- s.e.)");
        std::printf(mixture != nullptr ? " %12s %10s\n" : "\n", "exact", "error");
    }
    int hutchinson_failures = 0;
    for (diffuse::index i = 0; i < args.points; ++i) {
        const auto [mean, se] = mean_and_error(estimates, i, args.probes);
        if (std::abs(mean - learned[i]) > 5 * se + 1e-3) hutchinson_failures += 1;
        if (args.quiet) continue;
        char h[40];
        std::snprintf(h, sizeof h, "%.4f +- %.4f", mean, se);
        std::printf("%8.3f %8.3f %12.6f %22s", x[2 * i], x[2 * i + 1], learned[i], h);
        if (mixture != nullptr) std::printf(" %12.6f %10.2e", truth[i], learned[i] - truth[i]);
        std::printf("\n");
    }

    // Held-out data: the mean log-likelihood, and for a mixture the mean exact log-density of the same
    // points (a Monte Carlo estimate of minus the entropy; the difference estimates KL(data || model)).
    array held_out(2 * args.held_out);
    random::generator held_out_rng(args.seed + 1'000'003);
    data.sample(flat(held_out), held_out_rng);
    const array held_out_learned = learned_log_density(score, eps, static_cast<T>(args.rtol), scale, held_out);
    const double mean = held_out_learned.mean();
    const double se = std::sqrt((held_out_learned - mean).square().sum() / static_cast<double>(args.held_out - 1) /
                                static_cast<double>(args.held_out));
    // bits per dimension of the continuous density (no dequantization offset: bins = width = 1)
    std::printf("held-out log-likelihood: mean %.4f nats (+- %.4f), %.4f bits/dim over %ld points\n", mean, se,
                sde::bits_per_dim<double>(mean, 2, 1.0, 1.0), static_cast<long>(args.held_out));
    if (mixture != nullptr) {
        array held_out_exact;
        exact(held_out, held_out_exact);
        const array gap = held_out_exact - held_out_learned;
        std::printf(
            "exact mixture on the same points: mean %.4f nats, %.4f bits/dim (minus its entropy); KL(data || "
            "model) ~ %.4f nats (+- %.4f)\n",
            held_out_exact.mean(), sde::bits_per_dim<double>(held_out_exact.mean(), 2, 1.0, 1.0), gap.mean(),
            std::sqrt((gap - gap.mean()).square().sum() / static_cast<double>(args.held_out - 1) /
                      static_cast<double>(args.held_out)));
    }

    // The learned density on a grid, and its mass inside the window (1 minus the tails and the
    // midpoint rule's error).
    const diffuse::index g = args.grid;
    const array grid = grid_points(g, half_width);
    const array grid_learned = learned_log_density(score, eps, static_cast<T>(args.rtol), scale, grid);
    const double cell = std::pow(2 * half_width / static_cast<double>(g), 2);
    const double mass = grid_learned.exp().sum() * cell;
    std::filesystem::create_directories(args.out);
    const std::filesystem::path png = std::filesystem::path(args.out) / "density.png";
    std::function<void(const array&, array&)> reference;
    if (mixture != nullptr) reference = exact;
    char background[96];
    std::snprintf(background, sizeof background, "learned PF-ODE density (darker: higher; %ldx%ld grid)",
                  static_cast<long>(g), static_cast<long>(g));
    write_png(png, half_width, "learned density, MLP (" + s.objective + "), " + s.dataset, g, grid_learned, reference,
              background, "true density: 10, 30, 50, 70, 90% of peak", x);
    std::printf("density grid %ldx%ld: mass %.4f inside the window; wrote %s\n", static_cast<long>(g),
                static_cast<long>(g), mass, png.string().c_str());
    if (hutchinson_failures > 0) {
        std::printf("FAILED: %d Hutchinson means miss the finite-difference value by more than 5 s.e. + 1e-3\n",
                    hutchinson_failures);
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const auto parsed = examples::parse_or_usage(argc, argv, usage, parse);
    if (!parsed) return 2;
    const arguments& args = *parsed;
    try {
        using namespace diffuse;
        if (!args.model.empty()) return run_trained(args);
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
        const array repeated = repeat_points(x, args.probes);
        array estimates(copies);
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
            const auto [mean, se] = mean_and_error(estimates, i, args.probes);
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
        const array grid = grid_points(g, half_width);
        array grid_analytic(g * g), grid_prior, grid_true_end;
        target.log_density_t(cflat(grid), p.alpha(eps), p.sigma(eps), flat(grid_analytic));
        const auto g_stats = exact_log_density(score, target, p, args.rtol, grid, grid_prior, grid_true_end);
        // The log-density error where the density is at least 1e-3 of its peak (below, both are ~0).
        const T peak = grid_analytic.maxCoeff();
        const auto visible = grid_analytic > peak + std::log(1e-3);
        const double grid_error = visible.select((grid_prior - grid_analytic).abs(), T(0)).maxCoeff();

        std::filesystem::create_directories(args.out);
        const std::filesystem::path png = std::filesystem::path(args.out) / "density.png";
        char background[96];
        std::snprintf(background, sizeof background, "PF-ODE density (darker: higher; max |log error| %.1e)",
                      grid_error);
        const auto analytic_at = [&](const array& pixels, array& out) {
            out.resize(pixels.size() / 2);
            target.log_density_t(cflat(pixels), p.alpha(eps), p.sigma(eps), flat(out));
        };
        write_png(png, half_width, "PF-ODE likelihood, " + args.sde + ", " + args.dataset + " mixture", g, grid_prior,
                  analytic_at, background, "analytic density: 10, 30, 50, 70, 90% of peak", x);

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
