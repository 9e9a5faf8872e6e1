// The umbrella header compiles on its own (and with -Werror) and exposes every module.
#include "diffuse/diffuse.hpp"

#include <catch2/catch.hpp>

TEMPLATE_TEST_CASE("diffuse/diffuse.hpp brings in every module", "[umbrella]", float, double) {
    using T = TestType;
    const auto betas = diffuse::schedule::discrete<T>::scaled_linear();
    const diffuse::sampler::ddim<T> ddim(betas);
    CHECK(ddim.noise_schedule().num_train_timesteps() == 1000);
    CHECK(diffuse::nn::silu{}(T(0)) == T(0));
    CHECK(diffuse::config::make_sampler<T>("DDIMScheduler").class_name() == "DDIMScheduler");
    CHECK(diffuse::models::gaussian_mixture<T>::ring().dim() == 2);
}
