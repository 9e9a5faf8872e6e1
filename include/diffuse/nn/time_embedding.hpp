// diffuse/nn/time_embedding.hpp: sinusoidal time embedding, and an MLP conditioned on it.
//
// The embedding of a time t is [sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})]
// with h = dimension/2 geometric frequencies w_i = max_period^(-i / (h - shift)) (Vaswani et al.
// 2017, sec. 3.5, as used for diffusion time by Ho et al. 2020; defaults and the option names
// are those of diffusers' get_timestep_embedding: max_period 10000, downscale_freq_shift 1,
// flip_sin_to_cos false, scale 1).
//
// time_conditioned_mlp feeds [x; embedding(time_scale * t)] to an mlp that predicts a vector of
// the size of x, and is a sampler model: model(const_view<T> x, double t, view<T> out) over a
// flat batch of points.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/nn/mlp.hpp"

namespace diffuse::nn {

struct embedding_options {
    index dimension = 32;
    double max_period = 10000.0;
    double downscale_freq_shift = 1.0;
    bool flip_sin_to_cos = false;
    double scale = 1.0;
};

template <Real T>
class sinusoidal_embedding {
public:
    using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

    explicit sinusoidal_embedding(embedding_options options = {}) : options_(options) {
        require(options.dimension >= 2 && options.dimension % 2 == 0, "embedding dimension", options.dimension,
                "an even number >= 2");
        require_positive("embedding max_period", options.max_period);
        require_finite("embedding scale", options.scale);
        const index half = options.dimension / 2;
        require(static_cast<double>(half) - options.downscale_freq_shift > 0.0, "embedding downscale_freq_shift",
                options.downscale_freq_shift, "< dimension / 2 = " + std::to_string(half));
        frequencies_.resize(half);
        for (index i = 0; i < half; ++i) {
            const double exponent = -std::log(options.max_period) * static_cast<double>(i) /
                                    (static_cast<double>(half) - options.downscale_freq_shift);
            frequencies_[i] = static_cast<T>(options.scale * std::exp(exponent));
        }
    }

    index dimension() const { return options_.dimension; }
    const embedding_options& options() const { return options_; }

    // One time into out (dimension values).
    void operator()(T t, view<T> out) const {
        require_size("out.size()", out.size(), dimension());
        const index half = frequencies_.size();
        const auto angles = t * frequencies_;
        out.segment(options_.flip_sin_to_cos ? half : 0, half) = angles.sin();
        out.segment(options_.flip_sin_to_cos ? 0 : half, half) = angles.cos();
    }

    // A batch: column j of out (dimension x batch) embeds times[j].
    template <class Out>
    void embed(const_view<T> times, Out&& out) const {
        require(out.rows() == dimension() && out.cols() == times.size(), "out.rows() x out.cols()",
                std::to_string(out.rows()) + " x " + std::to_string(out.cols()),
                std::to_string(dimension()) + " x " + std::to_string(times.size()));
        for (index j = 0; j < times.size(); ++j) {
            (*this)(times[j], view<T>(out.col(j).data(), dimension()));
        }
    }

private:
    embedding_options options_;
    buffer<T> frequencies_;
};

template <Real T, activation_function Activation = silu>
class time_conditioned_mlp {
public:
    using network = mlp<T, Activation>;
    using matrix = typename network::matrix;
    using scalar = T;

    // data_dimension: size of one point; hidden: hidden widths; time_scale multiplies the
    // model time before embedding (1000 for continuous t in [0, 1], 1 for integer timesteps).
    time_conditioned_mlp(index data_dimension, const std::vector<index>& hidden, embedding_options embedding = {},
                         T time_scale = T(1))
        : data_dimension_(data_dimension),
          embedding_(embedding),
          network_(widths(data_dimension, embedding.dimension, hidden)),
          time_scale_(time_scale) {
        require_finite("time_scale", time_scale);
    }

    index data_dimension() const { return data_dimension_; }
    T time_scale() const { return time_scale_; }
    const sinusoidal_embedding<T>& embedding() const { return embedding_; }
    network& net() { return network_; }
    const network& net() const { return network_; }

    // input (data_dimension + embedding dimension) x batch = [x; embedding(time_scale * times)].
    template <class X, class In>
    void assemble_input(const X& x, const_view<T> times, In&& input) const {
        require(x.rows() == data_dimension_ && x.cols() == times.size(), "x.rows() x x.cols()",
                std::to_string(x.rows()) + " x " + std::to_string(x.cols()),
                std::to_string(data_dimension_) + " x times.size()");
        input.topRows(data_dimension_) = x;
        for (index j = 0; j < times.size(); ++j) {
            embedding_(time_scale_ * times[j], view<T>(input.col(j).data() + data_dimension_, embedding_.dimension()));
        }
    }

    // Sampler model: x is a flat batch of points (data_dimension each), all at model time t.
    void operator()(const_view<T> x, double t, view<T> out) {
        require(x.size() % data_dimension_ == 0 && x.size() > 0, "x.size()", x.size(),
                "a positive multiple of the data dimension " + std::to_string(data_dimension_));
        require_size("out.size()", out.size(), x.size());
        const index batch = x.size() / data_dimension_;
        if (!workspace_ || workspace_->max_batch() < batch) {
            workspace_.emplace(network_.make_workspace(batch));  // grows only when the batch grows
            input_.resize(network_.input_size(), batch);
            times_.resize(batch);
        }
        times_.head(batch).setConstant(static_cast<T>(t));
        auto input = input_.leftCols(batch);
        assemble_input(Eigen::Map<const matrix>(x.data(), data_dimension_, batch), const_view<T>(times_.data(), batch),
                       input);
        Eigen::Map<matrix> y(out.data(), data_dimension_, batch);
        network_.forward(input, y, *workspace_);
    }

private:
    static std::vector<index> widths(index data_dimension, index embedding_dimension,
                                     const std::vector<index>& hidden) {
        require(data_dimension >= 1, "data_dimension", data_dimension, ">= 1");
        std::vector<index> all{data_dimension + embedding_dimension};
        all.insert(all.end(), hidden.begin(), hidden.end());
        all.push_back(data_dimension);
        return all;
    }

    index data_dimension_;
    sinusoidal_embedding<T> embedding_;
    network network_;
    T time_scale_;
    std::optional<typename network::workspace> workspace_;
    matrix input_;
    buffer<T> times_;
};

}  // namespace diffuse::nn
