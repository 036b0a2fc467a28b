/* service/problem.c: the RFC 9457 problem+json shape. */
#include "tests/unit/unit.h"

#include <stdio.h>

#include "service/problem.h"

static void plain_problem(void **state) {
  (void)state;
  json_t *p = problem_new(404, NULL, "no such pair", NULL);
  assert_non_null(p);
  assert_int_equal(json_object_size(p), 4); /* no "errors" member without errors */
  assert_string_equal(json_string_value(json_object_get(p, "type")), "https://koppel.dev/problems/404");
  assert_string_equal(json_string_value(json_object_get(p, "title")), "Not Found");
  assert_true(json_is_integer(json_object_get(p, "status")));
  assert_int_equal(json_integer_value(json_object_get(p, "status")), 404);
  assert_string_equal(json_string_value(json_object_get(p, "detail")), "no such pair");
  json_decref(p);
}

static void defaults_and_title(void **state) {
  (void)state;
  json_t *p = problem_new(503, NULL, NULL, NULL);
  assert_string_equal(json_string_value(json_object_get(p, "title")), "Service Unavailable");
  /* detail is always present (clients may show it): falls back to the title */
  assert_string_equal(json_string_value(json_object_get(p, "detail")), "Service Unavailable");
  json_decref(p);

  p = problem_new(409, "Capacity full", NULL, NULL);
  assert_string_equal(json_string_value(json_object_get(p, "title")), "Capacity full");
  assert_string_equal(json_string_value(json_object_get(p, "detail")), "Capacity full");
  assert_string_equal(json_string_value(json_object_get(p, "type")), "https://koppel.dev/problems/409");
  json_decref(p);
}

static void errors_are_stolen(void **state) {
  (void)state;
  json_t *errors = json_array();
  problem_add(errors, "/email", "must be an e-mail address");
  problem_add(errors, "/sectors/1", "duplicates an earlier item");
  json_incref(errors); /* a second reference to observe the transfer */
  json_t *p = problem_new(422, NULL, "the body has invalid values", errors);
  assert_ptr_equal(json_object_get(p, "errors"), errors);
  assert_int_equal(errors->refcount, 2); /* ours + the problem's: it took ours-as-given */
  json_decref(p);
  assert_int_equal(errors->refcount, 1);
  json_decref(errors);

  p = problem_new(422, NULL, NULL, json_array());
  assert_string_equal(json_string_value(json_object_get(p, "title")), "Unprocessable Content");
  assert_true(json_is_array(json_object_get(p, "errors")));
  assert_int_equal(json_array_size(json_object_get(p, "errors")), 0);
  assert_int_equal(json_object_size(p), 5);
  json_decref(p);
}

static void add_shape(void **state) {
  (void)state;
  json_t *errors = json_array();
  problem_add(errors, "/name", "must be between %d and %d characters long", 1, 200);
  problem_add(errors, "", "the body must be a JSON object");
  assert_int_equal(json_array_size(errors), 2);
  json_t *e = json_array_get(errors, 0);
  assert_int_equal(json_object_size(e), 2);
  assert_string_equal(json_string_value(json_object_get(e, "pointer")), "/name");
  assert_string_equal(json_string_value(json_object_get(e, "message")),
                      "must be between 1 and 200 characters long");
  e = json_array_get(errors, 1);
  assert_string_equal(json_string_value(json_object_get(e, "pointer")), ""); /* the whole body */

  /* A very long message is cut, not overflowed; a NULL pointer adds nothing. */
  char longmsg[2000];
  memset(longmsg, 'm', sizeof longmsg - 1);
  longmsg[sizeof longmsg - 1] = 0;
  problem_add(errors, "/x", "%s", longmsg);
  e = json_array_get(errors, 2);
  size_t n = strlen(json_string_value(json_object_get(e, "message")));
  assert_true(n > 100 && n < sizeof longmsg - 1);
  problem_add(errors, NULL, "ignored");
  assert_int_equal(json_array_size(errors), 3);
  json_decref(errors);
}

static void serialises_as_expected(void **state) {
  (void)state;
  json_t *errors = json_array();
  problem_add(errors, "/kind", "must be one of mentor, mentee");
  json_t *p = problem_new(422, NULL, "1 invalid value", errors);
  char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(s, "{\"detail\":\"1 invalid value\",\"errors\":[{\"message\":\"must be one of "
                         "mentor, mentee\",\"pointer\":\"/kind\"}],\"status\":422,\"title\":"
                         "\"Unprocessable Content\",\"type\":\"https://koppel.dev/problems/422\"}");
  free(s);
  json_decref(p);
}

static void titles(void **state) {
  (void)state;
  static const struct {
    int status;
    const char *title;
  } t[] = {{400, "Bad Request"},         {401, "Unauthorized"},
           {403, "Forbidden"},           {404, "Not Found"},
           {405, "Method Not Allowed"},  {406, "Not Acceptable"},
           {409, "Conflict"},            {412, "Precondition Failed"},
           {413, "Content Too Large"},   {415, "Unsupported Media Type"},
           {422, "Unprocessable Content"}, {428, "Precondition Required"},
           {500, "Internal Server Error"}, {503, "Service Unavailable"},
           {418, "Client Error"},        {429, "Too Many Requests"},
           {451, "Client Error"},
           {502, "Server Error"},        {504, "Server Error"}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (strcmp(problem_title(t[i].status), t[i].title) != 0)
      fail_msg("problem_title(%d) = \"%s\", expected \"%s\"", t[i].status,
               problem_title(t[i].status), t[i].title);
  }
}

/* A pointer or message cut inside a UTF-8 sequence (snprintf of client
 * input) keeps its valid prefix instead of losing the whole error. */
static void cut_utf8_kept(void **state) {
  (void)state;
  json_t *errors = json_array();
  problem_add(errors, "/\xc3\xa9\xc3", "unknown field");          /* "/é" and half an é */
  problem_add(errors, "/a\xff" "b", "bad byte \xed\xa0\x80 here");      /* a stray byte, a surrogate */
  assert_int_equal(json_array_size(errors), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "pointer")), "/\xc3\xa9");
  assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "pointer")), "/a");
  assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "message")), "bad byte ");
  json_decref(errors);
  json_t *p = problem_new(404, NULL, "no survey \xf0\x9f\x9a", NULL);
  assert_non_null(p);
  assert_string_equal(json_string_value(json_object_get(p, "detail")), "no survey ");
  json_decref(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(plain_problem),     cmocka_unit_test(defaults_and_title),
    cmocka_unit_test(errors_are_stolen), cmocka_unit_test(add_shape),
    cmocka_unit_test(serialises_as_expected), cmocka_unit_test(titles),
    cmocka_unit_test(cut_utf8_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
