/* Pure validation of surveys and of the answers to them, shared by
 * api/surveys.c and tests/fuzz/fuzz_survey.c: jansson, service/jsonutil,
 * service/problem and service/validate only (no database, no HTTP). */
#include "api/survey_check.h"

#include <stdio.h>
#include <string.h>

#include "service/problem.h"
#include "service/validate.h"

const char *const survey_phases[] = {"intake", "pre", "interim", "post", "follow_up", NULL};
static const char *const AUDIENCES[] = {"mentors", "mentees", "both", NULL};
static const char *const TYPES[] = {"likert5", "scale10", "single_choice", "multi_choice",
                                    "yes_sometimes_no", "number", "date", "text", NULL};
static const char *const YSN[] = {"yes", "sometimes", "no", NULL};

#define MAX_TEXT_ANSWER 4000

/* ^[a-z0-9_]{1,64}$ */
static bool key_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return false;
  return true;
}

static bool option_ok(const char *s) {
  size_t n = utf8_length(s);
  return n >= 1 && n <= 200;
}

#define NOTHING NULL, NULL, NULL, NULL, NULL
#define END_OF_FIELDS {NULL, 0, false, false, 0, 0, NOTHING}

static const struct field QUESTION[] = {
  {"key", FT_CHECK, true, false, 0, 0, NULL, key_ok, "1 to 64 of a-z, 0-9 and _", NULL, NULL},
  {"text", FT_STRING, true, false, 1, 1000, NOTHING},
  {"type", FT_ENUM, true, false, 0, 0, TYPES, NULL, NULL, NULL, NULL},
  {"options", FT_STR_ARRAY, false, true, 1, 100, NULL, option_ok, "an option of 1 to 200 characters", NULL, NULL},
  {"max_choices", FT_INT, false, true, 1, 100, NOTHING},
  {"allow_not_used", FT_BOOL, false, true, 0, 0, NOTHING},
  {"required", FT_BOOL, false, true, 0, 0, NOTHING},
  END_OF_FIELDS};

const struct field survey_fields[] = {
  {"programme_id", FT_UUID, true, false, 0, 0, NOTHING},
  {"title", FT_STRING, true, false, 1, 200, NOTHING},
  {"phase", FT_ENUM, true, false, 0, 0, survey_phases, NULL, NULL, NULL, NULL},
  {"audience", FT_ENUM, true, false, 0, 0, AUDIENCES, NULL, NULL, NULL, NULL},
  {"opens_on", FT_DATE, true, false, 0, 0, NOTHING},
  {"closes_on", FT_DATE, true, false, 0, 0, NOTHING},
  {"questions", FT_ANY_ARRAY, true, false, 1, 200, NULL, NULL, NULL, QUESTION, NULL},
  END_OF_FIELDS};

/* What the service maintains; a body naming them is told so (422), not "unknown".
 * A survey never moves to another programme. */
static const char *const READ_ONLY[] = {"id", "frozen", "created_at", "updated_at", NULL};
static const char *const READ_ONLY_PATCH[] = {"id", "programme_id", "frozen", "created_at", "updated_at", NULL};

static bool is_choice(const char *type) {
  return type && (strcmp(type, "single_choice") == 0 || strcmp(type, "multi_choice") == 0);
}

/* A copy of the body without the read-only members (each reported, 422),
 * checked against survey_fields (whole or as a merge patch). */
json_t *survey_check_body(const json_t *body, bool partial, json_t *errors, bool *unknown) {
  json_t *doc = json_deep_copy(body);
  if (!doc) return NULL;
  const char *const *read_only = partial ? READ_ONLY_PATCH : READ_ONLY;
  fields_strip(doc, read_only, "is read-only (set by the service)", errors);
  if (partial) fields_check_patch(doc, survey_fields, "", errors, unknown);
  else fields_check(doc, survey_fields, "", errors, unknown);
  return doc;
}

void survey_check_window(const json_t *s, json_t *errors) {
  const char *o = json_string_value(json_object_get(s, "opens_on"));
  const char *c = json_string_value(json_object_get(s, "closes_on"));
  if (o && c && v_date(o) && v_date(c) && strcmp(c, o) < 0)
    problem_add(errors, "/closes_on", "must not be before opens_on (%s)", o);
}

/* The rules across the members of a question (fields_check has checked each
 * member), unique keys, and the canonical form the service stores: every
 * member present, options and max_choices null unless the type has them,
 * max_choices of a multi_choice question defaulting to its number of options.
 * Returns a new array (caller decrefs); appends to errors. */
static json_t *canonical_questions(const json_t *qs, json_t *errors) {
  json_t *out = json_array();
  size_t i;
  json_t *q;
  json_array_foreach(qs, i, q) {
    if (!json_is_object(q)) continue;
    char ptr[96];
    const char *key = json_string_value(json_object_get(q, "key"));
    const char *type = json_string_value(json_object_get(q, "type"));
    if (type && v_enum(type, TYPES) < 0) type = NULL; /* reported by fields_check */
    json_t *opts = json_object_get(q, "options");
    json_t *maxc = json_object_get(q, "max_choices");
    bool has_opts = json_is_array(opts);
    for (size_t j = 0; key && j < i; j++) {
      const char *k2 = json_string_value(json_object_get(json_array_get(qs, j), "key"));
      if (k2 && strcmp(key, k2) == 0) {
        snprintf(ptr, sizeof ptr, "/questions/%zu/key", i);
        problem_add(errors, ptr, "duplicates the key of question %zu", j);
        break;
      }
    }
    if (type && is_choice(type)) {
      size_t min = strcmp(type, "single_choice") == 0 ? 2 : 1;
      snprintf(ptr, sizeof ptr, "/questions/%zu/options", i);
      if (!opts || json_is_null(opts)) problem_add(errors, ptr, "is required for %s questions", type);
      else if (has_opts && json_array_size(opts) < min)
        problem_add(errors, ptr, "must have at least %zu options for %s questions", min, type);
    } else if (type && opts && !json_is_null(opts)) {
      snprintf(ptr, sizeof ptr, "/questions/%zu/options", i);
      problem_add(errors, ptr, "only single_choice and multi_choice questions have options");
    }
    bool multi = type && strcmp(type, "multi_choice") == 0;
    if (multi && json_is_integer(maxc) && has_opts &&
        json_integer_value(maxc) > (json_int_t)json_array_size(opts)) {
      snprintf(ptr, sizeof ptr, "/questions/%zu/max_choices", i);
      problem_add(errors, ptr, "must be between 1 and the number of options (%zu)", json_array_size(opts));
    } else if (type && !multi && maxc && !json_is_null(maxc)) {
      snprintf(ptr, sizeof ptr, "/questions/%zu/max_choices", i);
      problem_add(errors, ptr, "only multi_choice questions have max_choices");
    }
    if (type && strcmp(type, "likert5") != 0 && json_is_true(json_object_get(q, "allow_not_used"))) {
      snprintf(ptr, sizeof ptr, "/questions/%zu/allow_not_used", i);
      problem_add(errors, ptr, "only likert5 questions can allow \"not_used\"");
    }
    json_t *c = json_object();
    json_object_set(c, "key", json_object_get(q, "key"));
    json_object_set(c, "text", json_object_get(q, "text"));
    json_object_set(c, "type", json_object_get(q, "type"));
    json_object_set_new(c, "options", is_choice(type) && has_opts ? json_deep_copy(opts) : json_null());
    json_object_set_new(c, "max_choices",
                        !multi || !has_opts ? json_null()
                        : json_is_integer(maxc) ? json_integer(json_integer_value(maxc))
                                                : json_integer((json_int_t)json_array_size(opts)));
    json_object_set_new(c, "allow_not_used", json_boolean(json_is_true(json_object_get(q, "allow_not_used"))));
    json_object_set_new(c, "required", json_boolean(json_is_true(json_object_get(q, "required"))));
    json_array_append_new(out, c);
  }
  return out;
}

void survey_canonicalise(json_t *doc, json_t *errors) {
  json_t *qs = json_object_get(doc, "questions");
  if (json_is_array(qs)) json_object_set_new(doc, "questions", canonical_questions(qs, errors));
}

/* Appends key to out[o..] with RFC 6901 escapes ("~" as "~0", "/" as "~1"),
 * as much as fits in len with room for the terminator; a key cut short is cut
 * between characters, never inside a UTF-8 sequence (the pointer stays a
 * string JSON can carry). Returns the new length. */
static size_t put_key(char *out, size_t o, size_t len, const char *key) {
  size_t start = o; /* where the character being copied began */
  const char *k = key;
  for (; *k && o + 3 < len; k++) {
    if (((unsigned char)*k & 0xC0) != 0x80) start = o;
    if (*k == '~' || *k == '/') {
      out[o++] = '~';
      out[o++] = *k == '~' ? '0' : '1';
    } else {
      out[o++] = *k;
    }
  }
  if (*k && ((unsigned char)*k & 0xC0) == 0x80) o = start;
  out[o] = 0;
  return o;
}

/* "/answers/<key>" as a JSON Pointer, with "/<index>" when index >= 0. */
static void answer_pointer(char *out, size_t len, const char *key, long index) {
  size_t o = put_key(out, (size_t)snprintf(out, len, "/answers/"), len, key);
  if (index >= 0 && o + 24 < len) snprintf(out + o, len - o, "/%ld", index);
}

static bool in_array(const json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
  return false;
}

/* The options of a choice question, for messages: "a, b, c" (cut short when long). */
static void options_text(const json_t *opts, char *out, size_t len) {
  size_t i;
  json_t *v;
  out[0] = 0;
  json_array_foreach(opts, i, v) {
    if (strlen(out) + strlen(json_string_value(v)) + 8 >= len) {
      strncat(out, ", ...", len - strlen(out) - 1);
      break;
    }
    if (i) strncat(out, ", ", len - strlen(out) - 1);
    strncat(out, json_string_value(v), len - strlen(out) - 1);
  }
}

/* Checks value v against question q; appends to errors at ptr. */
static void check_answer(const json_t *q, const json_t *v, const char *key, const char *ptr, json_t *errors) {
  const char *type = json_string_value(json_object_get(q, "type"));
  const json_t *opts = json_object_get(q, "options");
  char list[400];
  if (strcmp(type, "likert5") == 0 || strcmp(type, "scale10") == 0) {
    json_int_t max = type[0] == 'l' ? 5 : 10;
    bool not_used = json_is_true(json_object_get(q, "allow_not_used"));
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= max) return;
    if (not_used && json_is_string(v) && strcmp(json_string_value(v), "not_used") == 0) return;
    if (json_is_string(v) && strcmp(json_string_value(v), "not_used") == 0)
      problem_add(errors, ptr, "\"not_used\" is not allowed for this question; give an integer from 1 to %lld",
                  (long long)max);
    else
      problem_add(errors, ptr, "must be an integer from 1 to %lld%s", (long long)max,
                  not_used ? " or \"not_used\"" : "");
  } else if (strcmp(type, "single_choice") == 0) {
    if (json_is_string(v) && in_array(opts, json_string_value(v))) return;
    options_text(opts, list, sizeof list);
    problem_add(errors, ptr, "must be one of the question's options: %s", list);
  } else if (strcmp(type, "multi_choice") == 0) {
    json_int_t max = json_integer_value(json_object_get(q, "max_choices"));
    if (!json_is_array(v) || json_array_size(v) < 1 || (json_int_t)json_array_size(v) > max) {
      problem_add(errors, ptr, "must be an array of 1 to %lld different options of the question",
                  (long long)max);
      return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      char ip[300];
      answer_pointer(ip, sizeof ip, key, (long)i);
      if (!json_is_string(item) || !in_array(opts, json_string_value(item))) {
        options_text(opts, list, sizeof list);
        problem_add(errors, ip, "must be one of the question's options: %s", list);
        continue;
      }
      for (size_t j = 0; j < i; j++)
        if (json_equal(item, json_array_get(v, j))) {
          problem_add(errors, ip, "duplicates an earlier choice");
          break;
        }
    }
  } else if (strcmp(type, "yes_sometimes_no") == 0) {
    if (!json_is_string(v) || v_enum(json_string_value(v), YSN) < 0)
      problem_add(errors, ptr, "must be one of yes, sometimes, no");
  } else if (strcmp(type, "number") == 0) {
    if (!json_is_number(v)) problem_add(errors, ptr, "must be a number");
  } else if (strcmp(type, "date") == 0) {
    if (!json_is_string(v) || !v_date(json_string_value(v))) problem_add(errors, ptr, "must be a date YYYY-MM-DD");
  } else { /* text */
    size_t n = json_is_string(v) ? utf8_length(json_string_value(v)) : 0;
    if (n < 1 || n > MAX_TEXT_ANSWER)
      problem_add(errors, ptr, "must be a text of 1 to %d characters", MAX_TEXT_ANSWER);
  }
}

json_t *survey_check_answers(const char *questions_text, const json_t *answers, json_t *errors) {
  json_t *qs = json_loads(questions_text, 0, NULL);
  json_t *clean = json_object();
  char ptr[300];
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)answers, key, v) {
    bool known = false;
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) if (strcmp(json_string_value(json_object_get(q, "key")), key) == 0) known = true;
    if (!known) {
      answer_pointer(ptr, sizeof ptr, key, -1);
      problem_add(errors, ptr, "is not a question of this survey");
    }
  }
  size_t i;
  json_t *q;
  json_array_foreach(qs, i, q) {
    const char *k = json_string_value(json_object_get(q, "key"));
    json_t *a = json_object_get(answers, k);
    answer_pointer(ptr, sizeof ptr, k, -1);
    if (!a || json_is_null(a)) {
      if (json_is_true(json_object_get(q, "required"))) problem_add(errors, ptr, "is required");
      continue;
    }
    check_answer(q, a, k, ptr, errors);
    json_object_set(clean, k, a);
  }
  json_decref(qs);
  return clean;
}

void survey_check_response_body(const json_t *body, json_t *errors, bool *unknown) {
  static const char *const read_only[] = {"id", "survey_id", "respondent_id", "created_at", "updated_at", NULL};
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)body, key, v) {
    if (strcmp(key, "answers") == 0) continue;
    char ptr[160];
    put_key(ptr, (size_t)snprintf(ptr, sizeof ptr, "/"), sizeof ptr, key);
    if (v_enum(key, read_only) >= 0) {
      problem_add(errors, ptr, "is read-only (set by the service)");
    } else {
      problem_add(errors, ptr, "unknown field");
      *unknown = true;
    }
  }
  json_t *a = json_object_get(body, "answers");
  if (!a) problem_add(errors, "/answers", "is required");
  else if (!json_is_object(a)) problem_add(errors, "/answers", "must be an object {question_key: answer}");
}
