"""Brian2 driving apical's cell modules: NeuronGroups whose equations are the
modules' own (their compiled rhs and observe, called through the module ABI),
and Synapses for a circuit's projections.

    import brian2 as b2, apical, apical.brian2 as ab
    c = apical.Circuit.from_yaml("circuit.yaml")
    net = ab.Network(c)                  # a group per population, synapses per projection
    net.groups["input"].drive = pattern  # ports without projections are the caller's
    net.run(100 * b2.ms)                 # Brian2's Euler over the modules' derivatives

Each step: at the start, the cells' state observables (rates, ...) are
computed from the groups' state; Brian2's summed synaptic variables carry
them along the projections' weights into the ports; then the modules'
derivatives fill apical_f_<var>, which the groups' equations
d<var>/dt = apical_f_<var>/ms integrate.  Everything is dimensionless, time
in ms.  Plasticity rules and noise stay with apical: the synapses carry
fixed weights.
"""
import ctypes as C

import numpy as np
import brian2 as b2

from . import _lib as L
from . import Circuit, ApicalError

__all__ = ["CellGroup", "Network", "cell_model"]

_registry = None


def cell_model(name):
    """A cell model's table by name, from the module path."""
    global _registry
    if _registry is None:
        mp = L.default_module_path()
        _registry = L.apical_registry_new(mp.encode() if mp else None)
    err = C.create_string_buffer(L.ERRCAP)
    m = L.apical_registry_cell(_registry, name.encode(), err, L.ERRCAP)
    if not m:
        raise ApicalError(err.value.decode(), 2)
    return m.contents


class CellGroup:
    """A NeuronGroup of n cells of an apical cell model: a variable per state
    variable (integrated from the module's derivatives), per port (set by
    synapses or by the caller) and per observable (obs_<name>); inputs names
    extra summed variables (one per incoming projection) added into ports."""

    def __init__(self, model, n, params=None, name=None, inputs=(), state=None):
        if isinstance(model, str):
            model = cell_model(model)
        self.m, self.n = model, n
        names = [L.s(model.params[k].name) for k in range(model.n_params)]
        self.params = np.array([model.params[k].default for k in range(model.n_params)] or [0.0])
        for k, v in (params or {}).items():
            if isinstance(v, str):
                p = model.params[names.index(k)]
                j = 0
                while p.choices[j] and L.s(p.choices[j]) != v:
                    j += 1
                if not p.choices[j]:
                    raise ApicalError("%s: %s has no choice %r" % (L.s(model.name), k, v), 2)
                v = j
            self.params[names.index(k)] = v
        self.state_names = [L.s(model.state[k].name) for k in range(model.n_state)]
        self.ports = [L.s(model.ports[k].name) for k in range(model.n_ports)]
        self.obs_names = [L.s(model.obs[k].name) for k in range(model.n_obs)]
        self.stages = [model.obs[k].stage for k in range(model.n_obs)]
        self.inputs = list(inputs)   # (variable, port)
        eqs = "".join("d%s/dt = apical_f_%s/ms : 1\napical_f_%s : 1\n" % (v, v, v)
                      for v in self.state_names)
        eqs += "".join("%s : 1\n" % q for q in self.ports)
        eqs += "".join("obs_%s : 1\n" % o for o in self.obs_names)
        eqs += "".join("%s : 1\n" % v for v, _ in self.inputs)
        self.group = b2.NeuronGroup(n, eqs, method="euler", order=10, name=name)
        if state is not None:
            for k, v in enumerate(self.state_names):
                setattr(self.group, v, state[k])
        self.y = np.zeros(model.n_state * n)
        self.inp = np.zeros(max(1, model.n_ports) * n)
        self.obs = np.zeros(max(1, model.n_obs) * n)
        self.dydt = np.zeros(model.n_state * n)
        dp = L.c_double_p
        self.ctx = L.CellCtx(C.sizeof(L.CellCtx), n, self.params.ctypes.data_as(dp),
                             self.y.ctypes.data_as(dp), self.inp.ctypes.data_as(dp), None, 0)
        self._obs, self._dydt = self.obs.ctypes.data_as(dp), self.dydt.ctypes.data_as(dp)

    def _rows(self, buf, k):
        return buf[k * self.n:(k + 1) * self.n]

    def _call(self, rc, what):
        if rc != 0:
            raise ApicalError("%s: %s failed (status %d)" % (L.s(self.m.name), what, rc), 1)

    def observe_state(self):
        """The observables computed from the state alone (what projections carry)."""
        for k, v in enumerate(self.state_names):
            self._rows(self.y, k)[:] = getattr(self.group, v + "_")[:]
        self._call(self.m.observe(C.byref(self.ctx), L.OBS_STATE, self._obs), "observe")
        for k, o in enumerate(self.obs_names):
            if self.stages[k] == L.OBS_STATE:
                setattr(self.group, "obs_%s_" % o, self._rows(self.obs, k))

    def derivatives(self):
        """The ports (projections' summed inputs added up), the observables that
        need them, and the state's derivatives."""
        fed = {}
        for v, q in self.inputs:
            fed[q] = fed.get(q, 0) + np.asarray(getattr(self.group, v + "_")[:])
        for q, x in fed.items():
            setattr(self.group, q + "_", x)
        for k, q in enumerate(self.ports):
            self._rows(self.inp, k)[:] = getattr(self.group, q + "_")[:]
        self._call(self.m.observe(C.byref(self.ctx), L.OBS_PORTS, self._obs), "observe")
        for k, o in enumerate(self.obs_names):
            if self.stages[k] == L.OBS_PORTS:
                setattr(self.group, "obs_%s_" % o, self._rows(self.obs, k))
        self._call(self.m.rhs(C.byref(self.ctx), self._dydt), "rhs")
        for k, v in enumerate(self.state_names):
            setattr(self.group, "apical_f_%s_" % v, self._rows(self.dydt, k))


class Network:
    """A circuit as a Brian2 network: groups (CellGroup.group by population
    name, their models' parameters and the circuit's current state),
    synapses (by projection name, weights from the circuit), and the two
    network operations that call the modules each step.  Brian2's clock
    takes the circuit's time step."""

    def __init__(self, circuit, codegen="numpy"):
        if not isinstance(circuit, Circuit):
            circuit = Circuit(circuit)
        b2.prefs.codegen.target = codegen
        b2.defaultclock.dt = circuit.dt * b2.ms
        self.circuit = circuit
        projs = list(circuit.projections.values())
        self.cells = {}
        for name, p in circuit.populations.items():
            inputs = [("apical_in_%d" % j.index, j.port) for j in projs if j.dst == name]
            state = [p.state(v).copy() for v in p.state_names]
            cg = CellGroup(L.apical_pop_model(p._p).contents, p.size, None, name, inputs, state)
            cg.params[:len(p.params)] = list(p.params.values())
            self.cells[name] = cg
        self.groups = {n: cg.group for n, cg in self.cells.items()}
        self.synapses = {}
        for j in projs:
            var = "apical_in_%d" % j.index
            g_src, g_dst = self.groups[j.src], self.groups[j.dst]
            if j.one_to_one:
                s = b2.Synapses(g_src, g_dst, "%s_post = obs_%s_pre : 1 (summed)" % (var, j.src_obs),
                                name="apical_proj_%d" % j.index)
                s.connect(j="i")
            else:
                s = b2.Synapses(g_src, g_dst, "w : 1\n%s_post = w * obs_%s_pre : 1 (summed)"
                                % (var, j.src_obs), name="apical_proj_%d" % j.index)
                s.connect()
                w = j.weights
                s.w[:] = w[np.asarray(s.j[:]), np.asarray(s.i[:])]
            self.synapses[j.name] = s
        cells = list(self.cells.values())

        @b2.network_operation(when="start", name="apical_observe")
        def observe(t):
            for cg in cells:
                cg.observe_state()

        # after the summed variables (groups, order 0), before the state
        # updaters (groups, order 10)
        @b2.network_operation(when="groups", order=9.5, name="apical_derivatives")
        def derivatives(t):
            for cg in cells:
                cg.derivatives()

        self.operations = [observe, derivatives]
        self.net = b2.Network(list(self.groups.values()), list(self.synapses.values()),
                              self.operations)

    def add(self, *objs):
        self.net.add(*objs)

    def run(self, duration, **kw):
        kw.setdefault("namespace", {})
        self.net.run(duration, **kw)
