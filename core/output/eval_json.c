/* See eval_json.h. */
#include "eval_json.h"

void nmp_eval_result_json(nmp_json *j, const nmp_eval_result *r, const nmp_eval_opts *o)
{
    nmp_json_begin_object(j);
    nmp_json_kv_int(j, "k", o->k);
    nmp_json_kv_int(j, "queries", r->queries_used);
    nmp_json_kv_int(j, "triplets", o->triplets);
    nmp_json_kv_number(j, "np", r->np.value);
    nmp_json_kv_number(j, "np_ci95", r->np.ci95);
    nmp_json_kv_number(j, "triplet", r->triplet.value);
    nmp_json_kv_number(j, "triplet_ci95", r->triplet.ci95);
    if (r->has_labels) {
        nmp_json_kv_number(j, "knn_acc", r->knn_acc.value);
        nmp_json_kv_number(j, "knn_acc_ci95", r->knn_acc.ci95);
    }
    nmp_json_kv_number(j, "trust", r->trust.value);
    nmp_json_kv_number(j, "trust_ci95", r->trust.ci95);
    nmp_json_kv_number(j, "cont", r->cont.value);
    nmp_json_kv_number(j, "cont_ci95", r->cont.ci95);
    nmp_json_kv_number(j, "seconds", r->seconds);
    nmp_json_end_object(j);
}
