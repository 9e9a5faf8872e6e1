// bench/activations_float_sweep.cpp: exhaustive accuracy sweep of the smooth float activations
// and their derivatives over every finite float (all 2^32 bit patterns but inf/NaN), against a
// double reference (double's 29 extra bits make its own error invisible at float's ULP).
// The error unit is the one of tests/test_activations_accuracy.cpp (tests/ulp_error.hpp),
// including the "ULP of the largest term" scale for derivatives that cross zero.
//
// Not a test (minutes of CPU per function): run by hand, e.g.
//   activations_float_sweep                 every function, 2 threads
//   activations_float_sweep gelu silu -t 1  selected functions, one thread
//   activations_float_sweep -s 97           every 97th bit pattern (a quick look)
//   activations_float_sweep --values silu   f only (half the time: for a kernel whose
//                                           derivative is unchanged code)
// Results are in docs/activations.md.
#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "diffuse/nn/activations.hpp"
#include "ulp_error.hpp"

namespace nn = diffuse::nn;
using diffuse::testing::ulp_error;

namespace {

using chunk = Eigen::ArrayXf;
using evaluate = std::function<void(const chunk&, chunk&, chunk*)>;
using reference = std::function<double(double)>;

struct function_under_test {
    std::string name;
    evaluate f_and_slope;  // f and f' of a chunk (f' only when wanted), through the vector path
    reference f, slope, slope_scale;
};

template <class A>
evaluate vector_path(A act) {
    return [act](const chunk& x, chunk& y, chunk* dy) {
        y = x.unaryExpr(act);
        if (dy) *dy = x.unaryExpr(nn::derivative_of<A>{act});
    };
}

// Reference formulas, as in tests/test_activations_accuracy.cpp.
double sig(double w) {
    return w >= 0 ? 1 / (1 + std::exp(-w)) : std::exp(w) / (1 + std::exp(w));
}
double dsig(double w) {
    const double e = std::exp(-std::fabs(w));
    return e / ((1 + e) * (1 + e));
}
const double pi = 3.14159265358979323846;
double phi(double x) {
    return std::exp(-x * x / 2) / std::sqrt(2 * pi);
}
double big_phi(double x) {
    return std::erfc(-x / std::sqrt(2.0)) / 2;
}
double mish_gate(double x) {
    return std::tanh(std::log1p(std::exp(x)));
}
const reference no_scale = [](double) { return 0.0; };

// x sigma(w(x)): f' = sigma(w) + x w' sigma(w) sigma(-w) crosses zero; scale = largest term.
template <class A, class W, class DW>
function_under_test self_gated(const std::string& name, A act, W w, DW dw) {
    return {name, vector_path(act), [=](double x) { return x * sig(w(x)); },
            [=](double x) { return sig(w(x)) + x * dw(x) * dsig(w(x)); },
            [=](double x) { return std::max(sig(w(x)), std::fabs(x * dw(x) * dsig(w(x)))); }};
}

std::vector<function_under_test> functions() {
    const double k = std::sqrt(8 / pi);
    const double beta = static_cast<float>(1.7);
    const double elu_alpha = static_cast<float>(0.3);
    const double celu_alpha = static_cast<float>(2.5);
    const double selu_alpha = static_cast<double>(nn::selu::alpha), selu_scale = static_cast<double>(nn::selu::scale);
    return {
        {"sigmoid", vector_path(nn::sigmoid{}), sig, dsig, no_scale},
        {"tanh", vector_path(nn::tanh_act{}), [](double x) { return std::tanh(x); },
         [](double x) {
             const double e = std::exp(-2 * std::fabs(x));
             return 4 * e / ((1 + e) * (1 + e));
         },
         no_scale},
        self_gated(
            "silu", nn::silu{}, [](double x) { return x; }, [](double) { return 1.0; }),
        self_gated(
            "swish(1.7)", nn::swish{.beta = 1.7}, [=](double x) { return beta * x; }, [=](double) { return beta; }),
        self_gated(
            "quick_gelu", nn::quick_gelu{}, [](double x) { return 1.702 * x; }, [](double) { return 1.702; }),
        self_gated(
            "gelu_tanh", nn::gelu_tanh{}, [=](double x) { return k * (x + 0.044715 * x * x * x); },
            [=](double x) { return k * (1 + 3 * 0.044715 * x * x); }),
        {"gelu", vector_path(nn::gelu{}), [](double x) { return x * big_phi(x); },
         [](double x) { return big_phi(x) + x * phi(x); },
         [](double x) { return std::max(big_phi(x), std::fabs(x * phi(x))); }},
        {"mish", vector_path(nn::mish{}), [](double x) { return x * mish_gate(x); },
         [](double x) {
             const double g = mish_gate(x);
             return g + x * (1 - g * g) * sig(x);
         },
         [](double x) {
             const double g = mish_gate(x);
             return std::max(g, std::fabs(x * (1 - g * g) * sig(x)));
         }},
        {"softplus", vector_path(nn::softplus{}), [](double x) { return x > 20 ? x : std::log1p(std::exp(x)); },
         [](double x) { return x > 20 ? 1.0 : sig(x); }, no_scale},
        {"elu(0.3)", vector_path(nn::elu{.alpha = 0.3}),
         [=](double x) { return x > 0 ? x : elu_alpha * std::expm1(x); },
         [=](double x) { return x > 0 ? 1.0 : elu_alpha * std::exp(x); }, no_scale},
        {"selu", vector_path(nn::selu{}),
         [=](double x) { return x > 0 ? selu_scale * x : selu_scale * selu_alpha * std::expm1(x); },
         [=](double x) { return x > 0 ? selu_scale : selu_scale * selu_alpha * std::exp(x); }, no_scale},
        {"celu(2.5)", vector_path(nn::celu{.alpha = 2.5}),
         [=](double x) { return x > 0 ? x : celu_alpha * std::expm1(x / celu_alpha); },
         [=](double x) { return x > 0 ? 1.0 : std::exp(x / celu_alpha); }, no_scale},
        {"softsign", vector_path(nn::softsign{}), [](double x) { return x / (1 + std::fabs(x)); },
         [](double x) { return 1 / ((1 + std::fabs(x)) * (1 + std::fabs(x))); }, no_scale},
    };
}

struct maximum {
    double value = 0, value_at = 0, slope = 0, slope_at = 0;
    void merge(const maximum& o) {
        if (o.value > value) value = o.value, value_at = o.value_at;
        if (o.slope > slope) slope = o.slope, slope_at = o.slope_at;
    }
};

constexpr std::uint64_t chunk_size = std::uint64_t{1} << 16;
constexpr std::uint64_t patterns = std::uint64_t{1} << 32;

// Chunks c = first, first + step, ...; within a chunk every stride-th bit pattern.
// With values_only, f' is neither evaluated nor checked (its maximum stays 0).
maximum sweep(const function_under_test& fn, std::uint64_t first, std::uint64_t step, std::uint64_t stride,
              bool values_only) {
    maximum m;
    chunk x(static_cast<Eigen::Index>(chunk_size)), y(x.size()), dy(x.size());
    for (std::uint64_t c = first; c * chunk_size < patterns; c += step) {
        Eigen::Index n = 0;
        for (std::uint64_t b = c * chunk_size; b < (c + 1) * chunk_size; b += stride) {
            const auto bits = static_cast<std::uint32_t>(b);
            float v;
            std::memcpy(&v, &bits, sizeof v);
            if (std::isfinite(v)) x[n++] = v;
        }
        if (n == 0) continue;
        const chunk in = x.head(n);
        chunk out(n), slope(n);
        fn.f_and_slope(in, out, values_only ? nullptr : &slope);
        for (Eigen::Index i = 0; i < n; ++i) {
            const double xi = in[i];
            const double ev = static_cast<double>(ulp_error<float>(out[i], fn.f(xi)));
            if (ev > m.value) m.value = ev, m.value_at = xi;
            if (values_only) continue;
            // The scale only lowers the error (it is >= |f'|): evaluate it where it can matter.
            const double slope_ref = fn.slope(xi);
            double es = static_cast<double>(ulp_error<float>(slope[i], slope_ref));
            if (es > m.slope) es = static_cast<double>(ulp_error<float>(slope[i], slope_ref, fn.slope_scale(xi)));
            if (es > m.slope) m.slope = es, m.slope_at = xi;
        }
    }
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned threads = 2;
    std::uint64_t stride = 1;
    bool values_only = false;
    std::vector<std::string> wanted;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--values") {
            values_only = true;
        } else if ((arg == "-t" || arg == "-s") && i + 1 < argc) {
            const unsigned long v = std::strtoul(argv[++i], nullptr, 10);
            if (v == 0) {
                std::fprintf(stderr, "%s wants a positive integer\n", arg.c_str());
                return 2;
            }
            (arg == "-t" ? threads = static_cast<unsigned>(v) : stride = v);
        } else {
            wanted.push_back(arg);
        }
    }
    const auto all = functions();
    for (const auto& name : wanted)
        if (std::none_of(all.begin(), all.end(), [&](const auto& fn) { return fn.name == name; })) {
            std::fprintf(stderr, "unknown function %s; known:", name.c_str());
            for (const auto& fn : all) std::fprintf(stderr, " %s", fn.name.c_str());
            std::fprintf(stderr, "\n");
            return 2;
        }
    const std::string share = stride == 1 ? "every" : "1/" + std::to_string(stride) + " of the";
    std::printf("%s finite float, %u thread(s), max error in ULP (x where reached)\n", share.c_str(), threads);
    for (const auto& fn : all) {
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), fn.name) == wanted.end()) continue;
        const auto start = std::chrono::steady_clock::now();
        std::vector<maximum> parts(threads);
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t)
            pool.emplace_back([&, t] { parts[t] = sweep(fn, t, threads, stride, values_only); });
        maximum total;
        for (unsigned t = 0; t < threads; ++t) {
            pool[t].join();
            total.merge(parts[t]);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (values_only)
            std::printf("%-12s f: %6.2f (x=%-13.6g) %6.0f s\n", fn.name.c_str(), total.value, total.value_at, seconds);
        else
            std::printf("%-12s f: %6.2f (x=%-13.6g) f': %6.2f (x=%-13.6g) %6.0f s\n", fn.name.c_str(), total.value,
                        total.value_at, total.slope, total.slope_at, seconds);
        std::fflush(stdout);
    }
    return 0;
}
