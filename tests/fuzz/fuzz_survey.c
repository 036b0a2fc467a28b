/* libFuzzer target: a survey and a response to it, through the validators
 * api/surveys.c uses (api/survey_check.c).
 *
 * Input: SURVEY 0xFF RESPONSE. 0xFF never occurs in UTF-8, so it cannot be
 * part of a JSON document. SURVEY is a survey body (an object, as POSTed) or
 * just its questions (an array, put into a fixed survey). Without 0xFF the
 * whole input is the response, to the fixed questions of QUESTIONS (every
 * question type; tests/api/test_surveys.py's set).
 *
 * The survey is checked whole and as a merge patch and canonicalised as
 * POST /v1/surveys does; when it is valid, its canonical questions (as
 * stored) are the ones answered, else QUESTIONS are. The response body is
 * checked, then its answers. Besides sanitizer findings (crash, leak,
 * undefined behaviour), it aborts when an invariant breaks:
 * - every error is {pointer, message}: a non-empty message and an RFC 6901
 *   pointer ("" or "/..." with "~" only as "~0" or "~1");
 * - an unknown member is reported (an error per unknown member);
 * - a patch never has more errors than the whole body;
 * - a valid survey's canonical questions have exactly the seven stored
 *   members, and canonicalising them again changes nothing and finds nothing;
 * - every answer error points into the answers: /answers/<key> or
 *   /answers/<key>/<index>, key a member of the answers or a question key,
 *   index within the answer array (a key too long for the pointer buffer
 *   may be cut, between characters);
 * - every answer that is not a question is reported;
 * - the cleaned answers hold only question keys, no nulls, each equal to
 *   the answer given; with no errors, every required question is in them. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/survey_check.h"

static const char QUESTIONS[] =
  "[{\"key\":\"likert\",\"text\":\"How useful was it?\",\"type\":\"likert5\",\"allow_not_used\":true},"
  "{\"key\":\"likert_strict\",\"text\":\"How clear was it?\",\"type\":\"likert5\"},"
  "{\"key\":\"scale\",\"text\":\"Rate the programme\",\"type\":\"scale10\"},"
  "{\"key\":\"single\",\"text\":\"Your sector\",\"type\":\"single_choice\",\"options\":[\"a\",\"b\",\"c\"]},"
  "{\"key\":\"multi\",\"text\":\"Topics\",\"type\":\"multi_choice\",\"options\":[\"a\",\"b\",\"c\",\"d\"],"
  "\"max_choices\":2},"
  "{\"key\":\"ysn\",\"text\":\"Did you feel heard?\",\"type\":\"yes_sometimes_no\"},"
  "{\"key\":\"number\",\"text\":\"Hours per month\",\"type\":\"number\"},"
  "{\"key\":\"date\",\"text\":\"When did you start?\",\"type\":\"date\"},"
  "{\"key\":\"text\",\"text\":\"Anything else?\",\"type\":\"text\"},"
  "{\"key\":\"must\",\"text\":\"Would you do it again?\",\"type\":\"yes_sometimes_no\",\"required\":true},"
  "{\"key\":\"a~b/c\",\"text\":\"Not a valid key, answered anyway\",\"type\":\"text\"}]";

static const char SURVEY[] =
  "{\"programme_id\":\"123e4567-e89b-12d3-a456-426614174000\",\"title\":\"Intake\",\"phase\":\"pre\","
  "\"audience\":\"both\",\"opens_on\":\"2026-01-01\",\"closes_on\":\"2026-12-31\"}";

/* Answer pointers are built in a buffer of 300 bytes (api/survey_check.c). */
#define POINTER_BUFFER 300

/* A valid JSON Pointer (RFC 6901): "" or "/"-separated, "~" only in "~0" or "~1". */
static void check_pointer(const char *p) {
  if (p[0] != 0 && p[0] != '/') abort();
  for (const char *c = p; *c; c++)
    if (*c == '~' && c[1] != '0' && c[1] != '1') abort();
}

static void check_errors(const json_t *errors) {
  if (!json_is_array(errors)) abort();
  size_t i;
  json_t *e;
  json_array_foreach(errors, i, e) {
    const char *p = json_string_value(json_object_get(e, "pointer"));
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!json_is_object(e) || json_object_size(e) != 2 || !p || !m || !*m) abort();
    check_pointer(p);
  }
}

static size_t count_message(const json_t *errors, const char *message) {
  size_t i, n = 0;
  json_t *e;
  json_array_foreach(errors, i, e) {
    const char *m = json_string_value(json_object_get(e, "message"));
    if (m && strcmp(m, message) == 0) n++;
  }
  return n;
}

static size_t count_pointer(const json_t *errors, const char *pointer) {
  size_t i, n = 0;
  json_t *e;
  json_array_foreach(errors, i, e) {
    const char *p = json_string_value(json_object_get(e, "pointer"));
    if (p && strcmp(p, pointer) == 0) n++;
  }
  return n;
}

/* The key of an answer pointer "/answers/<key>[/<index>]", unescaped, into
 * out; the index (or -1) into *index. False when it is not of that shape. */
static bool answer_key(const char *p, char *out, size_t len, long *index) {
  static const char prefix[] = "/answers/";
  if (strncmp(p, prefix, sizeof prefix - 1) != 0) return false;
  const char *c = p + sizeof prefix - 1;
  size_t o = 0;
  for (; *c && *c != '/'; c++) {
    if (o + 1 >= len) return false;
    if (*c == '~') {
      c++;
      out[o++] = *c == '0' ? '~' : '/';
    } else {
      out[o++] = *c;
    }
  }
  out[o] = 0;
  *index = -1;
  if (*c == '/') {
    char *end;
    *index = strtol(c + 1, &end, 10);
    if (end == c + 1 || *end || *index < 0) return false;
  }
  return true;
}

/* Whether some key of obj starts with prefix. */
static bool key_with_prefix(const json_t *obj, const char *prefix) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) if (strncmp(k, prefix, strlen(prefix)) == 0) return true;
  return false;
}

static const json_t *question(const json_t *qs, const char *key) {
  size_t i;
  json_t *q;
  json_array_foreach(qs, i, q) if (strcmp(json_string_value(json_object_get(q, "key")), key) == 0) return q;
  return NULL;
}

static void check_answer_errors(const json_t *errors, const json_t *answers, const json_t *qs) {
  size_t i;
  json_t *e;
  json_array_foreach(errors, i, e) {
    const char *p = json_string_value(json_object_get(e, "pointer"));
    char key[POINTER_BUFFER];
    long index;
    if (!answer_key(p, key, sizeof key, &index)) abort();
    const json_t *a = json_object_get(answers, key);
    if (!a && !question(qs, key)) {
      /* only a key cut short for the buffer may name no member */
      if (strlen(p) < POINTER_BUFFER - 8 || !key_with_prefix(answers, key)) abort();
      continue;
    }
    if (index >= 0 && (!json_is_array(a) || (size_t)index >= json_array_size(a))) abort();
  }
  /* every answer that is not a question is reported */
  const char *k;
  json_t *v;
  size_t unknown = 0;
  json_object_foreach((json_t *)answers, k, v) if (!question(qs, k)) unknown++;
  if (count_message(errors, "is not a question of this survey") != unknown) abort();
}

static void check_clean(const json_t *clean, const json_t *answers, const json_t *qs, bool valid) {
  if (!json_is_object(clean)) abort();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)clean, k, v) {
    if (!question(qs, k) || json_is_null(v) || !json_equal(v, json_object_get(answers, k))) abort();
  }
  if (!valid) return;
  size_t i;
  json_t *q;
  json_array_foreach(qs, i, q) {
    if (json_is_true(json_object_get(q, "required")) &&
        !json_object_get(clean, json_string_value(json_object_get(q, "key"))))
      abort();
  }
}

/* Checks the survey document; returns its canonical questions as stored
 * (JSON text, caller frees) when it is valid, else NULL. */
static char *check_survey(json_t *doc) {
  json_t *full = json_array(), *patch = json_array();
  bool unknown_full = false, unknown_patch = false;
  json_t *checked = survey_check_body(doc, false, full, &unknown_full);
  json_t *patched = survey_check_body(doc, true, patch, &unknown_patch);
  if (!checked || !patched) abort();
  check_errors(full);
  check_errors(patch);
  /* a patch is checked like the whole body minus "is required"; programme_id
   * is read-only in it (a survey stays in its programme) */
  if (unknown_full != unknown_patch ||
      json_array_size(patch) - count_pointer(patch, "/programme_id") > json_array_size(full))
    abort();
  if (unknown_full != (count_message(full, "unknown field") > 0)) abort();
  survey_check_window(checked, full);
  survey_canonicalise(checked, full);
  check_errors(full);
  char *text = NULL;
  json_t *qs = json_object_get(checked, "questions");
  if (json_array_size(full) == 0) {
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
      static const char *const MEMBERS[] = {"key", "text", "type", "options", "max_choices",
                                            "allow_not_used", "required", NULL};
      if (json_object_size(q) != 7) abort();
      for (int m = 0; MEMBERS[m]; m++)
        if (!json_object_get(q, MEMBERS[m])) abort();
    }
    /* the canonical form is a fixed point */
    json_t *again = json_deep_copy(checked), *errors = json_array();
    survey_canonicalise(again, errors);
    if (json_array_size(errors) || !json_equal(again, checked)) abort();
    json_decref(again);
    json_decref(errors);
    text = json_dumps(qs, JSON_COMPACT);
  }
  json_decref(checked);
  json_decref(patched);
  json_decref(full);
  json_decref(patch);
  return text;
}

static void check_response(json_t *body, const char *questions_text) {
  json_t *errors = json_array();
  bool unknown = false;
  survey_check_response_body(body, errors, &unknown);
  check_errors(errors);
  if (unknown != (count_message(errors, "unknown field") > 0)) abort();
  json_t *answers = json_object_get(body, "answers");
  if (!json_is_object(answers)) {
    if (json_array_size(errors) == 0) abort();
    json_decref(errors);
    return;
  }
  json_decref(errors);
  errors = json_array();
  json_t *qs = json_loads(questions_text, 0, NULL);
  if (!qs) abort();
  json_t *clean = survey_check_answers(questions_text, answers, errors);
  check_errors(errors);
  check_answer_errors(errors, answers, qs);
  check_clean(clean, answers, qs, json_array_size(errors) == 0);
  json_decref(clean);
  json_decref(qs);
  json_decref(errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char *fixed;
  if (!fixed) {
    json_object_seed(1); /* reproducible runs */
    json_t *qs = json_loads(QUESTIONS, 0, NULL), *survey = json_loads(SURVEY, 0, NULL);
    if (!qs || !survey) abort();
    json_object_set_new(survey, "questions", qs);
    fixed = check_survey(survey);
    json_decref(survey);
    /* "a~b/c" is no valid key: the fixed questions stand as stored, made by hand */
    if (fixed) abort();
    json_t *errors = json_array(), *doc = json_object();
    json_object_set_new(doc, "questions", json_loads(QUESTIONS, 0, NULL));
    survey_canonicalise(doc, errors);
    if (json_array_size(errors) != 0) abort();
    fixed = json_dumps(json_object_get(doc, "questions"), JSON_COMPACT);
    json_decref(doc);
    json_decref(errors);
    if (!fixed) abort();
  }
  const uint8_t *sep = memchr(data, 0xFF, size);
  char *stored = NULL;
  const uint8_t *response = data;
  size_t response_size = size;
  if (sep) {
    json_t *doc = json_loadb((const char *)data, (size_t)(sep - data), JSON_REJECT_DUPLICATES, NULL);
    if (json_is_array(doc)) {
      json_t *survey = json_loads(SURVEY, 0, NULL);
      json_object_set(survey, "questions", doc);
      json_decref(doc);
      doc = survey;
    }
    if (json_is_object(doc)) stored = check_survey(doc);
    json_decref(doc);
    response = sep + 1;
    response_size = size - (size_t)(sep - data) - 1;
  }
  json_t *body = json_loadb((const char *)response, response_size, JSON_REJECT_DUPLICATES, NULL);
  if (json_is_object(body)) check_response(body, stored ? stored : fixed);
  json_decref(body);
  free(stored);
  return 0;
}
