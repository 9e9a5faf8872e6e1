// Fixtures of diffusers' scheduler test-suite (tests/schedulers/test_schedulers.py, snapshot
// 58eb52c0), as described in shared/reference/diffusers_tests.md.
#pragma once

#include <Eigen/Core>
#include <cstdint>

namespace fixtures {

inline constexpr int batch = 4, channels = 3, height = 8, width = 8;
inline constexpr int size = batch * channels * height * width;  // 768

// dummy_sample_deter: element (b,c,h,w) = (((c*8 + h)*8 + w)*4 + b) / 768, stored NCHW.
// dummy_noise_deter uses 767 - i in place of i.
template <class T>
Eigen::Array<T, Eigen::Dynamic, 1> sample0(bool reversed = false) {
    Eigen::Array<T, Eigen::Dynamic, 1> x(size);
    for (int b = 0; b < batch; ++b)
        for (int c = 0; c < channels; ++c)
            for (int h = 0; h < height; ++h)
                for (int w = 0; w < width; ++w) {
                    const int i = ((c * 8 + h) * 8 + w) * 4 + b;
                    x[((b * channels + c) * height + h) * width + w] =
                        static_cast<T>(reversed ? 767 - i : i) / static_cast<T>(768);
                }
    return x;
}
template <class T>
Eigen::Array<T, Eigen::Dynamic, 1> noise0() {
    return sample0<T>(true);
}

// The dummy model: out = sample * t / (t + 1), evaluated in T as torch does with a float tensor.
template <class T, class In, class Out>
void dummy_model(const In& x, double t, Out&& out) {
    const T tt = static_cast<T>(t);
    out = x * tt / (tt + T(1));
}

}  // namespace fixtures
