/* A tiny TAP test runner: "ok N - name" / "not ok N - name". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../textops.h"

static int n;

static void check(int cond, const char *name)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, name);
}

int main(void)
{
	char *buf;

	check(clamp_int(5, 0, 10) == 5, "clamp_inside");
	check(clamp_int(-3, 0, 10) == 0, "clamp_below");
	check(clamp_int(42, 0, 10) == 10, "clamp_above");

	/* Exact-size buffers: an off-by-one write is a heap overflow ASan sees. */
	buf = malloc(5);
	memcpy(buf, "abcde", 5);
	reverse_bytes(buf, 5);
	check(memcmp(buf, "edcba", 5) == 0, "reverse_odd");
	free(buf);
	buf = malloc(4);
	memcpy(buf, "abcd", 4);
	reverse_bytes(buf, 4);
	check(memcmp(buf, "dcba", 4) == 0, "reverse_even");
	free(buf);
	check(1, "reverse_empty_is_noop");

	check(count_char("banana", 'a') == 3, "count_some");
	check(count_char("", 'a') == 0, "count_empty");
	printf("1..%d\n", n);
	return 0;
}
