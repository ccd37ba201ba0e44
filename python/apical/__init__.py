"""apical from Python: circuits of dendritic cortical microcircuits (Sacramento et
al. 2018) loaded from YAML files or dicts, run whole into run directories or
step by step, with their states, ports, observables and weights as NumPy
arrays (docs/python.md).

    import apical
    c = apical.Circuit.from_yaml("yaml/self_predicting.yaml", set={"seed": 3})
    run = c.run("runs/sps")              # the files `apical run` writes
    run.metrics["apical_sq"]             # a NumPy structured array's column

Every failure of the C library is raised as ApicalError (CircuitError for a
circuit that does not load, with file, line and column); nothing the package
does ends the interpreter.
"""
import ctypes as C
import os
import re
import sys

import numpy as np

from . import _lib as L

__all__ = ["ApicalError", "CircuitError", "RunError", "Circuit", "Population", "Projection",
           "Stimulus", "Run", "load_run", "resume", "modules", "check", "read_metrics",
           "read_traces", "LIBRARY"]

LIBRARY = L.LIBRARY


class ApicalError(Exception):
    """A failure reported by libapical; message is its one-line message."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status


class CircuitError(ApicalError):
    """A circuit that does not load: file, line and column of the error where the
    message names them (else None); override, the override ("KEY=VALUE") an
    error is in; key, for a circuit given as a dict, the dotted path of the
    key at the error's line ("populations.hidden.size")."""

    def __init__(self, message, status=2, key=None):
        super().__init__(message, status)
        m = re.match(r"^(.*?):(\d+):(\d+): (.*)$", message, re.S)
        self.file, self.line, self.column = (m.group(1), int(m.group(2)),
                                             int(m.group(3))) if m else (None, None, None)
        self.override = None
        if not m and message.startswith("--set ") and ": " in message:
            self.override = message.split(": ", 1)[0][len("--set "):]
        elif not m and ": " in message:
            self.file = message.split(": ", 1)[0]
        self.key = key


class RunError(ApicalError):
    """A run that failed (status 1) or did not start (status 2)."""


def _err():
    return C.create_string_buffer(L.ERRCAP)


def _msg(buf):
    return buf.value.decode("utf-8", "replace")


def _sets(set):
    """{"seed": 3, "a.b": [1, 2], "c": None} -> [b"seed=3", b"a.b=[1, 2]", b"c=null"]
    (None removes the key)"""
    if not set:
        return []
    items = set.items() if isinstance(set, dict) else (kv.split("=", 1) for kv in set)
    out = []
    for k, v in items:
        if v is None:
            v = "null"
        elif isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple, dict)):
            v = _flow(v)
        out.append(("%s=%s" % (k, v)).encode())
    return out


def _flow(v):
    """A value as YAML flow text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))
    if isinstance(v, str):
        return _scalar(v)
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (_scalar(str(k)), _flow(x)) for k, x in v.items()) + "}"
    return "[" + ", ".join(_flow(x) for x in v) + "]"


def _scalar(s):
    if re.match(r"^[A-Za-z0-9_./+-][A-Za-z0-9_. /+()-]*$", s) and s.strip() == s:
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _to_yaml(d):
    """A dict as block YAML, one key or list item per line, and for each line the
    dotted path of its key (for locating errors)."""
    lines, keys = [], []

    def emit(v, indent, path):
        pad = " " * indent
        if isinstance(v, dict):
            for k, x in v.items():
                p = "%s.%s" % (path, k) if path else str(k)
                if isinstance(x, (dict, list, tuple)) and len(x) and _nested(x):
                    lines.append("%s%s:" % (pad, _scalar(str(k))))
                    keys.append(p)
                    emit(x, indent + 2, p)
                else:
                    lines.append("%s%s: %s" % (pad, _scalar(str(k)), _flow(x)))
                    keys.append(p)
        else:
            for n, x in enumerate(v):
                p = "%s.%d" % (path, n)
                if isinstance(x, dict) and x:
                    first = True
                    for k, y in x.items():
                        q = "%s.%s" % (p, k)
                        lead = pad + ("- " if first else "  ")
                        first = False
                        if isinstance(y, (dict, list, tuple)) and len(y) and _nested(y):
                            lines.append("%s%s:" % (lead, _scalar(str(k))))
                            keys.append(q)
                            emit(y, indent + 4, q)
                        else:
                            lines.append("%s%s: %s" % (lead, _scalar(str(k)), _flow(y)))
                            keys.append(q)
                else:
                    lines.append("%s- %s" % (pad, _flow(x)))
                    keys.append(p)

    emit(d, 0, "")
    return "\n".join(lines) + "\n", keys


def _nested(x):
    vals = x.values() if isinstance(x, dict) else x
    return isinstance(x, dict) or any(isinstance(v, (dict, list, tuple)) for v in vals)


class _View:
    """Memory of a circuit as an array interface that keeps the circuit alive."""

    def __init__(self, owner, ptr, shape, writable=True):
        self.owner = owner
        addr = C.cast(ptr, C.c_void_p).value
        self.__array_interface__ = {"data": (addr, not writable), "shape": tuple(shape),
                                    "typestr": "<f8", "version": 3}


def _array(owner, ptr, shape, writable=True):
    if not ptr or int(np.prod(shape)) == 0:
        return np.zeros(shape)
    return np.asarray(_View(owner, ptr, shape, writable))


class Population:
    """A population of one cell module: its state variables, ports and
    observables, one value per cell, as arrays over the circuit's memory."""

    def __init__(self, circuit, index):
        self._c = circuit
        self.index = index
        self._p = L.apical_circuit_pop_at(circuit._circ, index)
        m = L.apical_pop_model(self._p).contents
        self.name = L.s(L.apical_pop_name(self._p))
        self.size = L.apical_pop_size(self._p)
        self.model = L.s(m.name)
        self.state_names = [L.s(m.state[k].name) for k in range(m.n_state)]
        self.port_names = [L.s(m.ports[k].name) for k in range(m.n_ports)]
        self.obs_names = [L.s(m.obs[k].name) for k in range(m.n_obs)]
        names = [L.s(m.params[k].name) for k in range(m.n_params)]
        vals = L.apical_pop_params(self._p)
        self.params = {n: vals[k] for k, n in enumerate(names)}

    def __repr__(self):
        return "<Population %s: %d %s cells>" % (self.name, self.size, self.model)

    def _find(self, names, name, what):
        if name not in names:
            raise KeyError("%s has no %s %r (it has: %s)" % (self.model, what, name,
                                                             ", ".join(names)))
        return names.index(name)

    def state(self, name):
        """State variable `name` of every cell: a writable view of the state."""
        k = self._find(self.state_names, name, "state variable")
        return _array(self._c, L.apical_pop_state(self._c._circ, self._p, k), (self.size,))

    def obs(self, name):
        """Observable `name` of every cell, at the circuit's current state (the
        circuit is evaluated first; the view then follows later evaluations)."""
        k = self._find(self.obs_names, name, "observable")
        self._c.evaluate()
        return _array(self._c, L.apical_pop_observable(self._p, k), (self.size,), False)

    def port(self, name):
        """What projections and stimuli put on port `name`, at the current state."""
        k = self._find(self.port_names, name, "port")
        self._c.evaluate()
        return _array(self._c, L.apical_pop_port(self._p, k), (self.size,), False)


class Projection:
    """A projection: its weights (n_dst x n_src, writable) and what it connects."""

    def __init__(self, circuit, index):
        self._c = circuit
        self.index = index
        self._j = L.apical_circuit_proj_at(circuit._circ, index)
        self.name = L.s(L.apical_proj_name(self._j))
        pops = circuit.populations
        self.src = list(pops)[L.apical_proj_src(self._j)]
        self.dst = list(pops)[L.apical_proj_dst(self._j)]
        self.port = L.s(L.apical_proj_port(circuit._circ, self._j))
        self.src_obs = pops[self.src].obs_names[L.apical_proj_src_obs(self._j)]
        self.one_to_one = bool(L.apical_proj_one_to_one(self._j))
        r = L.apical_proj_rule(self._j)
        self.rule = L.s(r.contents.name) if r else None
        self.rule_params = {}
        if r:
            vals = L.apical_proj_rule_params(self._j)
            self.rule_params = {L.s(r.contents.params[k].name): vals[k]
                                for k in range(r.contents.n_params)}

    def __repr__(self):
        return "<Projection %s: %s.%s -> %s.%s%s>" % (
            self.name, self.src, self.src_obs, self.dst, self.port,
            " (%s)" % self.rule if self.rule else "")

    @property
    def weights(self):
        """n_dst x n_src weights, a writable view (None for one_to_one).  What
        is written is what the next step, settle or run uses."""
        if self.one_to_one:
            return None
        pops = self._c.populations
        shape = (pops[self.dst].size, pops[self.src].size)
        return _array(self._c, L.apical_proj_weights(self._j), shape)

    @weights.setter
    def weights(self, w):
        self.weights[...] = w


class Stimulus:
    """A stimulus: its current pattern and target (writable views)."""

    def __init__(self, circuit, index):
        self._c = circuit
        self.index = index
        self._s = L.apical_circuit_stim_at(circuit._circ, index)
        self.name = L.s(L.apical_stim_name(self._s))
        self.size = L.apical_stim_size(self._s)
        self.taught = L.s(L.apical_stim_target_pop(circuit._circ, self._s))

    def __repr__(self):
        return "<Stimulus %s: %d values%s>" % (self.name, self.size,
                                               ", teaches " + self.taught if self.taught else "")

    @property
    def pattern(self):
        return _array(self._c, L.apical_stim_pattern(self._s), (self.size,))

    @property
    def target(self):
        """The target potentials of the taught population, or None."""
        n = C.c_size_t()
        p = L.apical_stim_target(self._c._circ, self._s, C.byref(n))
        return _array(self._c, p, (n.value,)) if p else None

    def next(self):
        """Move to the next pattern (and target), as a training phase does."""
        L.apical_stim_advance(self._c._circ, self._s)
        return self.pattern


class Circuit:
    """A circuit and its run, loaded from a YAML file or a dict of the same
    schema (docs/yaml.md)."""

    def __init__(self, source, set=None, base=None):
        """source: a file name, or a dict (relative file names in it are looked
        up in base, by default the working directory); set: overrides, as
        `apical run --set` takes them ({"seed": 3, "simulation.phases.0.patterns":
        100})."""
        self._cfg = self._reg = self._integ = None
        self._sets = _sets(set)
        keys = None
        if isinstance(source, dict):
            text, keys = _to_yaml(source)
            self.source = os.path.join(os.path.abspath(base or "."), "<dict>")
            name, data = self.source.encode(), text.encode()
        else:
            self.source = os.fspath(source)
            name, data = os.fsencode(self.source), None
        mp = L.default_module_path()
        self._reg = L.apical_registry_new(mp.encode() if mp else None)
        if not self._reg:
            raise ApicalError("out of memory")
        arr = (C.c_char_p * (len(self._sets) + 1))(*self._sets)
        err = _err()
        self._cfg = L.apical_config_new(self._reg, name, data, arr, len(self._sets), err, L.ERRCAP)
        if not self._cfg:
            msg = _msg(err)
            e = CircuitError(msg)
            if keys and e.line and e.file == self.source and 0 < e.line <= len(keys):
                e.key = keys[e.line - 1]
            self._free()
            raise e
        self._circ = L.apical_config_circuit(self._cfg)
        self.dt = L.apical_config_dt(self._cfg)
        self.mode = ("dynamics", "steady", "backprop")[L.apical_config_mode(self._cfg)]
        self.t = 0.0
        self.populations = {}
        for k in range(L.apical_circuit_n_pops(self._circ)):
            p = Population(self, k)
            self.populations[p.name] = p
        self.projections = {}
        for k in range(L.apical_circuit_n_projs(self._circ)):
            j = Projection(self, k)
            self.projections[j.name] = j
        self.stimuli = {}
        for k in range(L.apical_circuit_n_stims(self._circ)):
            st = Stimulus(self, k)
            self.stimuli[st.name] = st
        self._active = None

    @classmethod
    def from_yaml(cls, path, set=None):
        return cls(os.fspath(path), set=set)

    @classmethod
    def from_dict(cls, d, set=None, base=None):
        return cls(dict(d), set=set, base=base)

    def _free(self):
        if self._integ:
            L.apical_integrator_free(self._integ)
        if self._cfg:
            L.apical_config_delete(self._cfg)
        if self._reg:
            L.apical_registry_free(self._reg)
        self._integ = self._cfg = self._reg = None

    def __del__(self):
        try:
            self._free()
        except Exception:
            pass

    def __repr__(self):
        return "<Circuit %s: %s>" % (self.source, ", ".join(
            "%s(%d)" % (p.name, p.size) for p in self.populations.values()))

    # ---- reading --------------------------------------------------------------
    @property
    def yaml(self):
        """The document as run: the file with the overrides applied."""
        return L.s(L.apical_config_yaml(self._cfg))

    @property
    def state(self):
        """The whole state vector, a writable view."""
        n = C.c_size_t()
        p = L.apical_circuit_state(self._circ, C.byref(n))
        return _array(self, p, (n.value,))

    @property
    def seed(self):
        return L.apical_circuit_seed(self._circ)

    def summary(self):
        """What `apical check` reports."""
        return {"populations": len(self.populations), "projections": len(self.projections),
                "weights": sum(L.apical_proj_n_weights(self._circ, j._j)
                               for j in self.projections.values()),
                "stimuli": len(self.stimuli), "mode": self.mode,
                "patterns": L.apical_config_patterns(self._cfg)}

    def weights(self):
        """Every dense projection's weights, by name (views)."""
        return {n: j.weights for n, j in self.projections.items() if not j.one_to_one}

    # ---- stepping -------------------------------------------------------------
    def evaluate(self):
        """Compute every port and observable at the current state."""
        err = _err()
        if L.apical_circuit_eval(self._circ, err, L.ERRCAP):
            raise ApicalError(_msg(err), 1)

    def _stim(self, stim):
        if stim is None:
            if self._active is not None:
                return self._active
            if not self.stimuli:
                raise ApicalError("the circuit has no stimulus")
            return next(iter(self.stimuli.values()))
        if isinstance(stim, Stimulus):
            return stim
        if stim not in self.stimuli:
            raise KeyError("no stimulus %r (there are: %s)" % (stim, ", ".join(self.stimuli)))
        return self.stimuli[stim]

    def advance(self, ms, plastic=True, noise=True):
        """Integrate ms milliseconds with the file's integrator and time step,
        the active stimulus as it is; plastic: the rules learn; noise: the
        populations' noise as the file sets it."""
        steps = int(round(ms / self.dt))
        if self._integ is None:
            err = _err()
            self._integ = L.apical_config_integrator(self._cfg, err, L.ERRCAP)
            if not self._integ:
                raise ApicalError(_msg(err), 2)
        L.apical_circuit_weights_changed(self._circ)  # weights written from Python
        flags = L.apical_config_step_flags(self._cfg, int(bool(plastic)), int(bool(noise)))
        err = _err()
        rc = L.apical_integrator_steps(self._integ, self._circ, self.dt, steps, flags, err,
                                       L.ERRCAP)
        self.t += steps * self.dt
        if rc:
            raise ApicalError("at t = %g ms: %s" % (self.t, _msg(err)), 1)
        return self

    def activate(self, stim=None, target=True):
        """Let stimulus stim alone drive the circuit (None: the active one, or the
        first), its targets on or off."""
        st = self._stim(stim)
        L.apical_circuit_activate(self._circ, st.index, int(bool(target)))
        self._active = st
        return st

    def present(self, pattern=None, ms=None, stim=None, target=True, plastic=True, noise=True):
        """Present a pattern for ms milliseconds: pattern None takes the
        stimulus's next one (as a training phase does), an array is written
        into it; target: teach the taught population (True, its target; an
        array: this target; False: no nudging)."""
        st = self.activate(stim, target is not False and target is not None)
        if pattern is None:
            st.next()
        else:
            st.pattern[...] = np.asarray(pattern, dtype=float)
        if target is not True and target is not False and target is not None:
            if st.target is None:
                raise ApicalError("stimulus %s teaches no population" % st.name)
            st.target[...] = np.asarray(target, dtype=float)
        if ms is None:
            raise TypeError("present() needs ms, how long to present the pattern")
        return self.advance(ms, plastic, noise)

    def settle(self, ms=None, stim=None):
        """Settle without noise, plasticity or nudging, for ms (default: the
        settling time of the file's evaluations)."""
        if ms is None:
            ms = L.apical_config_settle_ms(self._cfg)
        self.activate(stim, False)
        return self.advance(ms, plastic=False, noise=False)

    # ---- whole runs -------------------------------------------------------------
    def run(self, out=None, force=False, progress=None, on_row=None):
        """Run the file's phases (or epochs) into the run directory out (default
        runs/<name>-<date>-<time>), writing the files `apical run` writes.
        progress: a function (done, total), or True for a line on stderr; it
        may return True to stop the run with a checkpoint (resume with
        apical.resume(out)).  on_row: a function (dict of a metrics row).
        Returns the Run; a run stopped from Python has run.stopped set, a
        failed one raises RunError."""
        if out is None:
            buf = C.create_string_buffer(4096)
            L.apical_rundir_default(os.fsencode(self.source), buf, 4096)
            out = buf.value.decode()
        start = L.RUNDIR_FORCE if force else L.RUNDIR_NEW
        return _run_into(self, out, start, progress, on_row)


def _progress_line(done, total):
    sys.stderr.write("\r%d/%d" % (done, total) + ("\n" if done == total else ""))
    sys.stderr.flush()


def _run_into(circuit, out, start, progress, on_row):
    stop = C.c_int(0)
    caught = []
    rows = []
    cols = []
    if progress is True:
        progress = _progress_line

    def guard(f):
        def g(*a):
            try:
                if f(*a) is True:
                    stop.value = 1
            except BaseException as e:  # never lets an exception cross C
                caught.append(e)
                stop.value = 1
        return g

    def start_cb(user, c, n):
        cols[:] = [(c[k].name.decode(), c[k].metric) for k in range(n)]

    def row_cb(user, c, n, vals, phase, stimulus):
        row = {}
        for k in range(n):
            name = c[k].name.decode()
            if name:
                row[name] = (L.s(phase) if name == "phase" else
                             L.s(stimulus) if name == "stimulus" else vals[k])
        rows.append(row)
        if on_row:
            return on_row(row)

    def warn_cb(user, msg):
        sys.stderr.write("apical: %s\n" % L.s(msg))

    cbs = (L.ON_START(guard(start_cb)), L.ON_ROW(guard(row_cb)),
           L.ON_PROGRESS(guard(lambda user, done, total: progress and progress(done, total))), L.ON_WARNING(warn_cb))
    sets = (C.c_char_p * (len(circuit._sets) + 1))(*circuit._sets)
    src = circuit.source.encode() if not circuit.source.endswith("<dict>") else b"<dict>"
    opts = L.RundirOpts(start, src, sets, len(circuit._sets), cbs[0], cbs[1], cbs[2], cbs[3],
                        C.pointer(stop), None)
    rd = C.c_void_p()
    err = _err()
    L.apical_circuit_weights_changed(circuit._circ)
    rc = L.apical_rundir_open(C.byref(rd), os.fsencode(out), circuit._cfg, C.byref(opts), err,
                              L.ERRCAP)
    if rc == 0:
        rc = L.apical_rundir_run(rd, err, L.ERRCAP)
    msg = _msg(err)
    crc = L.apical_rundir_close(rd, err, L.ERRCAP)
    if crc and rc == 0:
        rc, msg = crc, _msg(err)
    if caught and not isinstance(caught[0], Exception):
        raise caught[0]  # KeyboardInterrupt, SystemExit: after the checkpoint
    if caught:
        raise caught[0]
    if rc not in (L.EXIT_OK, L.EXIT_STOPPED):
        raise RunError(msg, rc)
    run = load_run(out)
    run.stopped = rc == L.EXIT_STOPPED
    run.message = msg if run.stopped else ""
    return run


def resume(out, set=None, progress=None, on_row=None):
    """Continue the stopped run in directory out from its checkpoint, as
    `apical run --resume out` does; set: overrides, as `--resume --set`
    takes them (what comes after the checkpoint, and parameters of cells and
    rules).  Returns the Run."""
    c = Circuit(os.path.join(os.fspath(out), "config.yaml"), set=set)
    return _run_into(c, os.fspath(out), L.RUNDIR_RESUME, progress, on_row)


def check(source, set=None, base=None):
    """Load a circuit (file name or dict) without running it; its summary, or
    CircuitError."""
    return Circuit(source, set=set, base=base).summary()


# ---- run directories ----------------------------------------------------------
_INTEGER = {"pattern", "epoch", "patterns"}


def read_metrics(path):
    """metrics.csv as a NumPy structured array: phase and stimulus as text,
    the counts as integers, the rest as floats (nan where not measured)."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
    text = {"phase": "U8", "stimulus": "U64"}
    dtype = [(n, text.get(n, "i8" if n in _INTEGER else "f8")) for n in header]
    out = np.zeros(len(rows), dtype=dtype)
    for k, name in enumerate(header):
        col = [r[k] if k < len(r) else "" for r in rows]
        out[name] = col if name in text else np.array(col, dtype=float)
    return out


def read_traces(path):
    """traces.csv: (t in ms, {"pop.var": array of steps x cells})."""
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    out = {}
    for k, name in enumerate(header[1:], start=1):
        var = name.rsplit("[", 1)[0]
        out.setdefault(var, []).append(k)
    return data[:, 0], {v: data[:, ks] for v, ks in out.items()}


class Run:
    """A run directory: its configuration, metrics, traces, weight snapshots
    and checkpoint."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.stopped = False
        self.message = ""
        if not os.path.exists(os.path.join(self.path, "config.yaml")):
            raise ApicalError("%s holds no run (no config.yaml)" % self.path, 2)

    def __repr__(self):
        return "<Run %s%s>" % (self.path, " (stopped)" if self.stopped else "")

    def _file(self, name):
        return os.path.join(self.path, name)

    @property
    def config(self):
        with open(self._file("config.yaml")) as f:
            return f.read()

    @property
    def metrics(self):
        """metrics.csv as a structured array (read_metrics)."""
        return read_metrics(self._file("metrics.csv"))

    def dataframe(self):
        """metrics.csv as a pandas DataFrame (where pandas is installed)."""
        import pandas
        return pandas.DataFrame(self.metrics)

    @property
    def traces(self):
        """(t, {"pop.var": steps x cells}) from traces.csv, or None."""
        p = self._file("traces.csv")
        return read_traces(p) if os.path.exists(p) else None

    def weights(self, pattern=None):
        """The snapshot at pattern (default: the last) under weights/, as
        {file stem: matrix}; {} without snapshots."""
        d = self._file("weights")
        if not os.path.isdir(d):
            return {}
        snaps = sorted((int(x[1:]) for x in os.listdir(d) if x.startswith("p")))
        p = snaps[-1] if pattern is None else pattern
        sd = os.path.join(d, "p%d" % p)
        return {f[:-4]: np.loadtxt(os.path.join(sd, f), delimiter=",", ndmin=2)
                for f in sorted(os.listdir(sd)) if f.endswith(".csv")}

    def circuit(self):
        """The run's circuit with its checkpoint loaded (states, weights, random
        streams); the position in .position, the digest `apical inspect`
        prints in .digest."""
        c = Circuit(self._file("config.yaml"))
        pos = L.RunPos()
        extra = (C.c_uint64 * 4)()
        err = _err()
        if L.apical_checkpoint_load(os.fsencode(self._file("checkpoint.bin")), c._circ,
                                    C.byref(pos), extra, err, L.ERRCAP):
            raise ApicalError(_msg(err), 2)
        c.position = {"phase": pos.phase, "pattern": pos.pattern, "step": pos.step,
                      "t_ms": pos.step * c.dt}
        c.t = pos.step * c.dt
        c.digest = "%016x" % L.apical_checkpoint_digest(c._circ, C.byref(pos))
        return c

    @property
    def digest(self):
        """The checkpoint's digest, as `apical inspect` prints it."""
        return self.circuit().digest


def load_run(path):
    """A run directory (written by apical run, a sweep, or Circuit.run)."""
    return Run(path)


# ---- modules ------------------------------------------------------------------
def _params(tab, n):
    out = []
    for k in range(n):
        p = tab[k]
        choices = None
        if p.choices:
            choices, j = [], 0
            while p.choices[j]:
                choices.append(L.s(p.choices[j]))
                j += 1
        out.append({"name": L.s(p.name), "unit": L.s(p.unit), "doc": L.s(p.doc),
                    "default": p.default, "min": p.min, "max": p.max, "choices": choices})
    return out


def _vars(tab, n, extra):
    return [dict({"name": L.s(tab[k].name), "unit": L.s(tab[k].unit), "doc": L.s(tab[k].doc)},
                 **extra(tab[k])) for k in range(n)]


def cell_table(m):
    """A cell model's tables (an apical_cell_model) as a dict."""
    return {"kind": "cell", "name": L.s(m.name), "version": L.s(m.version), "doc": L.s(m.doc),
            "params": _params(m.params, m.n_params),
            "state": _vars(m.state, m.n_state, lambda v: {"noisy": bool(v.flags & 1)}),
            "ports": _vars(m.ports, m.n_ports, lambda v: {}),
            "obs": _vars(m.obs, m.n_obs, lambda v: {"needs_ports": v.stage == L.OBS_PORTS})}


def modules(path=None):
    """Every cell model and rule on the module path (path, or
    $APICAL_MODULE_PATH then the install directory), as `apical modules`
    lists them: a list of dicts with their tables."""
    if path is None:
        path = L.default_module_path()
    reg = L.apical_registry_new(os.fsencode(path) if path else None)
    if not reg:
        raise ApicalError("out of memory")
    try:
        skipped = []
        cb = L.ON_SKIP(lambda u, f, why: skipped.append((L.s(f), L.s(why))))
        L.apical_registry_scan(reg, cb, None)
        L.apical_registry_sort(reg)
        out = []
        fname = C.c_char_p()
        for k in range(L.apical_registry_n_cells(reg)):
            m = L.apical_registry_cell_at(reg, k, C.byref(fname)).contents
            out.append(dict(cell_table(m), file=L.s(fname.value)))
        for k in range(L.apical_registry_n_rules(reg)):
            r = L.apical_registry_rule_at(reg, k, C.byref(fname)).contents
            out.append({"kind": "rule", "name": L.s(r.name), "version": L.s(r.version),
                        "doc": L.s(r.doc), "params": _params(r.params, r.n_params),
                        "post_obs": L.s(r.post_obs), "file": L.s(fname.value)})
        return out
    finally:
        L.apical_registry_free(reg)
