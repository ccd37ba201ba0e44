"""The apical Python package against the apical command and against NumPy
(run by tests/python.sh: APICAL_SRCDIR, APICAL_BUILDDIR and the package on
PYTHONPATH)."""
import os
import re
import subprocess

import numpy as np

import apical

SRC = os.environ.get("APICAL_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("APICAL_BUILDDIR", SRC)
APICAL = os.path.join(BUILD, "runner", "apical")
SPS = os.path.join(SRC, "yaml", "self_predicting.yaml")
SHORT = {"simulation.phases.0.patterns": 300}


def cli(*args):
    return subprocess.run([APICAL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


def cli_sets(sets):
    out = []
    for k, v in sets.items():
        out += ["--set", "%s=%s" % (k, v)]
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def digest(d):
    r = cli("inspect", d)
    assert r.returncode == 0, r.stderr
    return re.search(r"digest ([0-9a-f]+)", r.stdout).group(1)


def test_run_writes_what_apical_run_writes(tmp_path):
    a, b = str(tmp_path / "cli"), str(tmp_path / "py")
    r = cli("run", SPS, "--out", a, *cli_sets(SHORT))
    assert r.returncode == 0, r.stderr
    run = apical.Circuit.from_yaml(SPS, set=SHORT).run(b)
    assert not run.stopped
    for name in ("metrics.csv", "config.yaml"):
        assert read(os.path.join(a, name)) == read(os.path.join(b, name)), name
    assert digest(a) == digest(b) == run.digest
    m = run.metrics
    assert m.dtype.names == ("phase", "pattern", "t_ms", "apical_sq", "mismatch_sq",
                             "test_error", "angle_deg", "bp_cosine", "stimulus")
    assert list(m["pattern"]) == [0, 100, 200, 300]
    assert set(m["stimulus"]) == {"patterns"}
    assert m["apical_sq"][-1] < 0.1 * m["apical_sq"][0]


def test_weights_written_from_python_are_the_ones_used(tmp_path):
    c = apical.Circuit.from_yaml(SPS)
    rng = np.random.default_rng(5)
    W = rng.uniform(-2, 2, (20, 30))
    c.projections["input-hidden"].weights = W
    c.present(rng.uniform(-1, 1, 30), 20, plastic=False, noise=False)
    rate = c.populations["input"].obs("rate")
    basal = c.populations["hidden"].port("basal")
    assert np.allclose(basal, W @ rate, rtol=1e-12, atol=1e-12)
    # the view follows the circuit: a step later the port is the new product
    c.advance(1, plastic=False, noise=False)
    c.evaluate()
    assert np.allclose(basal, W @ c.populations["input"].obs("rate"), rtol=1e-12, atol=1e-12)


def test_weights_written_from_python_change_the_run_as_a_file_would(tmp_path):
    # Python: the file's weights, input-hidden doubled.  The command: every
    # dense projection's weights read from files holding the same values.
    c = apical.Circuit.from_yaml(SPS, set=SHORT)
    c.projections["input-hidden"].weights *= 2
    with open(SPS) as f:
        text = f.read()
    for k, (name, j) in enumerate(c.projections.items()):
        if j.one_to_one:
            continue
        np.savetxt(str(tmp_path / ("w%d.csv" % k)), j.weights, delimiter=",", fmt="%.17g")
        text = text.replace("init: {uniform: [-1, 1]}", "init: {file: w%d.csv}" % k, 1)
    yaml = tmp_path / "from_files.yaml"
    yaml.write_text(text)
    r = cli("run", str(yaml), "--out", str(tmp_path / "cli"), *cli_sets(SHORT))
    assert r.returncode == 0, r.stderr
    run = c.run(str(tmp_path / "py"))
    ref = apical.load_run(str(tmp_path / "cli")).metrics
    assert np.array_equal(run.metrics["apical_sq"], ref["apical_sq"])
    assert np.array_equal(run.metrics["mismatch_sq"], ref["mismatch_sq"])
    plain = apical.Circuit.from_yaml(SPS, set=SHORT).run(str(tmp_path / "plain")).metrics
    assert not np.array_equal(plain["apical_sq"], ref["apical_sq"])


def test_a_bad_circuit_raises_with_its_location():
    bad = os.path.join(SRC, "tests", "bad", "misspelt_cell.yaml")
    try:
        apical.Circuit.from_yaml(bad)
    except apical.CircuitError as e:
        assert e.file == bad and (e.line, e.column) == (9, 13), (e.file, e.line, e.column)
        assert "did you mean 'pyramidal'" in str(e)
    else:
        raise AssertionError("no CircuitError")
    d = {"apical": 1, "populations": {"x": {"cell": "rate_input", "size": 3},
                                      "y": {"cell": "pyramidal", "size": "many"}},
         "simulation": {"phases": []}}
    try:
        apical.Circuit.from_dict(d)
    except apical.CircuitError as e:
        assert e.line is not None and e.key == "populations.y.size", (str(e), e.key)
    else:
        raise AssertionError("no CircuitError")
    try:
        apical.Circuit.from_yaml(SPS, set={"simulation.phases.0.patternz": 3})
    except apical.CircuitError as e:
        assert e.override == "simulation.phases.0.patternz=3" and "'patterns'" in str(e)
    else:
        raise AssertionError("no CircuitError")


def test_a_dict_builds_the_circuit_its_file_does(tmp_path):
    d = {"apical": 1, "seed": 7,
         "populations": {"input": {"cell": "rate_input", "size": 4},
                         "hidden": {"cell": "pyramidal", "size": 3}},
         "projections": [{"from": "input", "to": "hidden.basal",
                          "init": {"uniform": [-1, 1]}}],
         "stimuli": {"x": {"kind": "uniform", "range": [-1, 1], "drives": "input"}},
         "simulation": {"integrator": {"method": "euler", "dt": 0.1},
                        "phases": [{"train": "x", "patterns": 5, "present": 10}]},
         "record": {"metrics": {"every": 5, "patterns": 2, "settle": 5}}}
    c = apical.Circuit.from_dict(d)
    assert c.summary()["weights"] == 12
    run = c.run(str(tmp_path / "d"))
    assert list(run.metrics["pattern"]) == [0, 5]
    assert apical.check(d)["populations"] == 2


def test_a_run_stopped_from_python_resumes_bit_identically(tmp_path):
    whole = apical.Circuit.from_yaml(SPS, set=SHORT).run(str(tmp_path / "whole"))
    part = str(tmp_path / "part")
    seen = []

    def progress(done, total):
        seen.append(done)
        return done == 150          # stop here, with a checkpoint

    run = apical.Circuit.from_yaml(SPS, set=SHORT).run(part, progress=progress)
    assert run.stopped and seen[-1] == 150 and "stopped at pattern 150" in run.message
    assert list(run.metrics["pattern"]) == [0, 100]
    run = apical.resume(part)
    assert not run.stopped
    assert read(os.path.join(part, "metrics.csv")) == read(
        os.path.join(str(tmp_path / "whole"), "metrics.csv"))
    assert run.digest == whole.digest == digest(part)


def test_a_stopped_run_resumes_under_a_changed_rule_parameter(tmp_path):
    part = str(tmp_path / "part")
    whole = apical.Circuit.from_yaml(SPS, set=SHORT).run(str(tmp_path / "whole"))
    run = apical.Circuit.from_yaml(SPS, set=SHORT).run(part, progress=lambda d, t: d == 150)
    assert run.stopped
    try:
        apical.resume(part, set={"seed": 8})
        assert False, "a changed seed resumed"
    except apical.ApicalError as e:
        assert "only parameters may change" in str(e)
    run = apical.resume(part, set={"projections.hidden-inter.rule.dendritic_error.tau_w": 10})
    assert not run.stopped and "tau_w: 10" in run.config
    assert run.digest != whole.digest
    assert apical.resume(part).digest == run.digest     # ended: the checkpoint is the new circuit's


def test_none_removes_a_key():
    c = apical.Circuit.from_yaml(SPS, set={"projections.inter-hidden.rule": None})
    assert c.projections["inter-hidden"].rule is None
    assert c.projections["hidden-inter"].rule == "dendritic_error"
    assert apical.Circuit.from_yaml(SPS).projections["inter-hidden"].rule == "apical_silence"
    try:
        apical.Circuit.from_yaml(SPS, set={"projections.inter-hidden.rul": None})
    except apical.ApicalError as e:
        assert "no key 'rul' to remove" in str(e), str(e)
    else:
        raise AssertionError("no ApicalError")


def test_errors_are_exceptions(tmp_path):
    c = apical.Circuit.from_yaml(SPS)
    c.projections["input-hidden"].weights[:] = 1e300
    try:
        c.present(None, 5)
    except apical.ApicalError as e:
        assert "hidden" in str(e) or "input-hidden" in str(e), str(e)
    else:
        raise AssertionError("no ApicalError")
    try:
        apical.load_run(str(tmp_path / "nothing"))
    except apical.ApicalError:
        pass
    else:
        raise AssertionError("no ApicalError")
    d = str(tmp_path / "r")
    apical.Circuit.from_yaml(SPS, set={"simulation.phases.0.patterns": 1}).run(d)
    try:
        apical.Circuit.from_yaml(SPS).run(d)
    except apical.RunError as e:
        assert e.status == 2 and "holds an earlier run" in str(e)
    else:
        raise AssertionError("no RunError")


def test_views_are_live_and_writable():
    c = apical.Circuit.from_yaml(SPS)
    u = c.populations["hidden"].state("u")
    y = c.state
    u[:] = 0.25
    assert np.all(y[30:50] == 0.25)
    c.settle(10)
    assert not np.all(u == 0.25)          # the same memory, moved by the step
    del c                                  # the views keep the circuit alive
    assert np.isfinite(u).all() and u.shape == (20,)


def test_modules_and_load_run(tmp_path):
    mods = {m["name"]: m for m in apical.modules()}
    p = mods["pyramidal"]
    assert p["kind"] == "cell" and [s["name"] for s in p["state"]] == ["u"]
    assert "basal" in [q["name"] for q in p["ports"]]
    assert mods["dendritic_error"]["kind"] == "rule"
    sa = os.path.join(SRC, "yaml", "single_association.yaml")
    run = apical.Circuit.from_yaml(sa, set={"simulation.phases.2.patterns": 4}).run(
        str(tmp_path / "sa"))
    t, tr = run.traces
    assert tr["output.u"].shape == (len(t), 10)
    m = run.metrics
    assert m["phase"][0] == "train" and m["test_error"].dtype == np.float64
    c = run.circuit()
    assert c.position["pattern"] == 12 and c.digest == run.digest
    try:
        import pandas  # noqa: F401
    except ImportError:
        return
    assert list(run.dataframe().columns) == list(m.dtype.names)
