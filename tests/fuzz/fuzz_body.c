/* libFuzzer target: a request body as the service reads it. Bytes are parsed
 * with json_loadb(JSON_REJECT_DUPLICATES), checked against a participant-like
 * field table (create and patch), merged into a stored resource, and the
 * result tagged. Besides sanitizer findings, it aborts when an invariant of
 * RFC 7396 or of the error list breaks. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/jsonutil.h"
#include "service/validate.h"

static const char *const KINDS[] = {"mentor", "mentee", NULL};
static const char *const STATUSES[] = {"applied", "screened", "waiting", "matched",
                                       "active", "completed", "withdrawn", "rejected", NULL};
static const char *const AVAIL[] = {"working_hours", "evenings", "weekends", NULL};

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

static const struct field CONSENT[] = {
  {.name = "data_processing", .type = FT_BOOL},
  {.name = "research", .type = FT_BOOL},
  {.name = "given_at", .type = FT_TIMESTAMP, .nullable = true},
  {0},
};

static const struct field CONTACT[] = {
  {.name = "name", .type = FT_STRING, .required = true, .min = 1, .max = 100},
  {.name = "email", .type = FT_EMAIL, .nullable = true},
  {.name = "phone", .type = FT_CHECK, .nullable = true, .check = v_phone, .rule = "a phone number"},
  {0},
};

static const struct field SPEC[] = {
  {.name = "programme_id", .type = FT_UUID, .required = true},
  {.name = "kind", .type = FT_ENUM, .required = true, .values = KINDS},
  {.name = "given_name", .type = FT_STRING, .required = true, .min = 1, .max = 100},
  {.name = "email", .type = FT_EMAIL, .nullable = true},
  {.name = "status", .type = FT_ENUM, .values = STATUSES},
  {.name = "sectors", .type = FT_STR_ARRAY, .max = 2, .check = v_nace, .rule = "a NACE Rev. 2 code"},
  {.name = "occupations", .type = FT_STR_ARRAY, .max = 2, .check = v_isco, .rule = "an ISCO-08 code"},
  {.name = "availability", .type = FT_STR_ARRAY, .max = 3, .values = AVAIL, .rule = "an availability"},
  {.name = "languages", .type = FT_ANY_ARRAY, .max = 20, .item = language_item},
  {.name = "capacity", .type = FT_INT, .nullable = true, .min = 0, .max = 100},
  {.name = "active", .type = FT_BOOL},
  {.name = "arrival_on", .type = FT_DATE, .nullable = true},
  {.name = "seen_at", .type = FT_TIMESTAMP, .nullable = true},
  {.name = "cv_url", .type = FT_CHECK, .nullable = true, .check = v_url, .rule = "an http(s) URL"},
  {.name = "consent", .type = FT_OBJECT, .sub = CONSENT},
  {.name = "contact", .type = FT_OBJECT, .nullable = true, .sub = CONTACT},
  {0},
};

/* A stored resource to patch (no nulls in it, see the invariant below). */
static const char BASE[] =
  "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"kind\":\"mentee\",\"given_name\":\"Ann\","
  "\"sectors\":[\"62\"],\"languages\":[{\"code\":\"nl\",\"level\":\"B2\"}],\"capacity\":2,"
  "\"consent\":{\"data_processing\":true,\"research\":false},\"contact\":{\"name\":\"Bo\"}}";

static void check_errors(const json_t *errors) {
  size_t i;
  json_t *e;
  json_array_foreach(errors, i, e) {
    const char *p = json_string_value(json_object_get(e, "pointer"));
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!p || !m || !*m || (p[0] != 0 && p[0] != '/')) abort();
  }
}

/* A null member of an object reached through objects only (arrays are
 * values that a patch replaces whole, nulls inside them are data). */
static bool has_null_member(const json_t *obj) {
  const char *k;
  json_t *m;
  json_object_foreach((json_t *)obj, k, m) {
    if (json_is_null(m) || (json_is_object(m) && has_null_member(m))) return true;
  }
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static json_t *base;
  if (!base) {
    json_object_seed(1); /* reproducible runs */
    base = json_loads(BASE, 0, NULL);
    if (!base) abort();
  }
  json_error_t err;
  json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
  if (!doc) return 0;
  if (!json_is_object(doc)) {
    json_decref(doc);
    return 0;
  }

  json_t *full = json_array(), *patch = json_array();
  bool unknown_full = false, unknown_patch = false;
  fields_check(doc, SPEC, "", full, &unknown_full);
  fields_check_patch(doc, SPEC, "/items/0", patch, &unknown_patch);
  check_errors(full);
  check_errors(patch);
  /* A patch is checked like the full body minus "is required". */
  if (unknown_full != unknown_patch || json_array_size(patch) > json_array_size(full)) abort();

  json_t *target = json_deep_copy(base), *doc_copy = json_deep_copy(doc);
  merge_patch(target, doc);
  if (!json_equal(doc, doc_copy)) abort(); /* the patch is not modified */
  /* RFC 7396: nulls remove members and never land in the result... */
  if (has_null_member(target)) abort();
  /* ...and applying the same patch twice changes nothing more. */
  json_t *again = json_deep_copy(target);
  merge_patch(again, doc);
  if (!json_equal(again, target)) abort();

  char *text = json_dumps(target, JSON_COMPACT | JSON_SORT_KEYS);
  if (text) {
    char tag[32], tag2[32];
    etag_of(text, strlen(text), tag, sizeof tag);
    etag_of(text, strlen(text), tag2, sizeof tag2);
    if (strcmp(tag, tag2) != 0 || strlen(tag) != 18) abort();
    free(text);
  }
  json_decref(again);
  json_decref(doc_copy);
  json_decref(target);
  json_decref(full);
  json_decref(patch);
  json_decref(doc);
  return 0;
}
