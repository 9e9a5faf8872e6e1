// Compiled by tests/cmake/typed_step_static_assert.cmake with one DIFFUSE_CASE_* defined: each case
// must fail to compile with the one static_assert of sampler/detail/stepping.hpp (not pages of
// Eigen template errors). Without a case defined the file compiles, which keeps the cases honest.
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/euler_ancestral.hpp"

int main() {
    using namespace diffuse;
    const sampler::ddim<float> ddim(schedule::discrete<float>::linear(1000));
    auto run = ddim.start(std::vector<sampler::timestep>{999, 499}, 4);
    std::vector<float> output(4), x(4);
#if defined(DIFFUSE_CASE_const_x)
    const std::vector<float> frozen(4);
    run.step(output, frozen);
#elif defined(DIFFUSE_CASE_double_x)
    std::vector<double> wide(4);
    run.step(output, wide);
#elif defined(DIFFUSE_CASE_double_output)
    const Eigen::ArrayXd wide = Eigen::ArrayXd::Zero(4);
    run.step(wide, x);
#elif defined(DIFFUSE_CASE_kdiffusion_const_x)
    const sampler::euler_ancestral<float> ancestral;
    std::vector<schedule::noise_level<float> > levels{{14.6f, 1.0f, 999.0}, {0.0f, 1.0f, 0.0}};
    auto sigma_run = ancestral.start(schedule::sigma_grid<float>(std::move(levels), 14.6f), 4);
    const Eigen::ArrayXf frozen = Eigen::ArrayXf::Zero(4);
    random::generator noise(1);
    sigma_run.step(output, frozen, noise);
#elif defined(DIFFUSE_CASE_double_noise)
    const sampler::euler_ancestral<float> ancestral;
    std::vector<schedule::noise_level<float> > levels{{14.6f, 1.0f, 999.0}, {0.0f, 1.0f, 0.0}};
    auto sigma_run = ancestral.start(schedule::sigma_grid<float>(std::move(levels), 14.6f), 4);
    const std::vector<double> wide(4);
    sigma_run.step(output, x, wide);
#else
    run.step(output, x);
#endif
    return 0;
}
