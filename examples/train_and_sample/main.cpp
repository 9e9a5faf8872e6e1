// train_and_sample: trains a small time-conditioned MLP on a 2-D data set drawn on the fly,
// with Adam and an EMA of the weights, then samples the EMA model with any sampler the runtime
// registry knows (diffusers class names) and reports the energy distance to the data beside the
// distance between two independent sets of true samples. Writes the loss curve and the samples
// as PNG.
//
//   train_and_sample [--dataset ring|moons|checkerboard] [--objective epsilon|v_prediction|sample|flow]
//                    [--sampler NAME] [--steps N] [--iterations N] [--count N] [--seed S]
//                    [--out DIR] [--quick] [--quiet]
#include <diffuse/config/registry.hpp>
#include <diffuse/core/random.hpp>
#include <diffuse/models/gaussian_mixture.hpp>
#include <diffuse/models/metrics.hpp>
#include <diffuse/nn/losses.hpp>
#include <diffuse/nn/serialize.hpp>
#include <diffuse/nn/time_embedding.hpp>
#include <diffuse/sa/adam.hpp>
#include <diffuse/sa/averaging.hpp>
#include <diffuse/schedule/discrete.hpp>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numbers>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using T = float;
using array = Eigen::Array<T, Eigen::Dynamic, 1>;
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

constexpr const char* usage = R"(usage: train_and_sample [options]
  --dataset ring|moons|checkerboard   training data, drawn fresh every step (default ring: 8 Gaussians)
  --objective epsilon|v_prediction|sample|flow   training target (default epsilon; flow = rectified flow)
  --sampler NAME     a diffusers scheduler class (default DDIMScheduler; FlowMatchEulerDiscreteScheduler
                     for --objective flow), e.g. DPMSolverMultistepScheduler, EulerDiscreteScheduler
  --steps N          inference steps (default 50)
  --iterations N     training steps of batch 256 (default 4000)
  --count N          samples to draw and compare (default 2000)
  --seed S           random seed (default 0)
  --out DIR          output directory for loss.png, samples.png, model.bin (default out)
  --quick            a short run (300 iterations, 500 samples) to check the pipeline end to end
  --quiet            no progress bar
)";

struct arguments {
    std::string dataset = "ring", objective = "epsilon", sampler, out = "out";
    diffuse::index steps = 50, iterations = 4000, count = 2000;
    unsigned long long seed = 0;
    bool quick = false, quiet = false;
};

template <class N>
N parse_number(const std::string& flag, const std::string& text) {
    N value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) throw diffuse::invalid(flag, text, "a number");
    return value;
}

arguments parse(int argc, char** argv) {
    arguments a;
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
        if (i + 1 >= argc) throw diffuse::invalid(flag, "(missing)", "a value after the flag");
        const std::string value = argv[++i];
        if (flag == "--dataset") a.dataset = value;
        else if (flag == "--objective") a.objective = value;
        else if (flag == "--sampler") a.sampler = value;
        else if (flag == "--out") a.out = value;
        else if (flag == "--steps") a.steps = parse_number<diffuse::index>(flag, value);
        else if (flag == "--iterations") a.iterations = parse_number<diffuse::index>(flag, value);
        else if (flag == "--count") a.count = parse_number<diffuse::index>(flag, value);
        else if (flag == "--seed") a.seed = parse_number<unsigned long long>(flag, value);
        else throw diffuse::invalid("option", flag, "--dataset, --objective, --sampler, --steps, --iterations, --count, --seed, --out, --quick, --quiet, --help");
    }
    if (a.quick) {
        a.iterations = 300;
        a.count = 500;
    }
    diffuse::require(a.dataset == "ring" || a.dataset == "moons" || a.dataset == "checkerboard", "--dataset", a.dataset,
                     "ring, moons, checkerboard");
    diffuse::require(a.objective == "epsilon" || a.objective == "v_prediction" || a.objective == "sample" ||
                         a.objective == "flow",
                     "--objective", a.objective, "epsilon, v_prediction, sample, flow");
    diffuse::require(a.iterations >= 1, "--iterations", a.iterations, ">= 1");
    diffuse::require(a.count >= 2 && a.count <= 100000, "--count", a.count, "2 .. 100000");
    diffuse::require(a.steps >= 1 && a.steps <= 1000, "--steps", a.steps, "1 .. 1000");
    if (a.sampler.empty()) a.sampler = a.objective == "flow" ? "FlowMatchEulerDiscreteScheduler" : "DDIMScheduler";
    return a;
}

// The training distributions: the two Gaussian mixtures of diffuse::models, and two moons
// (two noisy half circles, as sklearn.datasets.make_moons with noise 0.1).
class dataset {
public:
    explicit dataset(const std::string& name) : name_(name), mixture_(name == "checkerboard"
                                                                          ? diffuse::models::gaussian_mixture<T>::checkerboard()
                                                                          : diffuse::models::gaussian_mixture<T>::ring()) {}

    // n points, point-major (x0, y0, x1, y1, ...).
    void sample(diffuse::view<T> out, diffuse::random::generator& rng) const {
        if (name_ != "moons") {
            mixture_.sample(out, rng);
            return;
        }
        const diffuse::index n = out.size() / 2;
        array u(n), side(n), jitter(2 * n);
        rng.uniform(u);
        rng.uniform(side);
        rng.normal(jitter);
        for (diffuse::index i = 0; i < n; ++i) {
            const T angle = std::numbers::pi_v<T> * u[i];
            const bool upper = side[i] < T(0.5);
            out[2 * i] = upper ? std::cos(angle) : T(1) - std::cos(angle);
            out[2 * i + 1] = upper ? std::sin(angle) : T(0.5) - std::sin(angle);
        }
        out += T(0.1) * jitter;
    }

private:
    std::string name_;
    diffuse::models::gaussian_mixture<T> mixture_;
};

// A bar redrawn in place on a terminal; on a pipe or a log, one line per quarter.
void progress(const char* what, diffuse::index done, diffuse::index total, double loss) {
    static const bool terminal = isatty(fileno(stderr)) != 0;
    if (!terminal) {
        if (done == total || (4 * done) / total != (4 * (done - 1)) / total) {
            std::fprintf(stderr, "%s %lld/%lld  loss %.4f\n", what, static_cast<long long>(done),
                         static_cast<long long>(total), loss);
        }
        return;
    }
    constexpr int width = 40;
    const int filled = static_cast<int>(width * done / total);
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld  loss %.4f", what, std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), loss);
    if (done == total) std::fprintf(stderr, "\n");
}

void write_png(const std::filesystem::path& path, int width, int height, const std::vector<unsigned char>& rgb) {
    if (!stbi_write_png(path.string().c_str(), width, height, 3, rgb.data(), 3 * width)) {
        throw diffuse::invalid("--out", path.string(), "a writable directory");
    }
}

// The loss per step (light) and its moving average (dark), log scale, on a white canvas.
void write_loss_curve(const std::filesystem::path& path, const std::vector<double>& losses) {
    constexpr int width = 640, height = 360, margin = 20;
    std::vector<unsigned char> rgb(3 * width * height, 255);
    std::vector<double> smooth(losses.size());
    double average = losses.front();
    for (std::size_t i = 0; i < losses.size(); ++i) smooth[i] = average = 0.98 * average + 0.02 * losses[i];
    const auto [lo_it, hi_it] = std::minmax_element(losses.begin(), losses.end());
    const double lo = std::log10(std::max(*lo_it, 1e-12)), hi = std::log10(std::max(*hi_it, 1e-12));
    auto plot = [&](const std::vector<double>& series, unsigned char r, unsigned char g, unsigned char b) {
        for (std::size_t i = 0; i < series.size(); ++i) {
            const int col = margin + static_cast<int>((width - 2 * margin - 1) * static_cast<double>(i) /
                                                      static_cast<double>(std::max<std::size_t>(series.size() - 1, 1)));
            const double level = (std::log10(std::max(series[i], 1e-12)) - lo) / std::max(hi - lo, 1e-12);
            const int row = margin + static_cast<int>((height - 2 * margin - 1) * (1.0 - level));
            unsigned char* px = &rgb[static_cast<std::size_t>(3 * (row * width + col))];
            px[0] = r;
            px[1] = g;
            px[2] = b;
        }
    };
    plot(losses, 170, 190, 230);
    plot(smooth, 20, 40, 140);
    write_png(path, width, height, rgb);
}

// Generated points (dark red) over the true samples (grey).
void write_samples(const std::filesystem::path& path, const array& truth, const array& generated, T half_width) {
    constexpr int size = 512;
    std::vector<unsigned char> rgb(3 * size * size, 255);
    auto dots = [&](const array& points, unsigned char r, unsigned char g, unsigned char b) {
        for (diffuse::index p = 0; p + 1 < points.size(); p += 2) {
            const int col = static_cast<int>((points[p] + half_width) / (2 * half_width) * size);
            const int row = static_cast<int>((half_width - points[p + 1]) / (2 * half_width) * size);
            for (int dr = 0; dr < 2; ++dr)
                for (int dc = 0; dc < 2; ++dc) {
                    const int y = row + dr, x = col + dc;
                    if (y < 0 || y >= size || x < 0 || x >= size) continue;
                    unsigned char* px = &rgb[static_cast<std::size_t>(3 * (y * size + x))];
                    px[0] = r;
                    px[1] = g;
                    px[2] = b;
                }
        }
    };
    dots(truth, 190, 190, 190);
    dots(generated, 170, 20, 30);
    write_png(path, size, size, rgb);
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
        const auto started = std::chrono::steady_clock::now();
        const dataset data(args.dataset);
        const bool flow = args.objective == "flow";
        random::generator rng(args.seed);

        // Train on data scaled to unit variance per coordinate; samples are scaled back.
        array probe(2 * 4096);
        data.sample(flat(probe), rng);
        const T scale = T(1) / std::sqrt(probe.square().mean() - probe.mean() * probe.mean());

        // Model time: the integer timestep 0..999 of a 1000-step linear-beta schedule (DDPM), or
        // 1000 s for rectified flow with x_s = (1 - s) x0 + s eps (diffusers' FlowMatch convention).
        const auto noise_schedule = schedule::discrete<T>::named(schedule::beta_schedule::linear, 1000, 1e-4, 0.02);
        const auto alphas_cumprod = noise_schedule.alphas_cumprod();
        nn::time_conditioned_mlp<T> model(2, {128, 128, 128}, {32});
        model.net().initialize(rng);

        constexpr diffuse::index batch = 256;
        const diffuse::index inputs = model.net().input_size();
        auto workspace = model.net().make_workspace(batch);
        array points(2 * batch), times(batch), alpha(batch), sigma(batch), u(batch), gradient(model.net().parameter_count());
        matrix noise(2, batch), x_t(2, batch), target(2, batch), input(inputs, batch), prediction(2, batch), d_prediction(2, batch);
        sa::adam<T> adam(sa::constant_step<T>(T(2e-3)), model.net().parameter_count());
        sa::ema<T> average(model.net().parameters(), T(0.995), sa::ema_warmup::diffusers);

        std::vector<double> losses;
        losses.reserve(static_cast<std::size_t>(args.iterations));
        double smoothed = 0;
        for (diffuse::index k = 1; k <= args.iterations; ++k) {
            data.sample(flat(points), rng);
            points *= scale;
            rng.normal(flat(noise));
            rng.uniform(u);
            for (diffuse::index j = 0; j < batch; ++j) {
                if (flow) {
                    sigma[j] = u[j];
                    alpha[j] = T(1) - u[j];
                    times[j] = T(1000) * u[j];
                } else {
                    const auto t = std::min<diffuse::index>(static_cast<diffuse::index>(u[j] * T(1000)), 999);
                    alpha[j] = std::sqrt(alphas_cumprod[static_cast<std::size_t>(t)]);
                    sigma[j] = std::sqrt(T(1) - alphas_cumprod[static_cast<std::size_t>(t)]);
                    times[j] = static_cast<T>(t);
                }
            }
            const Eigen::Map<const matrix> x0(points.data(), 2, batch);
            if (flow) nn::denoising_pair<nn::target::velocity, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);
            else if (args.objective == "epsilon") nn::denoising_pair<nn::target::epsilon, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);
            else if (args.objective == "v_prediction") nn::denoising_pair<nn::target::v, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);
            else nn::denoising_pair<nn::target::sample, T>(x0, noise, cflat(alpha), cflat(sigma), x_t, target);

            model.assemble_input(x_t, cflat(times), input);
            model.net().forward(input, prediction, workspace);
            const double loss = nn::mse_loss(prediction, target, d_prediction);
            model.net().backward(d_prediction, flat(gradient), workspace);
            adam.step(model.net().parameters(), gradient);
            average.update(model.net().parameters());
            losses.push_back(loss);
            smoothed = k == 1 ? loss : 0.98 * smoothed + 0.02 * loss;
            if (!args.quiet && (k % 50 == 0 || k == args.iterations)) progress("training", k, args.iterations, smoothed);
        }
        const double training_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

        // Sample with the EMA weights.
        model.net().parameters() = average.shadow();
        config::options sampler_options{{"clip_sample", false}};
        if (!flow) sampler_options.set("prediction_type", args.objective);
        const auto sampler = config::make_sampler<T>(args.sampler, sampler_options);
        array x(2 * args.count);
        auto run = sampler.start(args.steps, x.size());
        array out(run.model_output_size()), scaled(x.size());
        random::generator sampling_noise(args.seed + 7);
        sampling_noise.normal(x);
        x *= run.init_noise_sigma();
        run.begin(x, sampling_noise);
        while (!run.done()) {
            scaled = run.input_scale() * x;
            model(cflat(scaled), run.model_time(), flat(out));
            run.step(out, x, sampling_noise);
        }
        x /= scale;

        array truth(x.size()), truth2(x.size());
        random::generator data_rng(args.seed + 1'000'003);
        data.sample(flat(truth), data_rng);
        data.sample(flat(truth2), data_rng);
        const double generated = models::energy_distance<T>(cflat(x), cflat(truth), 2);
        const double reference = models::energy_distance<T>(cflat(truth2), cflat(truth), 2);
        array gaussian(x.size());
        data_rng.normal(gaussian);
        const double untrained = models::energy_distance<T>(cflat(gaussian), cflat(truth), 2);

        const std::filesystem::path dir(args.out);
        std::filesystem::create_directories(dir);
        write_loss_curve(dir / "loss.png", losses);
        write_samples(dir / "samples.png", truth, x, args.dataset == "ring" ? T(6.5) : T(2.5));
        nn::save(model.net(), (dir / "model.bin").string());

        std::cout << args.dataset << ", objective " << args.objective << ": " << args.iterations
                  << " training steps of batch " << batch << " in " << training_seconds << " s (final loss "
                  << smoothed << ")\n"
                  << "sampler " << args.sampler << ", " << args.steps << " steps, " << args.count << " samples\n"
                  << "energy distance to the data: " << generated << "; two independent true sets: " << reference
                  << " (ratio " << generated / reference << "); N(0, I) noise: " << untrained << "\n"
                  << "wrote " << (dir / "loss.png").string() << ", " << (dir / "samples.png").string() << ", "
                  << (dir / "model.bin").string() << "\n";
        // The pipeline check: the samples are far closer to the data than the starting noise.
        if (!(generated < 0.25 * untrained)) {
            std::cerr << "train_and_sample: the samples are not closer to the data than noise\n";
            return 1;
        }
    } catch (const diffuse::error& e) {
        std::cerr << "train_and_sample: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
