// sample_gmm: samples a 2-D Gaussian mixture with DDPM or DDIM driven by the mixture's exact
// denoiser (or, with --sampler pc / pf-ode, the score-SDE samplers of diffuse/sde driven by the
// mixture's exact prediction on a continuous process), writes the samples as CSV and a PNG over the
// target density, and prints the energy distance to the target beside the distance between two
// independent sets of true samples.
//
//   sample_gmm [--sampler ddim|ddpm|pc|pf-ode] [--sde vp|sub_vp|ve] [--steps N] [--eta E]
//              [--seed S] [--count N]
//              [--dataset ring|checkerboard] [--prediction epsilon|sample|v_prediction]
//              [--schedule linear|scaled_linear|squaredcos_cap_v2|sigmoid]
//              [--spacing leading|trailing|linspace] [--out DIR] [--quiet]
#include <diffuse/core/random.hpp>
#include <diffuse/models/discrete_model.hpp>
#include <diffuse/models/gaussian_mixture.hpp>
#include <diffuse/models/metrics.hpp>
#include <diffuse/sampler/ddim.hpp>
#include <diffuse/sampler/ddpm.hpp>
#include <diffuse/sampler/sample.hpp>
#include <diffuse/sde/sde.hpp>

#include "../common/cli.hpp"
#include "../common/plot.hpp"
#include "../common/progress.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace {

using T = float;
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

constexpr const char* usage = R"(usage: sample_gmm [options]
  --sampler ddim|ddpm|pc|pf-ode  sampler (default ddim); pc: score_sde's predictor-corrector
                                 (reverse diffusion + Langevin), pf-ode: the probability-flow ODE
                                 (adaptive Dormand-Prince, rtol = atol = 1e-5)
  --sde vp|sub_vp|ve             continuous process of pc and pf-ode (default vp)
  --steps N                      inference steps, 1..1000 (default 100; pf-ode chooses its own)
  --eta E                        DDIM eta >= 0 (default 0; ignored by ddpm)
  --seed S                       random seed, a non-negative integer (default 0)
  --count N                      number of samples, 1..1000000 (default 4000)
  --dataset ring|checkerboard    target mixture (default ring: 8 Gaussians on a circle)
  --prediction epsilon|sample|v_prediction   what the model predicts (default epsilon)
  --schedule linear|scaled_linear|squaredcos_cap_v2|sigmoid   beta schedule (default linear)
  --spacing leading|trailing|linspace        timestep spacing (default trailing)
  --out DIR                      output directory for samples.csv and samples.png (default out)
  --quiet                        no progress bar
)";

struct arguments {
    std::string sampler = "ddim", sde = "vp", dataset = "ring", prediction = "epsilon", schedule = "linear",
                spacing = "trailing";
    std::string out = "out";
    diffuse::index steps = 100, count = 4000;
    double eta = 0.0;
    unsigned long long seed = 0;
    bool quiet = false;
};

arguments parse(int argc, char** argv) {
    arguments a;
    examples::for_each_option(argc, argv, usage, a.quiet, [&](const std::string& flag, const std::string& value) {
        if (flag == "--sampler") a.sampler = value;
        else if (flag == "--sde") a.sde = value;
        else if (flag == "--dataset") a.dataset = value;
        else if (flag == "--prediction") a.prediction = value;
        else if (flag == "--schedule") a.schedule = value;
        else if (flag == "--spacing") a.spacing = value;
        else if (flag == "--out") a.out = value;
        else if (flag == "--steps") a.steps = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--count") a.count = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--eta") a.eta = examples::parse_number<double>(flag, value);
        else if (flag == "--seed") a.seed = examples::parse_number<unsigned long long>(flag, value);
        else
            throw diffuse::invalid(
                "option", flag,
                "--sampler, --sde, --steps, --eta, --seed, --count, --dataset, --prediction, --schedule, "
                "--spacing, --out, --quiet, --help");
    });
    diffuse::require(a.sampler == "ddim" || a.sampler == "ddpm" || a.sampler == "pc" || a.sampler == "pf-ode",
                     "--sampler", a.sampler, "ddim, ddpm, pc, pf-ode");
    diffuse::require(a.sde == "vp" || a.sde == "sub_vp" || a.sde == "ve", "--sde", a.sde, "vp, sub_vp, ve");
    diffuse::require(a.dataset == "ring" || a.dataset == "checkerboard", "--dataset", a.dataset, "ring, checkerboard");
    diffuse::require(a.count >= 1 && a.count <= 1'000'000, "--count", a.count, "an integer in [1, 1000000]");
    diffuse::require(std::isfinite(a.eta) && a.eta >= 0.0, "--eta", a.eta, "a finite number >= 0");
    return a;
}

void write_csv(const std::filesystem::path& path, const array& points) {
    std::ofstream file(path);
    if (!file) throw diffuse::invalid("--out", path.string(), "a writable directory");
    file << "x,y\n";
    for (diffuse::index i = 0; i + 1 < points.size(); i += 2) file << points[i] << ',' << points[i + 1] << '\n';
}

// Target density as a white-to-blue background, samples as dark red dots.
void write_png(const std::filesystem::path& path, const diffuse::models::gaussian_mixture<T>& target,
               const array& points, T half_width, const std::string& title, double energy_distance) {
    constexpr int size = 512;
    examples::scatter_plot plot(size, static_cast<double>(half_width), title);
    array pixels(2 * size * size), log_p(size * size);
    for (int row = 0; row < size; ++row)
        for (int col = 0; col < size; ++col) {
            const auto i = static_cast<diffuse::index>(row * size + col);
            pixels[2 * i] = (static_cast<T>(col) + T(0.5)) / size * 2 * half_width - half_width;
            pixels[2 * i + 1] = half_width - (static_cast<T>(row) + T(0.5)) / size * 2 * half_width;
        }
    target.log_density(diffuse::cflat(pixels), diffuse::flat(log_p));
    const T peak = log_p.maxCoeff();
    int pixel = 0;  // shade() visits the pixels row by row, as log_p holds them
    plot.shade([&](double, double) {
        const T shade = std::exp(log_p[pixel++] - peak);  // 0..1
        return examples::rgb{static_cast<unsigned char>(255 - 200 * shade),
                             static_cast<unsigned char>(255 - 140 * shade), 255};
    });
    const examples::rgb sample_colour{170, 20, 30};
    plot.dots(points, sample_colour);
    char distance[64];
    std::snprintf(distance, sizeof distance, "samples (energy distance %.4f)", energy_distance);
    plot.legend({{distance, sample_colour}, {"target density (darker: higher)", {55, 115, 255}}});
    plot.write(path);
}

// pc and pf-ode: the mixture's exact prediction on a continuous process, told the process's model
// time, read as a score by sde::score_model. Returns the number of model evaluations.
diffuse::index sample_score_sde(const arguments& args, const diffuse::models::gaussian_mixture<T>& target,
                                diffuse::predict::prediction prediction, array& x, diffuse::random::generator& noise) {
    using namespace diffuse;
    const auto process = args.sde == "ve"       ? schedule::process<T>::ve()
                         : args.sde == "sub_vp" ? schedule::process<T>::sub_vp()
                                                : schedule::process<T>::vp();
    const auto network = [&target, process, prediction](const_view<T> y, double model_time, view<T> out) {
        const T t = process.time_at_model_time(model_time), a = process.alpha(t), s = process.sigma(t);
        switch (prediction) {
            case predict::prediction::sample:
                return target.x0(y, a, s, out);
            case predict::prediction::v_prediction:
                return target.v(y, a, s, out);
            default:
                return target.epsilon(y, a, s, out);
        }
    };
    const sde::score_model<T, decltype(network)> score(network, process, prediction);
    process.sample_prior(flat(x), noise);
    if (args.sampler == "pf-ode") {
        sde::pf_ode_sampler<T> pf(x.size());
        return pf.decode(score, x).evaluations;
    }
    sde::pc_sampler<T> pc(x.size(), 2, {.steps = args.steps});
    return pc.sample(score, x, noise);
}

}  // namespace

int main(int argc, char** argv) {
    arguments args;
    try {
        args = parse(argc, argv);
    } catch (const diffuse::error& e) {
        std::cerr << e.what() << "\n\n" << usage;
        return 2;
    }
    try {
        using namespace diffuse;
        const auto target =
            args.dataset == "ring" ? models::gaussian_mixture<T>::ring() : models::gaussian_mixture<T>::checkerboard();
        const auto noise_schedule = schedule::discrete<T>::named(schedule::parse_beta_schedule(args.schedule), 1000,
                                                                 args.schedule == "scaled_linear" ? 0.00085 : 1e-4,
                                                                 args.schedule == "scaled_linear" ? 0.012 : 0.02);
        const auto prediction = predict::parse_prediction(args.prediction);
        const auto grid = schedule::spaced_timesteps(1000, args.steps, schedule::parse_spacing(args.spacing));
        const models::discrete_model<T, models::gaussian_mixture<T>> model(target, noise_schedule, prediction);

        // Start from pure noise: x_T ~ N(0, I) (the schedules end at alphabar ~ 0).
        array x(2 * args.count);
        random::generator noise(args.seed);
        noise.normal(x);
        sample_options<T> options;
        if (!args.quiet) {
            options.progress = [](diffuse::index done, diffuse::index total) {
                examples::show_progress("sampling", done, total, "steps");
            };
        }
        const predict::x0_processing<T> no_clipping{};  // the data is not confined to [-1, 1]
        diffuse::index evaluations = args.steps;
        if (args.sampler == "pc" || args.sampler == "pf-ode") {
            require(prediction != predict::prediction::score && prediction != predict::prediction::flow_velocity,
                    "--prediction", args.prediction, "epsilon, sample, v_prediction");
            evaluations = sample_score_sde(args, target, prediction, x, noise);
        } else if (args.sampler == "ddim") {
            const sampler::ddim<T> ddim(noise_schedule,
                                        {.prediction = prediction, .eta = static_cast<T>(args.eta), .x0 = no_clipping});
            diffuse::sample(model, ddim, grid, x, noise, options);
        } else {
            const sampler::ddpm<T> ddpm(noise_schedule, {.prediction = prediction, .x0 = no_clipping});
            diffuse::sample(model, ddpm, grid, x, noise, options);
        }

        // Two independent true sets: one to compare with, one to show the distance's spread.
        array truth(x.size()), truth2(x.size());
        random::generator data_noise(args.seed + 1'000'003);
        target.sample(flat(truth), data_noise);
        target.sample(flat(truth2), data_noise);
        const double generated = models::energy_distance<T>(cflat(x), cflat(truth), 2);
        const double reference = models::energy_distance<T>(cflat(truth2), cflat(truth), 2);

        const std::filesystem::path dir = examples::output_directory("--out", args.out);
        write_csv(dir / "samples.csv", x);
        const std::string steps = args.sampler == "pf-ode" ? "adaptive steps" : std::to_string(args.steps) + " steps";
        write_png(dir / "samples.png", target, x, args.dataset == "ring" ? T(6.5) : T(2.5),
                  args.sampler + ", " + steps + ", " + args.dataset + " mixture", generated);
        std::cout << "sampler " << args.sampler << ", " << steps << ", " << args.count << " samples of the "
                  << args.dataset << " mixture\n";
        if (args.sampler == "pc" || args.sampler == "pf-ode") {
            std::cout << "process " << args.sde << ", " << evaluations << " model evaluations\n";
        }
        std::cout << "energy distance to the target: " << generated << " (two independent true sets: " << reference
                  << ")\n"
                  << "wrote " << (dir / "samples.csv").string() << " and " << (dir / "samples.png").string() << "\n";
    } catch (const diffuse::error& e) {
        std::cerr << "sample_gmm: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
