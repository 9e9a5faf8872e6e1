#!/usr/bin/env python3
"""Measures receptive fields in PyTorch, by back-propagation, as a reference for the C++ tests.

Each network is rebuilt with one channel and positive averaging kernels (max pooling becomes
average pooling with the same window, which has the same geometry but passes a gradient to every
unit of its window). The input units that output unit n depends on are the rows of the input
gradient of that unit that are non-zero, so they are measured, not computed from formulas:

    region(n) = [first, last],  r = last - first + 1,  S = first(n+1) - first(n),  P = n S - first(n)

The numbers printed here are the ones asserted in tests/test_receptive_field.cpp. Run with
/usr/bin/python3 (needs torch only). Architectures follow torchvision.models (AlexNet, VGG-16,
ResNet v1.5) and diffusers (UNet2DConditionModel encoder half, autoencoder Encoder).
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def conv(x, k, s=1, p=0, d=1):
    kh, kw = (k, k) if isinstance(k, int) else k
    w = torch.full((1, 1, kh, kw), 1.0 / (kh * kw))
    return F.conv2d(x, w, stride=s, padding=p, dilation=d)


def pool(x, k, s, p=0, ceil=False):
    return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=True)


def deconv(x, k, s=1, p=0, d=1, op=0):
    w = torch.full((1, 1, k, k), 1.0 / (k * k))
    return F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d)


def alexnet(x):
    x = pool(conv(x, 11, 4, 2), 3, 2)
    x = pool(conv(x, 5, 1, 2), 3, 2)
    x = conv(conv(conv(x, 3, 1, 1), 3, 1, 1), 3, 1, 1)
    return pool(x, 3, 2)


def vgg16(x):
    for n in (2, 2, 3, 3, 3):
        for _ in range(n):
            x = conv(x, 3, 1, 1)
        x = pool(x, 2, 2)
    return x


def resnet(bottleneck, blocks):
    def net(x):
        x = pool(conv(x, 7, 2, 3), 3, 2, 1)
        for stage, count in enumerate(blocks):
            for b in range(count):
                stride = 2 if stage > 0 and b == 0 else 1
                if bottleneck:
                    y = conv(conv(conv(x, 1), 3, stride, 1), 1)
                else:
                    y = conv(conv(x, 3, stride, 1), 3, 1, 1)
                shortcut = conv(x, 1, stride) if b == 0 and (stride != 1 or bottleneck) else x
                x = y + shortcut
        return x
    return net


def resnet_block(x, project):
    y = conv(conv(x, 3, 1, 1), 3, 1, 1)
    return y + (conv(x, 1) if project else x)


def sd_unet_encoder(x):
    x = conv(x, 3, 1, 1)
    for block in range(4):
        for r in range(2):
            x = resnet_block(x, r == 0 and block in (1, 2))
        if block < 3:
            x = conv(x, 3, 2, 1)
    return resnet_block(resnet_block(x, False), False)


def sd_vae_encoder(x):
    x = conv(x, 3, 1, 1)
    for block in range(4):
        for r in range(2):
            x = resnet_block(x, r == 0 and block in (1, 2))
        if block < 3:
            x = conv(F.pad(x, (0, 1, 0, 1)), 3, 2, 0)
    x = resnet_block(resnet_block(x, False), False)
    return conv(x, 3, 1, 1)


def region(net, height, width, n):
    x = torch.ones(1, 1, height, width, requires_grad=True)
    y = net(x)
    y[0, 0, n, y.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    if rows.numel() == 0:  # a transposed convolution with dilation leaves some units unfed
        return None, None, y.shape[2]
    return rows.min().item(), rows.max().item(), y.shape[2]


def field(net, height, width=64):
    n = net(torch.ones(1, 1, height, width)).shape[2] // 2
    a0, b0, _ = region(net, height, width, n)
    a1, _, _ = region(net, height, width, n + 1)
    stride = a1 - a0
    return b0 - a0 + 1, stride, stride * n - a0


def units(net, height, width=64):
    return net(torch.ones(1, 1, height, width)).shape[2]


print("# network: r S P | output units for an input of 224 (64 for the U-Net latent)")
for name, net, height, size in [
    ("alexnet_torchvision", alexnet, 800, 224),
    ("vgg16_torchvision", vgg16, 800, 224),
    ("resnet18_torchvision", resnet(False, (2, 2, 2, 2)), 1600, 224),
    ("resnet34_torchvision", resnet(False, (3, 4, 6, 3)), 2400, 224),
    ("resnet50_torchvision", resnet(True, (3, 4, 6, 3)), 1600, 224),
    ("resnet101_torchvision", resnet(True, (3, 4, 23, 3)), 2400, 224),
    ("resnet152_torchvision", resnet(True, (3, 8, 36, 3)), 3200, 224),
    ("sd_unet_encoder", sd_unet_encoder, 640, 64),
    ("sd_vae_encoder", sd_vae_encoder, 640, 224),
]:
    r, s, p = field(net, height)
    print(f"{name}: {r} {s} {p} | {units(net, size)}")

print("# upsampling paths: input units -> output units; regions (first, last) of units 0..7 in the input,")
print("# clipped to it ('-': the unit depends on no input unit)")
for name, net, size in [
    ("deconv k4 s2 p1", lambda x: deconv(x, 4, 2, 1), 16),
    ("deconv k3 s2 p1 output_padding 1", lambda x: deconv(x, 3, 2, 1, 1, 1), 16),
    ("deconv k3 s3 d2", lambda x: deconv(x, 3, 3, 0, 2), 16),
    ("nearest x2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), 16),
    ("nearest x3", lambda x: F.interpolate(x, scale_factor=3, mode="nearest"), 16),
    ("bilinear x2", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), 16),
    ("bilinear x4", lambda x: F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False), 16),
    ("conv k3 s2 p1, nearest x2, conv k3 p1",
     lambda x: conv(F.interpolate(conv(x, 3, 2, 1), scale_factor=2, mode="nearest"), 3, 1, 1), 16),
    ("deconv k4 s2 p1 twice", lambda x: deconv(deconv(x, 4, 2, 1), 4, 2, 1), 16),
]:
    out = units(net, size, 8)
    regions = [region(net, size, 8, n)[:2] for n in range(8)]
    print(f"{name}: {size} -> {out}; " + " ".join("-" if a is None else f"{a},{b}" for a, b in regions))
