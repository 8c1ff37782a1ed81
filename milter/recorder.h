/*
 * recorder.h - the daemon's background writer: statistics rows leave the
 * reply path (a message never waits for them), and the retention purge
 * runs at start and hourly.  One thread with its own database handle; rows
 * wait in a bounded queue in memory and are written in one transaction a
 * second, without an fsync of their own (SG_STORE_LAZY_SYNC).  A crash
 * loses at most the last second of statistics, never mail.
 */
#ifndef SG_RECORDER_H
#define SG_RECORDER_H

#include "config.h"

/* Rows waiting beyond this are dropped (and counted in the log): the
 * database is stuck, and memory must stay bounded. */
#define SG_RECORDER_MAX_QUEUE 100000

/* sg_recorder_start - open the database and start the thread (it blocks the
 * signals libmilter stops on); cfg must outlive it.  false and *error_r
 * (caller frees) when that fails. */
bool sg_recorder_start(const struct sg_config *cfg, char **error_r);

/* sg_recorder_add - queue one row (copies the strings; never blocks on the database) */
void sg_recorder_add(long long time, const char *queue_id, const char *action, double score,
                     const char *top_rule);

/* sg_recorder_stop - write what is queued, stop the thread, close the handle */
void sg_recorder_stop(void);

#endif
