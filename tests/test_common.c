// SPDX-License-Identifier: MIT
#include <errno.h>

#include <tide.h>

#include "harness.h"

TEST(strerror_names_tide_errors)
{
	CHECK_STR(tide_strerror(0), "Success");
	CHECK_STR(tide_strerror(-ENOMEM), "Out of memory");
	CHECK_STR(tide_strerror(-EINVAL), "Invalid argument");
	CHECK_STR(tide_strerror(-EOVERFLOW), "Size computation overflows");
	CHECK_STR(tide_strerror(-ENOSPC), "No space left in the arena");
	CHECK_STR(tide_strerror(-EOPNOTSUPP), "Operation not supported here");
	CHECK_STR(tide_strerror(ENOMEM), "Out of memory");
	CHECK_STR(tide_strerror(-EACCES), "Permission denied");
	CHECK_STR(tide_strerror(-100000), "Unknown error");
}

TEST(version_matches_header)
{
	CHECK_STR(tide_version(), TIDE_VERSION_STRING);
}

RUN_TESTS(T(strerror_names_tide_errors), T(version_matches_header))
