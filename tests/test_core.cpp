// Tests for diffuse/core: error messages and flat views.
#include <catch2/catch.hpp>

#include <array>
#include <unsupported/Eigen/CXX11/Tensor>
#include <vector>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"

using diffuse::flat;

TEMPLATE_TEST_CASE("flat views alias the caller's storage without copying", "[core][view]", float, double) {
    using T = TestType;
    Eigen::Array<T, Eigen::Dynamic, 1> a = Eigen::Array<T, Eigen::Dynamic, 1>::LinSpaced(6, 0, 5);
    auto va = flat(a);
    CHECK(va.data() == a.data());
    CHECK(va.size() == 6);
    va[2] = T(42);
    CHECK(a[2] == T(42));

    Eigen::Matrix<T, 3, 4, Eigen::RowMajor> m;
    m.setZero();
    CHECK(flat(m).size() == 12);
    CHECK(flat(m).data() == m.data());

    Eigen::Tensor<T, 4> tensor(2, 3, 4, 5);  // NCHW latents
    tensor.setZero();
    auto vt = flat(tensor);
    CHECK(vt.size() == 120);
    CHECK(vt.data() == tensor.data());
    Eigen::TensorMap<Eigen::Tensor<T, 2>> tmap(tensor.data(), 10, 12);
    CHECK(flat(tmap).size() == 120);

    std::vector<T> v(7, T(1));
    CHECK(flat(v).data() == v.data());
    const std::vector<T>& cv = v;
    CHECK(flat(cv).sum() == T(7));
    std::array<T, 3> arr{1, 2, 3};
    CHECK(flat(arr).sum() == T(6));

    T raw[4] = {1, 2, 3, 4};
    CHECK(flat(raw, 4).sum() == T(10));
    CHECK(flat(static_cast<T*>(nullptr), 0).size() == 0);
}

TEMPLATE_TEST_CASE("strided Eigen data and bad raw buffers are rejected with a clear error", "[core][view][errors]",
                   float, double) {
    using T = TestType;
    Eigen::Array<T, 4, 4> m;
    m.setZero();
    auto block = m.block(0, 0, 2, 2);  // outer stride 4, inner size 2
    CHECK_THROWS_AS(flat(block), diffuse::error);
    CHECK_THROWS_WITH(flat(block), Catch::Contains("outerStride") && Catch::Contains("allowed"));
    auto column = m.col(1);  // contiguous in column-major storage
    CHECK(flat(column).size() == 4);
    CHECK_THROWS_WITH(flat(static_cast<T*>(nullptr), 3), Catch::Contains("data") && Catch::Contains("valid pointer"));
    T x = 0;
    CHECK_THROWS_WITH(flat(&x, -1), Catch::Contains("size = -1") && Catch::Contains(">= 0"));
}

TEST_CASE("error messages name the parameter, the value and what is allowed", "[core][errors]") {
    auto e = diffuse::invalid("eta", -0.5, "[0, 1]");
    CHECK(std::string(e.what()) == "diffuse: eta = -0.5 is invalid; allowed: [0, 1]");
    CHECK_THROWS_WITH(diffuse::require_in_closed("strength", 1.5, 0.0, 1.0),
                      "diffuse: strength = 1.5 is invalid; allowed: [0, 1]");
    CHECK_THROWS_WITH(diffuse::require(false, "spacing", "middle", "leading, trailing, linspace"),
                      "diffuse: spacing = \"middle\" is invalid; allowed: leading, trailing, linspace");
    CHECK_THROWS_WITH(diffuse::require_size("model_output.size()", 3, 4),
                      Catch::Contains("model_output.size() = 3") && Catch::Contains("4 elements"));
    CHECK_NOTHROW(diffuse::require_positive("steps", 3));
    CHECK_THROWS_AS(diffuse::require_positive("beta", std::nan("")), diffuse::error);
}
