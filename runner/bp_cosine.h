/*
 * bp_cosine.h -- the held-out metric bp_cosine (internal to libapical).
 */
#ifndef APICAL_BP_COSINE_H
#define APICAL_BP_COSINE_H

#include "circuit_int.h"

typedef struct apical_bp_acc {
    double sum;     /* cosines over patterns and hidden layers */
    long n;
} apical_bp_acc;

/* From the settled, un-nudged state of one held-out pattern of stimulus s:
   switch the teaching signal on, settle `steps` more steps of dt (no noise,
   no plasticity), and add to acc the cosine between each hidden layer's
   bottom-up weight update at that nudged steady state (err_basal x the
   presynaptic rate, Eq. 7) and backprop's update of the feedforward network
   of the same weights (docs/model.md 2.3).  Leaves the state moved and s's
   teaching switched off again; the caller restores the state.  Circuits
   without a taught population or without a hidden layer add nothing. */
int apical_bp_cosine_pattern(apical_circuit *c, apical_integrator *it, apical_stim *s,
                             long steps, double dt, apical_bp_acc *acc, char *err, size_t cap);

#endif
