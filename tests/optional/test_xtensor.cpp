// xtensor containers as sampler buffers (built only when xtensor is installed).
#include <catch2/catch.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "diffuse/interop/xtensor.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/sample.hpp"

TEMPLATE_TEST_CASE("xtensor containers are viewed without copies and drive a sampler", "[interop][xtensor]", float,
                   double) {
    using T = TestType;
    xt::xtensor<T, 4> latents = xt::zeros<T>({2, 4, 8, 8});  // NCHW
    auto v = diffuse::flat(latents);
    CHECK(v.data() == latents.data());
    CHECK(v.size() == 512);
    v[3] = T(7);
    CHECK(latents(0, 0, 0, 3) == T(7));

    xt::xarray<T, xt::layout_type::column_major> column = xt::ones<T>({3, 5});
    CHECK(diffuse::flat(column).sum() == T(15));
    const xt::xarray<T>& read_only = column;
    CHECK(diffuse::flat(read_only).size() == 15);

    std::vector<T> storage(6, T(2));
    auto adapted = xt::adapt(storage, std::vector<std::size_t>{2, 3});
    CHECK(diffuse::flat(adapted).data() == storage.data());

    // A DDIM run on an xtensor buffer equals the same run on an Eigen array.
    using namespace diffuse;
    const sampler::ddim<T> ddim(schedule::discrete<T>::linear(), {.x0 = {}});
    const auto grid = schedule::spaced_timesteps(1000, 10);
    const auto model = [](const_view<T> x, double t, view<T> out) { out = x * static_cast<T>(t / (t + 1.0)); };
    xt::xtensor<T, 1> x = xt::linspace<T>(-1, 1, 64);
    Eigen::Array<T, Eigen::Dynamic, 1> y = diffuse::flat(x);  // the same starting values
    diffuse::sample(model, ddim, grid, x);
    diffuse::sample(model, ddim, grid, y);
    for (int i = 0; i < 64; ++i) CHECK(x(i) == y[i]);
}
