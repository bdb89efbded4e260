/* What a cgroup-aware C program checks to tell cgroup v2 from anything else; one line per check.
 * Built and run by ExecTests, once outside `cgfs exec` and once under it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show_mount(const char *label, FILE *f, const char *root)
{
    char line[4096], want[512];
    snprintf(want, sizeof want, " %s ", root);
    const char *found = "none";
    static char type[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, want))
            continue;
        char *dash = strstr(line, " - ");
        if (dash && sscanf(dash + 3, "%255s", type) == 1)
            found = type;
        else if (sscanf(line, "%*s %*s %255s", type) == 1)
            found = type;
    }
    printf("%s %s\n", label, found);
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "/sys/fs/cgroup";
    char path[512];
    struct statfs st;
    printf("statfs %lx\n", statfs(root, &st) == 0 ? (unsigned long)st.f_type : 0UL);

    snprintf(path, sizeof path, "%s/cgroup.procs", root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    printf("fstatfs %lx\n", fd >= 0 && fstatfs(fd, &st) == 0 ? (unsigned long)st.f_type : 0UL);

    int proc = open("/proc/self", O_RDONLY | O_DIRECTORY);
    int mi = openat(proc, "mountinfo", O_RDONLY | O_CLOEXEC);
    show_mount("mountinfo", mi >= 0 ? fdopen(mi, "r") : NULL, root);
    show_mount("mounts", fopen("/proc/mounts", "r"), root);

    char cg[4096] = "";
    FILE *c = fopen("/proc/thread-self/cgroup", "r");
    if (c && fgets(cg, sizeof cg, c))
        cg[strcspn(cg, "\n")] = 0;
    printf("cgroup %s\n", cg);
    if (c)
        fclose(c);

    errno = 0;
    int m = mount("cgroup2", "/mnt", "cgroup2", 0, NULL);
    printf("mount-cgroup2 %s\n", m == 0 ? "ok" : strerrorname_np(errno));
    if (m == 0)
        umount("/mnt");

    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct clone_args ca = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)dir };
    long pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    printf("clone3-into-cgroup %s\n", pid >= 0 ? "ok" : strerrorname_np(errno));

    /* A program that wants its own listener (a nested supervisor): the kernel allows one per filter chain. */
    struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog prog = { .len = 1, .filter = allow };
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    printf("own-listener %s\n", listener >= 0 ? "ok" : strerrorname_np(errno));
    return 0;
}
