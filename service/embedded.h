/* Files compiled into the binary by cmake/embed.cmake: migrations, demo data, openapi.yaml. */
#ifndef KOPPEL_EMBEDDED_H
#define KOPPEL_EMBEDDED_H
#include <stddef.h>

struct embedded_file {
  const char *name; /* "sql/0001_init.sql", "demo/teaching_pilot.sql", "main/openapi.yaml" */
  const char *data; /* NUL-terminated, borrowed, lives for the whole process */
  size_t len;
};

/* Terminated by an entry whose name is NULL; sorted by path. */
extern const struct embedded_file embedded_files[];

#endif
