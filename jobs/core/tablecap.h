/*
 * tablecap: the bound on one job's metrics table (JOB_ROWS_MAX rows,
 * JOB_VALUES_MAX bytes of values as stored and in memory), and the counts
 * of what its rows hold as text that the bound and the size of the
 * rendered metrics file are computed from.
 */
#ifndef TRAINFS_TABLECAP_H
#define TRAINFS_TABLECAP_H

#include <stddef.h>

#include "jobs/core/job.h"

/* Characters of V as metrics_format_number() writes it. */
size_t tablecap_number_chars(double v);
/* Characters of epoch E in decimal. */
size_t tablecap_epoch_chars(long e);
/* Bytes of the stored text of the rows of T ("epoch=3 loss=0.5\n" less \n). */
size_t tablecap_stored(const struct job_table *t);
/*
 * Whether a table of ROWS rows, COLS columns and STORED bytes of stored
 * text is within the bound.
 */
int tablecap_admits(size_t rows, size_t cols, size_t stored);

#endif
