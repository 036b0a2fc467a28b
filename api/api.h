/* Each resource module adds its routes. */
#ifndef KOPPEL_API_H
#define KOPPEL_API_H
void programmes_register(void);
void staff_register(void);
void partners_register(void);
void participants_register(void);
void eligibility_register(void); /* api/eligibility.c: eligibility and certificates of a participant */
void pairs_register(void);
void meetings_register(void);
void suggestions_register(void);
void followups_register(void);
void exports_register(void);
void outcomes_register(void);
void stats_register(void);
void surveys_register(void);
void trainings_register(void);
void activities_register(void);
void privacy_register(void);
void feedback_register(void);
void audit_register(void);    /* api/audit.c: GET /v1/audit */
/* Webhooks (api/webhooks.c): adds the /v1/webhooks routes and starts the
 * delivery worker thread (KOPPEL_WEBHOOK_*); -1 on a configuration error.
 * Call before http_serve. webhooks_stop cuts short an attempt in flight
 * (not counted) and joins the worker; call it before the pool is freed. */
struct app;
int webhooks_start(struct app *app);
void webhooks_stop(void);
/* Pending deliveries when the worker last looked (about once a second while
 * idle), -1 before it looked: the webhook backlog for /metrics. */
long long webhooks_backlog(void);
/* Seconds since the oldest of those deliveries was created (0 when none). */
double webhooks_oldest_pending_seconds(void);
#endif
