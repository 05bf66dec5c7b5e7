#ifndef SEQ_H
#define SEQ_H
#include <stddef.h>

struct seq {
	int *items;
	size_t len;
	size_t cap;
};

struct node {
	int value;
	struct node *next;
};

struct seq *seq_new(size_t cap);
int seq_push(struct seq *s, int v);
int seq_get(const struct seq *s, size_t i, int *out);
long seq_sum(const struct seq *s);
int seq_index_of(const struct seq *s, int v);
void seq_free(struct seq *s);
struct node *list_push(struct node *head, int v);
size_t list_length(const struct node *head);
void list_free(struct node *head);

#endif
