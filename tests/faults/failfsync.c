/* LD_PRELOAD shim for the faults tier: while the file named by $FAILFSYNC_TRIGGER exists,
   fsync and fdatasync fail with EIO, as on a failing disk (whether the data reached it is
   unknown). Built by tests/faults/test_disk.py into a temporary directory. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int tripped(void) {
    const char *path = getenv("FAILFSYNC_TRIGGER");
    return path != NULL && access(path, F_OK) == 0;
}

static int call_real(const char *name, int fd) {
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
    return real(fd);
}

int fsync(int fd) {
    if (tripped()) {
        errno = EIO;
        return -1;
    }
    return call_real("fsync", fd);
}

int fdatasync(int fd) {
    if (tripped()) {
        errno = EIO;
        return -1;
    }
    return call_real("fdatasync", fd);
}
