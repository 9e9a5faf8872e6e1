// The LibTorch adapter (built only when LibTorch is found): zero-copy views of tensors and the
// errors for tensors that cannot be viewed, the TorchScript model adapter, and DPM-Solver++(2M)
// with Karras sigmas driving the trained network of examples/torchscript_pipeline, checked
// against diffusers' DPMSolverMultistepScheduler on the same network and the same noise
// (tests/reference_torchscript.hpp, tools/reference_torchscript_pipeline.py).
// LibTorch first: its glog defines CHECK, which Catch then defines as its own.
#include "diffuse/interop/torch.hpp"
#undef CHECK
#include <catch2/catch.hpp>

#include <string>

#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"
#include "reference_torchscript.hpp"

using namespace diffuse;
using Catch::Matchers::Contains;

namespace {

template <class T>
at::TensorOptions options_of() {
    return at::TensorOptions().dtype(interop::torch_dtype<T>());
}

// A module defined in TorchScript source, for the adapter's contract.
torch::jit::Module scripted(const std::string& forward) {
    torch::jit::Module m("test_module");
    m.define(forward);
    return m;
}

}  // namespace

TEMPLATE_TEST_CASE("tensor views share the tensor's memory", "[interop][torch]", float, double) {
    using T = TestType;
    at::Tensor latents = torch::zeros({2, 4, 8, 8}, options_of<T>());  // NCHW
    view<T> v = interop::tensor_view<T>(latents);
    CHECK(v.data() == latents.data_ptr<T>());
    CHECK(v.size() == 512);
    v[8 * 8 * 4 + 3] = T(7);  // sample 1, channel 0, row 0, column 3
    CHECK(latents[1][0][0][3].item<T>() == T(7));

    const at::Tensor read_only = latents;
    const const_view<T> c = interop::tensor_const_view<T>(read_only);
    CHECK(c.data() == latents.data_ptr<T>());
    CHECK(c.sum() == T(7));

    // A contiguous slice along the first dimension starts at its storage offset.
    at::Tensor second = latents[1];
    CHECK(interop::tensor_view<T>(second).data() == latents.data_ptr<T>() + 256);
    CHECK(interop::tensor_view<T>(second)[3] == T(7));

    at::Tensor empty = torch::empty({0, 3}, options_of<T>());
    CHECK(interop::tensor_view<T>(empty).size() == 0);

    // The other way round: a tensor over a buffer, no copy.
    Eigen::Array<T, Eigen::Dynamic, 1> buffer = Eigen::Array<T, Eigen::Dynamic, 1>::LinSpaced(6, 0, 5);
    const at::Tensor shared = interop::as_tensor(flat(buffer), {2, 3});
    CHECK(shared.data_ptr<T>() == buffer.data());
    CHECK(shared[1][2].template item<T>() == T(5));
    CHECK_THROWS_WITH(interop::as_tensor(flat(buffer), {4, 2}),
                      Contains("shape = \"[4, 2]\" is invalid; allowed: a shape of 6 elements"));
}

TEMPLATE_TEST_CASE("tensors that cannot be viewed are refused with the reason", "[interop][torch]", float, double) {
    using T = TestType;
    using other = std::conditional_t<std::is_same_v<T, float>, double, float>;
    const auto refuses = [](at::Tensor t, const std::string& message) {
        CHECK_THROWS_AS(interop::tensor_const_view<T>(t), diffuse::error);
        CHECK_THROWS_WITH(interop::tensor_view<T>(t), Contains(message));
    };
    refuses(at::Tensor(), "tensor = \"an undefined tensor\" is invalid; allowed: a defined tensor");
    refuses(torch::zeros({3, 4}, options_of<T>()).t(), "tensor.strides() = \"[1, 4]\" is invalid; allowed: contiguous");
    refuses(torch::zeros({1, 4}, options_of<T>()).expand({3, 4}), "tensor.strides() = \"[0, 1]\" is invalid");
    refuses(torch::zeros({4, 4}, options_of<T>()).slice(1, 0, 2), "tensor.strides() = \"[4, 1]\"");
    refuses(torch::zeros({4}, options_of<other>()),
            std::string("tensor.dtype() = \"") + (std::is_same_v<T, float> ? "Double" : "Float") +
                "\" is invalid; allowed: " + (std::is_same_v<T, float> ? "Float" : "Double"));
    refuses(torch::zeros({4}, torch::kHalf), "tensor.dtype() = \"Half\"");
    refuses(torch::zeros({4}, torch::kLong), "tensor.dtype() = \"Long\"");
    refuses(torch::eye(3, options_of<T>()).to_sparse(), "tensor.layout() = \"Sparse\" is invalid; allowed: Strided");
    // CUDA is not available here; the meta device exercises the same device check.
    refuses(torch::empty({4}, options_of<T>().device(torch::kMeta)),
            "tensor.device() = \"meta\" is invalid; allowed: cpu");
    refuses(at::_neg_view(torch::ones({4}, options_of<T>())), "tensor.is_neg() = \"true\"");

    // Writing through a view bypasses autograd: refused for tensors that require grad, reading is fine.
    at::Tensor leaf = torch::ones({4}, options_of<T>().requires_grad(true));
    CHECK_THROWS_WITH(interop::tensor_view<T>(leaf), Contains("tensor.requires_grad() = \"true\" is invalid"));
    CHECK(interop::tensor_const_view<T>(leaf).sum() == T(4));
}

TEST_CASE("the TorchScript model adapter passes x in the network's shape and t as it expects it", "[interop][torch]") {
    // out = x + t, in the input's shape; the module asserts the shapes and dtypes it gets.
    auto module = scripted(R"(
def forward(self, x, t):
    assert x.size() == [2, 1, 2, 3]
    assert x.is_floating_point() and x.element_size() == 4
    assert t.size() == [2]
    assert t.is_floating_point() and t.element_size() == 4
    return x + t.view(2, 1, 1, 1)
)");
    interop::torchscript_model<float> net(module, {2, 1, 2, 3});
    CHECK(net.dtype() == torch::kFloat);  // no parameters: T's dtype
    Eigen::ArrayXf x = Eigen::ArrayXf::LinSpaced(12, 0, 11), out(12);
    net(cflat(x), 999.0, flat(out));
    CHECK((out - (x + 999.0f)).abs().maxCoeff() == 0.0f);
    CHECK_THROWS_WITH(net(const_view<float>(x.data(), 6), 1.0, flat(out)), Contains("x.size() = 6 is invalid"));
    Eigen::ArrayXf short_out(6);
    CHECK_THROWS_WITH(net(cflat(x), 1.0, flat(short_out)), Contains("the module's output shape = \"[2, 1, 2, 3]\""));

    // The input is not copied: a module that (wrongly) writes into its input writes into x.
    auto writes_input = scripted("def forward(self, x, t):\n    x.mul_(2.0)\n    return x\n");
    interop::torchscript_model<float> aliasing(writes_input, {12});
    const Eigen::ArrayXf before = x;
    aliasing(cflat(x), 0.0, flat(out));
    CHECK((x - 2 * before).abs().maxCoeff() == 0.0f);

    // int64 timesteps as a 0-dimensional tensor, and a tuple output (diffusers' return_dict=False).
    auto integer_time = scripted(R"(
def forward(self, x, t):
    assert t.dim() == 0
    assert not t.is_floating_point() and t.element_size() == 8
    return (x * 0.0 + t.float(),)
)");
    interop::torchscript_model<float> stepped(integer_time, {4, 3},
                                              {.time = {.dtype = torch::kLong, .per_sample = false}});
    stepped(cflat(x), 41.0, flat(out));
    CHECK((out == 41.0f).all());
    CHECK_THROWS_WITH(stepped(cflat(x), 41.5, flat(out)),
                      Contains("model_time = 41.5 is invalid; allowed: an integer"));

    // A double sampler and a float network: x is converted once per call, the output converted back.
    Eigen::ArrayXd xd = x.cast<double>(), outd(12);
    interop::torchscript_model<double> converted(module, {2, 1, 2, 3}, {.dtype = torch::kFloat});
    converted(cflat(xd), 0.5, flat(outd));
    CHECK((outd - (xd + 0.5)).abs().maxCoeff() == 0.0);

    // Failures inside the network, and outputs that are not a tensor, are diffuse::errors.
    interop::torchscript_model<float> wrong_shape(module, {3, 4});
    CHECK_THROWS_WITH(
        wrong_shape(cflat(x), 1.0, flat(out)),
        Contains("the TorchScript module's forward(x of shape [3, 4] Float, t of shape [3] Float) failed"));
    interop::torchscript_model<float> not_tensor(scripted("def forward(self, x, t):\n    return 3\n"), {12});
    CHECK_THROWS_WITH(not_tensor(cflat(x), 1.0, flat(out)),
                      Contains("the module's output = \"Int\" is invalid; allowed: a tensor, or a tuple"));
    interop::torchscript_model<float> integer_output(scripted("def forward(self, x, t):\n    return x.long()\n"), {12});
    CHECK_THROWS_WITH(integer_output(cflat(x), 1.0, flat(out)), Contains("the module's output dtype = \"Long\""));

    CHECK_THROWS_WITH(interop::torchscript_model<float>(module, {2, 0, 3}),
                      Contains("shape = \"[2, 0, 3]\" is invalid; allowed: positive extents"));
    CHECK_THROWS_WITH(interop::torchscript_model<float>(module, {2}, {.time = {.dtype = torch::kInt}}),
                      Contains("options.time.dtype = \"Int\" is invalid"));
    CHECK_THROWS_WITH(interop::load_torchscript("/nonexistent/net.pt"),
                      Contains("path = \"/nonexistent/net.pt\" is invalid; allowed: a TorchScript file"));
}

TEMPLATE_TEST_CASE("DPM-Solver++(2M) Karras on the trained TorchScript U-Net equals diffusers on the same noise",
                   "[interop][torch]", float, double) {
    using T = TestType;
    namespace ref = reference_torchscript;
    // diffusers computes its sigmas from float32 alphas_cumprod; so does the float grid here. In
    // double they differ by float32's rounding of 1 - alphas_cumprod near t = 0 (relative 8.3e-5 at
    // sigma_min: 0.0100005 against 0.0100013), so the double run takes the float grid's levels, and
    // what it checks is the solver in double and the conversion of x to the network's float32.
    const auto float_grid =
        schedule::solver_sigma_grid(schedule::discrete<float>::linear(), schedule::solver_family::dpm_multistep,
                                    {.steps = ref::steps, .sigmas = schedule::solver_sigma_kind::karras});
    std::vector<schedule::noise_level<T>> levels;
    for (const auto& l : float_grid.levels()) levels.push_back({l.sigma, l.alpha, l.model_time});
    const schedule::sigma_grid<T> grid(std::move(levels), float_grid.initial_noise_std());
    const sampler::dpm_solver_multistep<T> solver;  // diffusers' defaults: dpmsolver++, order 2, midpoint
    // The grid is diffusers' (model times are its rounded timesteps).
    double sigma_difference = 0;  // relative
    for (diffuse::index i = 0; i < ref::steps; ++i) {
        const auto k = static_cast<std::size_t>(i);
        CHECK(grid[i].model_time == ref::timesteps[k]);
        sigma_difference =
            std::max(sigma_difference, std::abs(static_cast<double>(float_grid[i].sigma) / ref::sigmas[k] - 1));
    }
    CHECK(sigma_difference < 1e-6);  // measured 1.2e-7 (one float32 ulp)

    interop::torchscript_model<T> net(interop::load_torchscript(DIFFUSE_SHAPES_UNET), {ref::batch, 1, 16, 16});
    CHECK(net.dtype() == torch::kFloat);
    Eigen::Array<T, Eigen::Dynamic, 1> x(static_cast<diffuse::index>(ref::noise.size()));
    for (diffuse::index i = 0; i < x.size(); ++i) x[i] = static_cast<T>(ref::noise[static_cast<std::size_t>(i)]);
    const T init_noise_sigma = solver.start(grid, x.size(), ref::batch).init_noise_sigma();
    CHECK(static_cast<double>(init_noise_sigma) == ref::init_noise_sigma);
    x *= init_noise_sigma;
    CHECK(diffuse::sample(net, solver, grid, x, {}, ref::batch) == ref::steps);

    double max_difference = 0;
    for (diffuse::index i = 0; i < x.size(); ++i) {
        max_difference = std::max(
            max_difference,
            std::abs(static_cast<double>(x[i]) - static_cast<double>(ref::sample[static_cast<std::size_t>(i)])));
    }
    // Absolute 1e-4, no relative slack (the samples lie in [-1.8, 1.4]); measured 8.9e-6 (float), 9.3e-6 (double).
    INFO("max |C++ - diffusers| = " << max_difference);
    CHECK(max_difference < 1e-4);
}
