#ifndef GEOMETRY_H
#define GEOMETRY_H

struct point {
	int x;
	int y;
};

/* Manhattan distance between two points. */
int manhattan(struct point a, struct point b);

#endif
