/* The request-body rules across fields, moved out of their handlers so that
 * tests/fuzz/fuzz_checks.c runs the very code the service runs. Each group
 * is its module's rules, word for word; the module calls them after its
 * field table (api/fields.c). Pure: jansson, jsonutil, problem and validate only. */
#include "api/checks.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/fields.h"
#include "service/jsonutil.h"
#include "service/problem.h"

/* ---------------------------------------------------------------- participants (api/participants.c) */

/* Languages: one entry per code. prefix: the pointer of p in the request body. */
void participant_check_languages(const json_t *p, const char *prefix, json_t *errors) {
  json_t *langs = json_object_get(p, "languages");
  for (size_t i = 0; json_is_array(langs) && i < json_array_size(langs); i++)
    for (size_t j = 0; j < i; j++) {
      const char *a = json_string_value(json_object_get(json_array_get(langs, i), "code"));
      const char *b = json_string_value(json_object_get(json_array_get(langs, j), "code"));
      if (a && b && strcmp(a, b) == 0) {
        char ptr[96];
        snprintf(ptr, sizeof ptr, "%s/languages/%zu/code", prefix, i);
        problem_add(errors, ptr, "duplicates an earlier language");
      }
    }
}

/* The screening rules across fields, on the participant as it will be
 * (merged: the stored record with doc merged in, or the new record), doc
 * being what the request sent and was the status before (NULL for a new
 * participant). Normalises merged: a retirement date goes with a status
 * other than retired, a rejection with a status other than rejected.
 * year: the current year in UTC (a birth year after it is in the future).
 * prefix: the pointer of doc in the request body. Appends to errors. */
void participant_check_screening(const json_t *doc, json_t *merged, const char *was, int year,
                                 const char *prefix, json_t *errors) {
  char ptr[128];
  const char *status = json_string_value(json_object_get(merged, "status"));
  if (!status) status = "applied";
  json_t *by = json_object_get(doc, "birth_year");
  if (json_is_integer(by) && json_integer_value(by) > year) {
    snprintf(ptr, sizeof ptr, "%s/birth_year", prefix);
    problem_add(errors, ptr, "must not be in the future");
  }
  json_t *emp = json_object_get(merged, "employment");
  if (json_is_object(emp)) {
    const char *es = json_string_value(json_object_get(emp, "status"));
    const json_t *sent = json_object_get(json_object_get(doc, "employment"), "retired_on");
    if (!es) {
      snprintf(ptr, sizeof ptr, "%s/employment/status", prefix);
      problem_add(errors, ptr, "is required with an employment");
    } else if (strcmp(es, "retired") != 0 && sent && !json_is_null(sent)) {
      snprintf(ptr, sizeof ptr, "%s/employment/retired_on", prefix);
      problem_add(errors, ptr, "is allowed only when the employment status is retired");
    } else if (strcmp(es, "retired") != 0) {
      json_object_set_new(emp, "retired_on", json_null());
    }
  }
  const json_t *rej_sent = json_object_get(doc, "rejection");
  if (strcmp(status, "rejected") != 0) {
    if (rej_sent && !json_is_null(rej_sent)) {
      snprintf(ptr, sizeof ptr, "%s/rejection", prefix);
      problem_add(errors, ptr, "is allowed only when the status is (or becomes) rejected");
    }
    json_object_set_new(merged, "rejection", json_null());
  } else if ((rej_sent || !was || !strcmp(was, "applied") || !strcmp(was, "screened")) &&
             !json_is_string(json_object_get(json_object_get(merged, "rejection"), "reason"))) {
    snprintf(ptr, sizeof ptr, "%s/rejection/reason", prefix);
    problem_add(errors, ptr, "is required when the status becomes rejected: say why (and, with "
                             "referred_to_partner_id, to whom the candidate was referred)");
  }
  if (json_object_get(doc, "override_reason") &&
      (strcmp(status, "waiting") != 0 || (was && strcmp(was, "waiting") == 0))) {
    snprintf(ptr, sizeof ptr, "%s/override_reason", prefix);
    problem_add(errors, ptr, "is allowed only with a change of status to waiting");
  }
}

/* An external reference has no slash (it is a path segment) and no control characters. */
bool participant_ref_chars_ok(const char *s) {
  if (strchr(s, '/')) return false;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    if (*c < 0x20 || *c == 0x7f) return false;
  return true;
}

/* Checks an upsert body before any query: the field table of POST (nothing
 * required yet: an update may send one field), external_ref equal to ref
 * (or, for a batch item, ref NULL: present and a valid reference), for
 * coordinators (integration false) an employer_partner_id. prefix: the
 * body's pointer in the request. */
void participant_check_upsert(const json_t *body, const char *ref, bool integration, const char *prefix,
                              json_t *errors, bool *unknown) {
  char ptr[96];
  fields_check_patch(body, participant_fields, prefix, errors, unknown);
  participant_check_languages(body, prefix, errors);
  const json_t *x = json_object_get(body, "external_ref");
  snprintf(ptr, sizeof ptr, "%s/external_ref", prefix);
  if (ref && x && !(json_is_string(x) && strcmp(json_string_value(x), ref) == 0))
    problem_add(errors, ptr, "must equal the external reference in the path (%s)", ref);
  if (!ref && !x)
    problem_add(errors, ptr, "is required: the HR system's id of this employee");
  else if (!ref && json_is_null(x))
    problem_add(errors, ptr, "must not be null: the HR system's id of this employee");
  else if (!ref && json_is_string(x) && !participant_ref_chars_ok(json_string_value(x)))
    problem_add(errors, ptr, "must not contain a slash or control characters");
  const json_t *employer = json_object_get(body, "employer_partner_id");
  snprintf(ptr, sizeof ptr, "%s/employer_partner_id", prefix);
  if (!integration && !employer)
    problem_add(errors, ptr, "is required: the employer whose employee this is");
  else if (!integration && json_is_null(employer))
    problem_add(errors, ptr, "must not be null: the employer whose employee this is");
}

/* Whether an earlier item of the batch names the same employee. Item i
 * passed participant_check_upsert: its external_ref (and, unless
 * integration, its employer_partner_id) is a string. */
long participant_batch_twin(const json_t *items, size_t i, bool integration) {
  const json_t *item = json_array_get(items, i);
  const char *ref = json_string_value(json_object_get(item, "external_ref"));
  const char *employer = json_string_value(json_object_get(item, "employer_partner_id"));
  for (size_t j = 0; j < i; j++) {
    const json_t *e = json_array_get(items, j);
    const char *ref2 = json_string_value(json_object_get(e, "external_ref"));
    const char *employer2 = json_string_value(json_object_get(e, "employer_partner_id"));
    if (ref2 && strcmp(ref, ref2) == 0 &&
        (integration || (employer2 && strcasecmp(employer, employer2) == 0)))
      return (long)j;
  }
  return -1;
}

/* ---------------------------------------------------------------- programmes (api/programmes.c) */

/* Checks across fields of a complete programme; appends to errors. */
void programme_check_dates(const json_t *p, json_t *errors) {
  const char *s = json_string_value(json_object_get(p, "starts_on"));
  const char *e = json_string_value(json_object_get(p, "ends_on"));
  if (s && e && strcmp(e, s) < 0) problem_add(errors, "/ends_on", "must not be before starts_on");
}

/* The match weights may not all be 0 (a weight left out keeps its default,
 * which is above 0). Each is compared with 0, never summed: POST runs this
 * beside the field table, so a weight may be out of its range (-5 and 5
 * summed to 0; four times 2^62 overflowed). Appends to errors. */
void programme_check_weights(const json_t *p, json_t *errors) {
  json_t *w = json_object_get(json_object_get(p, "rules"), "match_weights");
  if (!json_is_object(w)) return;
  for (const struct field *f = programme_match_weights; f->name; f++) {
    json_t *v = json_object_get(w, f->name);
    if (!json_is_integer(v) || json_integer_value(v) != 0) return;
  }
  problem_add(errors, "/rules/match_weights", "at least one weight must be above 0");
}

/* A merge patch may leave min_language half set ({code} without level):
 * after the merge it must be whole. Appends to errors. */
void programme_check_eligibility(const json_t *p, json_t *errors) {
  json_t *ml = json_object_get(
    json_object_get(json_object_get(json_object_get(p, "rules"), "eligibility"), "mentee"), "min_language");
  if (!json_is_object(ml)) return;
  if (!json_is_string(json_object_get(ml, "code")))
    problem_add(errors, "/rules/eligibility/mentee/min_language/code", "is required with a minimum language");
  if (!json_is_string(json_object_get(ml, "level")))
    problem_add(errors, "/rules/eligibility/mentee/min_language/level", "is required with a minimum language");
}

/* ---------------------------------------------------------------- outcomes (api/outcomes.c) */

/* Whole months from date a to date b (YYYY-MM-DD, both valid), as
 * PostgreSQL's age() counts them: 15 Jan to 14 Apr is 2, to 15 Apr is 3;
 * -1 when b is before a. */
static int months_between(const char *a, const char *b) {
  int ya, ma, da, yb, mb, db;
  if (strcmp(b, a) < 0 || sscanf(a, "%4d-%2d-%2d", &ya, &ma, &da) != 3 ||
      sscanf(b, "%4d-%2d-%2d", &yb, &mb, &db) != 3)
    return -1;
  return (yb - ya) * 12 + (mb - ma) - (db < da ? 1 : 0);
}

/* Checks the complete outcome doc against today and the end of the
 * participant's last pair (ended_on, NULL when none closed). With compute,
 * months_after_end is counted from ended_on and written into doc. Appends
 * to errors. */
void outcome_check_facts(json_t *doc, const char *today, const char *ended_on, bool compute, json_t *errors) {
  const char *measured = json_string_value(json_object_get(doc, "measured_on"));
  if (!measured) return;
  if (strcmp(measured, today) > 0) {
    problem_add(errors, "/measured_on", "must not be in the future (today is %s in UTC)", today);
    return;
  }
  if (!compute) return;
  if (!ended_on) {
    problem_add(errors, "/months_after_end",
                "is required: the participant has no completed or ended pair to count the months from");
    return;
  }
  int months = months_between(ended_on, measured);
  if (months < 0)
    problem_add(errors, "/measured_on", "is before the end of the participant's last pair on %s", ended_on);
  else if (months > 120)
    problem_add(errors, "/measured_on", "is %d months after the end of the participant's last pair on %s "
                "(at most 120)", months, ended_on);
  else
    json_object_set_new(doc, "months_after_end", json_integer(months));
}

/* ---------------------------------------------------------------- meetings (api/meetings.c) */

/* held_on (when given) lies between the day the pair was proposed and today, in UTC. */
void meeting_check_held_on(const json_t *doc, const char *proposed, const char *today, json_t *errors) {
  const char *held_on = json_string_value(json_object_get(doc, "held_on"));
  if (!held_on) return;
  if (strcmp(held_on, today) > 0)
    problem_add(errors, "/held_on", "must not be in the future (today is %s in UTC)", today);
  else if (strcmp(held_on, proposed) < 0)
    problem_add(errors, "/held_on", "must not be before the pair was proposed on %s", proposed);
}
