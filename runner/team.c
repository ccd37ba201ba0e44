/*
 * team.c -- the thread count of repeated work, probed as it runs (team.h).
 */
#include "config.h"

#include <math.h>

#include "team.h"

void apical_team_init(apical_team *t, int most, unsigned period, unsigned probe)
{
    t->most = most < 1 ? 1 : most;
    t->fixed = 0;
    t->choice = t->most;
    t->period = period;
    t->probe = probe;
    t->n = 0;
    t->best[0] = t->best[1] = INFINITY;
}

void apical_team_fix(apical_team *t, int n, int most)
{
    if (n >= 1) {
        t->most = t->choice = n;
        t->fixed = 1;
    } else {
        t->most = t->choice = most < 1 ? 1 : most;
        t->fixed = 0;
    }
}

int apical_team_size(const apical_team *t)
{
    if (t->fixed)
        return t->choice;
    if (t->most <= 1)
        return 1;
    unsigned long ph = t->n % t->period;
    if (ph < t->probe)
        return 1;
    if (ph < 2 * t->probe)
        return t->most;
    return t->choice;
}

void apical_team_timed(apical_team *t, int nt, double seconds)
{
    if (t->fixed || t->most <= 1)
        return;
    unsigned long ph = t->n++ % t->period;
    if (ph == 0)
        t->best[0] = t->best[1] = INFINITY;
    if (ph < 2 * t->probe && seconds < t->best[nt > 1])
        t->best[nt > 1] = seconds;
    if (ph == 2 * t->probe - 1)
        t->choice = t->best[1] < t->best[0] ? t->most : 1;
}
