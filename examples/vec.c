// SPDX-License-Identifier: MIT
/*
 * vec.c - a registry that shrinks when its clients leave.
 *
 * With TIDE_VEC_AUTOTRIM every removal applies binder's rule: when fewer
 * than a quarter of the slots are used, the capacity drops to twice the
 * length.
 */
#include <stdio.h>

#include <tide.h>

struct client {
	int pid;
	unsigned flags;
};

int main(void)
{
	struct tide_vec reg = TIDE_VEC_INIT(struct client, TIDE_VEC_AUTOTRIM);

	for (int pid = 1; pid <= 32; pid++) {
		struct client c = { pid, 0 };

		if (tide_vec_push(&reg, &c))
			return 1;
	}
	printf("32 clients: cap %zu\n", reg.cap);

	/* 25 leave: at 7 of 32 the rule fires, 32 -> 14 slots. */
	while (reg.len > 7)
		tide_vec_swap_remove(&reg, 0, NULL);
	printf("7 clients:  cap %zu\n", reg.cap);
	if (reg.cap != 14)
		return 1;

	for (size_t i = 0; i < reg.len; i++)
		printf("%d ", tide_vec_at(&reg, struct client, i).pid);
	printf("\n");
	tide_vec_destroy(&reg);
	return 0;
}
