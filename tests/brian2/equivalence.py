#!/usr/bin/python3
"""Brian2 drives a microcircuit whose neurons are apical's compiled modules.

One hidden layer (pyramids, SST interneurons, output pyramids) and an input
population.  Brian2 owns the network: its NeuronGroups hold the state, its
Synapses carry the rates into the dendritic ports as summed variables, its
Euler state updater advances the somata.  The neuron equations are not
re-typed: each step, a network operation asks the modules (pyramidal.so,
sst.so, rate_input.so, loaded through the C ABI of models/apical.h) for the
observables and the derivatives.  The same circuit (weights and patterns from
the same files, euler, dt 0.1 ms, no noise, no plasticity) is then run with
`apical run`, and the traces of every soma are compared.

usage: equivalence.py APICAL MODULE_DIR    (exit 77: Brian2 or NumPy missing)
"""
import ctypes as C
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

ABI_MAJOR, ABI_MINOR = 1, 0
OBS_STATE, OBS_PORTS = 0, 1


# ---- a ctypes mirror of models/apical.h ------------------------------------
class Param(C.Structure):
    _fields_ = [("name", C.c_char_p), ("unit", C.c_char_p), ("doc", C.c_char_p),
                ("default", C.c_double), ("min", C.c_double), ("max", C.c_double),
                ("choices", C.POINTER(C.c_char_p))]


class Var(C.Structure):
    _fields_ = [("name", C.c_char_p), ("unit", C.c_char_p), ("doc", C.c_char_p),
                ("flags", C.c_uint32)]


class Obs(C.Structure):
    _fields_ = [("name", C.c_char_p), ("unit", C.c_char_p), ("doc", C.c_char_p),
                ("stage", C.c_uint32)]


class CellCtx(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("n", C.c_size_t),
                ("p", C.POINTER(C.c_double)), ("y", C.POINTER(C.c_double)),
                ("inp", C.POINTER(C.c_double)), ("need", C.POINTER(C.c_uint8))]


RHS = C.CFUNCTYPE(C.c_int, C.POINTER(CellCtx), C.POINTER(C.c_double))
OBSERVE = C.CFUNCTYPE(C.c_int, C.POINTER(CellCtx), C.c_uint32, C.POINTER(C.c_double))


class CellModel(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("name", C.c_char_p), ("doc", C.c_char_p),
                ("version", C.c_char_p),
                ("params", C.POINTER(Param)), ("n_params", C.c_size_t),
                ("state", C.POINTER(Var)), ("n_state", C.c_size_t),
                ("ports", C.POINTER(Var)), ("n_ports", C.c_size_t),
                ("obs", C.POINTER(Obs)), ("n_obs", C.c_size_t),
                ("check", C.c_void_p), ("rhs", RHS), ("observe", OBSERVE),
                ("jacobian", C.c_void_p)]


class Library(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("abi_major", C.c_uint32),
                ("abi_minor", C.c_uint32), ("name", C.c_char_p), ("version", C.c_char_p),
                ("cells", C.POINTER(C.POINTER(CellModel))), ("n_cells", C.c_size_t),
                ("rules", C.c_void_p), ("n_rules", C.c_size_t)]


def load_cell(moddir, name):
    lib = C.CDLL(os.path.join(moddir, name + ".so"))
    entry = lib.apical_library_v1
    entry.restype = C.POINTER(Library)
    entry.argtypes = [C.c_uint32, C.c_uint32]
    L = entry(ABI_MAJOR, ABI_MINOR).contents
    assert L.abi_major == ABI_MAJOR and L.n_cells == 1
    m = L.cells[0].contents
    assert m.name.decode() == name
    return lib, m


class Population:
    """One module's population: the buffers the ABI functions read and write."""

    def __init__(self, lib, model, n, params):
        self.lib, self.m, self.n = lib, model, n
        self.params = np.array([model.params[i].default for i in range(model.n_params)] or [0.0])
        names = [model.params[i].name.decode() for i in range(model.n_params)]
        for k, v in params.items():
            self.params[names.index(k)] = v
        self.ports = [model.ports[i].name.decode() for i in range(model.n_ports)]
        self.obs_names = [model.obs[i].name.decode() for i in range(model.n_obs)]
        self.y = np.zeros(model.n_state * n)
        self.inp = np.zeros(max(1, model.n_ports) * n)
        self.obs = np.zeros(model.n_obs * n)
        self.dydt = np.zeros(model.n_state * n)
        dp = C.POINTER(C.c_double)
        self.ctx = CellCtx(C.sizeof(CellCtx), n, self.params.ctypes.data_as(dp),
                           self.y.ctypes.data_as(dp), self.inp.ctypes.data_as(dp), None)
        self._obs = self.obs.ctypes.data_as(dp)
        self._dydt = self.dydt.ctypes.data_as(dp)

    def observe(self, stage):
        assert self.m.observe(C.byref(self.ctx), stage, self._obs) == 0

    def rhs(self):
        assert self.m.rhs(C.byref(self.ctx), self._dydt) == 0

    def obs_row(self, name):
        k = self.obs_names.index(name)
        return self.obs[k * self.n:(k + 1) * self.n]

    def port_row(self, name):
        k = self.ports.index(name)
        return self.inp[k * self.n:(k + 1) * self.n]


def main():
    apical, moddir = sys.argv[1], sys.argv[2]
    sizes = {"input": 8, "hidden": 6, "inter": 3, "output": 3}
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
        subprocess.run([apical, "run", os.path.join(tmp, "circuit.yaml"), "--out",
                        os.path.join(tmp, "run")], check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, APICAL_MODULE_PATH=moddir))
        ref = np.loadtxt(os.path.join(tmp, "run", "traces.csv"), delimiter=",", skiprows=1)

    # ---- the same circuit, driven by Brian2 ---------------------------------
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = dt * b2.ms
    soft = {"phi": 1, "theta": 0.5}
    pops = {"input": Population(*load_cell(moddir, "rate_input"), 8, {}),
            "hidden": Population(*load_cell(moddir, "pyramidal"), 6, soft),
            "inter": Population(*load_cell(moddir, "sst"), 3, soft),
            "output": Population(*load_cell(moddir, "pyramidal"), 3, dict(soft, g_A=0))}
    groups = {}
    for name, p in pops.items():
        eqs = "du/dt = f/ms : 1\nf : 1\nrate : 1\n" + "".join("%s : 1\n" % q for q in p.ports)
        groups[name] = b2.NeuronGroup(p.n, eqs, method="euler", order=10, name=name)

    def dense(src, dst, port, weights):
        s = b2.Synapses(groups[src], groups[dst], "w : 1\n%s_post = w * rate_pre : 1 (summed)"
                        % port, name="%s_to_%s_%s" % (src, dst, port))
        s.connect()   # all to all; w of synapse (pre i, post j) is weights[j, i]
        s.w[:] = weights[np.asarray(s.j[:]), np.asarray(s.i[:])]
        return s

    syn = [dense("input", "hidden", "basal", W["up1"]),
           dense("hidden", "output", "basal", W["up2"]),
           dense("output", "hidden", "apical", W["down"]),
           dense("hidden", "inter", "dendrite", W["ip"]),
           dense("inter", "hidden", "apical_inh", W["pi"])]
    nudge = b2.Synapses(groups["output"], groups["inter"], "nudge_post = u_pre : 1 (summed)",
                        name="nudge")
    nudge.connect(j="i")
    syn.append(nudge)

    trace = []

    @b2.network_operation(when="start")
    def observe_state(t):
        k = int(round(float(t / b2.ms) / dt))
        if k % steps_per_pattern == 0:
            groups["input"].drive_[:] = patterns[(k // steps_per_pattern) % n_patterns]
        for name, p in pops.items():
            p.y[:] = groups[name].u_[:]
            p.observe(OBS_STATE)
            groups[name].rate_[:] = p.obs_row("rate")
        trace.append(np.concatenate([pops[n].y for n in ("hidden", "inter", "output")]))

    # after the summed variables (groups, order 9), before the state updaters (order 10)
    @b2.network_operation(when="groups", order=9.5)
    def derivatives():
        for name, p in pops.items():
            for q in p.ports:
                p.port_row(q)[:] = getattr(groups[name], q + "_")[:]
            p.observe(OBS_PORTS)
            p.rhs()
            groups[name].f_[:] = p.dydt

    net = b2.Network(list(groups.values()), syn, observe_state, derivatives)
    net.run(n_patterns * steps_per_pattern * dt * b2.ms, namespace={})
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
