// guided_sampling: samples a class-conditional 2-D Gaussian mixture (8 Gaussians on a ring, classes
// alternating 0, 1) unguided, with classifier guidance and with classifier-free guidance at a sweep
// of scales, toward class 0. The "network" is the mixture's exact prediction at the level each
// evaluation reports (sampler/evaluation_context.hpp); the classifier is the exact grad log p(y | x_t).
// Writes one PNG panel per run and one CSV of every sample; prints, per run, the class purity (the
// share of samples whose exact class posterior favours class 0) and the energy distance to the
// class-0 mixture beside that of two independent true sets.
//
//   guided_sampling [--steps N] [--count N] [--seed S] [--out DIR] [--quiet]
#include <diffuse/core/random.hpp>
#include <diffuse/guidance/classifier.hpp>
#include <diffuse/guidance/guided.hpp>
#include <diffuse/models/gaussian_mixture.hpp>
#include <diffuse/models/metrics.hpp>
#include <diffuse/sampler/heun.hpp>
#include <diffuse/sampler/sample.hpp>
#include <diffuse/schedule/sigmas.hpp>

#include "../common/cli.hpp"
#include "../common/plot.hpp"
#include "../common/progress.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

namespace {

using T = float;
using array = Eigen::Array<T, Eigen::Dynamic, 1>;
using diffuse::sampler::evaluation_context;

constexpr const char* usage = R"(usage: guided_sampling [options]
  --steps N      Heun steps, 1..1000 (default 20)
  --count N      samples per run, 1..100000 (default 2000)
  --seed S       random seed, a non-negative integer (default 0)
  --out DIR      output directory for samples.csv and one PNG per run (default out)
  --quiet        no progress bar
)";

struct arguments {
    diffuse::index steps = 20, count = 2000;
    unsigned long long seed = 0;
    std::string out = "out";
    bool quiet = false;
};

arguments parse(int argc, char** argv) {
    arguments a;
    examples::for_each_option(argc, argv, usage, a.quiet, [&](const std::string& flag, const std::string& value) {
        if (flag == "--steps") a.steps = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--count") a.count = examples::parse_number<diffuse::index>(flag, value);
        else if (flag == "--seed") a.seed = examples::parse_number<unsigned long long>(flag, value);
        else if (flag == "--out") a.out = value;
        else throw diffuse::invalid("option", flag, "--steps, --count, --seed, --out, --quiet, --help");
    });
    diffuse::require(a.steps >= 1 && a.steps <= 1000, "--steps", a.steps, "an integer in [1, 1000]");
    diffuse::require(a.count >= 1 && a.count <= 100'000, "--count", a.count, "an integer in [1, 100000]");
    return a;
}

// 8 Gaussians on a circle of radius 2.5, std 0.6 (they overlap), class k % 2.
diffuse::models::gaussian_mixture<T> ring(bool only_class_zero) {
    const int components = only_class_zero ? 4 : 8, step = only_class_zero ? 2 : 1;
    array weights = array::Ones(components), means(2 * components), stddevs = array::Constant(components, T(0.6));
    std::vector<int> labels;
    for (int k = 0; k < components; ++k) {
        const double angle = 2.0 * std::numbers::pi * (k * step) / 8;
        means[2 * k] = static_cast<T>(2.5 * std::cos(angle));
        means[2 * k + 1] = static_cast<T>(2.5 * std::sin(angle));
        labels.push_back((k * step) % 2);
    }
    return diffuse::models::gaussian_mixture<T>::isotropic(2, diffuse::cflat(weights), diffuse::cflat(means),
                                                           diffuse::cflat(stddevs), labels);
}

// The mixture as an epsilon network: eps(x_net) at the evaluation's (alpha_t, sigma_t).
struct mixture_epsilon {
    const diffuse::models::gaussian_mixture<T>* mixture;
    std::optional<int> label;
    void operator()(diffuse::const_view<T> x, double, diffuse::view<T> out, const evaluation_context<T>& c) const {
        mixture->epsilon(x, c.alpha_t(), c.sigma_t(), out, label);
    }
};

struct exact_classifier {
    const diffuse::models::gaussian_mixture<T>* mixture;
    int label;
    void operator()(diffuse::const_view<T> x, double, diffuse::view<T> out, const evaluation_context<T>& c) const {
        mixture->class_log_posterior_gradient(x, c.alpha_t(), c.sigma_t(), label, out);
    }
};

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
        const auto mixture = ring(false), class_zero = ring(true);
        const auto noise_schedule = schedule::discrete<T>::linear();
        const auto grid = schedule::vp_sigma_grid(noise_schedule, {.steps = args.steps});
        const sampler::heun<T> heun;
        const mixture_epsilon uncond{&mixture, {}}, cond{&mixture, 0};

        array truth(2 * args.count), truth2(2 * args.count);
        random::generator data(args.seed + 1'000'003);
        class_zero.sample(flat(truth), data);
        class_zero.sample(flat(truth2), data);
        const double spread = models::energy_distance<T>(cflat(truth2), cflat(truth), 2);

        const std::filesystem::path dir = examples::output_directory("--out", args.out);
        std::ofstream csv(dir / "samples.csv");
        if (!csv) throw invalid("--out", args.out, "a writable directory");
        csv << "method,scale,x,y\n";
        std::cout << "method      scale  purity  energy distance (two true sets: " << spread << ")\n";

        // One run: x_T ~ N(0, init_noise_sigma^2), Heun with the given model, then the report.
        const auto run = [&](const std::string& method, double scale, const auto& model) {
            array x(2 * args.count);
            random::generator noise(args.seed);
            noise.normal(x);
            x *= heun.start(grid, x.size()).init_noise_sigma();
            sample_options<T> options;
            if (!args.quiet) {
                options.progress = [&](diffuse::index done, diffuse::index total) {
                    examples::show_progress(method.c_str(), done, total, "steps");
                };
            }
            diffuse::sample(model, heun, grid, x, options, args.count);
            array log_p(args.count);
            mixture.class_log_posterior(cflat(x), T(1), T(0), 0, flat(log_p));
            const double purity = static_cast<double>((log_p > std::log(T(0.5))).count()) / args.count;
            const double distance = models::energy_distance<T>(cflat(x), cflat(truth), 2);
            std::printf("%-10s %6.2f  %6.3f  %.5f\n", method.c_str(), scale, purity, distance);
            for (diffuse::index i = 0; i + 1 < x.size(); i += 2)
                csv << method << ',' << scale << ',' << x[i] << ',' << x[i + 1] << '\n';
            char title[64], label[96], name[64];
            std::snprintf(title, sizeof title, "%s, scale %.2f", method.c_str(), scale);
            std::snprintf(label, sizeof label, "samples (class-1 purity %.3f, energy distance %.4f)", purity, distance);
            examples::scatter_plot plot(384, 5.0, title);
            plot.dots(x, {170, 20, 30});
            plot.legend({{label, {170, 20, 30}}});
            std::snprintf(name, sizeof name, "%s_%.2f.png", method.c_str(), scale);
            plot.write(dir / name);
        };

        run("unguided", 0.0, uncond);
        for (const double s : {1.0, 2.0, 4.0})
            run("classifier", s, guidance::classifier_guidance(uncond, exact_classifier{&mixture, 0}, {.scale = s}));
        for (const double g : {1.0, 1.5, 2.0, 4.0})
            run("cfg", g, guidance::classifier_free_guidance(cond, uncond, {.guidance_scale = g}));
        std::cout << "wrote " << (dir / "samples.csv").string() << " and one PNG per run in " << dir.string() << "\n";
    } catch (const diffuse::error& e) {
        std::cerr << "guided_sampling: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
