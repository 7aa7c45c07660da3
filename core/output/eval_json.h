/* The metrics of `nomad eval` as JSON: the "eval" object of run.json and `nomad eval --json`. */
#ifndef NOMAD_EVAL_JSON_H
#define NOMAD_EVAL_JSON_H

#include "json.h"
#include "metrics.h"

/* Writes r (measured with o) as a JSON object into j. */
void nmp_eval_result_json(nmp_json *j, const nmp_eval_result *r, const nmp_eval_opts *o);

#endif
