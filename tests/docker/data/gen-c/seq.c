#include <stdlib.h>
#include "seq.h"

/* A sequence with room for cap items (at least one). */
struct seq *seq_new(size_t cap)
{
	struct seq *s = malloc(sizeof *s);

	if (s == NULL)
		return NULL;
	s->cap = cap ? cap : 1;
	s->len = 0;
	s->items = malloc(s->cap * sizeof *s->items);
	return s;
}

/* Append v; 0 on success, -1 when the sequence is full. */
int seq_push(struct seq *s, int v)
{
	if (s->len >= s->cap)
		return -1;
	s->items[s->len] = v;
	s->len++;
	return 0;
}

/* The item at i in *out; -1 when i is out of range. */
int seq_get(const struct seq *s, size_t i, int *out)
{
	if (i >= s->len)
		return -1;
	*out = s->items[i];
	return 0;
}

/* The sum of every item. */
long seq_sum(const struct seq *s)
{
	long total = 0;
	size_t i;

	for (i = 0; i < s->len; i++)
		total += s->items[i];
	return total;
}

/* The first index holding v, or -1. */
int seq_index_of(const struct seq *s, int v)
{
	size_t i;

	for (i = 0; i < s->len; i++)
		if (s->items[i] == v)
			return (int)i;
	return -1;
}

void seq_free(struct seq *s)
{
	if (s == NULL)
		return;
	free(s->items);
	free(s);
}

/* A new node holding v in front of head. */
struct node *list_push(struct node *head, int v)
{
	struct node *n = malloc(sizeof *n);

	n->value = v;
	n->next = head;
	return n;
}

size_t list_length(const struct node *head)
{
	size_t n = 0;

	for (; head != NULL; head = head->next)
		n++;
	return n;
}

void list_free(struct node *head)
{
	struct node *next;

	while (head != NULL) {
		next = head->next;
		free(head);
		head = next;
	}
}
