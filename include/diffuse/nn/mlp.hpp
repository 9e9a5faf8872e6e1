// diffuse/nn/mlp.hpp: a multilayer perceptron with hand-written backpropagation.
//
// widths = {n_0, n_1, ..., n_L}: L affine layers z_l = W_l a_{l-1} + b_l, with the activation
// a_l = f(z_l) after every layer but the last (the output is linear, as a regression head
// should be). A batch is a matrix with one sample per column (features x batch), so each layer
// is one matrix product. Backward is the chain rule written out (Rumelhart, Hinton & Williams
// 1986): delta_L = dL/dy, dW_l = delta_l a_{l-1}^T, db_l = sum over the batch of delta_l,
// delta_{l-1} = (W_l^T delta_l) * f'(z_{l-1}).
//
// All parameters live in one flat buffer (layer by layer: W_l column-major, then b_l), so an
// optimizer from diffuse/sa updates the whole network with one vector step, and an EMA or a
// file holds it as one array. The activation is a policy: any default-constructible type with
// `template <Real T> T operator()(T) const` and `T derivative(T) const` (diffuse/nn/activations.hpp).
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <concepts>
#include <string>
#include <utility>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/nn/logistic.hpp"

namespace diffuse::nn {

template <class A>
concept activation_function = std::default_initializable<A> && requires(const A& a, float f, double d) {
    { a(f) } -> std::convertible_to<float>;
    { a(d) } -> std::convertible_to<double>;
    { a.derivative(f) } -> std::convertible_to<float>;
    { a.derivative(d) } -> std::convertible_to<double>;
};

template <Real T, activation_function Activation = silu>
class mlp {
public:
    using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    using scalar = T;
    using activation = Activation;

    // Per-batch storage for a forward pass and its backward pass, sized for up to max_batch
    // samples; one per thread. Reusing it keeps steps free of allocation.
    class workspace {
    public:
        index max_batch() const { return max_batch_; }
        index batch() const { return batch_; }

    private:
        friend class mlp;
        workspace(const std::vector<index>& widths, index max_batch) : max_batch_(max_batch) {
            index widest = 0;
            for (index w : widths) widest = std::max(widest, w);
            input_.resize(widths.front(), max_batch);
            for (std::size_t l = 1; l + 1 < widths.size(); ++l) {
                pre_.emplace_back(widths[l], max_batch);
                post_.emplace_back(widths[l], max_batch);
            }
            delta_.resize(widest, max_batch);
            next_delta_.resize(widest, max_batch);
        }
        index max_batch_;
        index batch_ = 0;
        matrix input_;
        std::vector<matrix> pre_, post_;  // z_l and a_l of the hidden layers
        matrix delta_, next_delta_;
    };

    explicit mlp(std::vector<index> widths, Activation act = {}) : widths_(std::move(widths)), act_(act) {
        require(widths_.size() >= 2, "widths.size()", static_cast<index>(widths_.size()),
                ">= 2 (input and output width, hidden widths between)");
        index count = 0;
        for (std::size_t l = 0; l < widths_.size(); ++l) {
            require(widths_[l] >= 1, "widths[" + std::to_string(l) + "]", widths_[l], ">= 1");
            if (l > 0) {
                offsets_.push_back(count);
                count += widths_[l] * widths_[l - 1] + widths_[l];
            }
        }
        parameters_ = buffer<T>::Zero(count);
    }

    const std::vector<index>& widths() const { return widths_; }
    index layers() const { return static_cast<index>(widths_.size()) - 1; }
    index input_size() const { return widths_.front(); }
    index output_size() const { return widths_.back(); }
    index parameter_count() const { return parameters_.size(); }
    const Activation& activation_function() const { return act_; }

    view<T> parameters() { return view<T>(parameters_.data(), parameters_.size()); }
    const_view<T> parameters() const { return const_view<T>(parameters_.data(), parameters_.size()); }

    // W_l (out x in) and b_l of layer l = 0 .. layers() - 1, aliasing the parameter buffer.
    Eigen::Map<matrix> weight(index l) {
        return {parameters_.data() + weight_offset(l), widths_at(l + 1), widths_at(l)};
    }
    Eigen::Map<const matrix> weight(index l) const {
        return {parameters_.data() + weight_offset(l), widths_at(l + 1), widths_at(l)};
    }
    view<T> bias(index l) { return {parameters_.data() + bias_offset(l), widths_at(l + 1)}; }
    const_view<T> bias(index l) const { return {parameters_.data() + bias_offset(l), widths_at(l + 1)}; }

    // PyTorch's nn.Linear default: W and b uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]
    // (kaiming_uniform with a = sqrt(5)). `rng.uniform(view<T>)` fills (0, 1).
    template <class G>
    void initialize(G& rng) {
        rng.uniform(parameters());
        for (index l = 0; l < layers(); ++l) {
            const T bound = T(1) / std::sqrt(static_cast<T>(widths_at(l)));
            const index begin = weight_offset(l), size = widths_at(l + 1) * (widths_at(l) + 1);
            auto block = parameters_.segment(begin, size);
            block = (T(2) * block - T(1)) * bound;
        }
    }

    workspace make_workspace(index max_batch) const {
        require(max_batch >= 1, "max_batch", max_batch, ">= 1");
        return workspace(widths_, max_batch);
    }

    // y (output_size x batch) = network(x (input_size x batch)); keeps what backward needs in ws.
    void forward(const Eigen::Ref<const matrix>& x, Eigen::Ref<matrix> y, workspace& ws) const {
        const index batch = x.cols();
        require_shape("x", x.rows(), input_size(), batch, ws);
        require(y.rows() == output_size() && y.cols() == batch, "y.rows() x y.cols()",
                std::to_string(y.rows()) + " x " + std::to_string(y.cols()),
                std::to_string(output_size()) + " x " + std::to_string(batch) + " (output_size x batch)");
        ws.batch_ = batch;
        ws.input_.leftCols(batch) = x;
        for (index l = 0; l < layers(); ++l) {
            const auto in = layer_input(ws, l);
            if (l + 1 == layers()) {
                affine(l, in, y);
            } else {
                auto z = ws.pre_[static_cast<std::size_t>(l)].leftCols(batch);
                affine(l, in, z);
                ws.post_[static_cast<std::size_t>(l)].leftCols(batch) = z.array().unaryExpr(act_).matrix();
            }
        }
    }

    // The gradient of a loss L with respect to every parameter, given dL/dy for the batch of the
    // last forward(ws); written (not accumulated) into `gradient`. If dx is given (input_size x
    // batch), dL/dx is written there too (e.g. to backpropagate into an embedding).
    void backward(const Eigen::Ref<const matrix>& dy, view<T> gradient, workspace& ws) const {
        backpropagate(dy, gradient, ws, nullptr);
    }
    void backward(const Eigen::Ref<const matrix>& dy, view<T> gradient, workspace& ws, Eigen::Ref<matrix> dx) const {
        require(dx.rows() == input_size() && dx.cols() == ws.batch_, "dx.rows() x dx.cols()",
                std::to_string(dx.rows()) + " x " + std::to_string(dx.cols()), "input_size x batch");
        backpropagate(dy, gradient, ws, &dx);
    }

private:
    void backpropagate(const Eigen::Ref<const matrix>& dy, view<T> gradient, workspace& ws,
                       Eigen::Ref<matrix>* dx) const {
        const index batch = ws.batch_;
        require(batch >= 1, "workspace batch", batch, "a workspace used by forward() first");
        require(dy.rows() == output_size() && dy.cols() == batch, "dy.rows() x dy.cols()",
                std::to_string(dy.rows()) + " x " + std::to_string(dy.cols()),
                std::to_string(output_size()) + " x " + std::to_string(batch) + " (as the last forward)");
        require_size("gradient.size()", gradient.size(), parameter_count());
        ws.delta_.topLeftCorner(output_size(), batch) = dy;
        for (index l = layers() - 1; l >= 0; --l) {
            const index out = widths_at(l + 1), in_width = widths_at(l);
            const auto delta = ws.delta_.topLeftCorner(out, batch);
            Eigen::Map<matrix> dw(gradient.data() + weight_offset(l), out, in_width);
            dw.noalias() = delta * layer_input(ws, l).transpose();
            view<T>(gradient.data() + bias_offset(l), out) = delta.rowwise().sum().array();
            if (l == 0 && dx == nullptr) break;
            auto next = ws.next_delta_.topLeftCorner(in_width, batch);
            next.noalias() = weight(l).transpose() * delta;
            if (l == 0) {
                *dx = next;
                break;
            }
            const auto& z = ws.pre_[static_cast<std::size_t>(l - 1)];
            next.array() *= z.leftCols(batch).array().unaryExpr([this](T v) { return act_.derivative(v); });
            ws.delta_.swap(ws.next_delta_);
        }
    }

    index widths_at(index i) const { return widths_[static_cast<std::size_t>(i)]; }
    index weight_offset(index l) const {
        require(l >= 0 && l < layers(), "layer", l, "0 .. layers() - 1 = " + std::to_string(layers() - 1));
        return offsets_[static_cast<std::size_t>(l)];
    }
    index bias_offset(index l) const { return weight_offset(l) + widths_at(l + 1) * widths_at(l); }

    // a_{l-1}: the input for the first layer, the previous activation otherwise.
    auto layer_input(const workspace& ws, index l) const {
        const matrix& source = l == 0 ? ws.input_ : ws.post_[static_cast<std::size_t>(l - 1)];
        return source.topLeftCorner(widths_at(l), ws.batch_);
    }

    template <class In, class Out>
    void affine(index l, const In& in, Out&& out) const {
        out.noalias() = weight(l) * in;
        out.colwise() += bias(l).matrix();
    }

    void require_shape(const char* name, index rows, index expected_rows, index batch, const workspace& ws) const {
        require(rows == expected_rows, std::string(name) + ".rows()", rows,
                std::to_string(expected_rows) + " (the network's input width)");
        require(batch >= 1 && batch <= ws.max_batch(), std::string(name) + ".cols()", batch,
                "1 .. " + std::to_string(ws.max_batch()) + " (the workspace's max_batch)");
    }

    std::vector<index> widths_;
    std::vector<index> offsets_;
    buffer<T> parameters_;
    Activation act_;
};

}  // namespace diffuse::nn
