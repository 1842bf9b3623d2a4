/*
 * number: how trainfs shows a metric to a person (status, graph.svg,
 * summary.csv): rounded to NUMBER_DISPLAY_DIGITS significant digits, with
 * a short exponent ("0.593975", "1e-4", "2.5e12"), nan/inf/-inf spelled
 * as the metrics lines spell them.  The stored text of a value (the
 * metrics file, the manifest) keeps full precision: that is
 * metrics_format_number() in jobs/model/metrics.c, not this.
 */
#ifndef TRAINFS_NUMBER_H
#define TRAINFS_NUMBER_H

#include <stddef.h>

#define NUMBER_DISPLAY_DIGITS 6
/* Enough for any double shown: "-1.23457e-308" and the NUL. */
#define NUMBER_DISPLAY_MAX 16

/*
 * Writes V rounded to 6 significant digits into BUF of LEN bytes (cut
 * short, but always terminated, when LEN is under NUMBER_DISPLAY_MAX);
 * -0 shows as 0.  Returns BUF.
 */
char *number_display(double v, char *buf, size_t len);

#endif
