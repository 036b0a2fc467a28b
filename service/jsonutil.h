/* Table-driven validation of JSON request bodies, and JSON merge patch. */
#ifndef KOPPEL_JSONUTIL_H
#define KOPPEL_JSONUTIL_H
#include <stdbool.h>
#include <jansson.h>

enum ftype {
  FT_STRING,    /* string, length in [min, max] characters */
  FT_INT,       /* integer in [min, max] */
  FT_BOOL,
  FT_DATE,      /* YYYY-MM-DD */
  FT_TIMESTAMP, /* RFC 3339 */
  FT_UUID,
  FT_EMAIL,
  FT_ENUM,      /* string, one of values */
  FT_CHECK,     /* string accepted by check() */
  FT_STR_ARRAY, /* array of strings, [min, max] items, each accepted by check() or in values, unique */
  FT_OBJECT,    /* object validated by sub */
  FT_ANY_ARRAY  /* array of objects validated by sub (or of anything, by item) */
};

struct field;
typedef void (*item_fn)(const json_t *item, const char *pointer, json_t *errors);

struct field {
  const char *name;
  enum ftype type;
  bool required;
  bool nullable;
  long long min, max;
  const char *const *values;     /* FT_ENUM, FT_STR_ARRAY */
  bool (*check)(const char *);   /* FT_CHECK, FT_STR_ARRAY */
  const char *rule;              /* words for the message, e.g. "a NACE Rev. 2 code" */
  const struct field *sub;       /* FT_OBJECT, FT_ANY_ARRAY items; terminated by name == NULL */
  item_fn item;                  /* FT_ANY_ARRAY */
};

/* Checks obj against spec (terminated by name == NULL). Unknown members are
 * reported with message "unknown field" and set *unknown. Appends to errors. */
void fields_check(const json_t *obj, const struct field *spec, const char *prefix,
                  json_t *errors, bool *unknown);

/* The same for a merge-patch document: nothing is required, null is checked
 * against nullable (null on a non-nullable field is an error). */
void fields_check_patch(const json_t *obj, const struct field *spec, const char *prefix,
                        json_t *errors, bool *unknown);

/* Number of code points in a valid UTF-8 string. */
size_t utf8_length(const char *s);

/* RFC 7396: applies patch to target in place (target borrowed, patch borrowed). */
void merge_patch(json_t *target, const json_t *patch);

/* FNV-1a 64 of data as a quoted strong ETag into out (>= 24 bytes). */
void etag_of(const char *data, size_t len, char *out, size_t outlen);

/* Removes from doc (an object) every member named in names (NULL-terminated),
 * adding {"/name", message} to errors for each: fields a body may not set. */
void fields_strip(json_t *doc, const char *const names[], const char *message, json_t *errors);

#endif
