/*
 * fake-shim.c - a stand-in for libmigshim.so in the exec tests (tests/soft/exec.py): when
 * preloaded it writes its process's pid to the file named by MK_FAKE_SHIM_MARK, so the test
 * knows the dynamic loader really loaded what migctl exec put in LD_PRELOAD.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void mark(void)
{
    const char *path = getenv("MK_FAKE_SHIM_MARK");
    char line[32];
    int fd, n;
    if (!path || !*path || (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        return;
    n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
    if (n > 0 && write(fd, line, (size_t)n) < 0)
        n = 0;
    close(fd);
}
