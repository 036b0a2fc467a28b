#include "service/jsonutil.h"

#include <stdio.h>
#include <string.h>

#include "service/problem.h"
#include "service/validate.h"

static const char *type_word(enum ftype t) {
  switch (t) {
  case FT_INT: return "an integer";
  case FT_BOOL: return "a boolean";
  case FT_OBJECT: return "an object";
  case FT_STR_ARRAY:
  case FT_ANY_ARRAY: return "an array";
  default: return "a string";
  }
}

size_t utf8_length(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

static void check_string_rule(const struct field *f, const char *s, const char *ptr, json_t *errors) {
  switch (f->type) {
  case FT_STRING: {
    long long n = (long long)utf8_length(s);
    if (n < f->min || n > f->max)
      problem_add(errors, ptr, "must be between %lld and %lld characters long", f->min, f->max);
    break;
  }
  case FT_DATE:
    if (!v_date(s)) problem_add(errors, ptr, "must be a date YYYY-MM-DD");
    break;
  case FT_TIMESTAMP:
    if (!v_timestamp(s)) problem_add(errors, ptr, "must be an RFC 3339 date-time");
    break;
  case FT_UUID:
    if (!v_uuid(s)) problem_add(errors, ptr, "must be a UUID");
    break;
  case FT_EMAIL:
    if (!v_email(s)) problem_add(errors, ptr, "must be an e-mail address");
    break;
  case FT_ENUM:
    if (v_enum(s, f->values) < 0) {
      char list[512] = "";
      for (int i = 0; f->values[i]; i++) {
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, f->values[i], sizeof list - strlen(list) - 1);
      }
      problem_add(errors, ptr, "must be one of %s", list);
    }
    break;
  case FT_CHECK:
    if (!f->check(s)) problem_add(errors, ptr, "must be %s", f->rule ? f->rule : "valid");
    break;
  default: break;
  }
}



static void check_obj(const json_t *obj, const struct field *spec, const char *prefix,
                      json_t *errors, bool *unknown, bool partial);

static void check_one(const struct field *f, const json_t *v, const char *ptr, json_t *errors,
                      bool *unknown, bool partial) {
  if (json_is_null(v)) {
    if (!f->nullable) problem_add(errors, ptr, "must not be null");
    return;
  }
  switch (f->type) {
  case FT_INT:
    if (!json_is_integer(v)) problem_add(errors, ptr, "must be an integer");
    else if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
      problem_add(errors, ptr, "must be between %lld and %lld", f->min, f->max);
    return;
  case FT_BOOL:
    if (!json_is_boolean(v)) problem_add(errors, ptr, "must be a boolean");
    return;
  case FT_OBJECT:
    if (!json_is_object(v)) problem_add(errors, ptr, "must be an object");
    else check_obj(v, f->sub, ptr, errors, unknown, partial);
    return;
  case FT_ANY_ARRAY:
  case FT_STR_ARRAY: {
    if (!json_is_array(v)) {
      problem_add(errors, ptr, "must be an array");
      return;
    }
    long long n = (long long)json_array_size(v);
    if (n < f->min || n > f->max) {
      problem_add(errors, ptr, "must have between %lld and %lld items", f->min, f->max);
      return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      char ip[256];
      snprintf(ip, sizeof ip, "%s/%zu", ptr, i);
      if (f->type == FT_ANY_ARRAY) {
        /* items are whole objects (a patch replaces the array), never partial */
        if (f->sub && !json_is_object(item)) problem_add(errors, ip, "must be an object");
        else if (f->sub) check_obj(item, f->sub, ip, errors, unknown, false);
        else if (f->item) f->item(item, ip, errors);
        continue;
      }
      if (!json_is_string(item)) {
        problem_add(errors, ip, "must be a string");
        continue;
      }
      const char *s = json_string_value(item);
      bool ok = f->values ? v_enum(s, f->values) >= 0 : (f->check ? f->check(s) : true);
      if (!ok) problem_add(errors, ip, "must be %s", f->rule ? f->rule : "valid");
      for (size_t j = 0; j < i; j++)
        if (json_equal(item, json_array_get(v, j))) {
          problem_add(errors, ip, "duplicates an earlier item");
          break;
        }
    }
    return;
  }
  default:
    if (!json_is_string(v)) problem_add(errors, ptr, "must be %s", type_word(f->type));
    else check_string_rule(f, json_string_value(v), ptr, errors);
    return;
  }
}

/* Appends "/" and key to prefix as an RFC 6901 JSON Pointer ("~" → "~0", "/" → "~1"). */
static void pointer_to(char *out, size_t len, const char *prefix, const char *key) {
  size_t o = (size_t)snprintf(out, len, "%s/", prefix);
  for (const char *k = key; *k && o + 3 < len; k++) {
    if (*k == '~' || *k == '/') {
      out[o++] = '~';
      out[o++] = *k == '~' ? '0' : '1';
    } else {
      out[o++] = *k;
    }
  }
  if (o < len) out[o] = 0;
  else out[len - 1] = 0;
}

static void check_obj(const json_t *obj, const struct field *spec, const char *prefix,
                      json_t *errors, bool *unknown, bool partial) {
  char ptr[256];
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    const struct field *f = spec;
    while (f->name && strcmp(f->name, key) != 0) f++;
    pointer_to(ptr, sizeof ptr, prefix, key);
    if (!f->name) {
      /* what the service maintains is named as such: a client echoing a
       * resource it read gets a 422 that says so, not "unknown field" */
      if (!strcmp(key, "id") || !strcmp(key, "created_at") || !strcmp(key, "updated_at")) {
        problem_add(errors, ptr, "is read-only (set by the service)");
        continue;
      }
      problem_add(errors, ptr, "unknown field");
      if (unknown) *unknown = true;
      continue;
    }
    check_one(f, v, ptr, errors, unknown, partial);
  }
  for (const struct field *f = spec; f->name; f++) {
    if (!partial && f->required && !json_object_get(obj, f->name)) {
      snprintf(ptr, sizeof ptr, "%s/%s", prefix, f->name);
      problem_add(errors, ptr, "is required");
    }
  }
}

void fields_check(const json_t *obj, const struct field *spec, const char *prefix, json_t *errors,
                  bool *unknown) {
  check_obj(obj, spec, prefix, errors, unknown, false);
}

void fields_check_patch(const json_t *obj, const struct field *spec, const char *prefix,
                        json_t *errors, bool *unknown) {
  check_obj(obj, spec, prefix, errors, unknown, true);
}

void merge_patch(json_t *target, const json_t *patch) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)patch, key, v) {
    if (json_is_null(v)) {
      json_object_del(target, key);
    } else if (json_is_object(v)) {
      json_t *t = json_object_get(target, key);
      if (!json_is_object(t)) {
        t = json_object();
        json_object_set_new(target, key, t);
      }
      merge_patch(t, v);
    } else {
      json_object_set(target, key, v);
    }
  }
}

void etag_of(const char *data, size_t len, char *out, size_t outlen) {
  unsigned long long h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)data[i];
    h *= 1099511628211ULL;
  }
  snprintf(out, outlen, "\"%016llx\"", h);
}

void fields_strip(json_t *doc, const char *const names[], const char *message, json_t *errors) {
  for (size_t i = 0; names[i]; i++) {
    if (!json_object_get(doc, names[i])) continue;
    char ptr[256];
    pointer_to(ptr, sizeof ptr, "", names[i]);
    problem_add(errors, ptr, "%s", message);
    json_object_del(doc, names[i]);
  }
}
