/*
 * apical_integrate.h -- integrators by name: euler, expeuler and GSL odeiv2
 * steppers over a circuit.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * Functions that can fail return 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_INTEGRATE_H
#define APICAL_INTEGRATE_H

#include "apical_circuit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- integrators (integrate.c) ---------------------------------------- */

typedef struct apical_integ_opts {
    char method[16];        /* euler, expeuler, or a GSL odeiv2 stepper */
    double rtol, atol;      /* GSL: error control */
    double h0, hmax;        /* GSL: first step, largest step (0: dt) in ms */
    int weights_in_state;   /* GSL: plastic weights and rule memory join the ODE state */
} apical_integ_opts;

typedef struct apical_integrator apical_integrator;

/* Names of every method, NULL-terminated. */
extern const char *const apical_integ_methods[];

apical_integrator *apical_integrator_new(apical_circuit *c, const apical_integ_opts *o,
                                         char *err, size_t errcap);
void apical_integrator_free(apical_integrator *it);

/* Advance the circuit by dt from the state of the last apical_circuit_eval
   (whose observables drive the plasticity).  By default weights move beside
   the state, once per step: euler uses W(t) for the states (the published
   scheme); the other methods first advance the weights, then integrate the
   states over [t, t+dt] with them held (Lie splitting, O(dt) like the
   weights' own Euler step).  With weights_in_state a GSL stepper integrates
   states, weights and the rules' memory as one system (exact to its
   tolerance; costlier, and implicit steppers then take the Jacobian by
   finite differences).  Noise is added once per step, after the states. */
int apical_integrator_advance(apical_integrator *it, double dt, unsigned flags, char *err,
                              size_t errcap);

/* `steps` steps of dt as a phase of a run takes them: evaluate, advance
   (apical_integrator_advance), and at the end apply pending batched
   plasticity and check that states and weights are finite and within the
   bound (apical_circuit_check_finite).  it must be c's. */
int apical_integrator_steps(apical_integrator *it, apical_circuit *c, double dt, long steps,
                            unsigned flags, char *err, size_t errcap);

/* The step size a GSL stepper has reached (0 for euler, expeuler). */
double apical_integrator_h(const apical_integrator *it);
void apical_integrator_set_h(apical_integrator *it, double h);

/* Forget a multistep method's history: call after changing the state by
   hand (a restored snapshot, a reset). */
void apical_integrator_reset(apical_integrator *it);

/* Build the full Jacobian df/dy (n_y x n_y, row-major) at state y, from the
   modules' local Jacobians and the projections' weights (or by finite
   differences where a module has none).  Exposed for tests. */
int apical_circuit_jacobian(apical_integrator *it, const double *y, double *dfdy, char *err,
                            size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_INTEGRATE_H */
