#!/usr/bin/env python3
"""Drive `ucrt run -t -i` through a real pseudo-terminal: wait for the
shell prompt, run a command, change the window size (SIGWINCH must reach
the guest), exit with a status. Prints TAP lines; exit status 0 when all
passed. Usage: run-tty.py UCRT ARGS... (the container runs /bin/sh)."""
import fcntl, os, pty, select, struct, sys, termios, time

def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

def main():
    argv = sys.argv[1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    winsize(fd, 30, 100)
    out = b""
    def expect(what, secs=60):
        nonlocal out
        end = time.time() + secs
        while what not in out and time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
        return what in out
    n, ok = 0, True
    def check(cond, name):
        nonlocal n, ok
        n += 1
        ok = ok and cond
        print(("ok" if cond else "not ok") + " %d - %s" % (n, name))
        if not cond:
            print("# output so far: %r" % out[-400:])
    # Window size is set before ucrt starts: the guest pty must have it.
    check(expect(b"# ") or expect(b"$ "), "shell prompt on the terminal")
    os.write(fd, b"stty size; echo mark-$((6*7))\r")
    check(expect(b"mark-42"), "command typed at the prompt ran")
    check(b"30 100" in out, "initial window size 30x100 reached the guest")
    winsize(fd, 40, 120)
    os.kill(pid, 28)  # SIGWINCH (the kernel sends it to the foreground group)
    # ucrt handles the signal when it gets to it (late on a loaded machine):
    # ask again until the guest's terminal has the new size, for up to 60 s.
    end, resized = time.time() + 60, False
    while not resized and time.time() < end:
        os.write(fd, b"stty size\r")
        resized = expect(b"40 120", 2)
    check(resized, "window resize reached the guest")
    os.write(fd, b"exit 7\r")
    st, end = None, time.time() + 60
    while st is None and time.time() < end:
        expect(b"\0never", 0.2)  # keep draining the terminal
        p, s = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            st = s
    if st is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    check(st is not None and os.WIFEXITED(st) and os.WEXITSTATUS(st) == 7, "exit status 7 came back")
    print("1..%d" % n)
    sys.exit(0 if ok else 1)

main()
