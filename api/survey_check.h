/* Pure validation of surveys and of the answers to them (api/survey_check.c):
 * no database, no HTTP, so the fuzz target tests/fuzz/fuzz_survey.c runs the
 * very code api/surveys.c runs. Every function appends {pointer, message}
 * objects to errors (borrowed). */
#ifndef KOPPEL_SURVEY_CHECK_H
#define KOPPEL_SURVEY_CHECK_H
#include <stdbool.h>
#include <jansson.h>

#include "service/jsonutil.h"

/* The phases of a survey (also a filter of GET /v1/surveys). */
extern const char *const survey_phases[];
/* The writable members of a survey, its questions included. */
extern const struct field survey_fields[];

/* A copy of body without the read-only members (each reported, 422),
 * checked against survey_fields whole or, when partial, as a merge patch
 * (*unknown set on an unknown member). Caller decrefs; NULL when out of memory. */
json_t *survey_check_body(const json_t *body, bool partial, json_t *errors, bool *unknown);

/* closes_on not before opens_on, when both are dates. */
void survey_check_window(const json_t *survey, json_t *errors);

/* Replaces doc's questions (when an array) with their canonical form: the
 * rules across the members of a question and unique keys checked, every
 * member present, options and max_choices null unless the type has them,
 * max_choices of a multi_choice question defaulting to its number of options. */
void survey_canonicalise(json_t *doc, json_t *errors);

/* The body of a response: {"answers": {...}} and nothing else. */
void survey_check_response_body(const json_t *body, json_t *errors, bool *unknown);

/* Validates answers against a survey's canonical questions (JSON text, as
 * stored): every key a question, every value of its type, every required
 * question answered (null means unanswered). Returns the answers to store,
 * without nulls (caller decrefs). */
json_t *survey_check_answers(const char *questions_text, const json_t *answers, json_t *errors);

#endif
