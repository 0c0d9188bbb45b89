#!/usr/bin/env python3
"""Run a command on a real pseudo-terminal of a given size and print what
it wrote there; exit with its status. Options before --:
  --size ROWSxCOLS        the terminal's window size (default 24x80)
  --expect TEXT --send S  when TEXT has appeared, type S (\\n ends a line);
                          repeatable, in order
  --timeout SECS          give up (status 124) after SECS (default 300: a
                          hang guard, a run on a loaded machine may take long)
Usage: pty-run.py [OPTIONS] -- CMD [ARG...]"""
import fcntl, os, pty, select, struct, sys, termios, time

def main():
    args = sys.argv[1:]
    rows, cols, timeout, script = 24, 80, 300.0, []
    while args and args[0] != "--":
        o = args.pop(0)
        if o == "--size":
            rows, cols = map(int, args.pop(0).split("x"))
        elif o == "--expect":
            script.append([args.pop(0).encode(), None])
        elif o == "--send":
            script[-1][1] = args.pop(0).replace("\\n", "\r").encode()
        elif o == "--timeout":
            timeout = float(args.pop(0))
        else:
            sys.exit("pty-run.py: unknown option " + o)
    argv = args[1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out, end, sent = b"", time.time() + timeout, 0
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                break
            out += data
        while sent < len(script) and script[sent][0] in out:
            os.write(fd, script[sent][1] or b"")
            sent += 1
    else:
        os.kill(pid, 9)
    _, st = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    if os.WIFSIGNALED(st):
        sys.exit(124 if time.time() >= end else 128 + os.WTERMSIG(st))
    sys.exit(os.WEXITSTATUS(st))

main()
