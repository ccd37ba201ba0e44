/*
 * apical_runner.h -- libapical, the whole public API: the module registry,
 * tables and IDX files, circuits and their step, integrators, runs and
 * their measures, the steady-state and backprop modes, YAML
 * configuration, runs into a run directory, and the conformance check of
 * modules.  Each part has a header of its own; this one includes them all.
 * The module ABI itself is apical.h.
 *
 * Every function that can fail returns 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_RUNNER_H
#define APICAL_RUNNER_H

#include "apical.h"
#include "apical_registry.h"
#include "apical_data.h"
#include "apical_circuit.h"
#include "apical_integrate.h"
#include "apical_run.h"
#include "apical_steady.h"
#include "apical_config.h"
#include "apical_columns.h"
#include "apical_rundir.h"
#include "apical_conformance.h"

#endif /* APICAL_RUNNER_H */
