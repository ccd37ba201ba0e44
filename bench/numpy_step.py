#!/usr/bin/python3
"""The Euler step of bench_step's circuit in plain NumPy, for timing side by side.

The circuit L0-L1-...-out of bench/bench_step.c: rate inputs, three-compartment
pyramids (output g_A = 0), one interneuron population per hidden layer nudged
one-to-one by the layer above, every pathway plastic with the low-pass rules
(bottom-up and pyramid-to-interneuron Eqs. 7-8, top-down Eq. 10,
interneuron-to-pyramid Eq. 9), noise on every potential: what code written
the usual way does per step -- one matrix product per projection (a GEMV, or
a GEMM for B images side by side) and a rank-1 (rank-B) update of every W and
Delta every step.  Logistic rates, docs/model.md's parameters.

    numpy_step.py SIZES B STEPS [f32|f64]   e.g. 784-500-500-10 1 200 f64
prints the median over 5 repetitions of microseconds per step and per image-step.
"""
import sys
import time

import numpy as np


def main():
    sizes = [int(s) for s in sys.argv[1].split("-")]
    B = int(sys.argv[2])
    steps = int(sys.argv[3])
    dt_name = sys.argv[4] if len(sys.argv) > 4 else "f64"
    ft = np.float32 if dt_name == "f32" else np.float64
    rng = np.random.default_rng(1)
    g_lk, g_b, g_a, g_som, g_d = 0.1, 1.0, 0.8, 0.8, 1.0
    dt, tau_w, tau_in, sigma = 0.1, 30.0, 1.0, 0.3
    L = len(sizes) - 1  # pyramid layers 1..L
    phi = lambda x: 1.0 / (1.0 + np.exp(-x))
    u_in = rng.uniform(-1, 1, (sizes[0], B)).astype(ft)
    x_in = np.sin(np.arange(sizes[0] * B, dtype=ft)).reshape(sizes[0], B)
    u = [None] + [np.zeros((sizes[k], B), ft) for k in range(1, L + 1)]
    ui = [None] + [np.zeros((sizes[k + 1], B), ft) for k in range(1, L)]

    def mat(m, n, a):
        return rng.uniform(-a, a, (m, n)).astype(ft)

    # projections: forward, top-down, pyramid->interneuron, interneuron->pyramid
    W_up = [None] + [mat(sizes[k], sizes[k - 1], 0.1) for k in range(1, L + 1)]
    W_td = [None] + [mat(sizes[k], sizes[k + 1], 1) for k in range(1, L)]
    W_ip = [None] + [mat(sizes[k + 1], sizes[k], 1) for k in range(1, L)]
    W_pi = [None] + [mat(sizes[k], sizes[k + 1], 1) for k in range(1, L)]
    eta = {"up": 1e-3, "td": 1e-4, "ip": 1e-3, "pi": 5e-3}
    D = {(n, k): np.zeros_like(w) for n, ws in (("up", W_up), ("td", W_td), ("ip", W_ip),
                                                 ("pi", W_pi)) for k, w in enumerate(ws)
         if w is not None}
    W = {"up": W_up, "td": W_td, "ip": W_ip, "pi": W_pi}

    def learn(name, k, post, pre):
        # forward Euler of tau_w dD/dt = -D + mean_b post_b pre_b^T, dW/dt = eta D
        d = D[(name, k)]
        W[name][k] += (dt * eta[name]) * d
        d *= 1 - dt / tau_w
        d += (dt / tau_w / B) * (post @ pre.T)

    def step():
        r_in = u_in  # rate inputs: the rate is the potential
        rates = [r_in] + [phi(u[k]) for k in range(1, L + 1)]
        ri = [None] + [phi(ui[k]) for k in range(1, L)]
        du = [None] * (L + 1)
        for k in range(1, L + 1):
            vb = W_up[k] @ rates[k - 1]
            cb = g_b / (g_lk + g_b + (g_a if k < L else 0))
            if k < L:
                td = W_td[k] @ rates[k + 1]
                va = td + W_pi[k] @ ri[k]
                du[k] = -g_lk * u[k] + g_b * (vb - u[k]) + g_a * (va - u[k])
                learn("td", k, rates[k] - phi(td), rates[k + 1])
                learn("pi", k, -va, ri[k])
                vi = W_ip[k] @ rates[k]
                ci = g_d / (g_lk + g_d)
                dui = -g_lk * ui[k] + g_d * (vi - ui[k]) + g_som * (u[k + 1] - ui[k])
                learn("ip", k, ri[k] - phi(ci * vi), rates[k])
                ui[k] += dt * dui + sigma * np.sqrt(dt) * rng.standard_normal(ui[k].shape, ft)
            else:
                du[k] = -g_lk * u[k] + g_b * (vb - u[k])
            learn("up", k, rates[k] - phi(cb * vb), rates[k - 1])
        u_in[...] += (dt / tau_in) * (x_in - u_in)
        for k in range(1, L + 1):
            u[k] += dt * du[k] + sigma * np.sqrt(dt) * rng.standard_normal(u[k].shape, ft)

    step()  # warm up
    times, cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
        cpu.append((time.process_time() - c0) / steps)
    times.sort()
    cpu.sort()
    med, cmed = times[len(times) // 2], cpu[len(cpu) // 2]
    print(f"numpy {sys.argv[1]} {dt_name} B {B}: median {1e6 * med:.1f} us/step, "
          f"{1e6 * med / B:.1f} us/image-step (cpu {1e6 * cmed / B:.1f} us/image-step; "
          f"{steps} steps x 5, numpy {np.__version__})")


if __name__ == "__main__":
    main()
