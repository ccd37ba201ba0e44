/*
 * metric_kinds.c -- the kinds of columns of metrics.csv, per mode: the one
 * list that the runs' column tables (columns.c), `apical sweep` (which
 * metrics it may collect) and the documentation's test read.  No other
 * part of libapical is needed here, so apical-mpi builds it on its own.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "apical_columns.h"

const apical_metric_kind apical_metric_kinds[] = {
    { "phase", APICAL_MODE_DYNAMICS, 0, 0, 0, "",
      "train (an evaluation during training) or test (a test phase)" },
    { "pattern", APICAL_MODE_DYNAMICS, 0, 0, 0, "", "training patterns presented so far" },
    { "stimulus", APICAL_MODE_DYNAMICS, 0, 0, 0, "",
      "the evaluated stimulus (a test phase's, or during training the training stimulus)" },
    { "t_ms", APICAL_MODE_DYNAMICS, 0, 1, 0, "", "simulated time in ms" },
    { "apical_sq", APICAL_MODE_DYNAMICS, 0, 1, 0, "",
      "mean squared apical potential over the apical-fed pyramids (0 in the self-predicting "
      "state), held-out patterns settled without nudging" },
    { "mismatch_sq", APICAL_MODE_DYNAMICS, 0, 1, 0, "",
      "mean squared difference between each interneuron's and its partner pyramid's somatic "
      "potential (over one_to_one projections)" },
    { "test_error", APICAL_MODE_DYNAMICS, 0, 1, 0, "",
      "mean over held-out patterns of the summed squared difference between the taught "
      "population's rates and the target rates, without nudging (nan: no target)" },
    { "angle_deg", APICAL_MODE_DYNAMICS, 0, 1, 0, "",
      "mean angle in degrees between top-down weights and the transposed forward weights" },
    { "bp_cosine", APICAL_MODE_DYNAMICS, 0, 1, 0, "",
      "with record.metrics.bp_cosine: mean cosine between the hidden layers' bottom-up update "
      "and backprop's (nan otherwise)" },
    { "class_error", APICAL_MODE_DYNAMICS, 0, 1, 0, "",
      "with an idx stimulus that teaches: fraction of held-out patterns whose largest output "
      "rate is not their class, without nudging" },
    { "epoch", APICAL_MODE_STEADY, 0, 0, 0, "", "epochs done (0: before training)" },
    { "patterns", APICAL_MODE_STEADY, 0, 0, 0, "", "training images presented so far" },
    { "seconds", APICAL_MODE_STEADY, 0, 1, 0, "", "wall time of the epoch's training" },
    { "train_error", APICAL_MODE_STEADY, 0, 1, 1, "train (free output)",
      "fraction of the epoch's training images whose free output picked the wrong class "
      "(nan at epoch 0)" },
    { "error_", APICAL_MODE_STEADY, 1, 1, 1, "",
      "per evaluated stimulus (simulation.steady.evaluate): fraction of its images classified "
      "wrongly" },
    { "apical_sq_", APICAL_MODE_STEADY, 2, 1, 2, "",
      "per apical-fed population: mean squared apical potential without nudging, on the first "
      "evaluated stimulus" },
    { "mismatch_sq", APICAL_MODE_STEADY, 0, 1, 2, "mismatch",
      "mean squared interneuron-partner mismatch without nudging, on the first evaluated "
      "stimulus" },
    { "angle_", APICAL_MODE_STEADY, 2, 1, 3, "",
      "per apical-fed population: angle in degrees between its top-down weights and the "
      "transposed forward weights" },
    { "bp_cosine_", APICAL_MODE_STEADY, 2, 1, 4, "bp ",
      "per apical-fed population, with simulation.steady.bp_cosine (steady mode): mean cosine "
      "between Eq. 7's update and backprop's" },
    { "fa_cosine_", APICAL_MODE_STEADY, 2, 1, 4, "fa ",
      "per apical-fed population, with simulation.steady.bp_cosine: mean cosine between Eq. 7's "
      "update and feedback alignment's" },
    { "copy_dev_", APICAL_MODE_STEADY, 2, 1, 2, "copy ",
      "per interneuron population with a partner: relative distance of its dendritic weights "
      "from their self-predicting copy" },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};

int apical_metric_known(int mode, const char *name)
{
    const apical_metric_kind *k = apical_metric_kind_of(mode, name);
    return k && k->is_metric;
}

const apical_metric_kind *apical_metric_kind_of(int mode, const char *name)
{
    int steady = mode != APICAL_MODE_DYNAMICS;
    for (const apical_metric_kind *k = apical_metric_kinds; k->pattern; k++) {
        if ((k->mode != APICAL_MODE_DYNAMICS) != steady)
            continue;
        size_t n = strlen(k->pattern);
        if (k->per ? strncmp(name, k->pattern, n) == 0 && name[n] : strcmp(name, k->pattern) == 0)
            return k;
    }
    return NULL;
}

size_t apical_metric_list(int mode, char *buf, size_t cap)
{
    int steady = mode != APICAL_MODE_DYNAMICS;
    size_t u = 0;
    if (cap)
        buf[0] = 0;
    for (const apical_metric_kind *k = apical_metric_kinds; k->pattern; k++) {
        if ((k->mode != APICAL_MODE_DYNAMICS) != steady || !k->is_metric)
            continue;
        int n = snprintf(buf + (u < cap ? u : cap), u < cap ? cap - u : 0, "%s%s%s", u ? ", " : "",
                         k->pattern, k->per == 1 ? "<stim>" : k->per == 2 ? "<pop>" : "");
        u += n > 0 ? (size_t)n : 0;
    }
    return u;
}
