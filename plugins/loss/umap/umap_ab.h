/* umap-learn's find_ab_params for the umap loss plugin. */
#ifndef NOMAD_UMAP_AB_H
#define NOMAD_UMAP_AB_H

/* Fits a, b of 1 / (1 + a d^(2b)) to UMAP's target curve; 1 on success, 0 if it failed. */
int umap_find_ab(double min_dist, double spread, double *a, double *b);

#endif
