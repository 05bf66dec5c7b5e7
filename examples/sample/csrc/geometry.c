#include "geometry.h"

static int absolute(int v)
{
	return v < 0 ? -v : v;
}

int manhattan(struct point a, struct point b)
{
	return absolute(a.x - b.x) + absolute(a.y - b.y);
}
