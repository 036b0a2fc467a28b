/* The request-body rules across fields that a field table (api/fields.h)
 * cannot say, one group per resource (api/checks.c). Pure: no database, no
 * HTTP; what a rule needs from the request or a stored row (today, the
 * status before) is a parameter. The handlers run them after the field
 * table, and so does the libFuzzer target tests/fuzz/fuzz_checks.c. Every
 * check appends {pointer, message} objects to errors (borrowed). */
#ifndef KOPPEL_CHECKS_H
#define KOPPEL_CHECKS_H
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* ---- participants (api/participants.c) */

/* Languages of p: one entry per code. prefix: the pointer of p in the request body. */
void participant_check_languages(const json_t *p, const char *prefix, json_t *errors);

/* The screening rules across fields on merged, the participant as it will be,
 * doc being what the request sent, was the status before (NULL when new) and
 * year the current year in UTC. Normalises merged (nulls retired_on and
 * rejection where the status leaves no room for them). */
void participant_check_screening(const json_t *doc, json_t *merged, const char *was, int year,
                                 const char *prefix, json_t *errors);

/* An external reference has no slash (it is a path segment) and no control characters. */
bool participant_ref_chars_ok(const char *s);

/* An HR upsert body (PUT by-external-ref with ref, or a batch item with ref
 * NULL); integration: the caller is an integration client. Sets *unknown on
 * an unknown field. */
void participant_check_upsert(const json_t *body, const char *ref, bool integration, const char *prefix,
                              json_t *errors, bool *unknown);

/* The index of an earlier batch item naming the same employee as item i
 * (an integration client names only its own), or -1. */
long participant_batch_twin(const json_t *items, size_t i, bool integration);

/* ---- programmes (api/programmes.c), on the complete programme p */

/* ends_on not before starts_on. */
void programme_check_dates(const json_t *p, json_t *errors);
/* The match weights are not all 0. */
void programme_check_weights(const json_t *p, json_t *errors);
/* A minimum language is whole: code and level. */
void programme_check_eligibility(const json_t *p, json_t *errors);

/* ---- outcomes (api/outcomes.c) */

/* measured_on of the complete outcome doc against today and ended_on (the
 * end of the participant's last pair, NULL when none closed), all
 * YYYY-MM-DD; with compute, writes months_after_end into doc. */
void outcome_check_facts(json_t *doc, const char *today, const char *ended_on, bool compute, json_t *errors);

/* ---- meetings (api/meetings.c) */

/* held_on of doc (when given) between proposed and today, both YYYY-MM-DD in UTC. */
void meeting_check_held_on(const json_t *doc, const char *proposed, const char *today, json_t *errors);

#endif
