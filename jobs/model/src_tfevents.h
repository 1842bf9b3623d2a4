/*
 * src_tfevents: the decoder of TensorBoard event files
 * (events.out.tfevents.*), as torch.utils.tensorboard, Keras' TensorBoard
 * callback, Lightning's TensorBoardLogger, Hugging Face's Trainer and
 * Ultralytics write them.  Pure: no I/O, no locks; the caller reads the
 * bytes (source.c) and asks these functions about them.
 *
 * A file is a series of TFRecord frames:
 *   uint64 length, uint32 masked CRC32C of those 8 bytes,
 *   length bytes of data, uint32 masked CRC32C of the data,
 * little-endian, where masked(crc) = ((crc >> 15) | (crc << 17)) +
 * 0xa282ead8.  The data of each frame is an Event protocol buffer; of it
 * only step (field 2) and summary (field 5) matter: a Summary is repeated
 * Value (field 1), each with a tag (1) and either simple_value (2, a
 * float) or tensor (8), a TensorProto whose dtype (1) is DT_FLOAT (1) or
 * DT_DOUBLE (2) and whose one value is in float_val (5), double_val (6)
 * or tensor_content (4).  Every other field, and every Value without such
 * a scalar (images, histograms, text), is skipped.  The walk is a fixed
 * four levels deep, never recursive, and reads no byte outside the frame.
 */
#ifndef TRAINFS_SRC_TFEVENTS_H
#define TRAINFS_SRC_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "jobs/model/metrics.h"
#include "util/compiler.h"

/* A frame's header: the length and its CRC. */
#define TFREC_HEADER 12
/* The CRC after the data. */
#define TFREC_FOOTER 4
/* Longest frame data taken; a longer frame is skipped and counted. */
#define TFREC_DATA_MAX (1024 * 1024)

/* CRC32C (Castagnoli) of N bytes of P, continuing from CRC (0 to start). */
uint32_t tfrec_crc32c(uint32_t crc, const void *p, size_t n);

/* The masked CRC32C that TFRecord stores. */
uint32_t tfrec_masked_crc(const void *p, size_t n);

/*
 * Reads the header H (TFREC_HEADER bytes): 0 with the data length in *LEN
 * when its CRC matches, else -1.
 */
MUST_CHECK int tfrec_header(const unsigned char *h, uint64_t *len);

/* Whether the data D (N bytes) matches the CRC in FOOTER (4 bytes): 0/-1. */
MUST_CHECK int tfrec_data_ok(const unsigned char *d, size_t n,
			     const unsigned char *footer);

/*
 * Decodes the Event in D (N bytes) into *OUT: epoch = the step, one metric
 * per scalar, named PREFIX "/" tag (or the tag alone when PREFIX is empty
 * or NULL).  Returns 0 (a row), 1 (a row; scalars were left out: a bad
 * name, more than METRICS_NAMES_MAX; the first reason in WHY), 2 (no
 * scalar in it: *OUT zeroed, nothing to take), or -1 with the reason in
 * WHY (a malformed protocol buffer, a step out of 0..METRICS_EPOCH_MAX).
 */
MUST_CHECK int tfevent_decode(const unsigned char *d, size_t n,
			      const char *prefix, struct metrics_line *out,
			      char *why, size_t whylen);

#endif
