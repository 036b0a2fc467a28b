/* RFC 9457 problem details: the one error shape of the service. */
#ifndef KOPPEL_PROBLEM_H
#define KOPPEL_PROBLEM_H
#include <jansson.h>

/* A new problem object; errors (array of {pointer, message}) is stolen, may be NULL.
 * Caller owns the result. */
json_t *problem_new(int status, const char *title, const char *detail, json_t *errors);
/* The short title of a status: "Not Found", "Unprocessable Content", ... */
const char *problem_title(int status);
/* Appends {pointer, message} to errors (borrowed). */
void problem_add(json_t *errors, const char *pointer, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

#endif
