/* One JSON line per event on stdout (requests) or stderr (errors). */
#ifndef KOPPEL_LOG_H
#define KOPPEL_LOG_H

void log_request(const char *request_id, const char *method, const char *route, int status,
                 long long duration_us, const char *role, const char *subject);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *request_id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
