/* service/jsonutil.c: table-driven body validation, merge patch, ETags. */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <stdio.h>

#include "service/jsonutil.h"
#include "service/validate.h"

/* ------------------------------------------------- a representative table */

static const char *const KINDS[] = {"mentor", "mentee", NULL};
static const char *const AVAIL[] = {"working_hours", "evenings", "weekends", NULL};

static const struct field CONTACT[] = {
  {.name = "name", .type = FT_STRING, .required = true, .min = 1, .max = 10},
  {.name = "email", .type = FT_EMAIL, .nullable = true},
  {0},
};

static void language_item(const json_t *item, const char *pointer, json_t *errors);

static const struct field SPEC[] = {
  {.name = "name", .type = FT_STRING, .required = true, .min = 1, .max = 5},
  {.name = "kind", .type = FT_ENUM, .required = true, .values = KINDS},
  {.name = "capacity", .type = FT_INT, .min = 0, .max = 10},
  {.name = "active", .type = FT_BOOL},
  {.name = "starts_on", .type = FT_DATE, .nullable = true},
  {.name = "seen_at", .type = FT_TIMESTAMP},
  {.name = "partner_id", .type = FT_UUID, .nullable = true},
  {.name = "email", .type = FT_EMAIL},
  {.name = "sector", .type = FT_CHECK, .check = v_nace, .rule = "a NACE Rev. 2 code"},
  {.name = "sectors", .type = FT_STR_ARRAY, .min = 0, .max = 2, .check = v_nace,
   .rule = "a NACE Rev. 2 code"},
  {.name = "availability", .type = FT_STR_ARRAY, .min = 1, .max = 3, .values = AVAIL,
   .rule = "one of working_hours, evenings, weekends"},
  {.name = "contact", .type = FT_OBJECT, .sub = CONTACT, .nullable = true},
  {.name = "languages", .type = FT_ANY_ARRAY, .min = 0, .max = 3, .item = language_item},
  {0},
};

static const struct field LANGUAGE[] = {
  {.name = "code", .type = FT_CHECK, .required = true, .check = v_iso639_1, .rule = "an ISO 639-1 code"},
  {.name = "level", .type = FT_CHECK, .required = true, .check = v_cefr, .rule = "a CEFR level"},
  {0},
};

static void language_item(const json_t *item, const char *pointer, json_t *errors) {
  if (!json_is_object(item)) {
    json_array_append_new(errors, json_pack("{s:s,s:s}", "pointer", pointer, "message", "must be an object"));
    return;
  }
  fields_check(item, LANGUAGE, pointer, errors, NULL);
}

/* ------------------------------------------------------------- helpers */

struct result {
  json_t *errors;
  bool unknown;
};

static struct result run(const char *body, bool patch, const char *prefix) {
  json_error_t e;
  json_t *obj = json_loads(body, JSON_REJECT_DUPLICATES, &e);
  if (!obj) fail_msg("test body does not parse: %s: %s", body, e.text);
  struct result r = {json_array(), false};
  if (patch) fields_check_patch(obj, SPEC, prefix, r.errors, &r.unknown);
  else fields_check(obj, SPEC, prefix, r.errors, &r.unknown);
  json_decref(obj);
  return r;
}

/* The message at pointer, or NULL. */
static const char *msg_at(const struct result *r, const char *pointer) {
  size_t i;
  json_t *e;
  json_array_foreach(r->errors, i, e) {
    if (strcmp(json_string_value(json_object_get(e, "pointer")), pointer) == 0)
      return json_string_value(json_object_get(e, "message"));
  }
  return NULL;
}

static void dump_and_fail(const struct result *r, const char *what) {
  char *s = json_dumps(r->errors, JSON_COMPACT);
  print_error("errors: %s\n", s);
  free(s);
  fail_msg("%s", what);
}

/* Exactly one error, at pointer, with message. */
static void expect_one(const char *body, bool patch, const char *pointer, const char *message) {
  struct result r = run(body, patch, "");
  if (json_array_size(r.errors) != 1) dump_and_fail(&r, body);
  const char *m = msg_at(&r, pointer);
  if (!m || strcmp(m, message) != 0) dump_and_fail(&r, body);
  json_decref(r.errors);
}

static void expect_none(const char *body, bool patch) {
  struct result r = run(body, patch, "");
  if (json_array_size(r.errors) != 0 || r.unknown) dump_and_fail(&r, body);
  json_decref(r.errors);
}

#define VALID_BASE "\"name\":\"Ann\",\"kind\":\"mentor\""

/* ------------------------------------------------------- fields_check */

static void valid_full_body(void **state) {
  (void)state;
  expect_none("{" VALID_BASE ",\"capacity\":10,\"active\":false,\"starts_on\":\"2024-02-29\","
              "\"seen_at\":\"2024-02-29T10:00:00Z\",\"partner_id\":\"123e4567-e89b-12d3-a456-426614174000\","
              "\"email\":\"a@b.co\",\"sector\":\"62.01\",\"sectors\":[\"C\",\"62\"],"
              "\"availability\":[\"evenings\",\"weekends\"],\"contact\":{\"name\":\"Bo\",\"email\":null},"
              "\"languages\":[{\"code\":\"nl\",\"level\":\"C2\"},{\"code\":\"ar\",\"level\":\"A1\"}]}",
              false);
  expect_none("{" VALID_BASE "}", false);
  expect_none("{" VALID_BASE ",\"starts_on\":null,\"partner_id\":null,\"contact\":null}", false);
}

static void required_fields(void **state) {
  (void)state;
  struct result r = run("{}", false, "");
  assert_int_equal(json_array_size(r.errors), 2);
  assert_string_equal(msg_at(&r, "/name"), "is required");
  assert_string_equal(msg_at(&r, "/kind"), "is required");
  assert_false(r.unknown); /* missing is 422, not 400 */
  json_decref(r.errors);
}

static void unknown_fields(void **state) {
  (void)state;
  struct result r = run("{" VALID_BASE ",\"bogus\":1,\"Name\":\"x\"}", false, "");
  assert_true(r.unknown);
  assert_int_equal(json_array_size(r.errors), 2);
  assert_string_equal(msg_at(&r, "/bogus"), "unknown field");
  assert_string_equal(msg_at(&r, "/Name"), "unknown field"); /* names are case-sensitive */
  json_decref(r.errors);

  /* Inside a nested object, the flag is raised as well. */
  r = run("{" VALID_BASE ",\"contact\":{\"name\":\"x\",\"zzz\":1}}", false, "");
  assert_true(r.unknown);
  assert_string_equal(msg_at(&r, "/contact/zzz"), "unknown field");
  json_decref(r.errors);

  /* The flag pointer may be NULL. */
  json_t *obj = json_pack("{s:i}", "bogus", 1), *errors = json_array();
  fields_check(obj, SPEC, "", errors, NULL);
  assert_int_equal(json_array_size(errors), 3); /* bogus + two required */
  json_decref(errors);
  json_decref(obj);
}

static void nested_pointers(void **state) {
  (void)state;
  struct result r = run("{" VALID_BASE ",\"contact\":{\"email\":\"nope\"},"
                        "\"languages\":[{\"code\":\"nl\",\"level\":\"C2\"},{\"code\":\"xx\"}]}",
                        false, "");
  assert_string_equal(msg_at(&r, "/contact/name"), "is required");
  assert_string_equal(msg_at(&r, "/contact/email"), "must be an e-mail address");
  assert_string_equal(msg_at(&r, "/languages/1/code"), "must be an ISO 639-1 code");
  assert_string_equal(msg_at(&r, "/languages/1/level"), "is required");
  assert_int_equal(json_array_size(r.errors), 4);
  json_decref(r.errors);

  /* A prefix (an item of a batch) is put in front of every pointer. */
  r = run("{\"kind\":\"boss\"}", false, "/items/3");
  assert_non_null(msg_at(&r, "/items/3/kind"));
  assert_string_equal(msg_at(&r, "/items/3/name"), "is required");
  json_decref(r.errors);

  expect_one("{" VALID_BASE ",\"languages\":[\"nl\"]}", false, "/languages/0", "must be an object");
}

static void string_lengths(void **state) {
  (void)state;
  expect_none("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"kind\":\"mentor\"}", false);
  expect_one("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"kind\":\"mentor\"}",
             false, "/name", "must be between 1 and 5 characters long");
  expect_one("{\"name\":\"\",\"kind\":\"mentor\"}", false, "/name",
             "must be between 1 and 5 characters long");
  expect_none("{\"name\":\"\xf0\x9f\x98\x80\",\"kind\":\"mentor\"}", false); /* one emoji */
}

static void wrong_types(void **state) {
  (void)state;
  expect_one("{\"name\":5,\"kind\":\"mentor\"}", false, "/name", "must be a string");
  expect_one("{" VALID_BASE ",\"capacity\":\"3\"}", false, "/capacity", "must be an integer");
  expect_one("{" VALID_BASE ",\"capacity\":3.0}", false, "/capacity", "must be an integer");
  expect_one("{" VALID_BASE ",\"capacity\":11}", false, "/capacity", "must be between 0 and 10");
  expect_one("{" VALID_BASE ",\"capacity\":-1}", false, "/capacity", "must be between 0 and 10");
  expect_none("{" VALID_BASE ",\"capacity\":0}", false);
  expect_one("{" VALID_BASE ",\"active\":\"true\"}", false, "/active", "must be a boolean");
  expect_one("{" VALID_BASE ",\"active\":1}", false, "/active", "must be a boolean");
  expect_one("{" VALID_BASE ",\"contact\":[]}", false, "/contact", "must be an object");
  expect_one("{" VALID_BASE ",\"sectors\":\"01\"}", false, "/sectors", "must be an array");
  expect_one("{" VALID_BASE ",\"languages\":{}}", false, "/languages", "must be an array");
  expect_one("{" VALID_BASE ",\"starts_on\":20240101}", false, "/starts_on", "must be a string");
}

static void formats(void **state) {
  (void)state;
  expect_one("{" VALID_BASE ",\"starts_on\":\"2023-02-29\"}", false, "/starts_on",
             "must be a date YYYY-MM-DD");
  expect_one("{" VALID_BASE ",\"seen_at\":\"2024-01-01 10:00\"}", false, "/seen_at",
             "must be an RFC 3339 date-time");
  expect_one("{" VALID_BASE ",\"partner_id\":\"42\"}", false, "/partner_id", "must be a UUID");
  expect_one("{" VALID_BASE ",\"email\":\"a@b\"}", false, "/email", "must be an e-mail address");
  expect_one("{" VALID_BASE ",\"sector\":\"Z\"}", false, "/sector", "must be a NACE Rev. 2 code");
}

static void enum_message(void **state) {
  (void)state;
  expect_one("{\"name\":\"Ann\",\"kind\":\"boss\"}", false, "/kind", "must be one of mentor, mentee");
  expect_one("{\"name\":\"Ann\",\"kind\":\"Mentor\"}", false, "/kind", "must be one of mentor, mentee");
}

static void nulls(void **state) {
  (void)state;
  expect_none("{" VALID_BASE ",\"starts_on\":null}", false);
  expect_one("{\"name\":null,\"kind\":\"mentor\"}", false, "/name", "must not be null");
  expect_one("{" VALID_BASE ",\"capacity\":null}", false, "/capacity", "must not be null");
  expect_one("{" VALID_BASE ",\"sectors\":null}", false, "/sectors", "must not be null");
}

static void string_arrays(void **state) {
  (void)state;
  expect_one("{" VALID_BASE ",\"sectors\":[\"01\",\"01\"]}", false, "/sectors/1",
             "duplicates an earlier item");
  expect_one("{" VALID_BASE ",\"sectors\":[\"01\",\"zz\"]}", false, "/sectors/1",
             "must be a NACE Rev. 2 code");
  expect_one("{" VALID_BASE ",\"sectors\":[1]}", false, "/sectors/0", "must be a string");
  expect_one("{" VALID_BASE ",\"sectors\":[\"A\",\"B\",\"C\"]}", false, "/sectors",
             "must have between 0 and 2 items");
  expect_none("{" VALID_BASE ",\"sectors\":[]}", false);
  expect_one("{" VALID_BASE ",\"availability\":[]}", false, "/availability",
             "must have between 1 and 3 items");
  expect_one("{" VALID_BASE ",\"availability\":[\"evenings\",\"nights\"]}", false, "/availability/1",
             "must be one of working_hours, evenings, weekends");
  expect_one("{" VALID_BASE ",\"availability\":[\"weekends\",\"evenings\",\"weekends\"]}", false,
             "/availability/2", "duplicates an earlier item");
}

static void all_errors_at_once(void **state) {
  (void)state;
  struct result r = run("{\"name\":\"far too long\",\"kind\":1,\"capacity\":99,\"email\":\"x\","
                        "\"sectors\":[\"01\",\"01\"],\"extra\":true}",
                        false, "");
  assert_int_equal(json_array_size(r.errors), 6);
  assert_true(r.unknown);
  assert_non_null(msg_at(&r, "/name"));
  assert_non_null(msg_at(&r, "/kind"));
  assert_non_null(msg_at(&r, "/capacity"));
  assert_non_null(msg_at(&r, "/email"));
  assert_non_null(msg_at(&r, "/sectors/1"));
  assert_non_null(msg_at(&r, "/extra"));
  json_decref(r.errors);
}

static void long_unknown_key(void **state) {
  (void)state;
  char key[1200];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = 0;
  json_t *obj = json_pack("{s:s,s:s,s:i}", "name", "Ann", "kind", "mentor", key, 1);
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(obj, SPEC, "", errors, &unknown);
  assert_true(unknown);
  assert_int_equal(json_array_size(errors), 1);
  const char *p = json_string_value(json_object_get(json_array_get(errors, 0), "pointer"));
  assert_true(p[0] == '/' && strlen(p) < sizeof key); /* cut, not overflowed */
  json_decref(errors);
  json_decref(obj);
}

/* RFC 6901: '~' is written "~0" and '/' is "~1" inside a pointer token. */
static void pointer_escaping(void **state) {
  (void)state;
  struct result r = run("{" VALID_BASE ",\"a/b\":1,\"c~d\":2}", false, "");
  assert_non_null(msg_at(&r, "/a~1b"));
  assert_non_null(msg_at(&r, "/c~0d"));
  json_decref(r.errors);
}

/* ------------------------------------------------- fields_check_patch */

static void patch_rules(void **state) {
  (void)state;
  expect_none("{}", true);                     /* nothing is required */
  expect_none("{\"capacity\":3}", true);
  expect_none("{\"starts_on\":null,\"contact\":null}", true);
  expect_one("{\"name\":null}", true, "/name", "must not be null");
  expect_one("{\"capacity\":null}", true, "/capacity", "must not be null");
  expect_one("{\"kind\":\"x\"}", true, "/kind", "must be one of mentor, mentee");
  expect_one("{\"capacity\":11}", true, "/capacity", "must be between 0 and 10");
  expect_one("{\"sectors\":[\"01\",\"01\"]}", true, "/sectors/1", "duplicates an earlier item");

  struct result r = run("{\"bogus\":1}", true, "");
  assert_true(r.unknown);
  assert_string_equal(msg_at(&r, "/bogus"), "unknown field");
  json_decref(r.errors);

  /* A nested object in a patch is itself a patch: its required members may be absent. */
  expect_none("{\"contact\":{\"email\":\"a@b.co\"}}", true);
  r = run("{\"contact\":{\"email\":\"a@b.co\"}}", false, "");
  assert_string_equal(msg_at(&r, "/contact/name"), "is required"); /* but not in a full body */
  json_decref(r.errors);
}

/* ------------------------------------------------------- merge_patch */

static void expect_merge(const char *target, const char *patch, const char *result) {
  json_t *t = json_loads(target, JSON_DECODE_ANY, NULL), *p = json_loads(patch, JSON_DECODE_ANY, NULL),
         *want = json_loads(result, JSON_DECODE_ANY, NULL);
  assert_non_null(t);
  assert_non_null(p);
  assert_non_null(want);
  json_t *p_before = json_deep_copy(p);
  merge_patch(t, p);
  if (!json_equal(t, want)) {
    char *got = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
    fail_msg("merge %s + %s = %s, expected %s", target, patch, got, result);
  }
  assert_true(json_equal(p, p_before)); /* the patch is left as it was */
  json_decref(t);
  json_decref(p);
  json_decref(want);
  json_decref(p_before);
}

/* RFC 7396 appendix A: each case applied to an object target directly. */
static void rfc7396_examples(void **state) {
  (void)state;
  expect_merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
  expect_merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
  expect_merge("{\"a\":\"b\"}", "{\"a\":null}", "{}");
  expect_merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
  expect_merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
  expect_merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
  expect_merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
  expect_merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
  expect_merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
  expect_merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
  /* The whole first example of section 3. */
  expect_merge("{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
               "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}",
               "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{\"familyName\":null},"
               "\"tags\":[\"example\"]}",
               "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
               "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}");
}

/* The cases whose target or patch is not an object, one level down (the
 * service only ever patches objects; a member follows the same recursion). */
static void rfc7396_non_object_members(void **state) {
  (void)state;
  expect_merge("{\"x\":[\"a\",\"b\"]}", "{\"x\":[\"c\",\"d\"]}", "{\"x\":[\"c\",\"d\"]}");
  expect_merge("{\"x\":{\"a\":\"b\"}}", "{\"x\":[\"c\"]}", "{\"x\":[\"c\"]}");
  expect_merge("{\"x\":{\"a\":\"foo\"}}", "{\"x\":null}", "{}");
  expect_merge("{\"x\":{\"a\":\"foo\"}}", "{\"x\":\"bar\"}", "{\"x\":\"bar\"}");
  expect_merge("{\"x\":[1,2]}", "{\"x\":{\"a\":\"b\",\"c\":null}}", "{\"x\":{\"a\":\"b\"}}");
  expect_merge("{\"x\":\"s\"}", "{\"x\":{\"a\":{\"b\":null}}}", "{\"x\":{\"a\":{}}}");
  expect_merge("{\"x\":1}", "{}", "{\"x\":1}");
}

static void merge_does_not_alias(void **state) {
  (void)state;
  /* An object member created from the patch is a new object: editing the
   * result must not change the patch document (handlers reuse r->body). */
  json_t *t = json_object(), *p = json_loads("{\"a\":{\"b\":1}}", 0, NULL);
  merge_patch(t, p);
  json_object_set_new(json_object_get(t, "a"), "b", json_integer(2));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "a"), "b")), 1);
  json_decref(t);
  json_decref(p);
}

/* ------------------------------------------------------ etag, utf8 */

static void etags(void **state) {
  (void)state;
  char a[32], b[32], c[32];
  const char *doc = "{\"id\":\"x\",\"name\":\"Ann\"}";
  etag_of(doc, strlen(doc), a, sizeof a);
  etag_of(doc, strlen(doc), b, sizeof b);
  assert_string_equal(a, b); /* stable */
  assert_int_equal(strlen(a), 18);
  assert_true(a[0] == '"' && a[17] == '"'); /* a strong, quoted ETag */
  assert_int_equal(strspn(a + 1, "0123456789abcdef"), 16);
  etag_of("{\"id\":\"x\",\"name\":\"Ana\"}", strlen(doc), c, sizeof c);
  assert_string_not_equal(a, c);
  /* Only len bytes count. */
  etag_of("abcdef", 3, b, sizeof b);
  etag_of("abc", 3, c, sizeof c);
  assert_string_equal(b, c);
}

/* The header promises FNV-1a 64; these are its published test vectors. Once
 * fixed, the tag must not change between releases, or every client's cached
 * If-Match would fail after an upgrade. */
static void etag_is_fnv1a(void **state) {
  (void)state;
  char a[32];
  etag_of("", 0, a, sizeof a);
  assert_string_equal(a, "\"cbf29ce484222325\"");
  etag_of("a", 1, a, sizeof a);
  assert_string_equal(a, "\"af63dc4c8601ec8c\"");
  etag_of("foobar", 6, a, sizeof a);
  assert_string_equal(a, "\"85944171f73967e8\"");
}

static void utf8_lengths(void **state) {
  (void)state;
  assert_int_equal(utf8_length(""), 0);
  assert_int_equal(utf8_length("abc"), 3);
  assert_int_equal(utf8_length("\xc3\xa9"), 1);           /* é */
  assert_int_equal(utf8_length("\xe2\x82\xac"), 1);       /* € */
  assert_int_equal(utf8_length("\xf0\x9f\x98\x80"), 1);   /* emoji */
  assert_int_equal(utf8_length("a\xc3\xa9\xe2\x82\xac"), 3);
}

/* fields_strip: named members leave the body, each with an error; others stay. */
static void strip_members(void **state) {
  (void)state;
  static const char *const names[] = {"id", "a/b", "absent", NULL};
  json_t *doc = json_loads("{\"id\":1,\"a/b\":null,\"keep\":true}", 0, NULL);
  json_t *errors = json_array();
  fields_strip(doc, names, "is read-only", errors);
  assert_int_equal(json_object_size(doc), 1);
  assert_non_null(json_object_get(doc, "keep"));
  assert_int_equal(json_array_size(errors), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "pointer")), "/id");
  assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "pointer")), "/a~1b");
  assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "message")), "is read-only");
  json_decref(doc);
  json_decref(errors);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(valid_full_body),     cmocka_unit_test(required_fields),
    cmocka_unit_test(unknown_fields),      cmocka_unit_test(nested_pointers),
    cmocka_unit_test(string_lengths),      cmocka_unit_test(wrong_types),
    cmocka_unit_test(formats),             cmocka_unit_test(enum_message),
    cmocka_unit_test(nulls),               cmocka_unit_test(string_arrays),
    cmocka_unit_test(all_errors_at_once),  cmocka_unit_test(long_unknown_key),
    cmocka_unit_test(pointer_escaping),    cmocka_unit_test(patch_rules),
    cmocka_unit_test(rfc7396_examples),    cmocka_unit_test(rfc7396_non_object_members),
    cmocka_unit_test(merge_does_not_alias), cmocka_unit_test(etags),
    cmocka_unit_test(etag_is_fnv1a),    cmocka_unit_test(utf8_lengths),
    cmocka_unit_test(strip_members),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
