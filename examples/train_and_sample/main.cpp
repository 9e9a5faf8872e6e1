// train_and_sample: trains a small time-conditioned MLP on a 2-D data set drawn on the fly,
// with Adam (linear warm-up, cosine decay) and an EMA of the weights, then samples the EMA model
// with any sampler the runtime registry knows (diffusers class names) and reports the energy
// distance to the data beside the distance between independent true sets of the same size.
// Writes the loss curve and the samples as PNG, the weights (model.bin) and their settings (model.txt,
// read by examples/likelihood --model).
//
//   train_and_sample [--dataset ring|moons|checkerboard] [--objective epsilon|v_prediction|sample|flow]
//                    [--sampler NAME] [--steps N] [--iterations N] [--batch N] [--lr A] [--ema D]
//                    [--width N] [--sigma-data S] [--count N] [--sets N] [--max-ratio R]
//                    [--seed S] [--out DIR] [--quick] [--quiet]
#include <diffuse/config/registry.hpp>
#include <diffuse/core/random.hpp>
#include <diffuse/models/gaussian_mixture.hpp>
#include <diffuse/models/metrics.hpp>
#include <diffuse/nn/losses.hpp>
#include <diffuse/nn/serialize.hpp>
#include <diffuse/nn/time_embedding.hpp>
#include <diffuse/sa/adam.hpp>
#include <diffuse/sa/averaging.hpp>
#include <diffuse/sa/step_size.hpp>
#include <diffuse/sa/welford.hpp>
#include <diffuse/schedule/discrete.hpp>

#include "../common/cli.hpp"
#include "../common/plot.hpp"
#include "../common/progress.hpp"
#include "../common/toy_model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <numbers>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using T = float;
using array = Eigen::Array<T, Eigen::Dynamic, 1>;
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

constexpr const char* usage = R"(usage: train_and_sample [options]
  --dataset ring|moons|checkerboard   training data, drawn fresh every step (default ring: 8 Gaussians)
  --objective epsilon|v_prediction|sample|flow   training target (default epsilon; flow = rectified flow)
  --sampler NAME     a diffusers scheduler class (default DDIMScheduler; FlowMatchEulerDiscreteScheduler
                     for --objective flow), e.g. DPMSolverMultistepScheduler, EulerDiscreteScheduler
  --steps N          inference steps, 1..1000 (default 50)
  --iterations N     training steps, 1..1000000 (default 12000)
  --batch N          training batch size, 1..4096 (default 256)
  --lr A             peak learning rate of Adam, in (0, 1] (default 2e-3): linear warm-up over the
                     first 5% of the steps, then cosine decay to 0
  --ema D            decay of the EMA of the weights that is sampled, in [0, 1) (default 0.999)
  --width N          width of the 3 hidden layers, 8..1024 (default 128)
  --sigma-data S     standard deviation per coordinate the data is scaled to for training, in
                     (0, 10] (default 0.5, the EDM convention)
  --count N          points per compared set, 2..100000 (default 2000)
  --sets N           independent generated sets (and pairs of true sets) whose energy distances
                     are averaged, 2..64 (default 8)
  --max-ratio R      fail (exit 1) unless mean energy distance / expected reference <= R (default: no check)
  --seed S           random seed (default 0)
  --out DIR          output directory for loss.png, samples.png, model.bin (default out)
  --quick            a short run (600 steps, 4 sets of 1000 points) to check the pipeline
  --quiet            no progress bar
)";

struct arguments {
    std::string dataset = "ring", objective = "epsilon", sampler, out = "out";
    diffuse::index steps = 50, iterations = 12000, batch = 256, width = 128, count = 2000, sets = 8;
    double lr = 2e-3, ema = 0.999, sigma_data = 0.5;
    std::optional<double> max_ratio;
    unsigned long long seed = 0;
    bool quick = false, quiet = false;
};

arguments parse(int argc, char** argv) {
    using examples::parse_number;
    arguments a;
    bool iterations_set = false, count_set = false, sets_set = false;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--quick") {
            a.quick = true;
            continue;
        }
        if (flag == "--quiet") {
            a.quiet = true;
            continue;
        }
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        const std::string value = examples::flag_value(argc, argv, i);
        if (flag == "--dataset") a.dataset = value;
        else if (flag == "--objective") a.objective = value;
        else if (flag == "--sampler") a.sampler = value;
        else if (flag == "--out") a.out = value;
        else if (flag == "--steps") a.steps = parse_number<diffuse::index>(flag, value);
        else if (flag == "--iterations") {
            a.iterations = parse_number<diffuse::index>(flag, value);
            iterations_set = true;
        } else if (flag == "--batch") a.batch = parse_number<diffuse::index>(flag, value);
        else if (flag == "--width") a.width = parse_number<diffuse::index>(flag, value);
        else if (flag == "--count") {
            a.count = parse_number<diffuse::index>(flag, value);
            count_set = true;
        } else if (flag == "--sets") {
            a.sets = parse_number<diffuse::index>(flag, value);
            sets_set = true;
        } else if (flag == "--lr") a.lr = parse_number<double>(flag, value);
        else if (flag == "--ema") a.ema = parse_number<double>(flag, value);
        else if (flag == "--sigma-data") a.sigma_data = parse_number<double>(flag, value);
        else if (flag == "--max-ratio") a.max_ratio = parse_number<double>(flag, value);
        else if (flag == "--seed") a.seed = parse_number<unsigned long long>(flag, value);
        else
            throw diffuse::invalid(
                "option", flag,
                "--dataset, --objective, --sampler, --steps, --iterations, --batch, --lr, --ema, --width, "
                "--sigma-data, --count, --sets, --max-ratio, --seed, --out, --quick, --quiet, --help");
    }
    if (a.quick) {  // explicit values win over the quick defaults
        if (!iterations_set) a.iterations = 600;
        if (!count_set) a.count = 1000;
        if (!sets_set) a.sets = 4;
    }
    diffuse::require(a.dataset == "ring" || a.dataset == "moons" || a.dataset == "checkerboard", "--dataset", a.dataset,
                     "ring, moons, checkerboard");
    diffuse::require(
        a.objective == "epsilon" || a.objective == "v_prediction" || a.objective == "sample" || a.objective == "flow",
        "--objective", a.objective, "epsilon, v_prediction, sample, flow");
    diffuse::require(a.iterations >= 1 && a.iterations <= 1'000'000, "--iterations", a.iterations, "1 .. 1000000");
    diffuse::require(a.batch >= 1 && a.batch <= 4096, "--batch", a.batch, "1 .. 4096");
    diffuse::require(a.width >= 8 && a.width <= 1024, "--width", a.width, "8 .. 1024");
    diffuse::require(a.count >= 2 && a.count <= 100000, "--count", a.count, "2 .. 100000");
    diffuse::require(a.sets >= 2 && a.sets <= 64, "--sets", a.sets, "2 .. 64");
    diffuse::require(a.steps >= 1 && a.steps <= 1000, "--steps", a.steps, "1 .. 1000");
    diffuse::require(a.lr > 0.0 && a.lr <= 1.0, "--lr", a.lr, "(0, 1]");
    diffuse::require(a.ema >= 0.0 && a.ema < 1.0, "--ema", a.ema, "[0, 1)");
    diffuse::require(a.sigma_data > 0.0 && a.sigma_data <= 10.0, "--sigma-data", a.sigma_data, "(0, 10]");
    if (a.max_ratio)
        diffuse::require(*a.max_ratio > 0.0 && std::isfinite(*a.max_ratio), "--max-ratio", *a.max_ratio,
                         "a finite number > 0");
    if (a.sampler.empty()) a.sampler = a.objective == "flow" ? "FlowMatchEulerDiscreteScheduler" : "DDIMScheduler";
    return a;
}

using dataset = examples::dataset<T>;
using noise_levels = examples::noise_levels<T>;
using examples::input_scale;

// x_t and the regression target of the chosen objective (see diffuse/nn/losses.hpp).
template <class X0, class Noise>
void make_pair(const std::string& objective, const X0& x0, const Noise& noise, const array& alpha, const array& sigma,
               matrix& x_t, matrix& target) {
    using namespace diffuse;
    if (objective == "flow")
        nn::denoising_pair<nn::target::velocity, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);
    else if (objective == "epsilon")
        nn::denoising_pair<nn::target::epsilon, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);
    else if (objective == "v_prediction")
        nn::denoising_pair<nn::target::v, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);
    else nn::denoising_pair<nn::target::sample, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);
}

void scale_inputs(matrix& x_t, const array& alpha, const array& sigma, T sigma_data) {
    for (diffuse::index j = 0; j < x_t.cols(); ++j) x_t.col(j) *= input_scale(alpha[j], sigma[j], sigma_data);
}

// The held-out loss of the network and, for the two mixtures, the Bayes loss: the loss of the
// exact posterior mean E[target | x_t], which no network can beat. Since every target is linear
// in (x0, eps), E[target | x_t] is the target of (E[x0 | x_t], E[eps | x_t]), both in closed form
// for a Gaussian mixture. 64 noise levels (stratified u), 512 points each, the same for both.
struct evaluation {
    double network;
    std::optional<double> optimum;
};

template <class Model>
evaluation evaluate(Model& model, const dataset& data, const std::string& objective, const noise_levels& levels,
                    T scale, T sigma_data, diffuse::random::generator& rng) {
    using namespace diffuse;
    constexpr diffuse::index level_count = 64, per_level = 512;
    auto workspace = model.net().make_workspace(per_level);
    array points(2 * per_level), alpha(per_level), sigma(per_level), times(per_level), y(2 * per_level),
        x0_mean(2 * per_level), eps_mean(2 * per_level);
    matrix noise(2, per_level), x_t(2, per_level), network_input(2, per_level), target(2, per_level),
        best(2, per_level), unused(2, per_level), input(model.net().input_size(), per_level), prediction(2, per_level),
        gradient(2, per_level);
    const auto* mixture = data.mixture();
    double network = 0, optimum = 0;
    for (diffuse::index level = 0; level < level_count; ++level) {
        const T u = (static_cast<T>(level) + T(0.5)) / static_cast<T>(level_count);
        for (diffuse::index j = 0; j < per_level; ++j) levels.set(j, u, flat(alpha), flat(sigma), flat(times));
        data.sample(flat(points), rng);
        points *= scale;
        rng.normal(flat(noise));
        const Eigen::Map<const matrix> x0(points.data(), 2, per_level);
        make_pair(objective, x0, noise, alpha, sigma, x_t, target);
        network_input = x_t;
        scale_inputs(network_input, alpha, sigma, sigma_data);
        model.assemble_input(network_input, cflat(times), input);
        model.net().forward(input, prediction, workspace);
        network += nn::mse_loss(prediction, target, gradient) / level_count;
        if (mixture == nullptr) continue;
        // x_t = alpha (scale y) + sigma eps with y from the unscaled mixture: E[x0 | x_t] = scale E[y | x_t]
        // at alpha' = alpha scale.
        const auto x = cflat(x_t);
        mixture->x0(x, alpha[0] * scale, sigma[0], flat(x0_mean));
        mixture->epsilon(x, alpha[0] * scale, sigma[0], flat(eps_mean));
        x0_mean *= scale;
        make_pair(objective, Eigen::Map<const matrix>(x0_mean.data(), 2, per_level),
                  Eigen::Map<const matrix>(eps_mean.data(), 2, per_level), alpha, sigma, unused, best);
        optimum += nn::mse_loss(best, target, gradient) / level_count;
    }
    if (mixture == nullptr) return {network, std::nullopt};
    return {network, optimum};
}

// The mean distance |x_i - x_j| over the pairs i < j of 2-D points: an estimate of E|X - X'|.
double mean_pairwise_distance(const array& points) {
    const diffuse::index n = points.size() / 2;
    double sum = 0;
    for (diffuse::index i = 0; i < n; ++i) {
        for (diffuse::index j = i + 1; j < n; ++j) {
            sum += std::hypot(static_cast<double>(points[2 * i] - points[2 * j]),
                              static_cast<double>(points[2 * i + 1] - points[2 * j + 1]));
        }
    }
    return sum / (0.5 * static_cast<double>(n) * static_cast<double>(n - 1));
}

// The loss per step (light) and its moving average (dark) against the step, on a log scale
// spanning whole decades.
void write_loss_curve(const std::filesystem::path& path, const std::vector<double>& losses) {
    std::vector<double> steps(losses.size()), smooth(losses.size());
    double average = losses.front();
    for (std::size_t i = 0; i < losses.size(); ++i) {
        steps[i] = static_cast<double>(i + 1);
        smooth[i] = average = 0.98 * average + 0.02 * losses[i];
    }
    const auto [lo, hi] = std::minmax_element(losses.begin(), losses.end());
    const double decade_lo = std::pow(10.0, std::floor(std::log10(std::max(*lo, 1e-12))));
    const double decade_hi = std::pow(10.0, std::ceil(std::log10(std::max(*hi, 1e-12))));
    examples::line_plot plot(560, 300, {0, static_cast<double>(losses.size()), false, "training step"},
                             {decade_lo, std::max(decade_hi, 10 * decade_lo), true, "loss"},
                             "denoising loss while training");
    plot.line(steps, losses, {170, 190, 230});
    plot.line(steps, smooth, {20, 40, 140});
    plot.legend({{"loss of each minibatch", {170, 190, 230}}, {"moving average (0.98)", {20, 40, 140}}}, true);
    plot.write(path);
}

double cpu_seconds() {
    return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
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
        const double cpu_start = cpu_seconds();
        const std::filesystem::path dir = examples::output_directory("--out", args.out);  // before training
        const dataset data(args.dataset);
        const bool flow = args.objective == "flow";
        const noise_levels levels(flow);
        random::generator rng(args.seed);

        // Train on data scaled to standard deviation sigma_data per coordinate; samples are scaled
        // back. With sigma_data = 0.5 (Karras et al. 2022, sec. 5 and app. B.6) the v target
        // alpha eps - sigma x0 is correlated with x_t = alpha x0 + sigma eps under a variance-preserving
        // schedule (covariance alpha sigma (1 - sigma_data^2)); at sigma_data = 1 it is not, and only
        // the nonlinear part of E[v | x_t] is left to learn (Salimans & Ho 2022 train on data in [-1, 1]).
        const auto sigma_data = static_cast<T>(args.sigma_data);
        const T scale = static_cast<T>(data.scale(args.sigma_data));

        auto model = examples::toy_network<T>(args.width);
        model.net().initialize(rng);

        const diffuse::index batch = args.batch;
        auto workspace = model.net().make_workspace(batch);
        array points(2 * batch), times(batch), alpha(batch), sigma(batch), u(batch),
            gradient(model.net().parameter_count());
        matrix noise(2, batch), x_t(2, batch), target(2, batch), input(model.net().input_size(), batch),
            prediction(2, batch), d_prediction(2, batch);
        const sa::warmup_cosine_step<T> learning_rate(static_cast<T>(args.lr), args.iterations / 20, args.iterations);
        sa::adam<T, sa::weight_decay::l2, sa::warmup_cosine_step<T>> adam(learning_rate, model.net().parameter_count());
        sa::ema<T> average(model.net().parameters(), static_cast<T>(args.ema), sa::ema_warmup::diffusers);

        std::vector<double> losses;
        losses.reserve(static_cast<std::size_t>(args.iterations));
        double smoothed = 0;
        for (diffuse::index k = 1; k <= args.iterations; ++k) {
            data.sample(flat(points), rng);
            points *= scale;
            rng.normal(flat(noise));
            rng.uniform(u);
            for (diffuse::index j = 0; j < batch; ++j) levels.set(j, u[j], flat(alpha), flat(sigma), flat(times));
            make_pair(args.objective, Eigen::Map<const matrix>(points.data(), 2, batch), noise, alpha, sigma, x_t,
                      target);
            scale_inputs(x_t, alpha, sigma, sigma_data);
            model.assemble_input(x_t, cflat(times), input);
            model.net().forward(input, prediction, workspace);
            const double loss = nn::mse_loss(prediction, target, d_prediction);
            model.net().backward(d_prediction, flat(gradient), workspace);
            adam.step(model.net().parameters(), gradient);
            average.update(model.net().parameters());
            losses.push_back(loss);
            smoothed = k == 1 ? loss : 0.98 * smoothed + 0.02 * loss;
            if (!args.quiet && (k % 50 == 0 || k == args.iterations)) {
                char detail[32];
                std::snprintf(detail, sizeof detail, "loss %.4f", smoothed);
                examples::show_progress("training", k, args.iterations, "steps", detail);
            }
        }
        const double training_cpu = cpu_seconds() - cpu_start;

        // Evaluate and sample with the EMA weights.
        model.net().parameters() = average.shadow();
        random::generator evaluation_rng(args.seed + 99);
        const evaluation held_out = evaluate(model, data, args.objective, levels, scale, sigma_data, evaluation_rng);

        config::options sampler_options{{"clip_sample", false}};
        if (!flow) sampler_options.set("prediction_type", args.objective);
        const auto sampler = config::make_sampler<T>(args.sampler, sampler_options);
        const diffuse::index set_size = 2 * args.count;  // values per set
        array x(set_size * args.sets);
        auto run = sampler.start(args.steps, x.size());
        array out(run.model_output_size()), scaled(x.size());
        random::generator sampling_noise(args.seed + 7);
        sampling_noise.normal(x);
        x *= run.init_noise_sigma();
        run.begin(x, sampling_noise);
        while (!run.done()) {
            const auto [alpha_t, sigma_t] = levels.at_time(run.model_time());
            scaled = (run.input_scale() * input_scale(alpha_t, sigma_t, sigma_data)) * x;
            model(cflat(scaled), run.model_time(), flat(out));
            run.step(out, x, sampling_noise);
        }
        x /= scale;

        // The energy distance of n generated points to n true points is a V-statistic
        // (diffuse/models/metrics.hpp): for two true sets its population value is 0 but its
        // expectation is 2 E|X - X'| / n, and one draw is noisy (sd about 60% of that, so even exact
        // samples often land beyond 2x). Hence the generated distance is averaged over `sets`
        // independent generated and true sets, and compared with that expectation, E|X - X'| from
        // the n (n - 1) / 2 pairs of a true set. The measured mean and sd over as many pairs of true
        // sets are printed beside it as a check.
        array truth(set_size), first(set_size), second(set_size);
        random::generator data_rng(args.seed + 1'000'003);
        sa::running_moments<double> generated(1), reference(1);
        for (diffuse::index set = 0; set < args.sets; ++set) {
            data.sample(flat(truth), data_rng);
            const const_view<T> points(x.data() + set * set_size, set_size);
            generated.push(Eigen::Matrix<double, 1, 1>(models::energy_distance<T>(points, cflat(truth), 2)));
            data.sample(flat(first), data_rng);
            data.sample(flat(second), data_rng);
            reference.push(Eigen::Matrix<double, 1, 1>(models::energy_distance<T>(cflat(first), cflat(second), 2)));
        }
        const double expected_reference = 2 * mean_pairwise_distance(truth) / static_cast<double>(args.count);
        array gaussian(set_size);
        data_rng.normal(gaussian);
        const double untrained = models::energy_distance<T>(cflat(gaussian), cflat(truth), 2);
        const double ratio = generated.mean()[0] / expected_reference;
        const double total_cpu = cpu_seconds() - cpu_start;

        write_loss_curve(dir / "loss.png", losses);
        examples::scatter_plot plot(512, data.half_width(),
                                    "trained MLP, " + args.sampler + ", " + std::to_string(args.steps) + " steps");
        plot.dots(truth, {190, 190, 190});
        plot.dots(x.head(set_size), {170, 20, 30});
        char label[80];
        std::snprintf(label, sizeof label, "samples (energy distance %.4f)", generated.mean()[0]);
        plot.legend({{label, {170, 20, 30}}, {"data (" + args.dataset + ")", {190, 190, 190}}});
        plot.write(dir / "samples.png");
        nn::save(model.net(), (dir / "model.bin").string());
        examples::write_settings(dir / "model.bin", {args.dataset, args.objective, args.width, args.sigma_data});

        std::cout << args.dataset << ", objective " << args.objective << ": " << args.iterations
                  << " training steps of batch " << batch << " in " << training_cpu << " s of CPU (final loss "
                  << smoothed << ")\n"
                  << "held-out loss of the EMA weights: " << held_out.network;
        if (held_out.optimum) std::cout << " (Bayes optimum " << *held_out.optimum << ")";
        std::cout << "\nsampler " << args.sampler << ", " << args.steps << " steps, " << args.sets << " sets of "
                  << args.count << " points\n"
                  << "energy distance to the data: " << generated.mean()[0] << " (sd "
                  << std::sqrt(generated.variance()[0]) << "); two independent true sets: " << expected_reference
                  << " expected (measured " << reference.mean()[0] << ", sd " << std::sqrt(reference.variance()[0])
                  << "); ratio " << ratio << "; N(0, I) noise: " << untrained << "\n"
                  << "CPU time in total: " << total_cpu << " s\n"
                  << "wrote " << (dir / "loss.png").string() << ", " << (dir / "samples.png").string() << ", "
                  << (dir / "model.bin").string() << " (settings in "
                  << examples::settings_path(dir / "model.bin").string() << ")\n";
        // The pipeline check: the samples are far closer to the data than the starting noise.
        if (!(generated.mean()[0] < 0.25 * untrained)) {
            std::cerr << "train_and_sample: the samples are not closer to the data than noise\n";
            return 1;
        }
        if (args.max_ratio && !(ratio <= *args.max_ratio)) {
            std::cerr << "train_and_sample: ratio " << ratio << " exceeds --max-ratio " << *args.max_ratio << "\n";
            return 1;
        }
    } catch (const diffuse::error& e) {
        std::cerr << "train_and_sample: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
