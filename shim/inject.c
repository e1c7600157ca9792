/* inject.c: fault injection (see inject.h). */
#include "inject.h"

int inject_enabled;

void inject_init(void)
{
}
int inject_connect(int fd, struct conn *c, int *err)
{
    (void)fd, (void)c, (void)err;
    return 0;
}
int inject_before_io(int fd, struct conn *c, int out)
{
    (void)fd, (void)c, (void)out;
    return 0;
}
void inject_forget(struct conn *c)
{
    (void)c;
}
