// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <tide.h>

#include "harness.h"

TEST(strerror_names_tide_errors)
{
	CHECK_STR(tide_strerror(0), "Success");
	/* The C library's words for standard errnos (issue 14 item 11). */
	CHECK_STR(tide_strerror(-ENOMEM), "Cannot allocate memory");
	CHECK_STR(tide_strerror(-EINVAL), "Invalid argument");
	CHECK_STR(tide_strerror(-ENOSPC), "No space left on device");
	CHECK_STR(tide_strerror(-ENOENT), "No such file or directory");
	CHECK_STR(tide_strerror(-EBUSY), "Device or resource busy");
	CHECK_STR(tide_strerror(-EOPNOTSUPP), "Operation not supported");
	CHECK_STR(tide_strerror(-EACCES), "Permission denied");
	CHECK_STR(tide_strerror(ENOMEM), "Cannot allocate memory");
	/* The one tide meaning: a size computation overflowed. */
	CHECK_STR(tide_strerror(-EOVERFLOW), "Size computation overflows");
	CHECK_STR(tide_strerror(-100000), "Unknown error");
}

TEST(strerror_matches_the_c_library_for_every_other_errno)
{
	for (int e = 1; e < 134; e++) {
		const char *want = strerrordesc_np(e);

		if (e == EOVERFLOW)
			continue;
		CHECK_STR(tide_strerror(-e), want ? want : "Unknown error");
	}
}

TEST(version_matches_header)
{
	CHECK_STR(tide_version(), TIDE_VERSION_STRING);
}

RUN_TESTS(T(strerror_names_tide_errors),
	  T(strerror_matches_the_c_library_for_every_other_errno),
	  T(version_matches_header))
