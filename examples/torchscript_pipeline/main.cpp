// torchscript_pipeline: a real network runtime end to end. Loads the TorchScript U-Net that
// tools/train_torchscript_unet.py trained on 16x16 shapes (a DDPM epsilon predictor for the
// linear beta schedule), samples a grid of images with DPM-Solver++(2M) and Karras sigmas
// (diffusers' DPMSolverMultistepScheduler with use_karras_sigmas=True), and writes them as a
// labelled PNG.
//
//   torchscript_pipeline [--model PATH] [--steps N] [--count N] [--seed S] [--out FILE.png]
#include <diffuse/core/random.hpp>
#include <diffuse/interop/torch.hpp>
#include <diffuse/sampler/dpm_solver_multistep.hpp>
#include <diffuse/sampler/sample.hpp>
#include <diffuse/schedule/solver_sigmas.hpp>

#include "../common/cli.hpp"
#include "../common/png.hpp"
#include "../common/text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>

namespace {

using T = float;
constexpr int image_size = 16;  // the network's H = W (one channel)

constexpr const char* usage = R"(usage: torchscript_pipeline [options]
  --model PATH   the TorchScript network (default: examples/torchscript_pipeline/shapes_unet.pt)
  --steps N      DPM-Solver++(2M) steps with Karras sigmas, 1..1000 (default 20)
  --count N      images to sample in one batch, 1..256 (default 16)
  --seed S       seed of the initial noise (Philox4x32-10; image i uses elements [256 i, 256 i + 256))
  --out FILE     the PNG to write (default torchscript_pipeline.png)
)";

struct arguments {
    std::string model = DIFFUSE_SHAPES_UNET;
    diffuse::index steps = 20;
    int count = 16;
    std::uint64_t seed = 0;
    std::string out = "torchscript_pipeline.png";
};

arguments parse(int argc, char** argv) {
    arguments a;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        const std::string value = examples::flag_value(argc, argv, i);
        if (flag == "--model") {
            a.model = value;
        } else if (flag == "--steps") {
            a.steps = examples::parse_number<diffuse::index>(flag, value);
            diffuse::require(a.steps >= 1 && a.steps <= 1000, flag, a.steps, "1..1000");
        } else if (flag == "--count") {
            a.count = examples::parse_number<int>(flag, value);
            diffuse::require(a.count >= 1 && a.count <= 256, flag, a.count, "1..256");
        } else if (flag == "--seed") {
            a.seed = examples::parse_number<std::uint64_t>(flag, value);
        } else if (flag == "--out") {
            a.out = value;
        } else {
            throw diffuse::invalid("option", flag, "--model, --steps, --count, --seed, --out, --help");
        }
    }
    return a;
}

// The samples as a grid of gray images (x in [-1, 1] -> black..white), each under its index,
// with a title that says what was sampled and how.
void write_png(const Eigen::ArrayXf& x, const arguments& a) {
    constexpr int zoom = 6, cell = image_size * zoom, gap = 12, label = 14, top = 44;
    const int columns = static_cast<int>(std::ceil(std::sqrt(a.count)));
    const int rows = (a.count + columns - 1) / columns;
    const std::string title = "Shapes U-Net (TorchScript) sampled in C++";
    const int width = std::max(gap + columns * (cell + gap), examples::text_width(title, 2) + 2 * gap);
    const int height = top + rows * (cell + label + gap);
    examples::canvas png(width, height, {255, 255, 255});
    const examples::rgb ink{20, 20, 20}, grey{90, 90, 90};
    examples::draw_text_centred(png, width / 2, 6, title, ink, 2);
    examples::draw_text_centred(png, width / 2, 28,
                                "DPM-Solver++(2M) Karras, " + std::to_string(a.steps) + " steps, seed " +
                                    std::to_string(a.seed) + ", 16x16 each",
                                grey);
    for (int i = 0; i < a.count; ++i) {
        const int left = (width - columns * (cell + gap) + gap) / 2;  // the grid centred under the title
        const int col0 = left + (i % columns) * (cell + gap), row0 = top + (i / columns) * (cell + label + gap);
        for (int r = 0; r < image_size; ++r) {
            for (int c = 0; c < image_size; ++c) {
                const float v = x[i * image_size * image_size + r * image_size + c];
                const auto level = static_cast<unsigned char>(std::lround(127.5f * (std::clamp(v, -1.0f, 1.0f) + 1)));
                png.fill(col0 + c * zoom, row0 + r * zoom, zoom, zoom, {level, level, level});
            }
        }
        std::string index_label = "#";  // (not "#" + to_string(i): GCC 12's false -Wrestrict, bug 105329)
        index_label += std::to_string(i);
        examples::draw_text_centred(png, col0 + cell / 2, row0 + cell + 3, index_label, grey);
    }
    png.write(a.out);
    std::cout << "wrote " << a.out << " (" << width << "x" << height << ")\n";
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const arguments a = parse(argc, argv);
        using namespace diffuse;
        // diffusers' DPMSolverMultistepScheduler(beta_schedule="linear", use_karras_sigmas=True): the
        // defaults are DPM-Solver++, order 2, midpoint, lower_order_final, final sigma 0.
        const auto betas = schedule::discrete<T>::linear();  // what the network was trained with
        const auto grid =
            schedule::solver_sigma_grid(betas, schedule::solver_family::dpm_multistep,
                                        {.steps = a.steps, .sigmas = schedule::solver_sigma_kind::karras});
        const sampler::dpm_solver_multistep<T> solver;

        // The network takes x as [N, 1, 16, 16] float32 and t as a float tensor [N] of training
        // timesteps: the grid's model times (Karras sigmas mapped back to rounded timesteps).
        interop::torchscript_model<T> net(interop::load_torchscript(a.model), {a.count, 1, image_size, image_size});

        Eigen::ArrayXf x(a.count * image_size * image_size);
        random::generator(a.seed).normal(x);
        x *= solver.start(grid, x.size(), a.count).init_noise_sigma();  // 1 here (VP); not for every class
        diffuse::sample(net, solver, grid, x, {}, a.count);

        const double saturated = (x.abs() > 0.8f).cast<double>().mean();
        std::cout << "sampled " << a.count << " images in " << a.steps << " steps; " << 100 * saturated
                  << "% of the pixels are within 0.2 of the data's values -1 and 1\n";
        write_png(x, a);
    } catch (const diffuse::error& e) {
        std::cerr << e.what() << '\n' << usage;
        return 2;
    }
    return 0;
}
