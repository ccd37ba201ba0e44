/*
 * team.h -- how many threads a repeated piece of work runs on.
 *
 * Many threads help a large product only while the machine has cores to
 * spare: on a shared, oversubscribed machine every fork and join waits for
 * a descheduled thread (milliseconds instead of microseconds).  So every
 * `period` pieces, `probe` pieces run on one thread and `probe` on `most`,
 * and until the next probe the count whose fastest piece was faster is kept
 * (the fastest, not the sum: one piece that waited for a descheduled thread
 * would otherwise decide for the whole period).  The work's results must
 * not depend on the count.  Not installed.
 */
#ifndef APICAL_TEAM_H
#define APICAL_TEAM_H

typedef struct apical_team {
    int most;               /* the many-thread count (1: always one) */
    int fixed;              /* 1: always `choice`, no probing */
    int choice;             /* the count between probes */
    unsigned period, probe;
    unsigned long n;        /* pieces timed so far */
    double best[2];         /* fastest piece of this period's probe: one thread, most */
} apical_team;

/* Probing between 1 and most threads, starting with most. */
void apical_team_init(apical_team *t, int most, unsigned period, unsigned probe);
/* n >= 1: always n threads (most becomes n); 0: probe between 1 and most. */
void apical_team_fix(apical_team *t, int n, int most);
/* The count for the next piece. */
int apical_team_size(const apical_team *t);
/* The piece just done ran on nt threads and took `seconds`. */
void apical_team_timed(apical_team *t, int nt, double seconds);

#endif /* APICAL_TEAM_H */
