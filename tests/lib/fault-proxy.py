#!/usr/bin/env python3
"""A fault-injecting HTTP proxy between ucrt and a real registry (tests only,
stdlib). Everything passes through unchanged except GETs of blobs larger
than 64 KiB (the layers of a test image), which get the current fault for
the next TIMES such requests, then pass through again.
Usage: fault-proxy.py PORT OBJPORT UPSTREAM(host:port)
  PORT     the registry ucrt talks to
  OBJPORT  "object storage": GET /obj/<path> serves <path> from the
           upstream (Range honoured); GET /fail/<path> answers 503
Control: GET /_fault/MODE/TIMES on PORT sets the fault (resets the count).
MODE:
  none          pass through
  reset         full Content-Length, half the body, then a TCP reset
  truncate      full Content-Length, half the body, then a clean close
  short-length  Content-Length 4096 less than the body, whole body, close
  long-length   Content-Length 4096 more than the body, whole body, close
  500 502 503   that status with a registry error body
  429           429 with Retry-After: 2
  429-date      429 with Retry-After as an HTTP date 3 s ahead
  stall         headers and half the body, then silence until the client
                gives up
  redirect      307 to OBJPORT/obj/<path>
  redirect-fail 307 to OBJPORT/fail/<path>
Log (stderr), one line per request: "T METHOD PATH range=R -> STATUS fault=F"
with T the time in seconds (float)."""
import email.utils, http.client, re, socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, objport, upstream = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
state = {"mode": "none", "left": 0}
lock = threading.Lock()
BIG = 64 << 10

def log(method, path, rng, status, fault):
    sys.stderr.write(f"{time.time():.3f} {method} {path} range={rng or '-'} -> {status} fault={fault}\n")
    sys.stderr.flush()

def fetch(method, path, headers):
    c = http.client.HTTPConnection(upstream, timeout=30)
    keep = {k: v for k, v in headers.items() if k.lower() in ("accept", "authorization", "range")}
    c.request(method, path, headers=keep)
    r = c.getresponse()
    try:
        body = r.read()
    except http.client.IncompleteRead as e:
        body = e.partial
    c.close()
    return r.status, r.getheaders(), body

class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, headers, body, length=None, close=False):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def take_fault(self):
        with lock:
            if state["mode"] == "none" or state["left"] <= 0:
                return "none"
            state["left"] -= 1
            return state["mode"]

    def do_GET(self):
        m = re.fullmatch(r"/_fault/([a-z0-9-]+)/([0-9]+)", self.path)
        if m:
            with lock:
                state["mode"], state["left"] = m.group(1), int(m.group(2))
            return self.reply(200, [], b"ok\n")
        rng = self.headers.get("Range")
        status, headers, body = fetch(self.command, self.path, self.headers)
        layer = (self.command == "GET" and re.fullmatch(r"/v2/.+/blobs/sha256:[0-9a-f]{64}", self.path)
                 and status in (200, 206) and len(body) > BIG)
        fault = self.take_fault() if layer else "none"
        log(self.command, self.path, rng, status, fault)
        half = len(body) // 2
        if fault == "none":
            return self.reply(status, headers, body)
        if fault in ("reset", "truncate", "stall"):
            self.send_response(status)
            for k, v in headers:
                if k.lower() in ("content-type", "content-range", "docker-content-digest"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:half])
            self.wfile.flush()
            if fault == "stall":
                time.sleep(120)
            elif fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if fault in ("short-length", "long-length"):
            lie = len(body) + (4096 if fault == "long-length" else -4096)
            self.reply(status, headers, body, length=lie, close=True)
            self.close_connection = True
            return
        if fault in ("500", "502", "503"):
            err = b'{"errors":[{"code":"UNAVAILABLE","message":"injected %s"}]}' % fault.encode()
            return self.reply(int(fault), [("Content-Type", "application/json")], err)
        if fault in ("429", "429-date"):
            ra = "2" if fault == "429" else email.utils.formatdate(time.time() + 3, usegmt=True)
            err = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            return self.reply(429, [("Content-Type", "application/json"), ("Retry-After", ra)], err)
        if fault in ("redirect", "redirect-fail"):
            where = "obj" if fault == "redirect" else "fail"
            return self.reply(307, [("Location", f"http://127.0.0.1:{objport}/{where}{self.path}")], b"")
        return self.reply(500, [], b"unknown fault\n")

    def do_HEAD(self):
        status, headers, body = fetch("HEAD", self.path, self.headers)
        log("HEAD", self.path, None, status, "none")
        self.reply(status, headers, b"", length=next((v for k, v in headers if k.lower() == "content-length"), 0))

    def log_message(self, *a):
        pass

class ObjStore(Proxy):
    def do_GET(self):
        rng = self.headers.get("Range")
        if self.path.startswith("/fail/"):
            log("GET", self.path, rng, 503, "objstore")
            return self.reply(503, [("Content-Type", "text/plain")], b"object storage unavailable\n")
        if not self.path.startswith("/obj/"):
            return self.reply(404, [], b"")
        status, headers, body = fetch("GET", self.path[4:], self.headers)
        log("GET", self.path, rng, status, "objstore")
        self.reply(status, headers, body)

for p, h in ((objport, ObjStore),):
    s = ThreadingHTTPServer(("127.0.0.1", p), h)
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
srv = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
srv.daemon_threads = True
srv.serve_forever()
