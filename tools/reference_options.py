"""Reference data for the diffusers options the facade reads since issue 3 (tests/reference_options.hpp).

Runs diffusers' own schedulers (snapshot 58eb52c0, offline: tools/diffusers_offline, float32):

  - use_beta_sigmas on DPMSolverMultistep/Singlestep, DEISMultistep and UniPCMultistep, and the
    dynamic shift (set_timesteps(mu=...)) and shift_terminal of their flow sigmas: the runs of
    tools/reference_exponential.py (its loop A, model tanh(x) (0.5 + t / 2000), injected noise),
    written as reference_exponential::run;
  - EDMEulerScheduler and EDMDPMSolverMultistepScheduler (injected noise for sde-dpmsolver++): diffusers' loop B (x = sample0 * init_noise_sigma; out = model(
    scale_model_input(x, t), t); x = step(out, t, x)) with the stand-in network
    F(x, c_noise) = tanh(x) (0.5 + 0.1 c_noise) on the 192 values of sample0;
  - FlowMatchEulerDiscreteScheduler with use_dynamic_shifting and mu, stochastic_sampling, invert_sigmas:
    loop A on the 768-value sample0 with the flow-velocity stand-in of tools/reference_grids.py,
    v(x, t) = tanh(x) - 0.5 x t / 1000; the k-th noise draw is reference_exponential's injected
    noise formula over all 768 values.

  DIFFUSERS_SRC=/tmp/diffusers/src tools/diffusers_offline/python tools/reference_options.py > tests/reference_options.hpp
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_exponential as rx  # noqa: E402  (its loop, model and noise)

from diffusers.schedulers import scheduling_edm_dpmsolver_multistep, scheduling_flow_match_euler_discrete  # noqa: E402
from diffusers import (DEISMultistepScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,  # noqa: E402
                       EDMDPMSolverMultistepScheduler, EDMEulerScheduler, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler)

torch.set_grad_enabled(False)

SD = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
FLOW = dict(use_flow_sigmas=True, prediction_type="flow_prediction", use_dynamic_shifting=True)

EXPONENTIAL = [
    # name, class, steps, config, set_timesteps keywords
    ("dpm_beta", DPMSolverMultistepScheduler, 10, dict(SD, use_beta_sigmas=True), {}),
    ("dpm_beta_v_order3", DPMSolverMultistepScheduler, 12,
     dict(use_beta_sigmas=True, prediction_type="v_prediction", solver_order=3), {}),
    ("single_beta", DPMSolverSinglestepScheduler, 10, dict(SD, use_beta_sigmas=True), {}),
    # DEIS repeats the last beta sigma (a no-op step the C++ grid drops; lower_order_final would count it).
    ("deis_beta", DEISMultistepScheduler, 10, dict(use_beta_sigmas=True, lower_order_final=False), {}),
    ("unipc_beta", UniPCMultistepScheduler, 10, dict(SD, use_beta_sigmas=True, prediction_type="v_prediction"), {}),
    ("dpm_flow_mu", DPMSolverMultistepScheduler, 10, dict(FLOW), dict(mu=1.1)),
    ("single_flow_mu", DPMSolverSinglestepScheduler, 10, dict(FLOW), dict(mu=0.7)),
    ("deis_flow_mu", DEISMultistepScheduler, 10, dict(FLOW, lower_order_final=False), dict(mu=1.3)),
    ("unipc_flow_mu", UniPCMultistepScheduler, 10, dict(FLOW), dict(mu=0.9)),
    ("unipc_flow_mu_linear", UniPCMultistepScheduler, 10, dict(FLOW, time_shift_type="linear"), dict(mu=2.0)),
    ("unipc_flow_terminal", UniPCMultistepScheduler, 10,
     dict(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0, shift_terminal=0.2), {}),
]


def run_exponential(cls, steps, config, kwargs):
    recorder = rx.NoiseRecorder()
    rx.scheduling_dpmsolver_multistep.randn_tensor = recorder
    rx.scheduling_dpmsolver_singlestep.randn_tensor = recorder
    scheduler = cls(**config)
    scheduler.set_timesteps(steps, **kwargs)
    x = rx.sample0()
    for t in scheduler.timesteps:
        x = scheduler.step(rx.model(x, t), t, x).prev_sample
    return scheduler, x, recorder.draws


def describe(config, kwargs):
    items = ["%s=%r" % kv for kv in config.items()] + ["set_timesteps %s=%r" % kv for kv in kwargs.items()]
    return ", ".join(items) or "defaults"


EDM = [
    ("edm_karras_epsilon", EDMEulerScheduler, 10, dict()),
    ("edm_exponential_v", EDMEulerScheduler, 10, dict(sigma_schedule="exponential", prediction_type="v_prediction", sigma_data=0.8)),
    ("edm_karras_sigma_min_end", EDMEulerScheduler, 10, dict(rho=5.0, sigma_max=20.0, final_sigmas_type="sigma_min")),
    ("edm_dpm_default", EDMDPMSolverMultistepScheduler, 10, dict()),
    ("edm_dpm_order3_v_exponential", EDMDPMSolverMultistepScheduler, 12,
     dict(solver_order=3, prediction_type="v_prediction", sigma_schedule="exponential", sigma_data=0.8)),
    ("edm_dpm_sde_heun", EDMDPMSolverMultistepScheduler, 10, dict(algorithm_type="sde-dpmsolver++", solver_type="heun")),
]


def edm_network(x, c_noise):
    return torch.tanh(x) * (0.5 + 0.1 * float(c_noise))


def run_edm(cls, steps, config):
    recorder = rx.NoiseRecorder()
    scheduling_edm_dpmsolver_multistep.randn_tensor = recorder
    s = cls(**config)
    s.set_timesteps(steps)
    x = rx.sample0() * s.init_noise_sigma
    for t in s.timesteps:
        x = s.step(edm_network(s.scale_model_input(x, t), t), t, x).prev_sample
    return s, x


FLOW_MATCH = [
    ("flow_match_mu", 6, dict(use_dynamic_shifting=True), dict(mu=0.8)),
    ("flow_match_mu_linear", 6, dict(use_dynamic_shifting=True, time_shift_type="linear"), dict(mu=1.3)),
    ("flow_match_stochastic", 6, dict(shift=3.0, stochastic_sampling=True), {}),
    ("flow_match_invert", 6, dict(shift=3.0, invert_sigmas=True), {}),
]


class FlowNoise:
    def __init__(self):
        self.draws = 0

    def __call__(self, shape, generator=None, device=None, dtype=None, **kwargs):
        n = 1
        for d in shape:
            n *= d
        i = torch.arange(n, dtype=torch.int64)
        z = (((i * 37 + self.draws * 101) % 257 - 128).to(torch.float32) / 64.0).reshape(shape)
        self.draws += 1
        return z.to(dtype or torch.float32)


def run_flow_match(steps, config, kwargs):
    scheduling_flow_match_euler_discrete.randn_tensor = FlowNoise()
    s = FlowMatchEulerDiscreteScheduler(**config)
    s.set_timesteps(steps, **kwargs)
    x = (torch.arange(768, dtype=torch.float32).reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2).contiguous()
    for t in s.timesteps:
        x = s.step(torch.tanh(x) - 0.5 * x * t / 1000, t, x).prev_sample
    return s, x


def main():
    print("// Generated by tools/reference_options.py from diffusers' schedulers (snapshot 58eb52c0,")
    print("// float32): see the script for the loops, the models and the injected noise. Do not edit.")
    print("#pragma once")
    print()
    print("#include <vector>")
    print()
    print('#include "reference_exponential.hpp"')
    print()
    print("namespace reference_options {")
    print()
    print("using reference_exponential::run;")
    print()
    for name, cls, steps, config, kwargs in EXPONENTIAL:
        scheduler, x, draws = run_exponential(cls, steps, config, kwargs)
        print("// %s, %d steps, %s" % (cls.__name__, steps, describe(config, kwargs)))
        print("inline const run %s{" % name)
        print("    {%s}," % rx.fmt(scheduler.sigmas.numpy()))
        print("    {%s}," % rx.fmt(scheduler.timesteps.numpy(), 17))
        print("    %d," % draws)
        print("    {%s}};" % rx.fmt(x.flatten().numpy()))
        print()
    print("struct trace {")
    print("    std::vector<double> sigmas;     // scheduler.sigmas")
    print("    std::vector<double> timesteps;  // scheduler.timesteps (what the network is told)")
    print("    double init_noise_sigma;")
    print("    std::vector<float> sample;      // the final sample")
    print("};")
    print()
    for name, cls, steps, config in EDM:
        s, x = run_edm(cls, steps, config)
        print("// %s, %d steps, %s" % (cls.__name__, steps, describe(config, {})))
        print("inline const trace %s{{%s}, {%s}, %r, {%s}};" % (
            name, rx.fmt(s.sigmas.numpy()), rx.fmt(s.timesteps.numpy(), 17), float(getattr(s, "init_noise_sigma", 1.0)),
            rx.fmt(x.flatten().numpy())))
        print()
    for name, steps, config, kwargs in FLOW_MATCH:
        s, x = run_flow_match(steps, config, kwargs)
        print("// FlowMatchEulerDiscreteScheduler, %d steps, %s" % (steps, describe(config, kwargs)))
        print("inline const trace %s{{%s}, {%s}, %r, {%s}};" % (
            name, rx.fmt(s.sigmas.numpy()), rx.fmt(s.timesteps.numpy(), 17), float(getattr(s, "init_noise_sigma", 1.0)),
            rx.fmt(x.flatten().numpy())))
        print()
    print("}  // namespace reference_options")


if __name__ == "__main__":
    main()
