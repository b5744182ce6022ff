/* SPDX-License-Identifier: MIT */
/*
 * tide/pressure.h - turn memory-pressure signals into reclaim passes.
 */
#ifndef TIDE_PRESSURE_H
#define TIDE_PRESSURE_H

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tide_pressure_level {
	TIDE_PRESSURE_NONE,
	TIDE_PRESSURE_LOW,
	TIDE_PRESSURE_MEDIUM,
	TIDE_PRESSURE_CRITICAL,
};

struct tide_monitor; /* opaque */
struct tide_monitor_config; /* defined by the pressure module */

TIDE_API int tide_monitor_new(struct tide_monitor **ret,
			      const struct tide_monitor_config *cfg);
TIDE_API int tide_monitor_start(struct tide_monitor *m);
TIDE_API int tide_monitor_fd(const struct tide_monitor *m);
TIDE_API int tide_monitor_dispatch(struct tide_monitor *m);
TIDE_API void tide_monitor_free(struct tide_monitor *m);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_PRESSURE_H */
