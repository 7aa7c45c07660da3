/* The simple bound of the pair terms (pair_bound.c). */
#ifndef NOMAD_PAIR_BOUND_H
#define NOMAD_PAIR_BOUND_H

/* Pairs a second over `reps` passes of targets x negatives on `threads` threads; *check gets
 * a sum of the results (print it, so the loop cannot be optimised away). */
double pair_bound_rate(int targets, int negatives, int reps, int threads, double *check);
/* The same with UMAP's repulsion (a power per pair, clipped): the bound of that formula. */
double pair_bound_rate_umap(int targets, int negatives, int reps, int threads, double *check);

#endif
