/* TAP: "ok N - name" / "not ok N - name". */
#include <stdio.h>
#include "../seq.h"

static int n;

static void check(int cond, const char *name)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, name);
}

int main(void)
{
	struct seq *s = seq_new(3);
	struct node *list = NULL;
	int v = 0;

	check(s != NULL && s->len == 0, "new_is_empty");
	check(seq_push(s, 4) == 0 && seq_push(s, 5) == 0 && seq_push(s, 6) == 0, "push_until_full");
	check(seq_push(s, 7) == -1 && s->len == 3, "push_when_full_fails");
	check(seq_get(s, 1, &v) == 0 && v == 5, "get_inside");
	check(seq_get(s, 3, &v) == -1, "get_past_end");
	check(seq_sum(s) == 15, "sum");
	check(seq_index_of(s, 6) == 2 && seq_index_of(s, 9) == -1, "index_of");
	seq_free(s);
	list = list_push(list_push(list_push(NULL, 1), 2), 3);
	check(list_length(list) == 3 && list->value == 3, "list_push_length");
	list_free(list);
	check(list_length(NULL) == 0, "empty_list_length");
	printf("1..%d\n", n);
	return 0;
}
