// diffuse/sa/batch_sampler.hpp: which samples of a data set of n enter each gradient.
//
// full_batch:           every step sees all n samples (batch gradient descent).
// with_replacement:     each index drawn uniformly and independently; the mini-batch gradient
//                       is an unbiased estimate of the full gradient (Robbins-Monro view of SGD).
// without_replacement:  a fresh random permutation per epoch, cut into batches; every sample
//                       is seen exactly once per epoch (the last batch of an epoch is shorter
//                       when the batch size does not divide n, as with PyTorch's drop_last=False).
#pragma once

#include <algorithm>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse::sa {

enum class sampling { full_batch, with_replacement, without_replacement };

class batch_sampler {
public:
    batch_sampler(index dataset_size, index batch_size, sampling mode)
        : dataset_size_(dataset_size),
          batch_size_(mode == sampling::full_batch ? dataset_size : batch_size),
          mode_(mode) {
        require(dataset_size >= 1, "dataset_size", dataset_size, ">= 1");
        if (mode == sampling::without_replacement) {
            require(batch_size >= 1 && batch_size <= dataset_size, "batch_size", batch_size,
                    "1 .. dataset_size (" + std::to_string(dataset_size) + ") without replacement");
        } else {
            require(batch_size_ >= 1, "batch_size", batch_size, ">= 1");
        }
        order_.resize(static_cast<std::size_t>(mode == sampling::with_replacement ? batch_size_ : dataset_size));
        if (mode != sampling::with_replacement) std::iota(order_.begin(), order_.end(), index{0});
        position_ = dataset_size_;  // the first call to next() starts epoch 0
    }

    // The indices of the next batch; valid until the next call. Never allocates.
    template <std::uniform_random_bit_generator G>
    std::span<const index> next(G& rng) {
        switch (mode_) {
            case sampling::full_batch:
                ++epoch_;
                return {order_.data(), order_.size()};
            case sampling::with_replacement: {
                std::uniform_int_distribution<index> pick(0, dataset_size_ - 1);
                for (auto& i : order_) i = pick(rng);
                return {order_.data(), order_.size()};
            }
            case sampling::without_replacement:
                break;
        }
        if (position_ >= dataset_size_) {
            std::shuffle(order_.begin(), order_.end(), rng);
            position_ = 0;
            ++epoch_;
        }
        const index count = std::min(batch_size_, dataset_size_ - position_);
        const std::span<const index> batch(order_.data() + position_, static_cast<std::size_t>(count));
        position_ += count;
        return batch;
    }

    // Epochs started so far (a full pass for full_batch; unused for with_replacement).
    index epoch() const { return epoch_; }
    index batch_size() const { return batch_size_; }
    index dataset_size() const { return dataset_size_; }

private:
    index dataset_size_;
    index batch_size_;
    sampling mode_;
    std::vector<index> order_;
    index position_ = 0;
    index epoch_ = 0;
};

}  // namespace diffuse::sa
