/*
 * roles.c -- which port or observable of a cell plays each role a host
 * feature needs (models/apical.h, enum apical_role), resolved once per
 * population.  The names below are read only for cells without a roles
 * table (modules before ABI 1.4): they are the paper's cells' names.
 * Nowhere else does the runner name a port, observable or parameter.
 * Also the lookup of a port or observable by name.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "circuit_int.h"

typedef struct role_info {
    const char *fallback; /* the paper's cells' name for it */
    const char *what;     /* for messages: "a <what>" */
    int port;             /* a port (1) or an observable (0) */
} role_info;

static const role_info roles[APICAL_ROLE_COUNT] = {
    [APICAL_ROLE_BASAL] = { "basal", "bottom-up (basal) port", 1 },
    [APICAL_ROLE_APICAL_TOPDOWN] = { "apical", "top-down apical port", 1 },
    [APICAL_ROLE_APICAL_LATERAL] = { "apical_inh", "lateral apical port", 1 },
    [APICAL_ROLE_DENDRITE] = { "dendrite", "interneuron dendrite port", 1 },
    [APICAL_ROLE_NUDGE] = { "nudge", "nudge port", 1 },
    [APICAL_ROLE_TEACH] = { "target", "teaching-potential port", 1 },
    [APICAL_ROLE_TEACH_GATE] = { "target_gate", "teaching-gate port", 1 },
    [APICAL_ROLE_DRIVE] = { "drive", "drive port", 1 },
    [APICAL_ROLE_POTENTIAL] = { "u", "somatic-potential observable", 0 },
    [APICAL_ROLE_RATE] = { "rate", "rate observable", 0 },
    [APICAL_ROLE_APICAL_POTENTIAL] = { "v_apical", "apical-potential observable", 0 },
    [APICAL_ROLE_BASAL_ERROR] = { "err_basal", "basal-error observable", 0 },
    [APICAL_ROLE_BASAL_PREDICTION] = { "rate_basal_pred", "basal-prediction observable", 0 },
};

size_t apical_model_find_obs(const apical_cell_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_obs; i++)
        if (strcmp(m->obs[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

size_t apical_model_find_port(const apical_cell_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_ports; i++)
        if (strcmp(m->ports[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

const char *apical_role_what(int role)
{
    return role > 0 && role < APICAL_ROLE_COUNT ? roles[role].what : "unknown role";
}

int apical_role_is_port(int role)
{
    return role > 0 && role < APICAL_ROLE_COUNT && roles[role].port;
}

static size_t find(const apical_cell_model *m, int role, const char *name)
{
    return roles[role].port ? apical_model_find_port(m, name) : apical_model_find_obs(m, name);
}

int apical_roles_resolve(const apical_cell_model *m, size_t *to, char *err, size_t cap)
{
    for (int r = 0; r < APICAL_ROLE_COUNT; r++)
        to[r] = (size_t)-1;
    if (!APICAL_CELL_HAS_ROLES(m)) {
        for (int r = 1; r < APICAL_ROLE_COUNT; r++)
            to[r] = find(m, r, roles[r].fallback);
        return 0;
    }
    if (!m->roles) {
        snprintf(err, cap, "cell %s: n_roles is %zu but its roles table is NULL", m->name,
                 m->n_roles);
        return -1;
    }
    for (size_t i = 0; i < m->n_roles; i++) {
        const apical_role_entry *e = &m->roles[i];
        if (e->role == APICAL_ROLE_NONE || e->role >= APICAL_ROLE_COUNT) {
            snprintf(err, cap, "cell %s: role %u of its roles table is not one this host knows "
                     "(ABI %u.%u)", m->name, (unsigned)e->role, APICAL_ABI_MAJOR,
                     APICAL_ABI_MINOR);
            return -1;
        }
        size_t at = e->name ? find(m, (int)e->role, e->name) : (size_t)-1;
        if (at == (size_t)-1) {
            snprintf(err, cap, "cell %s: its roles table gives the %s to '%s', which is not "
                     "one of its %s", m->name, roles[e->role].what, e->name ? e->name : "(null)",
                     roles[e->role].port ? "ports" : "observables");
            return -1;
        }
        if (to[e->role] != (size_t)-1 && to[e->role] != at) {
            snprintf(err, cap, "cell %s: its roles table names two %ss", m->name,
                     roles[e->role].what);
            return -1;
        }
        to[e->role] = at;
    }
    return 0;
}

int apical_pop_attenuation(const apical_pop *p, size_t port, double *a, char *err, size_t cap)
{
    const apical_cell_model *m = p->model;
    int (*att)(const double *, size_t, double *) = APICAL_CELL_ATTENUATION(m);
    if (att) {
        if (att(p->p, port, a) != APICAL_OK || !(*a == *a)) {
            snprintf(err, cap, "%s (%s): the attenuation of port %s failed", p->name, m->name,
                     m->ports[port].name);
            return -1;
        }
        return 0;
    }
    /* at rest, from the Jacobian of a one-state cell */
    double y[1] = { 0 }, in[64] = { 0 }, dfdy[1], dfdin[64], dody[64];
    if (m->n_state != 1 || !m->jacobian || m->n_ports > 64 || m->n_obs > 64) {
        snprintf(err, cap, "%s (%s) needs an attenuation function for port %s (a one-state "
                 "cell with a Jacobian can do without)", p->name, m->name, m->ports[port].name);
        return -1;
    }
    apical_cell_ctx x = { sizeof x, 1, p->p, y, in, NULL, 0 };
    if (m->jacobian(&x, dfdy, dfdin, dody) != APICAL_OK || dfdy[0] == 0) {
        snprintf(err, cap, "%s (%s): its Jacobian gives no attenuation of port %s", p->name,
                 m->name, m->ports[port].name);
        return -1;
    }
    *a = -dfdin[port] / dfdy[0];
    return 0;
}
