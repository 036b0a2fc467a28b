/* Each resource module adds its routes. */
#ifndef KOPPEL_API_H
#define KOPPEL_API_H
void programmes_register(void);
void staff_register(void);
void partners_register(void);
void participants_register(void);
void pairs_register(void);
void meetings_register(void);
void suggestions_register(void);
void followups_register(void);
void exports_register(void);
void outcomes_register(void);
void stats_register(void);
#endif
