"""The tests of tests/python/ without pytest: every test_* function of every
test_*.py, a fresh directory for those that take tmp_path.
usage: run.py TMPDIR"""
import glob
import importlib.util
import inspect
import os
import pathlib
import sys
import traceback

here = os.path.dirname(os.path.abspath(__file__))
base = pathlib.Path(sys.argv[1])
failed = passed = 0
for path in sorted(glob.glob(os.path.join(here, "test_*.py"))):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, f in sorted(vars(mod).items()):
        if not name.startswith("test_") or not callable(f):
            continue
        args = {}
        if "tmp_path" in inspect.signature(f).parameters:
            args["tmp_path"] = base / name
            args["tmp_path"].mkdir(parents=True)
        try:
            f(**args)
            passed += 1
            print("PASS %s::%s" % (mod.__name__, name))
        except Exception:
            failed += 1
            print("FAIL %s::%s" % (mod.__name__, name))
            traceback.print_exc()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
