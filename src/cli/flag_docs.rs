//! One line per command flag for `hull <command> --help` (kept apart from the flag tables the
//! parser uses, so adding a description never touches a command's module).

/// What `--flag` of `cmd` does, if described.
pub fn describe(cmd: &str, flag: &str) -> Option<&'static str> {
    const PRESERVE: &str =
        "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)";
    const CONSOLE: &str = "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal";
    Some(match (cmd, flag) {
        ("create" | "run", "bundle" | "b") => {
            "path to the root of the bundle directory, defaults to the current directory"
        }
        (_, "console-socket") => CONSOLE,
        ("create" | "run", "pidfd-socket") => "path to an AF_UNIX socket which will receive a file descriptor referencing the init process",
        ("exec", "pidfd-socket") => "path to an AF_UNIX socket which will receive a file descriptor referencing the exec process",
        (_, "pid-file") => "specify the file to write the process id to",
        (_, "no-pivot") => "do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs is on top of a ramdisk",
        (_, "no-new-keyring") => "do not create a new session keyring for the container.  This will cause the container to inherit the calling processes session key",
        (_, "preserve-fds") => PRESERVE,
        (_, "detach") => "detach from the container's process",
        ("run", "keep") => "do not delete the container after it exits",
        ("run", "no-subreaper") => "disable the use of the subreaper used to reap reparented processes",
        ("exec", "cwd") => "current working directory in the container",
        ("exec", "env") => "set environment variables",
        ("exec", "tty") => "allocate a pseudo-TTY",
        ("exec", "user") => "UID (format: <uid>[:<gid>])",
        ("exec", "additional-gids") => "additional gids",
        ("exec", "process") => "path to the process.json",
        ("exec", "process-label") => "set the asm process label for the process commonly used with selinux",
        ("exec", "apparmor") => "set the apparmor profile for the process",
        ("exec", "no-new-privs") => "set the no new privileges value for the process",
        ("exec", "cap") => "add a capability to the bounding set for the process",
        ("exec", "cgroup") => "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.",
        ("exec", "ignore-paused") => "allow exec in a paused container",
        ("kill", "all") => "send the signal to all processes in the container",
        ("delete", "force") => "Forcibly deletes the container if it is still running (uses SIGKILL)",
        ("list" | "ps", "format") => "select one of: table or json (default: \"table\")",
        ("list", "quiet") => "display only container IDs",
        ("spec", "bundle") => "path to the root of the bundle directory",
        ("spec", "rootless") => "generate a configuration for a rootless container",
        ("events", "interval") => "set the stats collection interval (default: 5s)",
        ("events", "stats") => "display the container's stats then exit",
        ("update", f) => return update(f),
        ("checkpoint", "image-path") => "path for saving criu image files",
        ("restore", "image-path") => "path to criu image files for restoring",
        ("checkpoint" | "restore", "work-path") => "path for saving work files and logs",
        ("checkpoint", "parent-path") => "path for previous criu image files in pre-dump",
        ("checkpoint", "leave-running") => "leave the process running after checkpointing",
        ("checkpoint" | "restore", "tcp-established") => "allow open tcp connections",
        ("checkpoint" | "restore", "ext-unix-sk") => "allow external unix sockets",
        ("checkpoint" | "restore", "shell-job") => "allow shell jobs",
        ("checkpoint" | "restore", "lazy-pages") => "use userfaultfd to lazily restore memory pages",
        ("checkpoint", "status-fd") => "criu writes \\0 to this FD once lazy-pages is ready",
        ("checkpoint", "page-server") => "ADDRESS:PORT of the page server",
        ("checkpoint" | "restore", "file-locks") => "handle file locks, for safety",
        ("checkpoint", "pre-dump") => "dump container's memory information only, leave the container running after this",
        ("checkpoint" | "restore", "manage-cgroups-mode") => "cgroups mode: soft|full|strict|ignore (default: soft)",
        ("checkpoint" | "restore", "empty-ns") => "create a namespace, but don't restore its properties",
        ("checkpoint" | "restore", "auto-dedup") => "enable auto deduplication of memory images",
        ("restore", "bundle" | "b") => "path to the root of the bundle directory",
        ("restore", "no-subreaper") => "disable the use of the subreaper used to reap reparented processes",
        _ => return None,
    })
}

fn update(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "resources" => "path to the file containing the resources to update or '-' to read from the standard input",
        "blkio-weight" => "Specifies per cgroup weight, range is from 10 to 1000 (default: 0)",
        "cpu-period" => "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default",
        "cpu-quota" => "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period",
        "cpu-burst" => "CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst a given period",
        "cpu-share" => "CPU shares (relative weight vs. other containers)",
        "cpu-rt-period" => "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default",
        "cpu-rt-runtime" => "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period",
        "cpuset-cpus" => "CPU(s) to use",
        "cpuset-mems" => "Memory node(s) to use",
        "memory" => "Memory limit (in bytes)",
        "kernel-memory" | "kernel-memory-tcp" => {
            "Kernel memory limit (in bytes): ignored with a warning (deprecated, as in runc)"
        }
        "cpu-idle" => "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE",
        "memory-reservation" => "Memory reservation or soft_limit (in bytes)",
        "memory-swap" => "Total memory usage (memory + swap); set '-1' to enable unlimited swap",
        "pids-limit" => "Maximum number of pids allowed in the container (default: 0)",
        "l3-cache-schema" => "The string of Intel RDT/CAT L3 cache schema",
        "mem-bw-schema" => "The string of Intel RDT/MBA memory bandwidth schema",
        _ => return None,
    })
}
