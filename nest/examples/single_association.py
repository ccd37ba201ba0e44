#!/usr/bin/python3
"""The single-association circuit of yaml/single_association.yaml (Sacramento
et al. 2018, Fig. 1) in NEST, with apical's modules through apicalmodule.

    single_association.py RUN OUT

RUN is an apical run directory of that circuit: its config.yaml (the circuit
as run, overrides applied) and its initial weights, weights/p0/ (written with
record.weights).  The script builds the same populations (apical_rate_input,
apical_pyramidal, apical_sst), projections (apical_dendritic_error_synapse,
apical_apical_silence_synapse, apical_synapse; receptor types = ports),
stimulus and teacher, runs the phases, and writes into OUT:

    traces.csv   t_ms, then POP.u[i] of every population, every record.traces.every steps
    weights/<k>_<pre>_<post>.<port>.csv   the final weights, as apical names them

NEST delivers rates with a delay of at least one step; the comparison with
apical is exact when every projection of RUN has delay: 1 (docs/nest.md).
The noise must be off (sigma 0): NEST draws other numbers.
"""
import os
import sys

import numpy as np
import yaml

import nest


def read_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append([float(v) for v in line.split(",")])
    return np.array(rows)


def split_ref(ref):
    pop, _, name = ref.partition(".")
    return pop, name


def main(run, out):
    with open(os.path.join(run, "config.yaml")) as f:
        cfg = yaml.safe_load(f)
    sim = cfg["simulation"]
    integ = sim.get("integrator", {})
    dt = float(integ.get("dt", 0.1))
    if integ.get("method", "euler") != "euler":
        sys.exit("single_association.py: the circuit must use integrator euler")
    if float(sim.get("noise", {}).get("sigma", 0)) != 0:
        sys.exit("single_association.py: the noise must be off (simulation.noise.sigma: 0)")

    nest.ResetKernel()
    nest.set_verbosity("M_WARNING")
    nest.set(resolution=dt, local_num_threads=1, use_wfr=False)
    nest.Install(os.environ.get("APICAL_NEST_MODULE", "apicalmodule"))

    # populations
    pops, cells = {}, {}
    defaults = cfg.get("defaults", {}) or {}
    for name, p in cfg["populations"].items():
        if float(p.get("noise", 0) or 0) != 0:
            sys.exit(f"single_association.py: population {name} has noise")
        params = dict(defaults.get(p["cell"], {}) or {})
        params.update(p.get("params", {}) or {})
        model = "apical_" + p["cell"]
        pops[name] = nest.Create(model, int(p["size"]), params=params)
        cells[name] = model

    def receptor(pop, port):
        return nest.GetDefaults(cells[pop])["receptor_types"][port]

    def sends(pop):
        return nest.GetDefaults(cells[pop])["sends"]

    # projections, with apical's initial weights
    wdir = os.path.join(run, "weights", "p0")
    wfiles = sorted(os.listdir(wdir))
    projections = []
    for k, pj in enumerate(cfg["projections"]):
        src, obs = split_ref(pj["from"])
        dst, port = split_ref(pj["to"])
        if int(pj.get("delay", 0)) != 1:
            print(f"single_association.py: projection {k} ({pj['from']} -> {pj['to']}) has no "
                  "delay: 1; NEST delays it by one step all the same", file=sys.stderr)
        observable = "" if obs in ("", sends(src)) else obs
        syn = f"apical_projection_{k}"
        rule = pj.get("rule")
        if rule:
            (rname, rparams), = rule.items()
            nest.CopyModel(f"apical_{rname}_synapse", syn,
                           dict(rparams or {}, observable=observable))
        else:
            nest.CopyModel("apical_synapse", syn, {"observable": observable})
        spec = {"synapse_model": syn, "delay": dt, "receptor_type": receptor(dst, port)}
        if pj.get("connect", "all_to_all") == "one_to_one":
            nest.Connect(pops[src], pops[dst], "one_to_one", dict(spec, weight=1.0))
            projections.append(None)
            continue
        prefix = f"{k}_{src}_{dst}.{port}.csv"
        match = [f for f in wfiles if f == prefix]
        if not match:
            sys.exit(f"single_association.py: no initial weights {wdir}/{prefix}")
        w = read_rows(os.path.join(wdir, match[0]))
        nest.Connect(pops[src], pops[dst], "all_to_all", dict(spec, weight=w))
        projections.append((prefix, src, dst, syn))

    # the stimuli: rows of a table, cycling; the teacher on the taught population
    stims = {}
    for name, s in cfg.get("stimuli", {}).items():
        if s["kind"] != "csv":
            sys.exit(f"single_association.py: stimulus {name}: only kind csv is supported")
        dpop, dport = split_ref(s["drives"])
        stim = {"x": read_rows(s["file"]), "pop": dpop, "port": dport or "drive", "row": 0}
        if s.get("target"):
            stim["targets"] = read_rows(s["targets"])
            stim["target"] = s["target"]
        stims[name] = stim

    every = int((cfg.get("record", {}) or {}).get("traces", {}).get("every", 1))
    mm = nest.Create("multimeter", params={"record_from": ["u"], "interval": every * dt})
    traced = [n for n, m in cells.items() if "u" in nest.GetDefaults(m)["recordables"]]
    for n in traced:
        nest.Connect(mm, pops[n])

    for ph in sim["phases"]:
        if "train" not in ph:
            sys.exit("single_association.py: only train phases are supported")
        if ph.get("plastic", True) is False:
            sys.exit("single_association.py: plastic: false is not supported")
        s = stims[ph["train"]]
        for _ in range(int(ph["patterns"])):
            row = s["row"]
            s["row"] = (row + 1) % len(s["x"])
            pops[s["pop"]].set({"ext_" + s["port"]: list(s["x"][row])})
            if "target" in s:
                taught = pops[s["target"]]
                taught.set({"ext_target": list(s["targets"][row]),
                            "ext_target_gate": 1.0 if ph.get("target", True) else 0.0})
            nest.Simulate(float(ph.get("present", 100)))
    t_end = nest.biological_time
    # one more step delivers the last step's values: the connections take
    # their rule's step for it, so the weights are those after the last step
    nest.Simulate(dt)

    os.makedirs(os.path.join(out, "weights"), exist_ok=True)
    ev = mm.get("events")
    times = np.round(np.asarray(ev["times"]) / dt).astype(np.int64)
    senders = np.asarray(ev["senders"])
    u = np.asarray(ev["u"])
    keep = times <= int(round(t_end / dt))
    steps = np.unique(times[keep])
    row = {int(t): i for i, t in enumerate(steps)}
    cols, header = [], ["t_ms"]
    index = {}
    for n in traced:
        for i, g in enumerate(pops[n].tolist()):
            index[g] = len(cols)
            cols.append(np.full(len(steps), np.nan))
            header.append(f"{n}.u[{i}]")
    for t, g, v in zip(times[keep], senders[keep], u[keep]):
        if g in index:
            cols[index[g]][row[int(t)]] = v
    table = np.column_stack([steps * dt] + cols)
    np.savetxt(os.path.join(out, "traces.csv"), table, delimiter=",", header=",".join(header),
               comments="", fmt="%.17g")

    for pj in projections:
        if pj is None:
            continue
        fname, src, dst, syn = pj
        conns = nest.GetConnections(pops[src], pops[dst], synapse_model=syn)
        got = conns.get(["source", "target", "weight"])
        pre0, post0 = pops[src].tolist()[0], pops[dst].tolist()[0]
        w = np.zeros((len(pops[dst]), len(pops[src])))
        for a, b, v in zip(got["source"], got["target"], got["weight"]):
            w[b - post0, a - pre0] = v
        np.savetxt(os.path.join(out, "weights", fname), w, delimiter=",", fmt="%.17g")
    print(f"single_association.py: {t_end:g} ms simulated; traces and weights in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
