/* SPDX-License-Identifier: MIT */
/*
 * tide/common.h - flags, version, export macros and error helpers shared by
 * every tide module.
 */
#ifndef TIDE_COMMON_H
#define TIDE_COMMON_H

#if !defined(__cplusplus) &&                                          \
	((defined(__STDC_VERSION__) && __STDC_VERSION__ < 199901L) || \
	 (!defined(__STDC_VERSION__) && defined(__STRICT_ANSI__)))
#error "tide's headers need C99 or later (-std=c99, c11, gnu11, ...)"
#endif

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIDE_VERSION_MAJOR 0
#define TIDE_VERSION_MINOR 2
#define TIDE_VERSION_PATCH 29
#define TIDE_VERSION_STRING "0.2.29"

#if defined(TIDE_BUILDING) && defined(__GNUC__)
#define TIDE_API __attribute__((visibility("default")))
#else
#define TIDE_API
#endif

#if defined(__GNUC__)
#define TIDE_MALLOC __attribute__((malloc))
#define TIDE_WARN_UNUSED __attribute__((warn_unused_result))
#define TIDE_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define TIDE_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#else
#define TIDE_MALLOC
#define TIDE_WARN_UNUSED
#define TIDE_ALLOC_SIZE(n)
#define TIDE_ALLOC_SIZE2(n, m)
#endif

/*
 * Private, for the inline fast paths of kv.h and vec.h: a branch hint, and
 * a second, cold declaration of an exported function (the same symbol under
 * another C name), which the fast paths call when they fall back so that
 * the compiler keeps the fast path straight and moves the call aside.
 */
#if defined(__GNUC__)
#define TIDE__LIKELY(x) __builtin_expect(!!(x), 1)
#define TIDE__ASM_STR2(x) #x
#define TIDE__ASM_STR(x) TIDE__ASM_STR2(x)
#define TIDE__COLD_ALIAS(name)                              \
	__asm__(TIDE__ASM_STR(__USER_LABEL_PREFIX__) #name) \
		__attribute__((cold))
#else
#define TIDE__LIKELY(x) (x)
#endif

/* Private: casts and the null pointer in the inline helpers, which expand
 * in C++ programs too (warning-free under -Wold-style-cast and
 * -Wzero-as-null-pointer-constant). */
#ifdef __cplusplus
#define TIDE__CAST(type, e) (static_cast<type>(e))
#define TIDE__PTR_BITS(p) (reinterpret_cast<uintptr_t>(p))
#if __cplusplus >= 201103L
#define TIDE__NULL nullptr
#else
#define TIDE__NULL 0
#endif
#else
#define TIDE__CAST(type, e) ((type)(e))
#define TIDE__PTR_BITS(p) ((uintptr_t)(p))
#define TIDE__NULL NULL
#endif

/*
 * Allocation flags, the user-space analogue of GFP flags.  Every allocating
 * call of every module takes them.  Bits 16..31 are reserved for containers
 * built on kv (TIDE_VEC_AUTOTRIM lives there); kv ignores them.  Any other
 * unknown bit makes an allocating call fail with EINVAL.
 */
#define TIDE_ZERO (1u << 0) /* new bytes read as zero */
#define TIDE_NORECLAIM (1u << 1) /* never run shrinkers for this call */
#define TIDE_NOIO (1u << 2) /* reclaim for this call must not do I/O */
#define TIDE_HUGE (1u << 3) /* paged block: 2 MiB aligned, MADV_HUGEPAGE */
#define TIDE_FLAGS_KV (TIDE_ZERO | TIDE_NORECLAIM | TIDE_NOIO | TIDE_HUGE)
#define TIDE_FLAGS_PRIVATE 0xffff0000u

/**
 * tide_version() - the library's version string, e.g. "0.2.15".
 *
 * Context: any thread.
 * Return: a static string; the version of the library actually linked,
 * which may differ from %TIDE_VERSION_STRING of the headers compiled against.
 */
TIDE_API const char *tide_version(void);

/**
 * tide_strerror() - describe an error returned by tide.
 * @err: a negative errno value as returned by a tide function (a positive
 *       errno is accepted too).
 *
 * Context: any thread; the result is a static string, safe to use from
 * several threads at once (unlike strerror()).
 * Return: a short English description: the C library's text for
 * standard errnos ("No such file or directory", "No space left on
 * device"), "Size computation overflows" for EOVERFLOW (tide's one
 * documented meaning of it), "Success" for 0 and "Unknown error" for
 * values that are not errno codes.
 */
TIDE_API const char *tide_strerror(int err);

/**
 * typedef tide_error_fn - callback for misuse reports.
 * @what: what went wrong, e.g. "tide_kvfree: invalid pointer".
 * @ptr: the offending pointer.
 * @arg: the argument given to tide_set_error_handler().
 *
 * Called when tide is handed a pointer it did not hand out.  For kv
 * (tide_kvfree(), tide_kvrealloc() and the queries) the process aborts right
 * after the callback returns, as glibc does for "free(): invalid pointer";
 * for an arena buffer the call is rejected and the arena left untouched.
 * The callback may log or flush; it must not call back into tide.
 */
typedef void (*tide_error_fn)(const char *what, const void *ptr, void *arg);

/**
 * tide_set_error_handler() - install the misuse report callback.
 * @fn: the callback, or NULL to remove it.
 * @arg: passed to @fn unchanged.
 *
 * Without a handler tide reports nothing (the library never prints); see
 * &typedef tide_error_fn for what follows a report.
 *
 * Context: any thread; the handler is process-wide.  It runs on the thread
 * that made the bad call.  A report made while another thread sets a
 * handler calls the old pair or the new one, never one's @fn with the
 * other's @arg, and never waits for the set.
 * Return: nothing.
 */
TIDE_API void tide_set_error_handler(tide_error_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_COMMON_H */
