// SPDX-License-Identifier: MIT
/*
 * kv.c - a large block that shrinks gives its pages back at once.
 *
 * A 256 KiB block is paged (its own mapping).  Shrinking it to 16 KiB keeps
 * the pointer and unmaps the tail pages right away; growing it back moves
 * page tables with mremap() instead of copying.
 */
#include <stdio.h>
#include <string.h>

#include <tide.h>

int main(void)
{
	/* TIDE_ZERO on every call for the block: bytes a growth adds read
	 * as zero, including those a shrink cut off before */
	char *buf = tide_kvmalloc(256 * 1024, TIDE_ZERO), *p;
	size_t nonzero = 0;

	if (!buf)
		return 1;
	memset(buf, 'x', 256 * 1024);
	printf("256 KiB block: paged=%d, resident %zu KiB\n",
	       tide_kv_is_paged(buf), tide_kvresident(buf) / 1024);

	p = tide_kvrealloc(buf, 16 * 1024, TIDE_ZERO);
	if (!p)
		return 1; /* buf would still be valid */
	printf("shrunk to 16 KiB: same pointer=%d, resident %zu KiB\n",
	       p == buf, tide_kvresident(p) / 1024);
	/* 16 KiB after the 64 bytes the data starts at: 5 pages of
	 * the 65 stay, 60 went back to the kernel. */
	if (p != buf || tide_kvresident(p) >= 20 * 1024 || p[16383] != 'x')
		return 1;

	p = tide_kvrealloc(p, 1024 * 1024, TIDE_ZERO);
	if (!p)
		return 1;
	for (size_t i = 16 * 1024; i < 1024 * 1024; i++)
		nonzero += p[i] != 0;
	printf("grown to 1 MiB: first bytes kept=%d, new bytes zero=%d\n",
	       p[0] == 'x' && p[16383] == 'x', nonzero == 0);
	tide_kvfree(p);
	return nonzero != 0;
}
