"""Sandbox boot: runs as root inside fresh namespaces, locks the process down, then execs the runner.

Started by :mod:`mnist_mlp.course.sandbox` as
``unshare --net --mount --pid --ipc --uts --fork --kill-child --mount-proc python -I -B _boot.py CONFIG``
and never imported. Standard library only: it runs before anything of the
submission's, and it must not import this package (the package's folder is
hidden from the sandbox). In order:

1. In the private mount namespace, cover every top-level folder that is not a
   system folder (``/root``, ``/home``, ``/work``, ``/tmp``, ...) with an empty
   tmpfs, read-only except ``/tmp``; bind back, read-only, the few paths the
   interpreter needs (its prefix and site-packages), and bind the scratch folder
   at ``/tmp/work`` (read-write) and the shared data at ``/tmp/data`` (read-only).
   ``/dev/shm`` gets its own small tmpfs. Nothing of the grader, the other
   submissions, the home folder or the test split is reachable.
2. Fork the runner's process and stay as the namespace's PID 1, reaping
   orphans and reporting how the runner ended (its signal, if any) on fd 3.
   In the runner's process: set the resource limits (address space, CPU time, processes, file size,
   open files, no core dumps).
   then drop to the unprivileged uid/gid given (no supplementary groups, no new
   privileges), so no file outside the scratch folder can be written.
   and ``exec`` the runner, whose only channel back is the result pipe.
"""

import ctypes
import json
import os
import resource
import sys

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 32, 4096, 16384, 1 << 18,
)
_SYSTEM = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "sys"}
_PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source, target, fstype, flags, data=None):
    args = [None if a is None else a.encode() for a in (source, target, fstype, data)]
    if _libc.mount(args[0], args[1], args[2], ctypes.c_ulong(flags), args[3]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _bind(fd, target, readonly):
    os.makedirs(target, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC)
    if readonly:
        _mount(None, target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _hide_everything(expose, scratch, data):
    """Step 1 of the module docstring."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    keep = {}
    for path in sorted(set(expose) | {scratch, data}):
        keep[path] = os.open(path, os.O_PATH | os.O_DIRECTORY)
    for name in sorted(os.listdir("/")):
        top = "/" + name
        if name in _SYSTEM or os.path.islink(top) or not os.path.isdir(top):
            continue
        writable = name == "tmp"
        _mount("tmpfs", top, "tmpfs", _MS_NOSUID | _MS_NODEV,
               "size=16m,mode=1777" if writable else "size=64k,mode=755")
        for path in expose:
            if path.startswith(top + "/"):
                _bind(keep[path], path, readonly=True)
        if not writable:
            _mount(None, top, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=1777")
    _bind(keep[scratch], "/tmp/work", readonly=False)
    _bind(keep[data], "/tmp/data", readonly=True)
    for fd in keep.values():
        os.close(fd)


def _limit(limits):
    """Kernel-enforced limits; soft equals hard, so the submission cannot raise them.

    CPU time is the exception: SIGXCPU at the soft limit says why the process
    ended, SIGKILL one second later ends one that ignores it.
    """
    for name, value in limits.items():
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))


def _drop(uid, gid):
    """Step 3."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if os.getuid() == 0 or os.geteuid() == 0:
        raise OSError("could not drop root privileges")


def main(config_path):
    with open(config_path, encoding="utf-8") as fh:
        config = json.load(fh)
    result_fd = int(config["runner_args"][-1])
    try:
        _hide_everything(config["expose"], config["scratch"], config["data"])
    except OSError as exc:
        # The grader reads this as "the sandbox could not be set up", not as the submission's fault.
        _report(result_fd, {"stage": "boot", "error": str(exc)})
        return 70
    runner = os.fork()
    if runner == 0:
        _start_runner(config)
    # This process is PID 1 of the namespace: it reaps every orphan, and when it
    # returns, the kernel kills whatever the submission left running.
    while True:
        pid, status = os.wait()
        if pid == runner:
            break
    signal_number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    _report(result_fd, {"stage": "exit", "signal": signal_number, "code": code})
    return 0


def _report(fd, message):
    os.write(fd, (json.dumps(message) + "\n").encode())


def _start_runner(config):
    """In the forked child: limits, unprivileged user, then the runner (never returns)."""
    try:
        _limit(config["limits"])
        _drop(config["uid"], config["gid"])
        os.chdir("/tmp/work")
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp/work", "LANG": "C.UTF-8",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        os.execve(config["python"], [config["python"], "-I", "-B", "/tmp/data/_runner.py",
                                     *config["runner_args"]], env)
    except OSError as exc:
        _report(int(config["runner_args"][-1]), {"stage": "boot", "error": str(exc)})
    os._exit(70)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
