/* Shared by the fuzz targets: resolves an error's JSON Pointer in the body
 * that was checked, to prove every pointer the validators report is real. */
#ifndef KOPPEL_FUZZ_POINTER_H
#define KOPPEL_FUZZ_POINTER_H
#include <jansson.h>
#include <stdlib.h>

/* The value at JSON Pointer p in doc, or NULL. */
static const json_t *resolve(const json_t *doc, const char *p) {
  while (*p) {
    if (*p != '/') return NULL;
    p++;
    char token[256];
    size_t n = 0;
    for (; *p && *p != '/'; p++) {
      if (n + 1 >= sizeof token) return NULL;
      if (*p == '~') {
        p++;
        if (*p != '0' && *p != '1') return NULL;
        token[n++] = *p == '0' ? '~' : '/';
      } else {
        token[n++] = *p;
      }
    }
    token[n] = 0;
    if (json_is_object(doc)) {
      doc = json_object_get(doc, token);
    } else if (json_is_array(doc)) {
      char *end;
      long i = strtol(token, &end, 10);
      if (!n || *end || i < 0 || (size_t)i >= json_array_size(doc)) return NULL;
      doc = json_array_get(doc, (size_t)i);
    } else {
      return NULL;
    }
    if (!doc) return NULL;
  }
  return doc;
}

#endif
