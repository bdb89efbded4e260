/* make bench, section "cgfs exec": the cost of being covered. Run once plainly and once under
 * `cgfs exec`; prints one "name value unit" line per measure:
 *   untrapped   getppid(2): the filter's cost on a call it lets through
 *   continued   openat+close of /dev/null: trapped, answered "continue" by the daemon
 *   answered    statfs of the cgfs mount: trapped, answered by the daemon
 *   start       fork + execve of /bin/true + wait: process start-up */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *cgroup = argc > 1 ? argv[1] : "/sys/fs/cgroup";
    int n = 1000000, m = 20000, starts = 300;
    double t = now();
    for (int i = 0; i < n; i++)
        syscall(SYS_getppid);
    printf("untrapped %.0f ns\n", (now() - t) / n);

    t = now();
    for (int i = 0; i < m; i++)
        close(open("/dev/null", O_RDONLY));
    printf("continued %.2f us\n", (now() - t) / m / 1000);

    struct statfs st;
    t = now();
    for (int i = 0; i < m; i++)
        statfs(cgroup, &st);
    printf("answered %.2f us\n", (now() - t) / m / 1000);

    t = now();
    for (int i = 0; i < starts; i++) {
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        waitpid(p, NULL, 0);
    }
    printf("start %.2f ms\n", (now() - t) / starts / 1e6);
    return 0;
}
