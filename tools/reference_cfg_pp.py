"""Reference trajectories for CFG++ and the mean-shift form of classifier guidance (tests/reference_cfg_pp.hpp).

A direct implementation of the papers' algorithms, in float64 numpy, written from the papers and
independent of diffuse's decorators (which reach the same updates through the sampler's own step):

  - CFG++ (Chung et al. 2024, arXiv 2406.08070), Algorithm 1 (DDIM):
        eps_l = eps_u + l (eps_c - eps_u)
        x0_l  = (x_t - sqrt(1 - ab_t) eps_l) / sqrt(ab_t)
        x_t'  = sqrt(ab_t') x0_l + sqrt(1 - ab_t') eps_u
    with t' the next grid entry, or t - T // n (diffusers' DDIMScheduler prev_timestep), and ab = 1
    past the grid (set_alpha_to_one);
  - CFG++ in the Euler (k-diffusion) form of the paper (k-diffusion/ComfyUI sample_euler_cfg_pp),
    in the denoiser state x = x_net / alpha:
        D_l = x - sigma eps_l,  D_u = x - sigma eps_u,   x' = D_l + sigma' (x - D_u) / sigma;
  - classifier guidance, Dhariwal & Nichol 2021, Algorithm 1 (DDPM ancestral step, fixed_small):
        mu, Sigma = the posterior q(x_t' | x_t, x0(eps)) (Ho et al. 2020, eq. 6-7, beta = 1 - ab_t/ab_t'),
        x_t' = mu + s Sigma grad log p(y | x_t) + sqrt(Sigma) z   (no noise at t = 0).

The "network" is element-wise and recorded: with tau = model_time / 1000,
    cond(x, tau)   = tanh(mc x + kc tau + bc),     uncond(x, tau) = tanh(mu x + ku tau + bu),
    grad(x, tau)   = sg cos(mg x + kg tau)          (the classifier gradient grad log p(y | x_t)),
as epsilon or v predictions (v models: eps = sqrt(ab) v + sqrt(1 - ab) x, x0 = sqrt(ab) x - sqrt(1 - ab) v).
Schedule: diffusers' "linear" betas (1e-4 to 0.02, 1000 steps), alphas_cumprod in float64.

  /usr/bin/python3 tools/reference_cfg_pp.py > tests/reference_cfg_pp.hpp
"""
import numpy as np

N_TRAIN = 1000
BATCH, SAMPLE = 2, 6
SIZE = BATCH * SAMPLE

betas = np.linspace(1e-4, 0.02, N_TRAIN, dtype=np.float64)
alphas_cumprod = np.cumprod(1.0 - betas)

rng = np.random.default_rng(2406)
params = {name: rng.uniform(lo, hi, SIZE) for name, lo, hi in [
    ("mc", 0.3, 1.2), ("kc", -1.0, 1.0), ("bc", -0.5, 0.5),
    ("mu", 0.3, 1.2), ("ku", -1.0, 1.0), ("bu", -0.5, 0.5),
    ("mg", 0.5, 1.5), ("kg", -1.0, 1.0), ("sg", 0.2, 0.8)]}
x_start = rng.standard_normal(SIZE)
ddpm_noise = rng.standard_normal((10, SIZE))

LINSPACE = [int(t) for t in np.round(np.linspace(0, N_TRAIN - 1, 10))[::-1]]  # 999, 888, ..., 0
LEADING = list(range(900, -1, -100))                                          # 900, 800, ..., 0


def cond(x, time):
    p = params
    return np.tanh(p["mc"] * x + p["kc"] * time / 1000 + p["bc"])


def uncond(x, time):
    p = params
    return np.tanh(p["mu"] * x + p["ku"] * time / 1000 + p["bu"])


def grad(x, time):
    p = params
    return p["sg"] * np.cos(p["mg"] * x + p["kg"] * time / 1000)


def ab(t):
    return alphas_cumprod[t] if t >= 0 else 1.0


def eps_of(out, x_net, t, kind):
    """eps from a model output at timestep t (x_net: the network's input)."""
    if kind == "epsilon":
        return out
    return np.sqrt(ab(t)) * out + np.sqrt(1 - ab(t)) * x_net  # v_prediction


def ddim_cfg_pp(lam, grid, kind, diffusers_target):
    x, path = x_start.copy(), []
    for i, t in enumerate(grid):
        prev = t - N_TRAIN // len(grid) if diffusers_target else (grid[i + 1] if i + 1 < len(grid) else -1)
        e_c, e_u = eps_of(cond(x, t), x, t, kind), eps_of(uncond(x, t), x, t, kind)
        e_l = e_u + lam * (e_c - e_u)
        x0_l = (x - np.sqrt(1 - ab(t)) * e_l) / np.sqrt(ab(t))
        x = np.sqrt(ab(prev)) * x0_l + np.sqrt(1 - ab(prev)) * e_u
        path.append(x.copy())
    return path


def vp_levels(grid):
    """(sigma, alpha, model_time) of each grid entry, then the clean end (0, 1, 0)."""
    levels = [(np.sqrt((1 - ab(t)) / ab(t)), np.sqrt(ab(t)), float(t)) for t in grid]
    return levels + [(0.0, 1.0, 0.0)]


def euler_cfg_pp(lam, levels, kind):
    sigma0, alpha0, _ = levels[0]
    x = x_start / alpha0  # the denoiser state of x_net = x_start
    path = []
    for (sigma, alpha, time), (sigma_next, _, _) in zip(levels[:-1], levels[1:]):
        x_net = alpha * x
        t = int(time)
        e_c, e_u = eps_of(cond(x_net, time), x_net, t, kind), eps_of(uncond(x_net, time), x_net, t, kind)
        e_l = e_u + lam * (e_c - e_u)
        denoised_l, denoised_u = x - sigma * e_l, x - sigma * e_u
        x = denoised_l + sigma_next * (x - denoised_u) / sigma
        path.append(x.copy())
    return path


def ddpm_mean_shift(scale, grid):
    x, path = x_start.copy(), []
    for i, t in enumerate(grid):
        prev = grid[i + 1] if i + 1 < len(grid) else -1
        beta = 1 - ab(t) / ab(prev)
        e = cond(x, t)
        x0 = (x - np.sqrt(1 - ab(t)) * e) / np.sqrt(ab(t))
        mean = (np.sqrt(ab(prev)) * beta / (1 - ab(t))) * x0 + (np.sqrt(1 - beta) * (1 - ab(prev)) / (1 - ab(t))) * x
        variance = (1 - ab(prev)) / (1 - ab(t)) * beta
        x_next = mean + scale * variance * grad(x, t)
        if t > 0:
            x_next = x_next + np.sqrt(variance) * ddpm_noise[i]
        x = x_next
        path.append(x.copy())
    return path


def values(a):
    return "{" + ", ".join(repr(float(v)) for v in np.asarray(a).reshape(-1)) + "}"


# (name, sampler, prediction, lambda or scale, grid, diffusers_target)
cases = [
    ("DDIM CFG++, epsilon, next grid entry", "ddim", "epsilon", 0.6, LINSPACE, False),
    ("DDIM CFG++, epsilon, t - T // n", "ddim", "epsilon", 0.3, LINSPACE, True),
    ("DDIM CFG++, v_prediction", "ddim", "v_prediction", 0.8, LEADING, False),
    ("Euler CFG++, epsilon", "euler", "epsilon", 0.6, LINSPACE, False),
    ("Euler CFG++, v_prediction", "euler", "v_prediction", 1.0, LEADING, False),
    ("DDPM classifier mean shift, epsilon", "ddpm", "epsilon", 2.0, LEADING, False),
]

print("// Generated by tools/reference_cfg_pp.py: CFG++ (Chung et al. 2024, Algorithm 1 and its Euler")
print("// form) and Dhariwal & Nichol 2021's Algorithm 1, implemented directly in float64. Do not edit.")
print("#pragma once\n")
print("namespace reference_cfg_pp {\n")
print(f"inline constexpr int batch = {BATCH};")
print(f"inline constexpr int size = {SIZE};")
print("// The element-wise network: cond = tanh(mc x + kc tau + bc), uncond = tanh(mu x + ku tau + bu),")
print("// classifier gradient = sg cos(mg x + kg tau), tau = model_time / 1000.")
for name, v in params.items():
    print(f"inline constexpr double {name}[size] = {values(v)};")
print(f"inline constexpr double x_start[size] = {values(x_start)};")
print(f"inline constexpr double ddpm_noise[10][size] = {{{', '.join(values(z) for z in ddpm_noise)}}};\n")
print("struct trajectory_case {")
print("    const char* name;")
print("    const char* sampler;     // ddim, euler (VP levels of the grid, then sigma = 0) or ddpm")
print("    const char* prediction;  // epsilon or v_prediction")
print("    double scale;            // CFG++ lambda, or the classifier scale s")
print("    bool diffusers_target;   // DDIM steps to t - T // n")
print("    int grid[10];")
print("    double x[10][size];      // the state after each step (Euler: the denoiser state)")
print("};\n")
print("inline const trajectory_case cases[] = {")
for name, kind, prediction, scale, grid, diffusers_target in cases:
    if kind == "ddim":
        path = ddim_cfg_pp(scale, grid, prediction, diffusers_target)
    elif kind == "euler":
        path = euler_cfg_pp(scale, vp_levels(grid), prediction)
    else:
        path = ddpm_mean_shift(scale, grid)
    print(f'    {{"{name}", "{kind}", "{prediction}", {scale!r}, {"true" if diffusers_target else "false"},')
    print("     {" + ", ".join(str(t) for t in grid) + "},")
    print("     {" + ", ".join(values(x) for x in path) + "}},")
print("};\n")
print("}  // namespace reference_cfg_pp")
