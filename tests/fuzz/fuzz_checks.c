/* libFuzzer target: the request-body rules across fields (api/checks.c),
 * run as their handlers run them: after the field table (api/fields.c), on
 * the body or on a stored resource with the body merged in, against the
 * facts a handler reads from the database (today, the day a pair was
 * proposed, the end of the last pair, the status before).
 *
 * Input: KIND VARIANT BODY. KIND selects the request (KINDS below, modulo
 * their number; new kinds go at the end so the seeds keep their meaning),
 * VARIANT the facts (facts_of), BODY is the request body, parsed with
 * json_loadb(JSON_REJECT_DUPLICATES) as the service parses it.
 *
 * Besides sanitizer findings, it aborts when an invariant breaks:
 * - every error is {pointer, message}: a non-empty message and an RFC 6901
 *   pointer under the body's prefix; "is required ..." names no string,
 *   any other pointer names a member of the body or of the merged resource
 *   (unless cut at its buffer's length); "unknown field" exactly when
 *   *unknown is set;
 * - each rule, read again independently: one duplicate-language error per
 *   earlier equal code; a birth year after the year is in the future; after
 *   screening, no rejection unless rejected and no retirement date unless
 *   retired; a rejection says why and an override goes with a move to
 *   waiting; a batch item's twin is the first earlier item with the same
 *   reference (and employer); "at least one weight must be above 0"
 *   exactly when all five weights are 0; ends_on before starts_on, held_on
 *   outside [proposed, today] and measured_on after today by the numbers of
 *   the dates; the months after the end counted by adding months to the end;
 * - at start, a valid body of every kind passes without an error. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/checks.h"
#include "api/fields.h"
#include "service/jsonutil.h"
#include "tests/fuzz/pointer.h"

enum kind {
  PARTICIPANT_POST,  /* POST /v1/participants */
  PARTICIPANT_PATCH, /* PATCH /v1/participants/{id} */
  PARTICIPANT_PUT,   /* PUT /v1/participants/by-external-ref/E-1001 */
  PARTICIPANT_BATCH, /* POST /v1/participants/batch */
  PROGRAMME_POST,    /* POST /v1/programmes */
  PROGRAMME_PATCH,   /* PATCH /v1/programmes/{id} */
  OUTCOME_POST,      /* POST /v1/participants/{id}/outcomes */
  OUTCOME_PATCH,     /* PATCH /v1/outcomes/{id} */
  MEETING_POST,      /* POST /v1/pairs/{id}/meetings */
  MEETING_PATCH,     /* PATCH /v1/meetings/{id} */
  NKINDS
};
/* The seeds' prefixes in tests/fuzz/corpus/checks/, by kind. */
static const char *const KINDS[NKINDS] = {"participant-post", "participant-patch", "participant-put",
                                          "participant-batch", "programme-post", "programme-patch",
                                          "outcome-post", "outcome-patch", "meeting-post", "meeting-patch"};

#define REF "E-1001"
/* Error pointers are built in buffers of 96 to 256 bytes. */
#define POINTER_BUFFER 96

struct facts {
  bool integration;     /* the caller is an HR system */
  int year;             /* the current year */
  const char *was;      /* the stored participant's status */
  const char *today;    /* YYYY-MM-DD in UTC */
  const char *ended_on; /* the end of the participant's last pair, or NULL */
  const char *proposed; /* the day the pair was proposed */
};

static const char *const STATUSES[] = {"applied", "screened", "waiting", "matched",
                                       "active", "rejected", "withdrawn", "completed"};
static const char *const ENDED[] = {NULL, "2024-01-31", "1990-06-15", "2024-02-29"};

/* Bit 0 integration, 1 year, 2-4 status before, 5 today, 6-7 end of the last
 * pair; 7 also the day of the proposal (today itself, or long before). */
static struct facts facts_of(uint8_t v) {
  struct facts f;
  f.integration = v & 1;
  f.year = (v & 2) ? 1999 : 2026;
  f.was = STATUSES[(v >> 2) & 7];
  f.today = (v & 0x20) ? "2024-02-29" : "2026-03-15";
  f.ended_on = ENDED[(v >> 6) & 3];
  f.proposed = (v & 0x80) ? f.today : "2023-11-30";
  return f;
}

/* ---------------------------------------------------------------- helpers */


/* A valid JSON Pointer (RFC 6901): "" or "/"-separated, "~" only in "~0" or "~1". */
static bool pointer_ok(const char *p) {
  if (p[0] != 0 && p[0] != '/') return false;
  for (const char *c = p; *c; c++)
    if (*c == '~' && c[1] != '0' && c[1] != '1') return false;
  return true;
}

/* Checks errors[from..] of doc checked under prefix (merged: the resource a
 * rule read, or NULL); returns the number of "unknown field" errors. */
static size_t check_errors(const json_t *errors, size_t from, const json_t *doc, const json_t *merged,
                           const char *prefix) {
  size_t unknown = 0, plen = strlen(prefix);
  for (size_t i = from; i < json_array_size(errors); i++) {
    const json_t *e = json_array_get(errors, i);
    const char *p = json_string_value(json_object_get(e, "pointer"));
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!json_is_object(e) || json_object_size(e) != 2 || !p || !m || !*m) abort();
    if (strncmp(p, prefix, plen) != 0 || !pointer_ok(p)) abort();
    if (strcmp(m, "unknown field") == 0) unknown++;
    if (strlen(p) >= POINTER_BUFFER - 8) continue; /* may be cut short */
    const char *rel = p + plen;
    if (strncmp(m, "is required", 11) == 0) {
      if (json_is_string(resolve(doc, rel)) || (merged && json_is_string(resolve(merged, rel)))) abort();
    } else if (!resolve(doc, rel) && !(merged && resolve(merged, rel))) {
      abort();
    }
  }
  return unknown;
}

/* The number of errors in errors[from..] at pointer with message. */
static size_t count(const json_t *errors, size_t from, const char *pointer, const char *message) {
  size_t n = 0;
  for (size_t i = from; i < json_array_size(errors); i++) {
    const json_t *e = json_array_get(errors, i);
    if (strcmp(json_string_value(json_object_get(e, "pointer")), pointer) == 0 &&
        strncmp(json_string_value(json_object_get(e, "message")), message, strlen(message)) == 0)
      n++;
  }
  return n;
}

/* A date YYYY-MM-DD as the number YYYYMMDD, -1 when it is not one. */
static long day_number(const char *s) {
  if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
  long n = 0;
  for (int i = 0; i < 10; i++) {
    if (i == 4 || i == 7) continue;
    if (s[i] < '0' || s[i] > '9') return -1;
    n = n * 10 + (s[i] - '0');
  }
  return n;
}

/* Whole months from date a to date b (a <= b): the last m for which a moved
 * on by m months, day of month kept, is not after b; up to limit. */
static long months_by_adding(long a, long b, long limit) {
  long y = a / 10000, mo = a / 100 % 100, d = a % 100, m = 0;
  while (m < limit) {
    long y2 = y + (mo - 1 + m + 1) / 12, mo2 = (mo - 1 + m + 1) % 12 + 1;
    if (y2 * 10000 + mo2 * 100 + d > b) break;
    m++;
  }
  return m;
}

/* ---------------------------------------------------------------- participants */

static const char PARTICIPANT[] =
  "{\"programme_id\":\"11111111-1111-4111-8111-111111111111\",\"kind\":\"mentee\",\"given_name\":\"Ann\","
  "\"family_name\":\"Jansen\",\"languages\":[{\"code\":\"nl\",\"level\":\"B2\"}],"
  "\"employment\":{\"status\":\"retired\",\"retired_on\":\"2020-01-01\"},\"external_ref\":\"" REF "\","
  "\"employer_partner_id\":\"22222222-2222-4222-8222-222222222222\"}";

/* The stored participant as its handler reads it, in status was. */
static json_t *stored_participant(const char *was) {
  json_t *p = json_loads(PARTICIPANT, 0, NULL);
  if (!p) abort();
  json_object_set_new(p, "status", json_string(was));
  json_object_set_new(p, "rejection", strcmp(was, "rejected") == 0 ? json_pack("{s:s}", "reason", "too far")
                                                                    : json_null());
  return p;
}

/* Duplicate languages of p, counted with an object of the codes seen. */
static size_t duplicate_languages(const json_t *p) {
  const json_t *langs = json_object_get(p, "languages");
  json_t *seen = json_object();
  size_t n = 0, i;
  const json_t *l;
  json_array_foreach(langs, i, l) {
    const char *code = json_string_value(json_object_get(l, "code"));
    if (!code) continue;
    json_int_t before = json_integer_value(json_object_get(seen, code));
    n += (size_t)before;
    json_object_set_new(seen, code, json_integer(before + 1));
  }
  json_decref(seen);
  return n;
}

static void check_languages(const json_t *p, const char *prefix, json_t *errors) {
  size_t from = json_array_size(errors);
  participant_check_languages(p, prefix, errors);
  if (json_array_size(errors) - from != duplicate_languages(p)) abort();
  check_errors(errors, from, p, NULL, prefix);
  /* each names the later of two entries with the same code */
  const json_t *langs = json_object_get(p, "languages");
  for (size_t i = from; i < json_array_size(errors); i++) {
    const char *ptr = json_string_value(json_object_get(json_array_get(errors, i), "pointer"));
    size_t at;
    if (sscanf(ptr + strlen(prefix), "/languages/%zu/code", &at) != 1) abort();
    const json_t *code = json_object_get(json_array_get(langs, at), "code");
    bool earlier = false;
    for (size_t j = 0; j < at; j++)
      if (json_is_string(code) && json_equal(code, json_object_get(json_array_get(langs, j), "code"))) earlier = true;
    if (!earlier) abort();
  }
}

/* Screening of doc on merged (owned by the caller), as the handlers run it. */
static void check_screening(const json_t *doc, json_t *merged, const char *was, int year, const char *prefix,
                            json_t *errors) {
  size_t from = json_array_size(errors);
  json_t *before = json_deep_copy(merged);
  participant_check_screening(doc, merged, was, year, prefix, errors);
  check_errors(errors, from, doc, before, prefix);
  char ptr[POINTER_BUFFER];
  snprintf(ptr, sizeof ptr, "%s/birth_year", prefix);
  const json_t *by = json_object_get(doc, "birth_year");
  if (count(errors, from, ptr, "must not be in the future") != (json_is_integer(by) && json_integer_value(by) > year))
    abort();
  const char *status = json_string_value(json_object_get(merged, "status"));
  bool rejected = status && strcmp(status, "rejected") == 0;
  if (!rejected && !json_is_null(json_object_get(merged, "rejection"))) abort();
  /* a rejection says why when it is new or its reason is sent (or removed) */
  snprintf(ptr, sizeof ptr, "%s/rejection/reason", prefix);
  bool becomes = !was || strcmp(was, "applied") == 0 || strcmp(was, "screened") == 0;
  bool why = json_is_string(json_object_get(json_object_get(merged, "rejection"), "reason"));
  if (count(errors, from, ptr, "is required") != (rejected && (becomes || json_object_get(doc, "rejection")) && !why))
    abort();
  /* an override goes with a move to waiting */
  snprintf(ptr, sizeof ptr, "%s/override_reason", prefix);
  bool moves = status && strcmp(status, "waiting") == 0 && !(was && strcmp(was, "waiting") == 0);
  if (count(errors, from, ptr, "is allowed only") != (json_object_get(doc, "override_reason") && !moves)) abort();
  const json_t *emp = json_object_get(merged, "employment");
  const char *es = json_string_value(json_object_get(emp, "status"));
  snprintf(ptr, sizeof ptr, "%s/employment/retired_on", prefix);
  if (es && strcmp(es, "retired") != 0 && !count(errors, from, ptr, "is allowed only") &&
      !json_is_null(json_object_get(emp, "retired_on")))
    abort();
  json_decref(before);
}

/* The first earlier item with the same reference (and, for a coordinator,
 * the same employer, letters in any case), or -1. */
static long twin_of(const json_t *items, size_t i, bool integration) {
  const json_t *a = json_array_get(items, i);
  for (size_t j = 0; j < i; j++) {
    const json_t *b = json_array_get(items, j);
    if (!json_is_string(json_object_get(b, "external_ref")) ||
        !json_equal(json_object_get(a, "external_ref"), json_object_get(b, "external_ref")))
      continue;
    if (integration) return (long)j;
    const char *ea = json_string_value(json_object_get(a, "employer_partner_id"));
    const char *eb = json_string_value(json_object_get(b, "employer_partner_id"));
    if (!eb || strlen(ea) != strlen(eb)) continue;
    bool same = true;
    for (size_t k = 0; ea[k]; k++) {
      char x = ea[k] >= 'A' && ea[k] <= 'Z' ? (char)(ea[k] + 32) : ea[k];
      char y = eb[k] >= 'A' && eb[k] <= 'Z' ? (char)(eb[k] + 32) : eb[k];
      if (x != y) same = false;
    }
    if (same) return (long)j;
  }
  return -1;
}

/* One HR upsert body under prefix (ref NULL: a batch item), as upsert_check,
 * then upsert_create and upsert_update would check it. */
static void upsert(const json_t *body, const char *ref, const struct facts *f, const char *prefix,
                   json_t *errors) {
  size_t from = json_array_size(errors);
  bool unknown = false;
  participant_check_upsert(body, ref, f->integration, prefix, errors, &unknown);
  if ((check_errors(errors, from, body, NULL, prefix) > 0) != unknown) abort();
  char ptr[POINTER_BUFFER];
  snprintf(ptr, sizeof ptr, "%s/external_ref", prefix);
  const json_t *x = json_object_get(body, "external_ref");
  if (ref && count(errors, from, ptr, "must equal") != (x && !(json_is_string(x) && !strcmp(json_string_value(x), ref))))
    abort();
  if (count(errors, from, ptr, "is required") != (!ref && !x)) abort(); /* the path names it */
  /* a coordinator names the employer; an HR system's token does */
  snprintf(ptr, sizeof ptr, "%s/employer_partner_id", prefix);
  const json_t *employer = json_object_get(body, "employer_partner_id");
  if (count(errors, from, ptr, "is required: the employer") != (!f->integration && !employer)) abort();
  if (count(errors, from, ptr, "must not be null: the employer") != (!f->integration && json_is_null(employer)))
    abort();
  if (json_array_size(errors) > from) return;
  const char *xs = json_string_value(x);
  if (!ref && (!xs || strchr(xs, '/'))) abort();
  if (!f->integration && !json_is_string(employer)) abort();
  /* a new employee */
  json_t *created = json_deep_copy(body);
  check_screening(body, created, NULL, f->year, prefix, errors);
  json_decref(created);
  /* a known employee */
  json_t *merged = stored_participant(f->was);
  merge_patch(merged, body);
  check_screening(body, merged, f->was, f->year, prefix, errors);
  json_decref(merged);
}

static void participants(enum kind k, const json_t *doc, const struct facts *f, json_t *errors) {
  bool unknown = false;
  if (k == PARTICIPANT_POST) {
    fields_check(doc, participant_fields, "", errors, &unknown);
    if ((check_errors(errors, 0, doc, NULL, "") > 0) != unknown) abort();
    check_languages(doc, "", errors);
    if (json_array_size(errors)) return;
    json_t *merged = json_deep_copy(doc);
    check_screening(doc, merged, NULL, f->year, "", errors);
    json_decref(merged);
  } else if (k == PARTICIPANT_PATCH) {
    fields_check_patch(doc, participant_fields, "", errors, &unknown);
    if ((check_errors(errors, 0, doc, NULL, "") > 0) != unknown) abort();
    check_languages(doc, "", errors);
    if (json_array_size(errors)) return;
    json_t *merged = stored_participant(f->was);
    merge_patch(merged, doc);
    check_screening(doc, merged, f->was, f->year, "", errors);
    json_decref(merged);
  } else if (k == PARTICIPANT_PUT) {
    upsert(doc, REF, f, "", errors);
  } else {
    fields_check(doc, participant_batch_fields, "", errors, &unknown);
    if ((check_errors(errors, 0, doc, NULL, "") > 0) != unknown) abort();
    if (json_array_size(errors)) return;
    const json_t *items = json_object_get(doc, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
      const json_t *item = json_array_get(items, i);
      if (!json_is_object(item)) continue; /* "must be an object" */
      char prefix[32];
      snprintf(prefix, sizeof prefix, "/items/%zu", i);
      json_t *item_errors = json_array();
      participant_check_upsert(item, NULL, f->integration, prefix, item_errors, &unknown);
      bool valid = json_array_size(item_errors) == 0;
      json_decref(item_errors);
      upsert(item, NULL, f, prefix, errors);
      if (!valid) continue;
      long twin = participant_batch_twin(items, i, f->integration);
      if (twin != twin_of(items, i, f->integration)) abort();
    }
  }
}

/* ---------------------------------------------------------------- programmes */

static const char PROGRAMME[] =
  "{\"name\":\"Pilot\",\"description\":null,\"starts_on\":\"2026-01-01\",\"ends_on\":\"2026-12-31\","
  "\"status\":\"planned\",\"rules\":{\"min_meetings\":6,\"min_duration_days\":90,\"max_mentees_per_mentor\":1,"
  "\"waiting_alert_days\":30,\"followup_interval_days\":90,\"small_group_threshold\":5,"
  "\"match_weights\":{\"occupation\":30,\"sector\":30,\"region\":15,\"availability\":10,\"language\":15},"
  "\"eligibility\":{\"mentee\":{\"max_years_since_arrival\":null,\"min_language\":null,"
  "\"required_fields\":null},\"mentor\":null}}}";

static void programme_rules(const json_t *p, const json_t *doc, json_t *errors, bool patch) {
  size_t from = json_array_size(errors);
  programme_check_dates(p, errors);
  programme_check_weights(p, errors);
  if (patch) programme_check_eligibility(p, errors);
  check_errors(errors, from, doc, p, "");
  long s = day_number(json_string_value(json_object_get(p, "starts_on")));
  long e = day_number(json_string_value(json_object_get(p, "ends_on")));
  if (s >= 0 && e >= 0 && count(errors, from, "/ends_on", "must not be before starts_on") != (e < s)) abort();
  /* all five weights 0: a weight left out keeps its default, above 0 */
  const json_t *w = json_object_get(json_object_get(p, "rules"), "match_weights");
  bool all_zero = json_is_object(w);
  for (const struct field *f = programme_match_weights; f->name; f++) {
    const json_t *v = json_object_get(w, f->name);
    if (!json_is_integer(v) || json_integer_value(v) != 0) all_zero = false;
  }
  if (count(errors, from, "/rules/match_weights", "at least one weight must be above 0") != all_zero) abort();
}

static void programmes(enum kind k, const json_t *doc, json_t *errors) {
  bool unknown = false;
  if (k == PROGRAMME_POST) {
    fields_check(doc, programme_fields, "", errors, &unknown);
    if ((check_errors(errors, 0, doc, NULL, "") > 0) != unknown) abort();
    programme_rules(doc, doc, errors, false);
    return;
  }
  fields_check_patch(doc, programme_fields, "", errors, &unknown);
  if ((check_errors(errors, 0, doc, NULL, "") > 0) != unknown) abort();
  if (json_array_size(errors)) return;
  json_t *merged = json_loads(PROGRAMME, 0, NULL);
  if (!merged) abort();
  merge_patch(merged, doc);
  programme_rules(merged, doc, errors, true);
  json_decref(merged);
}

/* ---------------------------------------------------------------- outcomes and meetings */

static const char OUTCOME[] =
  "{\"measured_on\":\"2024-06-01\",\"months_after_end\":4,\"status\":\"seeking\",\"employer_partner_id\":null}";

static void facts_rules(json_t *o, const json_t *doc, const struct facts *f, bool compute, json_t *errors) {
  size_t from = json_array_size(errors);
  json_t *before = json_deep_copy(o);
  outcome_check_facts(o, f->today, f->ended_on, compute, errors);
  check_errors(errors, from, doc, before, "");
  long measured = day_number(json_string_value(json_object_get(before, "measured_on")));
  long today = day_number(f->today), ended = day_number(f->ended_on);
  bool future = measured > today;
  if (count(errors, from, "/measured_on", "must not be in the future") != future) abort();
  bool counted = compute && !future && f->ended_on && measured >= ended;
  long months = counted ? months_by_adding(ended, measured, 121) : -1;
  if (compute && !future && f->ended_on && measured < ended &&
      count(errors, from, "/measured_on", "is before the end") != 1)
    abort();
  if (counted && months > 120 && count(errors, from, "/measured_on", "is ") != 1) abort();
  if (counted && months <= 120) {
    if (json_array_size(errors) != from || json_integer_value(json_object_get(o, "months_after_end")) != months)
      abort();
  } else if (!json_equal(o, before)) {
    abort(); /* written only when counted */
  }
  json_decref(before);
}

static void outcomes(enum kind k, json_t *doc, const struct facts *f, json_t *errors) {
  bool unknown = false;
  if (k == OUTCOME_POST) fields_check(doc, outcome_fields, "", errors, &unknown);
  else fields_check_patch(doc, outcome_fields, "", errors, &unknown);
  if ((check_errors(errors, 0, doc, NULL, "") > 0) != unknown) abort();
  if (json_array_size(errors)) return;
  if (k == OUTCOME_POST) {
    facts_rules(doc, doc, f, !json_object_get(doc, "months_after_end"), errors);
    return;
  }
  json_t *merged = json_loads(OUTCOME, 0, NULL);
  if (!merged) abort();
  merge_patch(merged, doc);
  facts_rules(merged, doc, f,
              f->ended_on && json_object_get(doc, "measured_on") && !json_object_get(doc, "months_after_end"),
              errors);
  json_decref(merged);
}

static void meetings(enum kind k, const json_t *doc, const struct facts *f, json_t *errors) {
  bool unknown = false;
  if (k == MEETING_POST) fields_check(doc, meeting_fields, "", errors, &unknown);
  else fields_check_patch(doc, meeting_fields, "", errors, &unknown);
  if ((check_errors(errors, 0, doc, NULL, "") > 0) != unknown) abort();
  if (json_array_size(errors)) return;
  meeting_check_held_on(doc, f->proposed, f->today, errors);
  check_errors(errors, 0, doc, NULL, "");
  long held = day_number(json_string_value(json_object_get(doc, "held_on")));
  bool wrong = held >= 0 && (held > day_number(f->today) || held < day_number(f->proposed));
  if (json_array_size(errors) != wrong) abort();
}

/* ---------------------------------------------------------------- the target */

/* Runs the checks of kind k on doc; returns the number of errors. */
static size_t run(enum kind k, uint8_t variant, json_t *doc) {
  struct facts f = facts_of(variant);
  json_t *errors = json_array();
  switch (k) {
  case PARTICIPANT_POST: case PARTICIPANT_PATCH: case PARTICIPANT_PUT: case PARTICIPANT_BATCH:
    participants(k, doc, &f, errors);
    break;
  case PROGRAMME_POST: case PROGRAMME_PATCH:
    programmes(k, doc, errors);
    break;
  case OUTCOME_POST: case OUTCOME_PATCH:
    outcomes(k, doc, &f, errors);
    break;
  case MEETING_POST: case MEETING_PATCH:
    meetings(k, doc, &f, errors);
    break;
  case NKINDS:
    abort();
  }
  size_t n = json_array_size(errors);
  json_decref(errors);
  return n;
}

/* A valid body of every kind: with variant 0 (a coordinator, in 2026, the
 * participant was applied, today is 2026-03-15, no pair ended, the pair was
 * proposed on 2023-11-30) each passes without an error. */
static const char *const VALID[NKINDS] = {
  "{\"programme_id\":\"11111111-1111-4111-8111-111111111111\",\"kind\":\"mentor\",\"given_name\":\"Bo\","
  "\"family_name\":\"Peeters\",\"languages\":[{\"code\":\"nl\",\"level\":\"C2\"},{\"code\":\"en\",\"level\":\"B2\"}],"
  "\"birth_year\":1961,\"employment\":{\"status\":\"retired\",\"retired_on\":\"2023-09-01\"}}",
  "{\"status\":\"rejected\",\"rejection\":{\"reason\":\"lives too far away\"}}",
  "{\"external_ref\":\"" REF "\",\"employer_partner_id\":\"22222222-2222-4222-8222-222222222222\","
  "\"given_name\":\"Cas\",\"employment\":{\"status\":\"working\",\"retired_on\":null}}",
  "{\"items\":[{\"external_ref\":\"E-1\",\"employer_partner_id\":\"22222222-2222-4222-8222-222222222222\"},"
  "{\"external_ref\":\"E-1\",\"employer_partner_id\":\"33333333-3333-4333-8333-333333333333\"}]}",
  "{\"name\":\"Pilot 2\",\"starts_on\":\"2026-01-01\",\"ends_on\":\"2026-01-01\","
  "\"rules\":{\"match_weights\":{\"occupation\":0,\"sector\":0,\"region\":0,\"availability\":0,\"language\":1}}}",
  "{\"rules\":{\"eligibility\":{\"mentee\":{\"min_language\":{\"code\":\"en\",\"level\":\"A2\"}}}}}",
  "{\"measured_on\":\"2025-03-01\",\"months_after_end\":14,\"status\":\"job_at_level\"}",
  "{\"status\":\"training\",\"employer_partner_id\":null}",
  "{\"held_on\":\"2026-03-15\",\"duration_minutes\":60,\"mode\":\"video\",\"topics\":[\"cv\"]}",
  "{\"held_on\":\"2023-11-30\"}"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  json_object_seed(1); /* reproducible runs */
  for (int k = 0; k < NKINDS; k++) {
    json_t *doc = json_loads(VALID[k], JSON_REJECT_DUPLICATES, NULL);
    if (!doc || run((enum kind)k, 0, doc) != 0) {
      fprintf(stderr, "fuzz_checks: the valid %s body is refused\n", KINDS[k]);
      abort();
    }
    json_decref(doc);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  json_error_t err;
  json_t *doc = json_loadb((const char *)data + 2, size - 2, JSON_REJECT_DUPLICATES, &err);
  if (!doc) return 0;
  if (json_is_object(doc)) run((enum kind)(data[0] % NKINDS), data[1], doc);
  json_decref(doc);
  return 0;
}
