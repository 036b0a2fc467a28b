/* libFuzzer target: a request body as the service reads it, against the
 * field tables the service itself uses (api/fields.c, api/survey_check.c).
 * The first byte of the input selects the table (TABLES below, modulo their
 * number; new tables go at the end so the seeds keep their meaning), the
 * rest is the body: parsed with json_loadb(JSON_REJECT_DUPLICATES), checked
 * whole (fields_check) and as a merge patch (fields_check_patch), merged
 * into a stored resource, and the result tagged. Besides sanitizer findings,
 * it aborts when an invariant breaks:
 * - every error is {pointer, message}, a non-empty message and an RFC 6901
 *   pointer into the body: the member it names exists ("is required": its
 *   parent does), unless the pointer was cut at its buffer's length;
 * - *unknown is set exactly when an error says "unknown field";
 * - a patch is checked like the whole body minus "is required";
 * - RFC 7396: the patch is not modified, nulls never land in the result,
 *   and applying the same patch twice changes nothing more. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fields.h"
#include "api/survey_check.h"
#include "service/jsonutil.h"
#include "tests/fuzz/pointer.h"

static const struct {
  const char *name; /* the seeds' prefix in tests/fuzz/corpus/body/ */
  const struct field *spec;
} TABLES[] = {
  {"activity", activity_fields},
  {"activity-patch", activity_patch_fields},
  {"activity-registration", activity_registration_fields},
  {"certificate", certificate_fields},
  {"feedback", feedback_fields},
  {"meeting", meeting_fields},
  {"outcome", outcome_fields},
  {"pair-proposal", pair_proposal_fields},
  {"pair-change", pair_change_fields},
  {"pair-decline", pair_decline_fields},
  {"pair-close", pair_close_fields},
  {"pair-note", pair_note_fields},
  {"participant", participant_fields},
  {"partner", partner_fields},
  {"programme", programme_fields},
  {"programme-topics", programme_topics_fields},
  {"staff", staff_fields},
  {"staff-patch", staff_fields + 1},
  {"survey", survey_fields},
  {"training", training_fields},
  {"training-patch", training_patch_fields},
  {"training-enrolment", training_enrolment_fields},
  {"webhook", webhook_fields},
};
#define NTABLES (sizeof TABLES / sizeof TABLES[0])

/* Error pointers are built in buffers of 256 bytes (service/jsonutil.c). */
#define POINTER_BUFFER 256

/* A stored resource to patch (no nulls in it, see the invariant below). */
static const char BASE[] =
  "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"kind\":\"mentee\",\"given_name\":\"Ann\","
  "\"sectors\":[\"62\"],\"languages\":[{\"code\":\"nl\",\"level\":\"B2\"}],\"capacity\":2,"
  "\"consent\":{\"data_processing\":true,\"research\":false},\"contact\":{\"name\":\"Bo\"}}";


/* Checks the error list of doc (prefix: the pointer doc was checked under);
 * returns the number of "unknown field" errors. */
static size_t check_errors(const json_t *errors, const json_t *doc, const char *prefix) {
  size_t i, unknown = 0;
  json_t *e;
  json_array_foreach(errors, i, e) {
    const char *p = json_string_value(json_object_get(e, "pointer"));
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!json_is_object(e) || json_object_size(e) != 2 || !p || !m || !*m) abort();
    if (strncmp(p, prefix, strlen(prefix)) != 0) abort();
    if (strcmp(m, "unknown field") == 0) unknown++;
    if (strlen(p) >= POINTER_BUFFER - 8) continue; /* may be cut short */
    const char *rel = p + strlen(prefix);
    if (strcmp(m, "is required") == 0) {
      char parent[POINTER_BUFFER];
      snprintf(parent, sizeof parent, "%s", rel);
      char *slash = strrchr(parent, '/');
      if (!slash) abort();
      *slash = 0;
      if (!resolve(doc, parent) || resolve(doc, rel)) abort();
    } else if (!resolve(doc, rel)) {
      abort();
    }
  }
  return unknown;
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
  if (size < 1) return 0;
  const struct field *spec = TABLES[data[0] % NTABLES].spec;
  json_error_t err;
  json_t *doc = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &err);
  if (!doc) return 0;
  if (!json_is_object(doc)) {
    json_decref(doc);
    return 0;
  }

  json_t *full = json_array(), *patch = json_array();
  bool unknown_full = false, unknown_patch = false;
  fields_check(doc, spec, "", full, &unknown_full);
  fields_check_patch(doc, spec, "/items/0", patch, &unknown_patch);
  if ((check_errors(full, doc, "") > 0) != unknown_full) abort();
  if ((check_errors(patch, doc, "/items/0") > 0) != unknown_patch) abort();
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
