#!/usr/bin/python3
"""Compare a NEST run of single_association.py with the apical run it was
built from.

    compare.py RUN OUT [TOL]

RUN: the apical run directory (traces.csv with POP.u columns, and
weights/p<N>/ of the last pattern); OUT: what single_association.py wrote.
Prints the largest absolute difference of the somatic traces (every step
both recorded, matched by time) and of each final weight matrix, and exits
1 when one exceeds TOL (default 1e-9).
"""
import os
import sys

import numpy as np


def read_traces(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [list(map(float, line.split(","))) for line in f if line.strip()]
    return header, np.array(rows)


def read_matrix(path):
    return np.loadtxt(path, delimiter=",", ndmin=2)


def main(run, out, tol):
    ha, a = read_traces(os.path.join(run, "traces.csv"))
    hn, n = read_traces(os.path.join(out, "traces.csv"))
    dt = n[1, 0] - n[0, 0]
    ka = np.round(a[:, 0] / dt).astype(np.int64)
    kn = np.round(n[:, 0] / dt).astype(np.int64)
    common, ia, inn = np.intersect1d(ka, kn, return_indices=True)
    cols = [c for c in hn[1:] if c in ha]
    if not cols or not len(common):
        sys.exit("compare.py: no common trace columns or times")
    worst, where, scale = 0.0, "", 0.0
    for pop in sorted({c.split(".")[0] for c in cols}):
        pc = [c for c in cols if c.split(".")[0] == pop]
        da = a[np.ix_(ia, [ha.index(c) for c in pc])]
        dn = n[np.ix_(inn, [hn.index(c) for c in pc])]
        d = np.abs(da - dn)
        k = np.unravel_index(np.argmax(d), d.shape)
        print(f"trace {pop}.u: {len(pc)} cells x {len(common)} steps, largest |apical - NEST| "
              f"{d[k]:.3g} (t = {common[k[0]] * dt:g} ms, {pc[k[1]]}); largest |u| "
              f"{np.abs(da).max():.3g}")
        scale = max(scale, np.abs(da).max())
        if d[k] > worst:
            worst, where = d[k], f"trace {pc[k[1]]} at t = {common[k[0]] * dt:g} ms"
    wroot = os.path.join(run, "weights")
    last = max(os.listdir(wroot), key=lambda p: int(p[1:]))
    for f in sorted(os.listdir(os.path.join(out, "weights"))):
        wa = read_matrix(os.path.join(wroot, last, f))
        wn = read_matrix(os.path.join(out, "weights", f))
        w0 = read_matrix(os.path.join(wroot, "p0", f))
        d = np.abs(wa - wn).max()
        print(f"weights {f} ({last}): {wa.shape[0]}x{wa.shape[1]}, largest |apical - NEST| {d:.3g};"
              f" largest change during the run {np.abs(wa - w0).max():.3g}")
        if d > worst:
            worst, where = d, f"weights {f}"
    print(f"largest difference {worst:.3g} ({where}); tolerance {tol:g}")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) == 4 else 1e-9))
