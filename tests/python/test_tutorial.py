"""docs/python.md's code, as written: its python blocks run in order in a
fresh directory that sees the source tree's yaml/, with matplotlib's Agg
backend (skipped where matplotlib is missing)."""
import os
import re
import subprocess
import sys

SRC = os.environ.get("APICAL_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def tutorial_code():
    with open(os.path.join(SRC, "docs", "python.md")) as f:
        return "\n".join(re.findall(r"^```python\n(.*?)^```", f.read(), re.S | re.M))


def test_the_tutorial_runs(tmp_path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("skip: no matplotlib (python3-matplotlib)")
        return
    os.symlink(os.path.join(os.path.abspath(SRC), "yaml"), str(tmp_path / "yaml"))
    (tmp_path / "tutorial.py").write_text(tutorial_code())
    r = subprocess.run([sys.executable, "tutorial.py"], cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=dict(os.environ, MPLBACKEND="Agg"))
    print(r.stdout)
    keep = os.environ.get("APICAL_TUTORIAL_OUT")
    if keep:
        os.makedirs(keep, exist_ok=True)
        with open(os.path.join(keep, "output.txt"), "w") as f:
            f.write(r.stdout)
        if os.path.exists(str(tmp_path / "single_association.png")):
            os.replace(str(tmp_path / "single_association.png"),
                       os.path.join(keep, "single_association.png"))
    assert r.returncode == 0, r.stdout
    before = float(re.search(r"before: rms\(u - target\) = ([0-9.]+)", r.stdout).group(1))
    after = float(re.search(r"after:  rms\(u - target\) = ([0-9.]+)", r.stdout).group(1))
    assert after < 0.5 * before, (before, after)
    assert "wrote single_association.png" in r.stdout
    assert re.search(r"line \d+ column \d+ key populations.p.cell", r.stdout)
