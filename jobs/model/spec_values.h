/*
 * spec_values.h: the value rules of spec_values.c that the spec parser
 * (spec.c) applies to each key.  Not for use outside the two; the rules
 * others need (spec_signal_number, spec_signal_name, spec_slurm_time) are
 * in spec.h.  Each returns NULL for a good value, else the reason it is
 * bad (a static string).
 */
#ifndef TRAINFS_SPEC_VALUES_H
#define TRAINFS_SPEC_VALUES_H

/*
 * Reads V, digits only, as a whole number >= MIN into *OUT; BELOW_MIN is
 * the reason given for a smaller (or negative) one.
 */
const char *spec_whole(const char *v, long min, const char *below_min,
		       long *out);

/* Reads V as a finite decimal number >= 0 into *OUT. */
const char *spec_number(const char *v, double *out);

/* Why V is not a metric name (the rule of metrics.h). */
const char *spec_metric_name(const char *v);

/* Returns whether NAME is [A-Za-z_][A-Za-z0-9_]*. */
int spec_env_name_ok(const char *name);

#endif
