// diffuse/rf/zoo.hpp: the spatial skeletons of well-known backbones, as constexpr networks.
//
// Only what moves the receptive field is kept: convolutions, poolings, paddings, merges.
// Batch norm and activations are pointwise and are left out; so is self-attention, which makes
// every unit see the whole input (the U-Net entries give the field of the convolutional path).
// Two layouts are given where frameworks differ:
//   - torchvision (PyTorch): explicit symmetric padding, ResNet strides on the first block of a
//     stage, inside its 3x3 convolution (ResNet v1.5);
//   - TF-Slim (tensorflow/models research/slim): 'SAME' padding resolved from the input size,
//     ResNet strides on the last unit of a block (resnet_v1_block), conv2d_same for strided
//     convolutions. These are the networks of google-research/receptive_field's table.
// Layer names follow the frameworks' module / scope names.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "diffuse/core/config.hpp"
#include "diffuse/rf/layer.hpp"
#include "diffuse/rf/network.hpp"

namespace diffuse::rf::zoo {

namespace detail {

using rf::detail::decimal;
using rf::detail::join;

// A convolution in TF-Slim's resnet_utils.conv2d_same: 'SAME' at stride 1, otherwise explicit
// padding (k-1)/2 before and k-1-(k-1)/2 after, then 'VALID', so that the padding never depends
// on the input size.
constexpr layer conv2d_same(index kernel, index stride) {
    if (stride == 1) return conv(kernel, 1, same);
    const index total = kernel - 1;
    return conv(kernel, stride, padding::asymmetric(total / 2, total - total / 2, total / 2, total - total / 2));
}

}  // namespace detail

// ---- single-path networks ---------------------------------------------------------------

// torchvision.models.alexnet (features): the one-GPU variant of Krizhevsky et al. 2012.
constexpr network alexnet_torchvision() {
    network n;
    n.append("features.0", conv(11, 4, 2));
    n.append("features.2", pool(3, 2));
    n.append("features.3", conv(5, 1, 2));
    n.append("features.5", pool(3, 2));
    n.append("features.6", conv(3, 1, 1));
    n.append("features.8", conv(3, 1, 1));
    n.append("features.10", conv(3, 1, 1));
    n.append("features.12", pool(3, 2));
    return n;
}

// TF-Slim alexnet_v2: 'VALID' conv1 and poolings, 'SAME' elsewhere.
constexpr network alexnet_v2_slim() {
    network n;
    n.append("conv1", conv(11, 4, valid));
    n.append("pool1", pool(3, 2));
    n.append("conv2", conv(5, 1, same));
    n.append("pool2", pool(3, 2));
    n.append("conv3", conv(3, 1, same));
    n.append("conv4", conv(3, 1, same));
    n.append("conv5", conv(3, 1, same));
    n.append("pool5", pool(3, 2));
    return n;
}

namespace detail {

// VGG-16 (Simonyan & Zisserman 2015, configuration D): 2-2-3-3-3 convolutions 3x3 stride 1 that
// keep the size, each stage closed by a 2x2 stride-2 max pooling.
constexpr network vgg16(padding conv_padding) {
    network n;
    constexpr std::array<index, 5> convs{2, 2, 3, 3, 3};
    for (index stage = 1; stage <= 5; ++stage) {
        const std::string s = decimal(stage);
        for (index i = 1; i <= convs[static_cast<std::size_t>(stage - 1)]; ++i) {
            n.append(join("conv", s, "/conv", s, "_", decimal(i)), conv(3, 1, conv_padding));
        }
        n.append(join("pool", s), pool(2, 2));
    }
    return n;
}

}  // namespace detail

// torchvision.models.vgg16 (features) pads by 1; TF-Slim vgg_16 uses 'SAME'. Same geometry.
constexpr network vgg16_torchvision() {
    return detail::vgg16(1);
}
constexpr network vgg16_slim() {
    return detail::vgg16(same);
}

// TF-Slim mobilenet_v1 (Howard et al. 2017): a 3x3 stride-2 convolution, then 13 depthwise
// separable blocks (3x3 depthwise, 1x1 pointwise), all 'SAME'.
constexpr network mobilenet_v1_slim() {
    network n;
    n.append("Conv2d_0", conv(3, 2, same));
    constexpr std::array<index, 13> strides{1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};
    for (std::size_t i = 0; i < strides.size(); ++i) {
        const std::string prefix = detail::join("Conv2d_", detail::decimal(static_cast<index>(i + 1)));
        n.append(detail::join(prefix, "_depthwise"), conv(3, strides[i], same));
        n.append(detail::join(prefix, "_pointwise"), conv(1, 1, same));
    }
    return n;
}

// ---- residual networks --------------------------------------------------------------------

namespace detail {

// torchvision.models.resnet: stem, then four stages whose first block carries the stride (on
// its 3x3 convolution) and a 1x1 projection on the shortcut when the shape changes.
constexpr network resnet_torchvision(bool bottleneck, const std::array<index, 4>& blocks) {
    network n;
    n.append("conv1", conv(7, 2, 3));
    n.append("maxpool", pool(3, 2, 1));
    for (index stage = 1; stage <= 4; ++stage) {
        for (index b = 0; b < blocks[static_cast<std::size_t>(stage - 1)]; ++b) {
            const std::string name = join("layer", decimal(stage), ".", decimal(b));
            const index stride = (stage > 1 && b == 0) ? 2 : 1;
            const index in = n.last();
            index out = 0;
            if (bottleneck) {
                n.append(join(name, ".conv1"), conv(1), in);
                n.append(join(name, ".conv2"), conv(3, stride, 1));
                out = n.append(join(name, ".conv3"), conv(1));
            } else {
                n.append(join(name, ".conv1"), conv(3, stride, 1), in);
                out = n.append(join(name, ".conv2"), conv(3, 1, 1));
            }
            // Bottleneck blocks widen the channels in every stage's first block.
            const bool project = b == 0 && (stride != 1 || bottleneck);
            const index shortcut = project ? n.append(join(name, ".downsample.0"), conv(1, stride), in) : in;
            n.add(name, {out, shortcut});
        }
    }
    return n;
}

// TF-Slim resnet_v1 (nets/resnet_v1.py): conv2d_same 7x7/2, 'SAME' 3x3/2 max pooling, then
// bottleneck units; the stride of a block sits on the 3x3 convolution of its last unit, whose
// shortcut is then a 1x1 subsampling. Each block ends in a named end-point.
constexpr network resnet_v1_slim(std::string_view scope, const std::array<index, 4>& units) {
    network n;
    n.append(join(scope, "/conv1"), conv2d_same(7, 2));
    n.append(join(scope, "/pool1"), pool(3, 2, same));
    constexpr std::array<index, 4> strides{2, 2, 2, 1};
    for (index block = 1; block <= 4; ++block) {
        const std::string name = join(scope, "/block", decimal(block));
        const index count = units[static_cast<std::size_t>(block - 1)];
        for (index u = 1; u <= count; ++u) {
            const std::string unit = join(name, "/unit_", decimal(u), "/bottleneck_v1");
            const index stride = u == count ? strides[static_cast<std::size_t>(block - 1)] : 1;
            const index in = n.last();
            n.append(join(unit, "/conv1"), conv(1), in);
            n.append(join(unit, "/conv2"), conv2d_same(3, stride));
            const index out = n.append(join(unit, "/conv3"), conv(1));
            // The first unit widens the channels (1x1 projection); a strided unit subsamples.
            index shortcut = in;
            if (u == 1) {
                shortcut = n.append(join(unit, "/shortcut"), conv(1, stride), in);
            } else if (stride != 1) {
                shortcut = n.append(join(unit, "/shortcut"), pool(1, stride), in);
            }
            n.add(unit, {out, shortcut});
        }
        n.append(name, pointwise());  // the end-point of google-research/receptive_field's table
    }
    return n;
}

}  // namespace detail

constexpr network resnet18_torchvision() {
    return detail::resnet_torchvision(false, {2, 2, 2, 2});
}
constexpr network resnet34_torchvision() {
    return detail::resnet_torchvision(false, {3, 4, 6, 3});
}
constexpr network resnet50_torchvision() {
    return detail::resnet_torchvision(true, {3, 4, 6, 3});
}
constexpr network resnet101_torchvision() {
    return detail::resnet_torchvision(true, {3, 4, 23, 3});
}
constexpr network resnet152_torchvision() {
    return detail::resnet_torchvision(true, {3, 8, 36, 3});
}

constexpr network resnet_v1_50_slim() {
    return detail::resnet_v1_slim("resnet_v1_50", {3, 4, 6, 3});
}
constexpr network resnet_v1_101_slim() {
    return detail::resnet_v1_slim("resnet_v1_101", {3, 4, 23, 3});
}
constexpr network resnet_v1_152_slim() {
    return detail::resnet_v1_slim("resnet_v1_152", {3, 8, 36, 3});
}
constexpr network resnet_v1_200_slim() {
    return detail::resnet_v1_slim("resnet_v1_200", {3, 24, 36, 3});
}

// ---- Inception v3 (TF-Slim nets/inception_v3.py, inception_v3_base) -------------------------

namespace detail {

// A branch: a chain of layers from `from`, named scope/Branch_i/<name>.
struct branch_layer {
    std::string_view name;
    layer op;
};

template <std::size_t N>
constexpr index chain(network& n, const std::string& prefix, index from, const std::array<branch_layer, N>& layers) {
    index at = from;
    for (const branch_layer& l : layers) at = n.append(join(prefix, "/", l.name), l.op, at);
    return at;
}

// A 1x3 and a 3x1 convolution side by side on `from`, concatenated (Mixed_7b/7c).
constexpr index split_1x3_3x1(network& n, const std::string& prefix, index from, std::string_view a,
                              std::string_view b) {
    const index left = n.append(join(prefix, "/", a), conv({1, 3}, 1, same), from);
    const index right = n.append(join(prefix, "/", b), conv({3, 1}, 1, same), from);
    return n.concat(join(prefix, "/concat"), {left, right});
}

}  // namespace detail

constexpr network inception_v3_slim() {
    using detail::branch_layer;
    using detail::chain;
    network n;
    n.append("Conv2d_1a_3x3", conv(3, 2, valid));
    n.append("Conv2d_2a_3x3", conv(3, 1, valid));
    n.append("Conv2d_2b_3x3", conv(3, 1, same));
    n.append("MaxPool_3a_3x3", pool(3, 2, valid));
    n.append("Conv2d_3b_1x1", conv(1, 1, valid));
    n.append("Conv2d_4a_3x3", conv(3, 1, valid));
    n.append("MaxPool_5a_3x3", pool(3, 2, valid));
    const layer c1 = conv(1, 1, same);
    const layer c3 = conv(3, 1, same);
    const layer avg3 = pool(3, 1, same);
    for (const std::string_view scope : {"Mixed_5b", "Mixed_5c", "Mixed_5d"}) {
        const std::string s(scope);
        const index in = n.last();
        const index b0 = chain(n, s + "/Branch_0", in, std::array<branch_layer, 1>{{{"Conv2d_0a_1x1", c1}}});
        const index b1 =
            chain(n, s + "/Branch_1", in,
                  std::array<branch_layer, 2>{{{"Conv2d_0a_1x1", c1}, {"Conv2d_0b_5x5", conv(5, 1, same)}}});
        const index b2 =
            chain(n, s + "/Branch_2", in,
                  std::array<branch_layer, 3>{{{"Conv2d_0a_1x1", c1}, {"Conv2d_0b_3x3", c3}, {"Conv2d_0c_3x3", c3}}});
        const index b3 = chain(n, s + "/Branch_3", in,
                               std::array<branch_layer, 2>{{{"AvgPool_0a_3x3", avg3}, {"Conv2d_0b_1x1", c1}}});
        n.concat(s, {b0, b1, b2, b3});
    }
    {
        const index in = n.last();
        const index b0 =
            chain(n, "Mixed_6a/Branch_0", in, std::array<branch_layer, 1>{{{"Conv2d_1a_1x1", conv(3, 2, valid)}}});
        const index b1 =
            chain(n, "Mixed_6a/Branch_1", in,
                  std::array<branch_layer, 3>{
                      {{"Conv2d_0a_1x1", c1}, {"Conv2d_0b_3x3", c3}, {"Conv2d_1a_1x1", conv(3, 2, valid)}}});
        const index b2 =
            chain(n, "Mixed_6a/Branch_2", in, std::array<branch_layer, 1>{{{"MaxPool_1a_3x3", pool(3, 2, valid)}}});
        n.concat("Mixed_6a", {b0, b1, b2});
    }
    const layer c1x7 = conv({1, 7}, 1, same);
    const layer c7x1 = conv({7, 1}, 1, same);
    for (const std::string_view scope : {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"}) {
        const std::string s(scope);
        const index in = n.last();
        const index b0 = chain(n, s + "/Branch_0", in, std::array<branch_layer, 1>{{{"Conv2d_0a_1x1", c1}}});
        const index b1 = chain(
            n, s + "/Branch_1", in,
            std::array<branch_layer, 3>{{{"Conv2d_0a_1x1", c1}, {"Conv2d_0b_1x7", c1x7}, {"Conv2d_0c_7x1", c7x1}}});
        const index b2 = chain(n, s + "/Branch_2", in,
                               std::array<branch_layer, 5>{{{"Conv2d_0a_1x1", c1},
                                                            {"Conv2d_0b_7x1", c7x1},
                                                            {"Conv2d_0c_1x7", c1x7},
                                                            {"Conv2d_0d_7x1", c7x1},
                                                            {"Conv2d_0e_1x7", c1x7}}});
        const index b3 = chain(n, s + "/Branch_3", in,
                               std::array<branch_layer, 2>{{{"AvgPool_0a_3x3", avg3}, {"Conv2d_0b_1x1", c1}}});
        n.concat(s, {b0, b1, b2, b3});
    }
    {
        const index in = n.last();
        const index b0 =
            chain(n, "Mixed_7a/Branch_0", in,
                  std::array<branch_layer, 2>{{{"Conv2d_0a_1x1", c1}, {"Conv2d_1a_3x3", conv(3, 2, valid)}}});
        const index b1 = chain(n, "Mixed_7a/Branch_1", in,
                               std::array<branch_layer, 4>{{{"Conv2d_0a_1x1", c1},
                                                            {"Conv2d_0b_1x7", c1x7},
                                                            {"Conv2d_0c_7x1", c7x1},
                                                            {"Conv2d_1a_3x3", conv(3, 2, valid)}}});
        const index b2 =
            chain(n, "Mixed_7a/Branch_2", in, std::array<branch_layer, 1>{{{"MaxPool_1a_3x3", pool(3, 2, valid)}}});
        n.concat("Mixed_7a", {b0, b1, b2});
    }
    for (const std::string_view scope : {"Mixed_7b", "Mixed_7c"}) {
        const std::string s(scope);
        const index in = n.last();
        const index b0 = chain(n, s + "/Branch_0", in, std::array<branch_layer, 1>{{{"Conv2d_0a_1x1", c1}}});
        const index b1_in = chain(n, s + "/Branch_1", in, std::array<branch_layer, 1>{{{"Conv2d_0a_1x1", c1}}});
        const index b1 = detail::split_1x3_3x1(n, s + "/Branch_1", b1_in, "Conv2d_0b_1x3", "Conv2d_0b_3x1");
        const index b2_in =
            chain(n, s + "/Branch_2", in, std::array<branch_layer, 2>{{{"Conv2d_0a_1x1", c1}, {"Conv2d_0b_3x3", c3}}});
        const index b2 = detail::split_1x3_3x1(n, s + "/Branch_2", b2_in, "Conv2d_0c_1x3", "Conv2d_0d_3x1");
        const index b3 = chain(n, s + "/Branch_3", in,
                               std::array<branch_layer, 2>{{{"AvgPool_0a_3x3", avg3}, {"Conv2d_0b_1x1", c1}}});
        n.concat(s, {b0, b1, b2, b3});
    }
    return n;
}

// ---- Stable Diffusion ---------------------------------------------------------------------

namespace detail {

// diffusers ResnetBlock2D: two 3x3 convolutions (padding 1) and a shortcut, a 1x1 convolution
// when the channels change.
constexpr index resnet_block(network& n, const std::string& name, bool project) {
    const index in = n.last();
    n.append(join(name, ".conv1"), conv(3, 1, 1), in);
    const index out = n.append(join(name, ".conv2"), conv(3, 1, 1));
    const index shortcut = project ? n.append(name + ".conv_shortcut", conv(1), in) : in;
    return n.add(name, {out, shortcut});
}

}  // namespace detail

// The encoder half of Stable Diffusion 1.x's denoising U-Net (diffusers UNet2DConditionModel,
// block_out_channels 320-640-1280-1280, layers_per_block 2): conv_in, four down blocks of two
// ResnetBlock2D, a 3x3 stride-2 padding-1 Downsample2D after the first three, and the mid
// block's two ResnetBlock2D. Its attention layers are global and not part of this field.
constexpr network sd_unet_encoder() {
    network n("latent");
    n.append("conv_in", conv(3, 1, 1));
    for (index block = 0; block < 4; ++block) {
        const std::string name = detail::join("down_blocks.", detail::decimal(block));
        for (index r = 0; r < 2; ++r) {
            // Channels widen in the first resnet of blocks 1 and 2 (320 -> 640 -> 1280).
            detail::resnet_block(n, detail::join(name, ".resnets.", detail::decimal(r)),
                                 r == 0 && (block == 1 || block == 2));
        }
        if (block < 3) n.append(detail::join(name, ".downsamplers.0.conv"), conv(3, 2, 1));
    }
    detail::resnet_block(n, "mid_block.resnets.0", false);
    detail::resnet_block(n, "mid_block.resnets.1", false);
    return n;
}

// The encoder of Stable Diffusion's autoencoder (diffusers Encoder, block_out_channels
// 128-256-512-512): its Downsample2D pads asymmetrically, (0, 1) on each axis, before a 3x3
// stride-2 'VALID' convolution, so the image is halved without losing alignment.
constexpr network sd_vae_encoder() {
    network n("image");
    n.append("conv_in", conv(3, 1, 1));
    for (index block = 0; block < 4; ++block) {
        const std::string name = detail::join("down_blocks.", detail::decimal(block));
        for (index r = 0; r < 2; ++r) {
            detail::resnet_block(n, detail::join(name, ".resnets.", detail::decimal(r)),
                                 r == 0 && (block == 1 || block == 2));
        }
        if (block < 3) {
            n.append(detail::join(name, ".downsamplers.0.pad"), pad(padding::asymmetric(0, 1, 0, 1)));
            n.append(detail::join(name, ".downsamplers.0.conv"), conv(3, 2, valid));
        }
    }
    detail::resnet_block(n, "mid_block.resnets.0", false);
    detail::resnet_block(n, "mid_block.resnets.1", false);
    n.append("conv_out", conv(3, 1, 1));
    return n;
}

// ---- catalogue (for tools that choose a network by name) ----------------------------------

struct entry {
    std::string_view name;
    network (*build)();
    std::string_view description;
};

inline constexpr std::array<entry, 17> catalogue{{
    {"alexnet_torchvision", alexnet_torchvision, "AlexNet, torchvision features"},
    {"alexnet_v2_slim", alexnet_v2_slim, "AlexNet v2, TF-Slim"},
    {"vgg16_torchvision", vgg16_torchvision, "VGG-16, torchvision features"},
    {"vgg16_slim", vgg16_slim, "VGG-16, TF-Slim"},
    {"mobilenet_v1_slim", mobilenet_v1_slim, "MobileNet v1, TF-Slim"},
    {"resnet18_torchvision", resnet18_torchvision, "ResNet-18, torchvision"},
    {"resnet34_torchvision", resnet34_torchvision, "ResNet-34, torchvision"},
    {"resnet50_torchvision", resnet50_torchvision, "ResNet-50, torchvision (stride on the 3x3)"},
    {"resnet101_torchvision", resnet101_torchvision, "ResNet-101, torchvision"},
    {"resnet152_torchvision", resnet152_torchvision, "ResNet-152, torchvision"},
    {"resnet_v1_50_slim", resnet_v1_50_slim, "ResNet v1 50, TF-Slim (stride at the end of each block)"},
    {"resnet_v1_101_slim", resnet_v1_101_slim, "ResNet v1 101, TF-Slim"},
    {"resnet_v1_152_slim", resnet_v1_152_slim, "ResNet v1 152, TF-Slim"},
    {"resnet_v1_200_slim", resnet_v1_200_slim, "ResNet v1 200, TF-Slim"},
    {"inception_v3_slim", inception_v3_slim, "Inception v3, TF-Slim"},
    {"sd_unet_encoder", sd_unet_encoder, "Stable Diffusion 1.x U-Net encoder (convolutional path)"},
    {"sd_vae_encoder", sd_vae_encoder, "Stable Diffusion autoencoder encoder"},
}};

}  // namespace diffuse::rf::zoo
