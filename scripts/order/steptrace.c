/* steptrace: runs a command under ptrace, single-stepping it and every process it forks or
 * clones until that process execs something else or exits, and prints each distinct
 * instruction address below LIMIT (the static, non-PIE hull binary's range) once, as hex,
 * with 1 (run by the command's own process), 2 (by a child: the container init) or 3.
 *
 * Why single-stepping: hull's hot path includes the container init, a clone of `hull create`
 * that runs in new namespaces; valgrind (3.19) cannot follow clone3 and sampling profilers
 * miss code that runs once. Every instruction executed is what the link order must group.
 *
 *   steptrace OUT LIMIT_HEX cmd args...      (root; slow: ~10^5 steps per second)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char *seen;
static unsigned long limit;

/* Bit 1: the command's own process; bit 2: any process it forked or cloned. */
static void record(pid_t pid, int bit)
{
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, pid, 0, &r) == 0 && r.rip < limit)
        seen[r.rip] |= bit;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: steptrace OUT LIMIT_HEX cmd args...\n");
        return 2;
    }
    limit = strtoul(argv[2], 0, 16);
    seen = calloc(limit, 1);
    if (!seen)
        return 1;
    pid_t root = fork();
    if (root == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execvp(argv[3], argv + 3);
        _exit(127);
    }
    int st, root_status = 0, live = 1, started = 0;
    waitpid(root, &st, 0);
    ptrace(PTRACE_SETOPTIONS, root, 0,
           PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
    /* Let the root reach its own exec before stepping (the exec event below). */
    ptrace(PTRACE_CONT, root, 0, 0);
    while (live > 0) {
        pid_t pid = waitpid(-1, &st, __WALL);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (pid == root)
                root_status = st;
            live--;
            continue;
        }
        if (!WIFSTOPPED(st))
            continue;
        int sig = WSTOPSIG(st), event = (unsigned)st >> 16, deliver = 0;
        if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK ||
            event == PTRACE_EVENT_CLONE) {
            live++; /* the new tracee reports its own SIGSTOP */
        } else if (event == PTRACE_EVENT_EXEC) {
            if (pid == root && !started) {
                started = 1; /* the root is now the traced program: step from here */
            } else {
                ptrace(PTRACE_DETACH, pid, 0, 0); /* a payload, not ours */
                live--;
                continue;
            }
        } else if (event == PTRACE_EVENT_STOP || sig == SIGSTOP) {
            /* a new tracee's initial stop (or a group stop): just go on */
        } else if (sig != SIGTRAP) {
            deliver = sig;
        }
        if (started)
            record(pid, pid == root ? 1 : 2);
        ptrace(started ? PTRACE_SINGLESTEP : PTRACE_CONT, pid, 0, deliver);
    }
    FILE *out = fopen(argv[1], "w");
    if (!out)
        return 1;
    for (unsigned long a = 0; a < limit; a++)
        if (seen[a])
            fprintf(out, "%lx %d\n", a, seen[a]);
    fclose(out);
    if (WIFEXITED(root_status))
        return WEXITSTATUS(root_status);
    return 1;
}
