"""libapical through ctypes: where the library is, the prototypes of the
public C API the package uses (runner/apical_*.h), and mirrors of the module
ABI's tables (models/apical.h)."""
import ctypes as C
import os

c_double_p = C.POINTER(C.c_double)
c_char_pp = C.POINTER(C.c_char_p)
ERRCAP = 8192

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3
RUNDIR_NEW, RUNDIR_FORCE, RUNDIR_RESUME = 0, 1, 2
MODE_DYNAMICS, MODE_STEADY, MODE_BACKPROP = 0, 1, 2
STEP_PLASTIC = 1
OBS_STATE, OBS_PORTS = 0, 1
ABI_MAJOR, ABI_MINOR = 1, 3


# ---- the module ABI's tables (models/apical.h) -------------------------------
class Param(C.Structure):
    _fields_ = [("name", C.c_char_p), ("unit", C.c_char_p), ("doc", C.c_char_p),
                ("default", C.c_double), ("min", C.c_double), ("max", C.c_double),
                ("choices", c_char_pp)]


class Var(C.Structure):
    _fields_ = [("name", C.c_char_p), ("unit", C.c_char_p), ("doc", C.c_char_p),
                ("flags", C.c_uint32)]


class Obs(C.Structure):
    _fields_ = [("name", C.c_char_p), ("unit", C.c_char_p), ("doc", C.c_char_p),
                ("stage", C.c_uint32)]


class CellCtx(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("n", C.c_size_t), ("p", c_double_p),
                ("y", c_double_p), ("inp", c_double_p), ("need", C.POINTER(C.c_uint8)),
                ("ld", C.c_size_t)]


RHS = C.CFUNCTYPE(C.c_int, C.POINTER(CellCtx), c_double_p)
OBSERVE = C.CFUNCTYPE(C.c_int, C.POINTER(CellCtx), C.c_uint32, c_double_p)


class CellModel(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("name", C.c_char_p), ("doc", C.c_char_p),
                ("version", C.c_char_p),
                ("params", C.POINTER(Param)), ("n_params", C.c_size_t),
                ("state", C.POINTER(Var)), ("n_state", C.c_size_t),
                ("ports", C.POINTER(Var)), ("n_ports", C.c_size_t),
                ("obs", C.POINTER(Obs)), ("n_obs", C.c_size_t),
                ("check", C.c_void_p), ("rhs", RHS), ("observe", OBSERVE),
                ("jacobian", C.c_void_p), ("steady", C.c_void_p), ("flags", C.c_uint32)]


class Rule(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("name", C.c_char_p), ("doc", C.c_char_p),
                ("version", C.c_char_p),
                ("params", C.POINTER(Param)), ("n_params", C.c_size_t),
                ("post_obs", C.c_char_p), ("n_aux", C.c_size_t)]


# ---- libapical's structs the package reads ------------------------------------
class RunPos(C.Structure):
    _fields_ = [("phase", C.c_uint64), ("in_phase", C.c_int64), ("pattern", C.c_int64),
                ("step", C.c_int64), ("last_stim", C.c_uint64), ("h", C.c_double)]


class Column(C.Structure):
    _fields_ = [("metric", C.c_int), ("index", C.c_size_t), ("name", C.c_char * 80),
                ("head", C.c_char * 40), ("csv_fmt", C.c_char_p), ("term_fmt", C.c_char_p),
                ("term_scale", C.c_double)]


ON_START = C.CFUNCTYPE(None, C.c_void_p, C.POINTER(Column), C.c_size_t)
ON_ROW = C.CFUNCTYPE(None, C.c_void_p, C.POINTER(Column), C.c_size_t, c_double_p, C.c_char_p,
                    C.c_char_p)
ON_PROGRESS = C.CFUNCTYPE(None, C.c_void_p, C.c_long, C.c_long)
ON_WARNING = C.CFUNCTYPE(None, C.c_void_p, C.c_char_p)
ON_SKIP = C.CFUNCTYPE(None, C.c_void_p, C.c_char_p, C.c_char_p)


class RundirOpts(C.Structure):
    _fields_ = [("start", C.c_int), ("file", C.c_char_p), ("sets", c_char_pp),
                ("n_sets", C.c_size_t), ("on_start", ON_START), ("on_row", ON_ROW),
                ("on_progress", ON_PROGRESS), ("on_warning", ON_WARNING),
                ("stop", C.POINTER(C.c_int)), ("user", C.c_void_p)]


# ---- finding the library -------------------------------------------------------
def _candidates():
    env = os.environ.get("APICAL_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, "..", "..", "runner", ".libs", "libapical.so.0")]
    try:
        from . import _paths
        out.append(os.path.join(_paths.LIBDIR, "libapical.so.0"))
    except ImportError:
        pass
    out.append("libapical.so.0")
    return out


def _open():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return C.CDLL(path), os.path.abspath(path) if os.path.sep in path else path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("apical: cannot find libapical (set APICAL_LIBRARY to its path); tried: "
                      + "; ".join(tried))


lib, LIBRARY = _open()


def default_module_path():
    """The module path the package's registries use: $APICAL_MODULE_PATH, or the
    build tree's models/.libs when the library is the build tree's, or the
    library's own default (the install directory)."""
    if os.environ.get("APICAL_MODULE_PATH"):
        return None
    if os.path.sep in LIBRARY:
        top = os.path.dirname(os.path.dirname(os.path.dirname(LIBRARY)))
        mods = os.path.join(top, "models", ".libs")
        if os.path.basename(os.path.dirname(LIBRARY)) == ".libs" and os.path.isdir(mods):
            return mods
    return None


def _proto(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)
    globals()[name] = f


vp, sz, cp, ch, d, i, u = (C.c_void_p, C.c_size_t, C.c_char_p, C.c_char_p, C.c_double,
                           C.c_int, C.c_uint)
errbuf = C.c_char_p
for name, res, args in [
    ("apical_registry_new", vp, [cp]), ("apical_registry_free", None, [vp]),
    ("apical_registry_path", cp, [vp]),
    ("apical_registry_scan", i, [vp, ON_SKIP, vp]), ("apical_registry_sort", None, [vp]),
    ("apical_registry_n_cells", sz, [vp]), ("apical_registry_n_rules", sz, [vp]),
    ("apical_registry_cell_at", C.POINTER(CellModel), [vp, sz, C.POINTER(cp)]),
    ("apical_registry_rule_at", C.POINTER(Rule), [vp, sz, C.POINTER(cp)]),
    ("apical_registry_cell", C.POINTER(CellModel), [vp, cp, C.c_char_p, sz]),
    ("apical_config_new", vp, [vp, cp, cp, c_char_pp, sz, C.c_char_p, sz]),
    ("apical_config_delete", None, [vp]), ("apical_config_circuit", vp, [vp]),
    ("apical_config_mode", i, [vp]), ("apical_config_dt", d, [vp]),
    ("apical_config_settle_ms", d, [vp]), ("apical_config_yaml", cp, [vp]),
    ("apical_config_patterns", C.c_long, [vp]),
    ("apical_config_step_flags", u, [vp, i, i]),
    ("apical_config_integrator", vp, [vp, C.c_char_p, sz]),
    ("apical_integrator_free", None, [vp]), ("apical_integrator_reset", None, [vp]),
    ("apical_integrator_steps", i, [vp, vp, d, C.c_long, u, C.c_char_p, sz]),
    ("apical_circuit_n_pops", sz, [vp]), ("apical_circuit_n_projs", sz, [vp]),
    ("apical_circuit_n_stims", sz, [vp]), ("apical_circuit_pop_at", vp, [vp, sz]),
    ("apical_circuit_proj_at", vp, [vp, sz]), ("apical_circuit_stim_at", vp, [vp, sz]),
    ("apical_circuit_state", c_double_p, [vp, C.POINTER(sz)]),
    ("apical_circuit_seed", C.c_ulong, [vp]),
    ("apical_circuit_eval", i, [vp, C.c_char_p, sz]),
    ("apical_circuit_activate", None, [vp, sz, i]),
    ("apical_circuit_weights_changed", None, [vp]),
    ("apical_circuit_check_finite", i, [vp, C.c_char_p, sz]),
    ("apical_pop_name", cp, [vp]), ("apical_pop_size", sz, [vp]),
    ("apical_pop_model", C.POINTER(CellModel), [vp]),
    ("apical_pop_params", c_double_p, [vp]),
    ("apical_pop_state", c_double_p, [vp, vp, sz]),
    ("apical_pop_observable", c_double_p, [vp, sz]),
    ("apical_pop_port", c_double_p, [vp, sz]),
    ("apical_proj_name", cp, [vp]), ("apical_proj_src", sz, [vp]), ("apical_proj_dst", sz, [vp]),
    ("apical_proj_src_obs", sz, [vp]), ("apical_proj_dst_port", sz, [vp]),
    ("apical_proj_one_to_one", i, [vp]), ("apical_proj_weights", c_double_p, [vp]),
    ("apical_proj_rule", C.POINTER(Rule), [vp]), ("apical_proj_rule_params", c_double_p, [vp]),
    ("apical_proj_port", cp, [vp, vp]), ("apical_proj_where", cp, [vp]),
    ("apical_proj_n_weights", sz, [vp, vp]),
    ("apical_stim_name", cp, [vp]), ("apical_stim_size", sz, [vp]),
    ("apical_stim_pattern", c_double_p, [vp]), ("apical_stim_advance", None, [vp, vp]),
    ("apical_stim_target", c_double_p, [vp, vp, C.POINTER(sz)]),
    ("apical_stim_target_pop", cp, [vp, vp]),
    ("apical_checkpoint_load", i, [cp, vp, C.POINTER(RunPos), C.POINTER(C.c_uint64),
                                   C.c_char_p, sz]),
    ("apical_checkpoint_digest", C.c_uint64, [vp, C.POINTER(RunPos)]),
    ("apical_rundir_open", i, [C.POINTER(vp), cp, vp, C.POINTER(RundirOpts), C.c_char_p, sz]),
    ("apical_rundir_resumed", C.POINTER(RunPos), [vp]),
    ("apical_rundir_run", i, [vp, C.c_char_p, sz]),
    ("apical_rundir_close", i, [vp, C.c_char_p, sz]),
    ("apical_rundir_default", None, [cp, C.c_char_p, sz]),
]:
    _proto(name, res, *args)


def s(b):
    """A C string as str (None stays None)."""
    return None if b is None else b.decode("utf-8", "replace")


def b(x):
    return None if x is None else os.fsencode(x) if not isinstance(x, bytes) else x
