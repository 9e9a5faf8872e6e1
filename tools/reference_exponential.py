"""Reference data for the exponential-integrator samplers (tests/reference_exponential.hpp).

Runs diffusers' own DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, DEISMultistepScheduler
and UniPCMultistepScheduler (snapshot 58eb52c0, offline: tools/diffusers_offline) in float32 and
writes, per configuration, the sigmas, the timesteps and the final sample as C++ arrays:

  DIFFUSERS_SRC=/tmp/diffusers/src tools/diffusers_offline/python tools/reference_exponential.py \
      > tests/reference_exponential.hpp

Every run is diffusers' test loop A (x = step(model(x, t), t, x)) from the first sample of the
test fixture (dummy_sample_deter[0:1], 192 values) with a smooth nonlinear stand-in for a network,
model(x, t) = tanh(x) (0.5 + t / 2000). Stochastic runs get their noise from the scheduler
module's randn_tensor, replaced here by injected_noise(k) for the k-th draw: exact dyadic values
that the C++ test regenerates bit for bit and replays in the same order.
"""
import numpy as np
import torch

from diffusers import (DEISMultistepScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                       UniPCMultistepScheduler)
from diffusers.schedulers import scheduling_dpmsolver_multistep, scheduling_dpmsolver_singlestep

torch.set_grad_enabled(False)

SIZE = 192


def sample0():
    full = (torch.arange(768, dtype=torch.float32).reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2)
    return full[0:1].contiguous()


def model(x, t):
    return torch.tanh(x) * float(0.5 + float(t) / 2000.0)


def injected_noise(k):
    i = torch.arange(SIZE, dtype=torch.int64)
    return (((i * 37 + k * 101) % 257 - 128).to(torch.float32) / 64.0).reshape(1, 3, 8, 8)


class NoiseRecorder:
    def __init__(self):
        self.draws = 0

    def __call__(self, shape, generator=None, device=None, dtype=None, **kwargs):
        z = injected_noise(self.draws).reshape(shape).to(dtype or torch.float32)
        self.draws += 1
        return z


def run(cls, steps, **config):
    recorder = NoiseRecorder()
    scheduling_dpmsolver_multistep.randn_tensor = recorder
    scheduling_dpmsolver_singlestep.randn_tensor = recorder
    scheduler = cls(**config)
    scheduler.set_timesteps(steps)
    x = sample0()
    for t in scheduler.timesteps:
        x = scheduler.step(model(x, t), t, x).prev_sample
    return scheduler, x, recorder.draws


def fmt(values, digits=9):
    return ", ".join(("%." + str(digits) + "g") % float(v) for v in values)


CONFIGS = [
    # name, class, steps, config
    ("dpm_scaled_linear", DPMSolverMultistepScheduler, 10,
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)),
    ("dpm_karras_v_heun", DPMSolverMultistepScheduler, 10,
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, use_karras_sigmas=True,
          prediction_type="v_prediction", solver_type="heun")),
    ("dpm_order3", DPMSolverMultistepScheduler, 12, dict(solver_order=3)),
    ("dpm_noise_order3_sample", DPMSolverMultistepScheduler, 12,
     dict(solver_order=3, algorithm_type="dpmsolver", prediction_type="sample", solver_type="heun",
          final_sigmas_type="sigma_min", lower_order_final=False)),
    ("dpm_zero_snr_trailing_v", DPMSolverMultistepScheduler, 10,
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, rescale_betas_zero_snr=True,
          timestep_spacing="trailing", prediction_type="v_prediction")),
    ("dpm_sde_pp", DPMSolverMultistepScheduler, 10,
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, algorithm_type="sde-dpmsolver++")),
    ("dpm_sde_pp_order3_heun", DPMSolverMultistepScheduler, 12,
     dict(algorithm_type="sde-dpmsolver++", solver_order=3, solver_type="heun")),
    ("dpm_sde_noise", DPMSolverMultistepScheduler, 10,
     dict(algorithm_type="sde-dpmsolver", final_sigmas_type="sigma_min", euler_at_final=True)),
    ("dpm_thresholding", DPMSolverMultistepScheduler, 10,
     dict(thresholding=True, sample_max_value=1.5, dynamic_thresholding_ratio=0.9, prediction_type="sample")),
    # The noise-prediction algorithm with thresholding: eps is recomputed from the thresholded x0.
    # (DPMSolverSinglestepScheduler's dpmsolver branch with thresholding fails in diffusers: it reads
    # the whole alpha_t table instead of the step's value, so it has no reference.)
    ("dpm_noise_thresholding", DPMSolverMultistepScheduler, 10,
     dict(algorithm_type="dpmsolver", thresholding=True, sample_max_value=1.5, dynamic_thresholding_ratio=0.9,
          final_sigmas_type="sigma_min")),
    ("dpm_flow", DPMSolverMultistepScheduler, 10,
     dict(use_flow_sigmas=True, flow_shift=3.0, prediction_type="flow_prediction")),
    ("dpm_exponential_leading", DPMSolverMultistepScheduler, 10,
     dict(use_exponential_sigmas=True, timestep_spacing="leading", steps_offset=1)),
    ("dpm_lu_lambdas", DPMSolverMultistepScheduler, 10, dict(use_lu_lambdas=True, solver_order=3)),
    ("single_default", DPMSolverSinglestepScheduler, 10,
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)),
    ("single_order3_heun", DPMSolverSinglestepScheduler, 12,
     dict(solver_order=3, solver_type="heun", final_sigmas_type="sigma_min")),
    ("single_order3_noise", DPMSolverSinglestepScheduler, 12,
     dict(solver_order=3, algorithm_type="dpmsolver", final_sigmas_type="sigma_min")),
    ("single_order3_lower_final", DPMSolverSinglestepScheduler, 11,
     dict(solver_order=3, use_karras_sigmas=True, prediction_type="v_prediction", lower_order_final=True)),
    ("single_sde_pp", DPMSolverSinglestepScheduler, 10, dict(algorithm_type="sde-dpmsolver++")),
    ("deis_default", DEISMultistepScheduler, 10, dict()),
    ("deis_order3_v", DEISMultistepScheduler, 12,
     dict(solver_order=3, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
          prediction_type="v_prediction")),
    # The repeated last sigma of DEIS with Karras sigmas is a no-op step that the C++ grid drops;
    # lower_order_final would count it, so it is off here.
    ("deis_karras", DEISMultistepScheduler, 10, dict(use_karras_sigmas=True, solver_order=3, lower_order_final=False)),
    ("unipc_scaled_linear", UniPCMultistepScheduler, 10,
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)),
    # bh1 and predict_x0=False give NaN in diffusers on a step into sigma 0 (B(h) = -inf, resp.
    # sigma_t (e^h - 1) = 0 * inf), so these end at sigma_min.
    ("unipc_bh1_order3_v", UniPCMultistepScheduler, 12,
     dict(solver_type="bh1", solver_order=3, prediction_type="v_prediction", final_sigmas_type="sigma_min")),
    ("unipc_karras", UniPCMultistepScheduler, 10, dict(use_karras_sigmas=True)),
    ("unipc_noise", UniPCMultistepScheduler, 10, dict(predict_x0=False, solver_order=3, final_sigmas_type="sigma_min")),
    ("unipc_disable_corrector", UniPCMultistepScheduler, 10,
     dict(solver_order=3, disable_corrector=[0, 3], final_sigmas_type="sigma_min")),
    ("unipc_flow", UniPCMultistepScheduler, 10,
     dict(use_flow_sigmas=True, flow_shift=3.0, prediction_type="flow_prediction")),
    ("unipc_zero_snr_trailing_v", UniPCMultistepScheduler, 10,
     dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, rescale_betas_zero_snr=True,
          timestep_spacing="trailing", prediction_type="v_prediction")),
]


def main():
    print("// Generated by tools/reference_exponential.py from diffusers' schedulers (snapshot 58eb52c0,")
    print("// float32): see the script for the loop, the model and the injected noise. Do not edit.")
    print("#pragma once")
    print()
    print("#include <vector>")
    print()
    print("namespace reference_exponential {")
    print()
    print("struct run {")
    print("    std::vector<double> sigmas;     // scheduler.sigmas (float32 values)")
    print("    std::vector<double> timesteps;  // scheduler.timesteps")
    print("    int noise_draws;                // randn_tensor calls")
    print("    std::vector<float> sample;      // the final sample, 192 values")
    print("};")
    print()
    for name, cls, steps, config in CONFIGS:
        scheduler, x, draws = run(cls, steps, **config)
        print("// %s, %d steps, %s" % (cls.__name__, steps, ", ".join("%s=%r" % kv for kv in config.items()) or "defaults"))
        print("inline const run %s{" % name)
        print("    {%s}," % fmt(scheduler.sigmas.numpy()))
        print("    {%s}," % fmt(scheduler.timesteps.numpy(), 17))
        print("    %d," % draws)
        print("    {%s}};" % fmt(x.flatten().numpy()))
        print()
    print("}  // namespace reference_exponential")


if __name__ == "__main__":
    main()
