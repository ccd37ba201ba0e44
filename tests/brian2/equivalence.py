#!/usr/bin/python3
"""Brian2 drives a microcircuit whose neurons are apical's compiled modules.

One hidden layer (pyramids, SST interneurons, output pyramids) and an input
population.  Brian2 owns the network, built by the apical package's bridge
(python/apical/brian2.py) from the circuit file: its NeuronGroups hold the
state, its Synapses carry the rates into the dendritic ports as summed
variables, its Euler state updater advances the somata.  The neuron
equations are not re-typed: each step, the bridge's network operations ask
the modules (pyramidal.so, sst.so, rate_input.so, through the C ABI of
models/apical.h) for the observables and the derivatives.  The same circuit (weights and patterns from
the same files, euler, dt 0.1 ms, no noise, no plasticity) is then run with
`apical run`, and the traces of every soma are compared.

usage: equivalence.py APICAL MODULE_DIR    (exit 77: Brian2 or NumPy missing)
with the apical package importable (PYTHONPATH) and APICAL_MODULE_PATH set
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import brian2 as b2
except ImportError as e:
    print("skip: %s" % e)
    sys.exit(77)

import apical
import apical.brian2 as ab


def main():
    apical_cmd, moddir = sys.argv[1], sys.argv[2]
    steps_per_pattern, n_patterns, dt = 150, 3, 0.1
    rng = np.random.default_rng(2018)
    W = {"up1": rng.uniform(-1, 1, (6, 8)), "up2": rng.uniform(-1, 1, (3, 6)),
         "down": rng.uniform(-1, 1, (6, 3)), "ip": rng.uniform(-1, 1, (3, 6)),
         "pi": rng.uniform(-1, 1, (6, 3))}
    patterns = rng.uniform(-1, 1, (n_patterns, 8))

    with tempfile.TemporaryDirectory() as tmp:
        for k, w in W.items():
            np.savetxt(os.path.join(tmp, k + ".csv"), w, delimiter=",", fmt="%.17g")
        np.savetxt(os.path.join(tmp, "patterns.csv"), patterns, delimiter=",", fmt="%.17g")
        with open(os.path.join(tmp, "circuit.yaml"), "w") as f:
            f.write("""apical: 1
populations:
  input:  {cell: rate_input, size: 8}
  hidden: {cell: pyramidal, size: 6, params: {phi: softrect, theta: 0.5}}
  inter:  {cell: sst, size: 3, params: {phi: softrect, theta: 0.5}}
  output: {cell: pyramidal, size: 3, params: {phi: softrect, theta: 0.5, g_A: 0}}
projections:
  - {from: input,    to: hidden.basal,      init: {file: up1.csv}}
  - {from: hidden,   to: output.basal,      init: {file: up2.csv}}
  - {from: output,   to: hidden.apical,     init: {file: down.csv}}
  - {from: hidden,   to: inter.dendrite,    init: {file: ip.csv}}
  - {from: inter,    to: hidden.apical_inh, init: {file: pi.csv}}
  - {from: output.u, to: inter.nudge,       connect: one_to_one}
stimuli:
  x: {kind: csv, file: patterns.csv, drives: input}
simulation:
  integrator: {method: euler, dt: %g}
  noise: {sigma: 0}
  phases: [{train: x, patterns: %d, present: %g}]
record:
  traces: {vars: [hidden.u, inter.u, output.u], every: 1}
""" % (dt, n_patterns, steps_per_pattern * dt))
        subprocess.run([apical_cmd, "run", os.path.join(tmp, "circuit.yaml"), "--out",
                        os.path.join(tmp, "run")], check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, APICAL_MODULE_PATH=moddir))
        ref = np.loadtxt(os.path.join(tmp, "run", "traces.csv"), delimiter=",", skiprows=1)

        # ---- the same circuit, driven by Brian2 (apical.brian2) ---------------
        net = ab.Network(apical.Circuit.from_yaml(os.path.join(tmp, "circuit.yaml")))
    groups = net.groups
    trace = []

    @b2.network_operation(when="start", order=-1)
    def present(t):
        k = int(round(float(t / b2.ms) / dt))
        if k % steps_per_pattern == 0:
            groups["input"].drive_[:] = patterns[(k // steps_per_pattern) % n_patterns]
        trace.append(np.concatenate([groups[n].u_[:] for n in ("hidden", "inter", "output")]))

    net.add(present)
    net.run(n_patterns * steps_per_pattern * dt * b2.ms)
    got = np.array(trace)
    assert got.shape == ref[:, 1:].shape, (got.shape, ref.shape)
    diff = np.max(np.abs(got - ref[:, 1:]))
    scale = np.max(np.abs(ref[:, 1:]))
    print("Brian2 %s vs apical run: %d steps x %d somata, largest |u| %.3g, "
          "largest absolute trace difference %.3g" % (b2.__version__, got.shape[0],
                                                     got.shape[1], scale, diff))
    if not diff <= 1e-9 or scale < 0.1:
        print("FAIL: traces differ (or are trivially small)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
