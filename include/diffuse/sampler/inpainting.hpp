// diffuse/sampler/inpainting.hpp: the latent blending of diffusers' inpaint pipelines for a network
// without mask inputs (a 4-channel U-Net; pipeline_stable_diffusion_inpaint.py's
// num_channels_unet == 4 branch, and the SDXL / FLUX / SD3 inpaint pipelines).
//
// After every step the region kept from the image is replaced by the image latents noised to the
// level x is at now, with the same noise as the start, and after the last step by the clean image:
//   x = (1 - mask) known + mask x,   known = the image noised as img2img.hpp's noising_at(run).
// The mask is 1 where the sampler generates and 0 where the image is kept (diffusers' mask after
// its preprocessing: white repaints), one value per element of x (repeat it over channels and batch).
#pragma once

#include <cmath>
#include <type_traits>
#include <utility>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/img2img.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse {

// The image latents, the mask and the initial noise, copied once (nothing allocates per step).
// `apply(run, x)` blends x after each run.step(); runs that evaluate between grid levels (Heun,
// DPM2) are blended at the level of their next evaluation, where x then is.
template <Real T>
class inpaint_blend {
public:
    template <class Image, class Mask, class Noise>
    inpaint_blend(const Image& image, const Mask& mask, const Noise& noise)
        : image_(cflat(image)), mask_(cflat(mask)), noise_(cflat(noise)) {
        static_assert(
            sampler::output_buffer<Image, T> && sampler::output_buffer<Mask, T> && sampler::output_buffer<Noise, T>,
            "image, mask and noise must be buffers of T (float or double, as the sampler)");
        require(image_.size() >= 1, "image.size()", image_.size(), ">= 1");
        require_size("mask.size()", mask_.size(), image_.size());
        require_size("noise.size()", noise_.size(), image_.size());
        for (index i = 0; i < mask_.size(); ++i) {
            require(mask_[i] >= T(0) && mask_[i] <= T(1), "mask[" + std::to_string(i) + "]", mask_[i],
                    "a number in [0, 1] (1: generate, 0: keep the image)");
        }
    }

    [[nodiscard]] index size() const { return image_.size(); }

    // After run.step(): x = (1 - mask) known + mask x, known the image at the run's next level, or
    // the clean image once the run is done.
    template <class Run, class X>
    void apply(Run& run, X&& x_in) const {
        static_assert(sampler::state_buffer<std::remove_reference_t<X>, T>,
                      "x must be a writable buffer of T (not const, float or double as the sampler)");
        view<T> x = flat(x_in);
        require_size("x.size()", x.size(), image_.size());
        if (run.done()) {
            x = (T(1) - mask_) * image_ + mask_ * x;
            return;
        }
        const sampler::noising<T> c = sampler::noising_at(run);
        x = (T(1) - mask_) * (c.on_image * image_ + c.on_noise * noise_) + mask_ * x;
    }

private:
    buffer<T> image_, mask_, noise_;
};

namespace sampler {

// A run that blends after every step (inpaint_blend::apply), for the loop API and the facade.
template <class Run, Real T>
class inpainting_run : public detail::stepping<inpainting_run<Run, T>, T> {
public:
    inpainting_run(Run run, const inpaint_blend<T>& blend) : run_(std::move(run)), blend_(&blend) {}

    [[nodiscard]] bool done() const { return run_.done(); }
    [[nodiscard]] double model_time() const { return run_.model_time(); }
    [[nodiscard]] T input_scale() const { return sampler::input_scale(run_); }
    [[nodiscard]] T init_noise_sigma() const { return sampler::init_noise_sigma(run_); }
    [[nodiscard]] index num_steps() const { return run_.num_steps(); }
    [[nodiscard]] index step_index() const { return run_.step_index(); }
    [[nodiscard]] index model_output_size() const { return sampler::model_output_size(run_); }
    [[nodiscard]] evaluation_context<T> context() { return run_.context(); }
    [[nodiscard]] Run& inner() { return run_; }

    void skip_to(index k) requires requires(Run& r) { r.skip_to(k); }
    { run_.skip_to(k); }
    // The hook run before the first evaluation (edm.hpp's churn), where the run has one.
    template <class X, class Noise>
    requires requires(Run& r, X& x, Noise& n) { r.begin(x, n); }
    void begin(X&& x, Noise&& noise) { run_.begin(x, noise); }
    void set_check_finite(bool on) requires requires(Run& r) { r.set_check_finite(on); }
    { run_.set_check_finite(on); }

private:
    // The inner run (typed or config::any_run) checks and uses the noise.
    friend detail::stepping<inpainting_run, T>;
    template <class Noise>
    void step_views(const_view<T> output, view<T> x, Noise&& noise) {
        run_.step(output, x, noise);
        blend_->apply(run_, x);
    }

    Run run_;
    const inpaint_blend<T>* blend_;
};

// A sampler (typed or config::any_sampler) whose runs blend after every step. It refers to the
// sampler and the blend, which must outlive it and its runs (temporaries are refused).
template <class Sampler>
class inpainting {
public:
    using scalar = typename Sampler::scalar;

    inpainting(const Sampler& sampler, const inpaint_blend<scalar>& blend) : sampler_(&sampler), blend_(&blend) {}
    inpainting(const Sampler&&, const inpaint_blend<scalar>&) = delete;
    inpainting(const Sampler&, const inpaint_blend<scalar>&&) = delete;

    template <class Grid>
    [[nodiscard]] auto start(const Grid& grid, index size, index batch = 1) const {
        require_size("x.size()", size, blend_->size());
        using run_type = std::remove_cvref_t<decltype(sampler_->start(grid, size, batch))>;
        return inpainting_run<run_type, scalar>(sampler_->start(grid, size, batch), *blend_);
    }

private:
    const Sampler* sampler_;
    const inpaint_blend<scalar>* blend_;
};

}  // namespace sampler
}  // namespace diffuse
