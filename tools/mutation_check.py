#!/usr/bin/env python3
"""Mutation check: does the test suite catch small deliberate faults in the library?

Each mutant below is one small fault (a coefficient, a sign, a square root, a skipped branch) in
one header under include/diffuse/. For every selected mutant the script

  1. applies it to a private copy of the tree (the working tree as it is, uncommitted changes
     included, copied to --work),
  2. rebuilds only the test programs named for it: each test's own object is recompiled with the
     recorded compile command of an existing build of the tree (--build, default build/, made as
     in COMMON.md: Release, tests on), pointed at the copy, and linked against that build's
     unmutated test registry (config/ mutants, whose code lives in the registry, recompile the
     registry objects too),
  3. runs them; the mutant is caught when any of them fails (a compile error counts separately),

then restores the file. The baseline (the unmutated test programs of --build) must pass first.

  tools/mutation_check.py                      # every mutant (hours on 2 cores)
  tools/mutation_check.py --only ddim,ddpm     # mutants whose id contains one of the words
  tools/mutation_check.py --list               # the mutants and their tests

It is not part of CI. docs/testing.md records the last measured rate and the survivors.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Mutant:
    id: str
    file: str  # under include/diffuse/
    old: str
    new: str
    tests: list
    occurrence: int = 0  # which occurrence of `old` when it appears more than once
    registry: bool = False  # the fault lives in the runtime facade's registry instances
    note: str = ""


def m(id, file, old, new, tests, **kw):
    return Mutant(id, file, old, new, tests.split(), **kw)


DISCRETE = "test_sampler_discrete_diffusers test_ddim test_ddpm"
KDIFF = "test_sampler_kdiffusion test_sampler_kdiffusion_diffusers"
EXPO = "test_sampler_dpm_solver_multistep test_sampler_dpm_solver_singlestep test_sampler_unipc test_sampler_deis"
NN = "test_activations test_activations_accuracy"
CONFIG = "test_scheduler_config test_scheduler_config_samplers"

MUTANTS = [
    # ---- predict/ ----
    m("predict.epsilon_x0_sign", "predict/parameterization.hpp", "{{T(1) / alpha, -sigma / alpha}, {T(0), T(1)}}",
      "{{T(1) / alpha, sigma / alpha}, {T(0), T(1)}}", "test_ddim"),
    m("predict.v_eps_sign", "predict/parameterization.hpp", "{{alpha, -sigma}, {sigma, alpha}}",
      "{{alpha, -sigma}, {sigma, -alpha}}", "test_ddim"),
    m("predict.sample_eps_sign", "predict/parameterization.hpp", "{T(1) / sigma, -alpha / sigma}",
      "{T(1) / sigma, alpha / sigma}", "test_ddim test_sampler_discrete_diffusers test_sampler_lcm"),
    m("predict.flow_x0_sign", "predict/parameterization.hpp", "{{T(1), -sigma}, {T(1), alpha}}",
      "{{T(1), sigma}, {T(1), alpha}}", "test_sampler_unipc test_sampler_dpm_solver_multistep"),
    m("predict.score_eps_sign", "predict/parameterization.hpp", "{T(0), -sigma}}", "{T(0), sigma}}",
      "test_ddpm test_denoiser test_euler"),
    m("predict.parse_sample", "predict/parameterization.hpp",
      'if (name == "sample") return prediction::sample;', 'if (name == "sample") return prediction::epsilon;', CONFIG,
      registry=True),
    m("predict.threshold_floor", "predict/thresholding.hpp", "s = std::clamp(s, T(1), rule.max_value);",
      "s = std::clamp(s, T(0.5), rule.max_value);", "test_ddpm test_sampler_discrete_diffusers"),
    m("predict.threshold_no_rescale", "predict/thresholding.hpp", "sample = sample.max(-s).min(s) / s;",
      "sample = sample.max(-s).min(s);", "test_ddpm test_sampler_discrete_diffusers"),
    m("predict.quantile_no_interpolation", "predict/thresholding.hpp",
      "static_cast<T>(fraction) * (high - low)", "static_cast<T>(0 * fraction) * (high - low)",
      "test_ddpm test_sampler_discrete_diffusers"),
    m("predict.quantile_position", "predict/thresholding.hpp",
      "static_cast<double>(ratio) * static_cast<double>(n - 1);", "static_cast<double>(ratio) * static_cast<double>(n);",
      "test_ddpm test_sampler_discrete_diffusers"),
    # ---- sampler/: DDPM, DDIM, DDIM inversion ----
    m("ddim.eta_variance_not_sqrt", "sampler/ddim.hpp", "s.options().eta * std::sqrt(s.variance(t, prev));",
      "s.options().eta * s.variance(t, prev);", DISCRETE),
    m("ddim.clipped_output_ignored", "sampler/ddim.hpp",
      "if (s.options().use_clipped_model_output) u.use_processed_x0_for_eps", "if (false) u.use_processed_x0_for_eps",
      DISCRETE),
    m("ddim.direction_ignores_noise", "sampler/ddim.hpp", "std::sqrt(T(1) - ab_prev - std_dev * std_dev);",
      "std::sqrt(T(1) - ab_prev);", DISCRETE),
    m("ddim.final_alpha_bar", "sampler/ddim.hpp", "set_alpha_to_one ? T(1) : schedule_.alphas_cumprod()[0];",
      "set_alpha_to_one ? T(1) : schedule_.alphas_cumprod()[1];", DISCRETE),
    m("ddim.variance_factor", "sampler/ddim.hpp", "(T(1) - ab_prev) / (T(1) - ab) * (T(1) - ab / ab_prev);",
      "(T(1) - ab_prev) / (T(1) - ab) * (T(1) - ab);", DISCRETE),
    m("ddim_inverse.eps_level", "sampler/ddim_inverse.hpp", "u.to_eps = std::sqrt(T(1) - ab_to);",
      "u.to_eps = std::sqrt(T(1) - ab_from);", DISCRETE),
    m("ddim_inverse.first_level", "sampler/ddim_inverse.hpp", "from >= 0 ? s.schedule_.alpha_bar(from)",
      "from > 0 ? s.schedule_.alpha_bar(from)", DISCRETE),
    m("ddpm.posterior_variance_no_beta", "sampler/ddpm.hpp",
      "std::max((T(1) - ab_prev) / (T(1) - ab) * beta, T(1e-20));", "std::max((T(1) - ab_prev) / (T(1) - ab), T(1e-20));",
      DISCRETE),
    m("ddpm.fixed_large_not_sqrt", "sampler/ddpm.hpp", "return std::sqrt(tr.beta);", "return tr.beta;", DISCRETE),
    m("ddpm.fixed_small_log_half", "sampler/ddpm.hpp", "std::exp(T(0.5) * std::log(tr.posterior_variance()));",
      "std::exp(std::log(tr.posterior_variance()));", DISCRETE),
    m("ddpm.mean_x_coefficient", "sampler/ddpm.hpp", "u.to_x = std::sqrt(T(1) - tr.beta) *", "u.to_x = (T(1) - tr.beta) *",
      DISCRETE),
    m("ddpm.learned_range_fraction", "sampler/ddpm.hpp", "const auto frac = (values + T(1)) / T(2);",
      "const auto frac = (values + T(1));", DISCRETE),
    m("ddpm.learned_not_sqrt", "sampler/ddpm.hpp", "xb += values.sqrt() * zb;", "xb += values * zb;", DISCRETE),
    m("ddpm.noise_on_last_step", "sampler/ddpm.hpp", "const bool stochastic = t > 0;",
      "const bool stochastic = t >= 0;", DISCRETE),
    # ---- sampler/: k-diffusion family ----
    m("euler.churn_not_sqrt", "sampler/euler.hpp", "(o.s_noise * std::sqrt(sigma_hat * sigma_hat - sigma * sigma))",
      "(o.s_noise * (sigma_hat * sigma_hat - sigma * sigma))", "test_sampler_kdiffusion_diffusers test_euler test_sampler_kdiffusion"),
    m("heun.half_step", "sampler/heun.hpp", "const T half = dt_ / T(2);", "const T half = dt_ / T(3);",
      "test_sampler_kdiffusion_diffusers test_sampler_kdiffusion"),
    m("kdiffusion.ancestral_up_not_sqrt", "sampler/detail/kdiffusion.hpp",
      "eta * std::sqrt(to * to * (from * from - to * to) / (from * from))",
      "eta * (to * to * (from * from - to * to) / (from * from))", KDIFF),
    m("kdiffusion.log_step_sign", "sampler/detail/kdiffusion.hpp", "const T h = std::log(sigma) - std::log(sigma_to);",
      "const T h = std::log(sigma_to) - std::log(sigma);", KDIFF),
    m("kdiffusion.eta_h", "sampler/detail/kdiffusion.hpp", "const T eta_h = eta * h;", "const T eta_h = eta * h / T(2);",
      KDIFF),
    m("kdiffusion.dt_sign", "sampler/detail/kdiffusion.hpp", "const T dt = sigma_to - eval_.sigma;",
      "const T dt = eval_.sigma - sigma_to;", KDIFF + " test_euler"),
    m("edm.churn_not_sqrt", "sampler/edm.hpp", "(options_.s_noise * std::sqrt(sigma_hat * sigma_hat - sigma * sigma))",
      "(options_.s_noise * (sigma_hat * sigma_hat - sigma * sigma))", "test_euler test_sampler_kdiffusion"),
    # ---- sampler/: exponential integrators ----
    m("expo.data_weight_sde_h", "sampler/detail/exponential_integrator.hpp",
      "const double hh = kind == integrand::data ? h : 2.0 * h;", "const double hh = h;", EXPO),
    m("expo.sde_noise_not_sqrt", "sampler/detail/exponential_integrator.hpp",
      "t.sigma() * std::sqrt(-std::expm1(-2.0 * h));", "t.sigma() * -std::expm1(-2.0 * h);", EXPO),
    m("expo.noise_on_x", "sampler/detail/exponential_integrator.hpp", "out.on_x = t.alpha / s.alpha;",
      "out.on_x = t.sigma() / s.sigma();", EXPO),
    m("expo.noise_weight_sign", "sampler/detail/exponential_integrator.hpp",
      "out.weight[0] = -scale * t.alpha * (s.rho - t.rho);", "out.weight[0] = scale * t.alpha * (s.rho - t.rho);", EXPO),
    m("expo.noise_sde_not_sqrt", "sampler/detail/exponential_integrator.hpp",
      "t.sigma() * std::sqrt(std::expm1(2.0 * h));", "t.sigma() * std::expm1(2.0 * h);", EXPO),
    m("expo.score_to_eps_sign", "sampler/detail/exponential_integrator.hpp", "m = (x - alpha * m) / sigma;",
      "m = (x + alpha * m) / sigma;", EXPO),
    m("expo.node_ratio", "sampler/detail/exponential_integrator.hpp",
      "(point(history_level(ages[i])).lambda() - s.lambda()) / h;",
      "(point(history_level(ages[i])).lambda() - s.lambda()) * h;", EXPO),
    m("expo.short_run_order", "sampler/detail/exponential_integrator.hpp",
      "if (i == n - 2 && short_run) order = std::min<index>(order, 2);", "", EXPO),
    # ---- sampler/: PNDM, iPNDM, LCM, TCD, consistency models ----
    m("pndm.transfer_denominator_sign", "sampler/detail/pseudo_numerical.hpp",
      "ab * std::sqrt(T(1) - ab_to) + std::sqrt(ab * (T(1) - ab) * ab_to);",
      "ab * std::sqrt(T(1) - ab_to) - std::sqrt(ab * (T(1) - ab) * ab_to);",
      "test_sampler_pndm test_sampler_ipndm"),
    m("pndm.second_order_swap", "sampler/detail/pseudo_numerical.hpp", "tr.on_eps * (c[0] * e[0] + c[1] * e[1]);",
      "tr.on_eps * (c[1] * e[0] + c[0] * e[1]);", "test_sampler_pndm test_sampler_ipndm"),
    m("pndm.prk_half", "sampler/pndm.hpp", "(tr.on_eps * T(0.5))", "(tr.on_eps * T(0.25))", "test_sampler_pndm"),
    m("ipndm.alpha_not_sqrt", "sampler/ipndm.hpp", "const T alpha = std::sqrt(T(1) - s * s);",
      "const T alpha = T(1) - s * s;", "test_sampler_ipndm"),
    m("lcm.noise_not_sqrt", "sampler/lcm.hpp", "last ? T(0) : std::sqrt(T(1) - ab_next);", "last ? T(0) : (T(1) - ab_next);",
      "test_sampler_lcm"),
    m("tcd.noise_not_sqrt", "sampler/tcd.hpp", "noisy ? std::sqrt(T(1) - ab_next / ab_s) : T(0);",
      "noisy ? (T(1) - ab_next / ab_s) : T(0);", "test_sampler_tcd"),
    m("tcd.keep_not_sqrt", "sampler/tcd.hpp", "noisy ? std::sqrt(ab_next / ab_s) : T(1);", "noisy ? ab_next / ab_s : T(1);",
      "test_sampler_tcd"),
    m("cm.input_scale_not_sqrt", "sampler/consistency_model.hpp", "return T(1) / std::sqrt(sigma * sigma + sd * sd);",
      "return T(1) / (sigma * sigma + sd * sd);", "test_sampler_consistency_model"),
    m("cm.noise_not_sqrt", "sampler/consistency_model.hpp",
      "o.s_noise * std::sqrt((next - o.sigma_min) * (next + o.sigma_min))",
      "o.s_noise * ((next - o.sigma_min) * (next + o.sigma_min))", "test_sampler_consistency_model"),
    m("cm.boundary_shift", "sampler/detail/consistency.hpp", "const T shifted = sigma - sigma_min,",
      "const T shifted = sigma,", "test_sampler_consistency_model test_sampler_lcm test_sampler_tcd"),
    m("update.clipped_eps_sign", "sampler/detail/update.hpp", "to_x0 -= to_eps * alpha / sigma;",
      "to_x0 += to_eps * alpha / sigma;", DISCRETE),
    # ---- schedule/ ----
    m("schedule.lambda_sign", "schedule/sigmas.hpp", "T lambda() const { return -std::log(sigma); }",
      "T lambda() const { return std::log(sigma); }", "test_process " + EXPO),
    m("schedule.sigma_to_t_weight", "schedule/sigmas.hpp", "std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);",
      "std::clamp((hi - log_sigma) / (lo - hi), 0.0, 1.0);", "test_grids " + KDIFF),
    m("schedule.karras_reversed", "schedule/sigmas.hpp", "std::pow(hi + ramp * (lo - hi), rho);",
      "std::pow(hi + ramp * (lo - hi), rho + 1.0);", "test_grids " + KDIFF),
    m("schedule.vp_alpha_not_sqrt", "schedule/sigmas.hpp", "T(1) / std::sqrt(s * s + T(1)), time};",
      "T(1) / (s * s + T(1)), time};", "test_grids " + KDIFF),
    m("schedule.sigma_interpolation", "schedule/sigmas.hpp", "w * static_cast<double>(sig[lo + 1]);",
      "w * static_cast<double>(sig[lo]);", "test_grids " + KDIFF),
    m("schedule.exponential_spacing", "schedule/spacings.hpp", "std::exp(lo + std::pow(ramp, rho) * span);",
      "std::exp(lo + ramp * span);", "test_grids test_sampler_kdiffusion"),
    m("schedule.vp_time_inverse", "schedule/spacings.hpp",
      "(std::sqrt(beta_min * beta_min + 2 * beta_d * c) - beta_min) / beta_d;",
      "(std::sqrt(beta_min * beta_min + 2 * beta_d * c) + beta_min) / beta_d;", "test_grids test_sampler_kdiffusion"),
    m("schedule.leading_offset", "schedule/timesteps.hpp",
      "static_cast<timestep>((steps - 1 - static_cast<index>(i)) * ratio);",
      "static_cast<timestep>((steps - 1 - static_cast<index>(i)) * ratio + 1);", "test_ddim test_schedule"),
    m("schedule.trailing_minus_one", "schedule/timesteps.hpp", "static_cast<timestep>(std::nearbyint(t)) - 1;",
      "static_cast<timestep>(std::nearbyint(t));", "test_ddim test_schedule"),
    m("schedule.strength_rounding", "schedule/timesteps.hpp",
      "std::min(static_cast<index>(static_cast<double>(n) * strength), n);",
      "std::min(static_cast<index>(static_cast<double>(n) * strength) + 1, n);", "test_schedule test_ddim"),
    m("schedule.scaled_linear_not_squared", "schedule/discrete.hpp", "rounded[i] = root * root;", "rounded[i] = root;",
      "test_schedule test_ddim test_sampler_discrete_diffusers"),
    m("schedule.cosine_offset", "schedule/discrete.hpp", "std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2.0);",
      "std::cos((t + 0.008) / 1.0 * std::numbers::pi / 2.0);", "test_schedule"),
    # ---- core/random.hpp ----
    m("random.philox_multiplier", "core/random.hpp", "philox_m0 = 0xD2511F53u;", "philox_m0 = 0xD2511F55u;",
      "test_random"),
    m("random.philox_rounds", "core/random.hpp", "philox_rounds = 10;", "philox_rounds = 9;", "test_random"),
    m("random.uniform_offset", "core/random.hpp", "return one_plus - (1.0f - 0x1p-24f);", "return one_plus - 1.0f;",
      "test_random"),
    m("random.box_muller_radius", "core/random.hpp", "(T(-2) * u1.log()).sqrt();", "(T(-1) * u1.log()).sqrt();",
      "test_random"),
    m("random.box_muller_sin", "core/random.hpp", "out[2 * p + 1] = radius[p] * sin_theta[p];",
      "out[2 * p + 1] = radius[p] * cos_theta[p];", "test_random"),
    m("random.angle_sum_sign", "core/random.hpp", "sin_out = cos_q * sin_x + sin_q * cos_x;",
      "sin_out = cos_q * sin_x - sin_q * cos_x;", "test_random"),
    # ---- nn/kernels.hpp ----
    m("kernels.tanh_argument", "nn/kernels.hpp", "const P big_e = simd::expm1(ei::padd(t, t));",
      "const P big_e = simd::expm1(t);", NN),
    m("kernels.tanh_derivative_factor", "nn/kernels.hpp", "ei::pmul(constant<P>(T(4)), e.half_mantissa)",
      "ei::pmul(constant<P>(T(2)), e.half_mantissa)", NN),
    m("kernels.logistic_branches", "nn/kernels.hpp", "s.by_sign(constant<P>(scalar_of<P>(1)), s.e)",
      "s.by_sign(s.e, constant<P>(scalar_of<P>(1)))", NN),
    m("kernels.one_plus_error_dropped", "nn/kernels.hpp",
      "return ei::psub(e, ei::psub(d, constant<P>(scalar_of<P>(1))));", "return ei::pmul(ei::pzero(e), d);", NN),
    m("kernels.square_correction_dropped", "nn/kernels.hpp",
      "return simd::fma(d, d, ei::pmul(ei::padd(d, d), one_plus_error(e, d)));",
      "return ei::pmul(d, ei::padd(d, ei::pzero(e)));", NN),
    m("kernels.gate_derivative_sign", "nn/kernels.hpp", "const P upper = ei::padd(gate.d,",
      "const P upper = ei::psub(gate.d,", NN),
    m("kernels.gated_branches", "nn/kernels.hpp", "gate.by_sign(x, gate.exp_w.times(x_finite))",
      "gate.by_sign(gate.exp_w.times(x_finite), x)", NN),
    # ---- config/ (the runtime facade: its code is in the registry instances) ----
    m("config.ddim_set_alpha_to_one_default", "config/registry_discrete.hpp",
      '.set_alpha_to_one = o.get_bool("set_alpha_to_one", true),',
      '.set_alpha_to_one = o.get_bool("set_alpha_to_one", false),', CONFIG, registry=True),
    m("config.ddpm_variance_default", "config/registry_discrete.hpp", 'o.get_string("variance_type", "fixed_small")',
      'o.get_string("variance_type", "fixed_large")', CONFIG, registry=True),
    m("config.pndm_skip_prk_default", "config/registry_discrete.hpp", 'o.get_bool("skip_prk_steps", false)',
      'o.get_bool("skip_prk_steps", true)', CONFIG, registry=True),
    m("config.pndm_alpha_to_one_default", "config/registry_discrete.hpp",
      '.set_alpha_to_one = o.get_bool("set_alpha_to_one", false),',
      '.set_alpha_to_one = o.get_bool("set_alpha_to_one", true),', CONFIG, registry=True),
    m("config.clip_range_default", "config/registry_detail.hpp", 'o.get_double("clip_sample_range", 1.0)',
      'o.get_double("clip_sample_range", 2.0)', CONFIG, registry=True),
    m("config.thresholding_ignored", "config/registry_detail.hpp",
      'if (o.get_bool("thresholding", false)) p.thresholding', 'if (false) p.thresholding', CONFIG, registry=True),
    m("config.threshold_ratio_default", "config/registry_detail.hpp",
      'o.get_double("dynamic_thresholding_ratio", 0.995)', 'o.get_double("dynamic_thresholding_ratio", 0.95)', CONFIG,
      registry=True),
    m("config.zero_snr_default", "config/registry_detail.hpp", 'o.get_bool("rescale_betas_zero_snr", false)',
      'o.get_bool("rescale_betas_zero_snr", true)', CONFIG, registry=True),
    m("config.sigma_spacing_default", "config/registry_detail.hpp",
      '.timestep_spacing = schedule::parse_spacing(o.get_string("timestep_spacing", "linspace")),',
      '.timestep_spacing = schedule::parse_spacing(o.get_string("timestep_spacing", "leading")),', CONFIG,
      registry=True),
    m("config.edm_rho_default", "config/registry_detail.hpp", '.rho = o.get_double("rho", defaults.rho),',
      '.rho = o.get_double("rho", 5.0),', CONFIG, registry=True),
    m("config.edm_sigma_data_default", "config/registry_detail.hpp", '.sigma_data = o.get_double("sigma_data", defaults.sigma_data),',
      '.sigma_data = o.get_double("sigma_data", 1.0),', CONFIG, registry=True),
]


def run(cmd, cwd, timeout=None, quiet=True):
    return subprocess.run(cmd, cwd=cwd, shell=isinstance(cmd, str), timeout=timeout,
                          stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.DEVNULL if quiet else None)


def copy_tree(work):
    src = os.path.join(work, "src")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\n")
    for f in files:
        if not f or not os.path.isfile(os.path.join(ROOT, f)):
            continue
        dest = os.path.join(src, f)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, f), dest)
    return src


class Build:
    """An existing Release build of this tree (tests on, registry built): its recorded compile and
    link commands are reused, the compiles pointed at the mutated copy's headers."""

    def __init__(self, build_dir, src):
        self.dir = os.path.abspath(build_dir)
        self.src = src
        self.extra_flags = []  # appended to every mutant compile (e.g. -O0: later flags win)
        commands = os.path.join(self.dir, "compile_commands.json")
        if not os.path.exists(commands):
            subprocess.run(["cmake", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", self.dir], check=True,
                           stdout=subprocess.DEVNULL)
        with open(commands) as f:
            self.compile = {os.path.realpath(e["file"]): e for e in json.load(f)}

    def ninja(self, targets, jobs):
        subprocess.run(["ninja", "-j", str(jobs)] + targets, cwd=self.dir, check=True)

    def compile_command(self, source, obj):
        e = self.compile[os.path.realpath(os.path.join(ROOT, source))]
        cmd = shlex.split(e["command"]) + self.extra_flags
        cmd[cmd.index("-o") + 1] = obj
        for flag in ("-MD", "-MT", "-MF"):  # no dependency file for the scratch objects
            while flag in cmd:
                i = cmd.index(flag)
                del cmd[i:i + (1 if flag == "-MD" else 2)]
        # the mutated copy's headers and test sources instead of the tree's
        cmd = [c.replace(os.path.join(ROOT, "include"), os.path.join(self.src, "include"))
                .replace(os.path.join(ROOT, "tests"), os.path.join(self.src, "tests")) for c in cmd]
        return cmd, e["directory"]

    def link_command(self, target):
        lines = subprocess.run(["ninja", "-t", "commands", "tests/" + target], cwd=self.dir, check=True,
                               capture_output=True, text=True).stdout.strip().split("\n")
        return lines[-1]


def test_mutant(b, mutant, scratch, timeout, registry_lib):
    """Returns 'caught' (a test failed, or a test's static_assert rejected the mutant), 'survived', or
    'compile error' (the mutant is not a valid program: left out of the rate)."""
    lib = registry_lib
    if mutant.registry:
        objs = []
        for kind in ("float", "double"):
            obj = os.path.join(scratch, f"registry_{kind}.o")
            cmd, cwd = b.compile_command(f"src/facade_{kind}.cpp", obj)
            if run(cmd, cwd).returncode != 0:
                return "compile error", ""
            objs.append(obj)
        lib = os.path.join(scratch, "libregistry.a")
        if os.path.exists(lib):
            os.remove(lib)
        subprocess.run(["ar", "qc", lib] + objs, check=True)
    for test in mutant.tests:
        obj = os.path.join(scratch, test + ".o")
        exe = os.path.join(scratch, test)
        cmd, cwd = b.compile_command(f"tests/{test}.cpp", obj)
        compiled = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if compiled.returncode != 0:
            # A test's static_assert on a known value rejecting the mutant is a catch.
            if "static assertion failed" in compiled.stderr or "static_assert" in compiled.stderr:
                return "caught", test + " (static_assert)"
            return "compile error", test
        link = b.link_command(test)
        link = link.replace(f"tests/CMakeFiles/{test}.dir/{test}.cpp.o", obj)
        link = link.replace(f"-o tests/{test} ", f"-o {exe} ")
        link = link.replace("libdiffuse_facade.a", lib)
        if run(link, b.dir).returncode != 0:
            return "compile error", test
        try:
            if run([exe], scratch, timeout=timeout).returncode != 0:
                return "caught", test
        except subprocess.TimeoutExpired:
            return "caught", test + " (timeout)"
    return "survived", ""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"),
                   help="a configured Release build of this tree with tests on (its registry is reused)")
    p.add_argument("--work", default="/tmp/diffuse-mutation", help="scratch directory (the tree's copy, objects)")
    p.add_argument("--only", help="comma-separated words; run the mutants whose id contains one of them")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--jobs", type=int, default=1, help="ninja jobs for the baseline build")
    p.add_argument("--timeout", type=float, default=300, help="seconds per test program run")
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--flags", default="",
                   help="extra compiler flags for the mutants' objects, e.g. -O0 (config mutants recompile the "
                        "registry: minutes at -O3); an unmutated control built the same way must pass first")
    p.add_argument("--skip-baseline", action="store_true",
                   help="do not build and run the unmutated tests (nor the --flags control) first, when they "
                        "are known to pass")
    args = p.parse_args()

    selected = MUTANTS
    if args.only:
        words = [w for w in args.only.split(",") if w]
        selected = [mu for mu in MUTANTS if any(w in mu.id for w in words)]
    if args.list:
        for mu in selected:
            print(f"{mu.id:40s} {mu.file:45s} {' '.join(mu.tests)}")
        print(f"{len(selected)} of {len(MUTANTS)} mutants")
        return 0

    # The copy is refreshed on every run (cheap), so it is the tree as it is now and no mutant of an
    # interrupted run is left in it; SIGTERM restores the current mutant's file too.
    src = copy_tree(args.work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("mutation_check: terminated"))
    # Every mutant must apply to the tree as it is.
    for mu in selected:
        text = open(os.path.join(src, "include/diffuse", mu.file)).read()
        if text.count(mu.old) <= mu.occurrence:
            sys.exit(f"mutant {mu.id}: '{mu.old}' not found in {mu.file} (occurrence {mu.occurrence})")

    b = Build(args.build, src)
    tests = sorted({t for mu in selected for t in mu.tests})
    print(f"baseline: {len(tests)} test programs (built in {b.dir} where missing)", flush=True)
    if not args.skip_baseline:
        b.ninja(["libdiffuse_facade.a"] + [t for t in tests if not os.path.exists(os.path.join(b.dir, "tests", t))],
                args.jobs)
    for t in [] if args.skip_baseline else tests:
        if run([os.path.join(b.dir, "tests", t)], b.dir, timeout=args.timeout).returncode != 0:
            sys.exit(f"baseline: {t} fails without any mutant; fix that first")
    registry_lib = os.path.join(b.dir, "libdiffuse_facade.a")
    scratch = os.path.join(args.work, "scratch")
    os.makedirs(scratch, exist_ok=True)
    b.extra_flags = shlex.split(args.flags)
    if args.flags and not args.skip_baseline:
        # The flags must not change the verdict by themselves: the unmutated tree, built with them
        # exactly as a mutant is, must pass every selected test.
        control = Mutant("control", "", "", "", tests, registry=any(mu.registry for mu in selected))
        status, where = test_mutant(b, control, scratch, args.timeout, registry_lib)
        if status != "survived":
            sys.exit(f"control (no mutant, built with {args.flags}): {status} {where}; these flags cannot be used")
        print(f"control (no mutant, built with {args.flags}): passes", flush=True)

    results = []
    for n, mu in enumerate(selected, 1):
        path = os.path.join(src, "include/diffuse", mu.file)
        original = open(path).read()
        parts = original.split(mu.old)
        k = mu.occurrence + 1
        mutated = mu.old.join(parts[:k]) + mu.new + mu.old.join(parts[k:])
        start = time.time()
        try:
            with open(path, "w") as f:
                f.write(mutated)
            status, where = test_mutant(b, mu, scratch, args.timeout, registry_lib)
        finally:
            with open(path, "w") as f:
                f.write(original)
        results.append(dict(id=mu.id, file=mu.file, status=status, test=where, seconds=round(time.time() - start)))
        print(f"[{n}/{len(selected)}] {mu.id:40s} {status:14s} {where} ({time.time() - start:.0f} s)", flush=True)

    caught = sum(r["status"] == "caught" for r in results)
    compile_errors = sum(r["status"] == "compile error" for r in results)
    survived = [r["id"] for r in results if r["status"] == "survived"]
    valid = len(results) - compile_errors
    print(f"\ncaught {caught} of {valid} mutants that compile ({100.0 * caught / max(valid, 1):.0f}%); "
          f"{compile_errors} did not compile")
    if survived:
        print("survived: " + ", ".join(survived))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
