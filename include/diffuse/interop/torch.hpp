// diffuse/interop/torch.hpp: LibTorch tensors as sampler buffers, and a TorchScript module as the
// model of a sampler. Optional: include it only if you use LibTorch (Debian: libtorch-dev), and
// link the `torch` target of find_package(Torch).
//
// - tensor_view<T>(t), tensor_const_view<T>(t): the flat view of a contiguous CPU tensor of T's
//   dtype, sharing its memory (no copy). Anything else (undefined, CUDA/meta, sparse, another dtype,
//   non-contiguous, a lazily negated view) throws diffuse::error naming the problem and the remedy.
// - as_tensor(view, shape): the other way round, a tensor that shares a buffer's memory.
// - torchscript_model<T>: calls a TorchScript module as forward(x, t) with x reshaped to the
//   network's shape (NCHW, batch first) and t as the network expects it, and writes its output
//   into the sampler's buffer.
//
// What torchscript_model copies, per call:
//   x:   nothing when the network's dtype is T (the module reads the sampler's buffer through
//        torch::from_blob); otherwise x is converted into a tensor allocated once, at construction.
//   t:   written into a tensor allocated once ([N] or [], as configured).
//   out: the module returns a tensor torch allocated; it is copied (and converted, if its dtype is
//        not T) into `out` once. A TorchScript module has no way to write into a given buffer, so
//        this copy is the one that cannot be avoided.
// Beyond that, a call allocates what torch allocates for any forward: the input's TensorImpl, the
// argument vector torch::jit::Module::forward takes by value, the output and the intermediates.
// The call runs under c10::InferenceMode (no autograd graph is recorded).
#pragma once

#include <torch/script.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "diffuse/core/view.hpp"

namespace diffuse::interop {

// The torch dtype of a diffuse scalar type.
template <Real T>
constexpr c10::ScalarType torch_dtype() {
    if constexpr (std::is_same_v<T, float>) {
        return c10::kFloat;
    } else {
        static_assert(std::is_same_v<T, double>, "diffuse's scalars are float and double");
        return c10::kDouble;
    }
}

namespace detail {

inline std::string shape_text(c10::IntArrayRef sizes) {
    std::ostringstream out;
    out << '[';
    for (std::size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
    out << ']';
    return out.str();
}

inline std::string dtype_text(c10::ScalarType dtype) {
    return std::string(c10::toString(dtype));
}

// Layouts, devices and IValue tags as torch prints them.
template <class V>
std::string torch_text(const V& value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

// Every condition under which a tensor's memory is not a flat array of T, with the remedy. (Each
// message is built only when its check fails: no allocation on the way through.)
template <Real T>
void require_viewable(const at::Tensor& tensor, std::string_view parameter) {
    const auto member_of = [&](std::string_view member) { return std::string(parameter) + std::string(member); };
    if (!tensor.defined()) throw invalid(parameter, "an undefined tensor", "a defined tensor");
    if (tensor.layout() != c10::kStrided) {
        throw invalid(member_of(".layout()"), torch_text(tensor.layout()),
                      "Strided (a dense tensor; call to_dense() first)");
    }
    if (!tensor.device().is_cpu()) {
        throw invalid(member_of(".device()"), tensor.device().str(),
                      "cpu (diffuse works on host memory; call .cpu() first, which copies)");
    }
    if (tensor.scalar_type() != torch_dtype<T>()) {
        throw invalid(member_of(".dtype()"), dtype_text(tensor.scalar_type()),
                      dtype_text(torch_dtype<T>()) + " (the sampler's scalar type; convert with .to(), which copies)");
    }
    if (!tensor.is_contiguous()) {
        throw invalid(member_of(".strides()"), shape_text(tensor.strides()),
                      "contiguous strides for sizes " + shape_text(tensor.sizes()) +
                          " (a transposed, sliced or expanded tensor; call .contiguous() first, which copies)");
    }
    if (tensor.is_neg()) {
        throw invalid(member_of(".is_neg()"), "true",
                      "false (a lazily negated view; call resolve_neg() first, which copies)");
    }
}

}  // namespace detail

// A writable flat view of a tensor's elements in memory order. The view does not own the memory:
// view a tensor you keep (a temporary may be the storage's only owner, hence the deleted overload).
// Writing through the view bypasses autograd, so a tensor that requires grad is refused.
template <Real T>
view<T> tensor_view(at::Tensor& tensor) {
    detail::require_viewable<T>(tensor, "tensor");
    require(!tensor.requires_grad(), "tensor.requires_grad()", "true",
            "false (writing through a view bypasses autograd; use a tensor made under torch::NoGradGuard or "
            "detach() it)");
    return view<T>(tensor.data_ptr<T>(), static_cast<index>(tensor.numel()));
}
template <Real T>
view<T> tensor_view(at::Tensor&& tensor) = delete;

// A read-only flat view of a tensor's elements in memory order (autograd is not involved).
template <Real T>
const_view<T> tensor_const_view(const at::Tensor& tensor) {
    detail::require_viewable<T>(tensor, "tensor");
    return const_view<T>(tensor.data_ptr<T>(), static_cast<index>(tensor.numel()));
}
template <Real T>
const_view<T> tensor_const_view(at::Tensor&& tensor) = delete;

// A tensor of the given shape sharing the memory of `data` (torch::from_blob: no copy, no
// ownership; the buffer must outlive the tensor). The const overload hands torch a writable
// tensor of read-only memory: only pass it where torch reads (as the model adapter does).
template <Real T>
at::Tensor as_tensor(view<T> data, c10::IntArrayRef shape) {
    if (c10::multiply_integers(shape) != data.size()) {
        throw invalid("shape", detail::shape_text(shape),
                      "a shape of " + std::to_string(data.size()) + " elements (the buffer's size)");
    }
    return torch::from_blob(data.data(), shape, torch::TensorOptions().dtype(torch_dtype<T>()));
}
template <Real T>
at::Tensor as_tensor(const_view<T> data, c10::IntArrayRef shape) {
    return as_tensor(view<T>(const_cast<T*>(data.data()), data.size()), shape);
}

// How the network takes its time argument.
struct time_input {
    // Its dtype: kFloat (diffusers' UNet2DModel/UNet2DConditionModel accept float timesteps), kDouble,
    // or kLong (int64 timesteps; the model time must then be an integer, as it is for diffusers'
    // integer grids and Karras/exponential grids with rounded timesteps).
    c10::ScalarType dtype = c10::kFloat;
    // true: shape [N] (the batch size N, the first dimension of the network's shape), the same t
    // for every sample; false: a 0-dimensional tensor.
    bool per_sample = true;
};

struct torchscript_options {
    // The dtype the network computes in; empty: the dtype of its first floating-point parameter
    // (or T when it has none). When it is not T, x is converted into a buffer allocated once.
    std::optional<c10::ScalarType> dtype{};
    time_input time{};
};

// The model of a sampler: `model(x, model_time, out)` calls `module.forward(x, t)`. Whatever the
// model time means (a training timestep, c_noise(sigma), a flow time) is passed on as is; a
// network that expects it rescaled (e.g. t / 1000) is wrapped in a lambda that rescales.
template <Real T>
class torchscript_model {
public:
    // `shape`: the network's input shape (e.g. {N, C, H, W}); x has that many elements.
    torchscript_model(torch::jit::Module module, std::vector<std::int64_t> shape, torchscript_options options = {})
        : module_(std::move(module)), shape_(std::move(shape)) {
        require(!shape_.empty(), "shape", "[]", "at least one dimension (the batch size first)");
        for (const std::int64_t extent : shape_) {
            require(extent > 0, "shape", detail::shape_text(shape_), "positive extents");
        }
        size_ = static_cast<index>(c10::multiply_integers(shape_));
        dtype_ = options.dtype.value_or(parameter_dtype(module_));
        require(dtype_ == c10::kFloat || dtype_ == c10::kDouble || dtype_ == c10::kHalf || dtype_ == c10::kBFloat16,
                "options.dtype", detail::dtype_text(dtype_), "Float, Double, Half or BFloat16");
        const auto t = options.time;
        require(t.dtype == c10::kFloat || t.dtype == c10::kDouble || t.dtype == c10::kLong, "options.time.dtype",
                detail::dtype_text(t.dtype), "Float, Double or Long");
        const c10::InferenceMode inference;
        time_ = t.per_sample ? torch::empty({shape_[0]}, torch::TensorOptions().dtype(t.dtype))
                             : torch::empty({}, torch::TensorOptions().dtype(t.dtype));
        if (dtype_ != torch_dtype<T>()) converted_ = torch::empty(shape_, torch::TensorOptions().dtype(dtype_));
        module_.eval();
    }

    void operator()(const_view<T> x, double model_time, view<T> out) {
        require_size("x.size()", x.size(), size_);
        require_finite("model_time", model_time);
        if (time_.scalar_type() == c10::kLong) {
            require(std::nearbyint(model_time) == model_time, "model_time", model_time,
                    "an integer (the network takes int64 timesteps; use a grid with integer model times or "
                    "time_input::dtype kFloat)");
        }
        const c10::InferenceMode inference;
        at::Tensor input = as_tensor(x, shape_);
        if (converted_.defined()) {
            converted_.copy_(input);
            input = converted_;
        }
        time_.fill_(model_time);
        c10::IValue result;
        try {
            result = module_.forward({input, time_});
        } catch (const c10::Error& e) {  // torch's checks (shapes, dtypes), without the C++ backtrace
            throw forward_failed(e.what_without_backtrace());
        } catch (const std::exception& e) {  // the script's own exceptions (torch::jit::JITException)
            throw forward_failed(e.what());
        }
        const at::Tensor output = output_tensor(result);
        if (!output.device().is_cpu()) throw invalid("the module's output.device()", output.device().str(), "cpu");
        if (output.numel() != out.size()) {
            throw invalid("the module's output shape", detail::shape_text(output.sizes()),
                          std::to_string(out.size()) + " elements (the sampler's model output size)");
        }
        if (!at::isFloatingType(output.scalar_type())) {
            throw invalid("the module's output dtype", detail::dtype_text(output.scalar_type()),
                          "a floating-point dtype");
        }
        as_tensor(out, output.sizes()).copy_(output);
    }

    [[nodiscard]] const std::vector<std::int64_t>& shape() const { return shape_; }
    [[nodiscard]] c10::ScalarType dtype() const { return dtype_; }
    [[nodiscard]] torch::jit::Module& module() { return module_; }

private:
    [[nodiscard]] error forward_failed(std::string_view what) const {
        return error("diffuse: the TorchScript module's forward(x of shape " + detail::shape_text(shape_) + " " +
                     detail::dtype_text(dtype_) + ", t of shape " + detail::shape_text(time_.sizes()) + " " +
                     detail::dtype_text(time_.scalar_type()) + ") failed: " + std::string(what));
    }

    static c10::ScalarType parameter_dtype(const torch::jit::Module& module) {
        for (const at::Tensor& p : module.parameters()) {
            if (at::isFloatingType(p.scalar_type())) return p.scalar_type();
        }
        return torch_dtype<T>();
    }

    // forward returns a tensor, or a tuple whose first element is one (diffusers' return_dict=False).
    static at::Tensor output_tensor(const c10::IValue& result) {
        if (result.isTensor()) return result.toTensor();
        if (result.isTuple()) {
            const auto& elements = result.toTupleRef().elements();
            if (!elements.empty() && elements[0].isTensor()) return elements[0].toTensor();
        }
        throw invalid("the module's output", result.tagKind(), "a tensor, or a tuple whose first element is a tensor");
    }

    torch::jit::Module module_;
    std::vector<std::int64_t> shape_;
    index size_ = 0;
    c10::ScalarType dtype_ = torch_dtype<T>();
    at::Tensor time_;       // the time argument, refilled per call
    at::Tensor converted_;  // x in the network's dtype, when that is not T
};

// Loads a TorchScript file (torch.jit.save) on the CPU; a missing or unreadable file is a diffuse::error.
inline torch::jit::Module load_torchscript(const std::string& path) {
    try {
        return torch::jit::load(path, torch::kCPU);
    } catch (const c10::Error& e) {
        throw invalid("path", path,
                      std::string("a TorchScript file saved by torch.jit.save (") + e.what_without_backtrace() + ")");
    } catch (const std::exception& e) {
        throw invalid("path", path, std::string("a TorchScript file saved by torch.jit.save (") + e.what() + ")");
    }
}

}  // namespace diffuse::interop
