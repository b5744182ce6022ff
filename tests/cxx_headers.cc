// SPDX-License-Identifier: MIT
/*
 * The public headers in a C++ program: compiled by the cxx_headers ctest
 * with -Wall -Wextra -Wpedantic -Wold-style-cast
 * -Wzero-as-null-pointer-constant -Werror, so the inline helpers expand
 * warning-free in C++ code.  With TIDE_TEST_NONTRIVIAL it pushes a
 * std::string, which must not compile (a vector moves its elements with
 * realloc() and mremap(): cxx_vec_rejects_non_trivially_copyable).
 * With TIDE_TEST_EXTERN_C it includes tide.h inside extern "C" { }, as C++
 * programs do with C headers: vec.h's C++ part declares its own linkage
 * (a trial: "template with C linkage" up to 0.2.14).
 */
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#ifdef TIDE_TEST_EXTERN_C
extern "C" {
#include <tide.h>
}
#else
#include <tide.h>
#endif

typedef std::pair<int, int> int_pair; // a comma inside a macro argument

int main()
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	struct tide_vec p = TIDE_VEC_INIT(int_pair, 0);
	struct tide_kv_stats st;
	uint64_t x = 0, sum = 0;
	int_pair q;
	void *b = tide_kvmalloc(100, 0);
	/* TIDE_ARENA_MAX under -Wold-style-cast */
	struct tide_arena *a = tide_arena_create("x", TIDE_ARENA_MAX + 1);

	if (!b || a || errno != EINVAL)
		return 1;
	b = tide_kvrealloc(b, 2 * TIDE_KV_DEFAULT_THRESHOLD, 0);
	if (!b)
		return 1;
	tide_kvfree(b);
	for (uint64_t i = 0; i < 1000; i++)
		if (tide_vec_push_val(&v, uint64_t, i))
			return 1;
	/* a copy of the vector's own element, pushed while it grows */
	if (tide_vec_push_val(&v, uint64_t, tide_vec_at(&v, uint64_t, 0)))
		return 1;
	while (!tide_vec_pop_val(&v, uint64_t, &x))
		sum += x;
	if (tide_vec_push_val(&p, int_pair, int_pair(1, 2)) ||
	    tide_vec_pop_val(&p, int_pair, &q) || q.second != 2)
		return 1;
	/* tide_vec_push() and tide_vec_pop(), inline in C++ too */
	for (uint64_t i = 0; i < 100; i++)
		if (tide_vec_push(&v, &i))
			return 1;
	if (tide_vec_push(&p, &q) || tide_vec_pop(&p, nullptr) ||
	    tide_vec_push(&v, nullptr) != -EINVAL)
		return 1;
	/* a comma between template arguments, as the function took it */
	if (tide_vec_push(&p, static_cast<const std::pair<int, int> *>(&q)) ||
	    tide_vec_pop(&p, static_cast<std::pair<int, int> *>(&q)))
		return 1;
	while (!tide_vec_pop(&v, &x))
		sum += x;
	sum -= 99 * 100 / 2;
#ifdef TIDE_TEST_NONTRIVIAL
	{
		struct tide_vec s = TIDE_VEC_INIT(std::string, 0);

		(void)tide_vec_push_val(&s, std::string, std::string("x"));
	}
#endif
	tide_vec_destroy(&v);
	tide_vec_destroy(&p);
	tide_kv_stats(&st);
	return sum == 999 * 1000 / 2 ? 0 : 1;
}
