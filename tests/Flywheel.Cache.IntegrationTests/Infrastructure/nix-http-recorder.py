#!/usr/bin/env python3
"""Recording HTTP binary cache, for finding out what real Nix sends (exploration tool, not used by the tests).

Logs every request as one JSON line {"m": method, "p": path, "h": headers, "x": "len=N" for bodies} to LOGFILE,
stores PUT bodies under STOREDIR/<path> and serves them back on GET/HEAD (404 otherwise). Unless --no-cache-info,
GET .../nix-cache-info answers "StoreDir: /nix/store, WantMassQuery: 1, Priority: 30" when nothing was PUT there.
  --auth-challenge     401 + WWW-Authenticate: Basic to any request without Authorization
  --auth-forbid        403 to any request without Authorization
  --fail=REGEX=CODE    answer CODE to requests whose "METHOD /path" matches REGEX (after logging them)
Creates LOGFILE.ready once listening. Example:
  python3 nix-http-recorder.py 18501 /tmp/rec /tmp/rec.log --fail='PUT .*nar/=500' &
  nix copy --to 'http://127.0.0.1:18501/cache?compression=zstd' /nix/store/...
usage: nix-http-recorder.py PORT STOREDIR LOGFILE [options]"""
import http.server, os, sys, re, json, threading
port, root, logf = int(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
opts = sys.argv[4:]
challenge = '--auth-challenge' in opts
forbid = '--auth-forbid' in opts
no_info = '--no-cache-info' in opts
fails = []
for o in opts:
    if o.startswith('--fail='):
        rx, code = o[len('--fail='):].rsplit('=', 1)
        fails.append((re.compile(rx), int(code)))
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def rec(self, extra=''):
        with lock, open(logf, 'a') as f:
            hdrs = {k: v for k, v in self.headers.items()}
            f.write(json.dumps({'m': self.command, 'p': self.path, 'h': hdrs, 'x': extra}) + '\n')
    def reply(self, code, body=b'', ctype='text/plain', head=False, extra={}):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in extra.items(): self.send_header(k, v)
        self.end_headers()
        if not head: self.wfile.write(body)
    def gate(self, head=False):
        auth = self.headers.get('Authorization')
        if (challenge or forbid) and not auth:
            self.reply(401 if challenge else 403, b'auth', head=head, extra={'WWW-Authenticate': 'Basic realm="cache"'} if challenge else {})
            return False
        for rx, code in fails:
            if rx.search(self.command + ' ' + self.path):
                self.reply(code, b'forced', head=head)
                return False
        return True
    def local(self):
        p = os.path.normpath(os.path.join(root, self.path.split('?')[0].lstrip('/')))
        if not p.startswith(os.path.abspath(root) + os.sep):
            raise ValueError('path escapes STOREDIR: ' + self.path)
        return p
    def do_GET(self, head=False):
        body = b''
        if self.headers.get('Content-Length'):
            body = self.rfile.read(int(self.headers['Content-Length']))
        self.rec()
        if not self.gate(head): return
        p = self.local()
        if p.endswith('nix-cache-info') and not os.path.exists(p) and not no_info:
            return self.reply(200, b'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n', head=head)
        if os.path.isfile(p):
            data = open(p, 'rb').read()
            return self.reply(200, data, 'application/octet-stream', head=head)
        return self.reply(404, b'not found', head=head)
    def do_HEAD(self): self.do_GET(head=True)
    def do_PUT(self):
        n = int(self.headers.get('Content-Length', '0'))
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            data = b''
            while True:
                sz = int(self.rfile.readline().strip(), 16)
                if sz == 0: self.rfile.readline(); break
                data += self.rfile.read(sz); self.rfile.readline()
        else:
            data = self.rfile.read(n)
        self.rec('len=%d' % len(data))
        if not self.gate(): return
        p = self.local()
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, 'wb').write(data)
        self.reply(200, b'')
    def do_POST(self): self.do_PUT()
srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)
srv.handle_error = lambda *a: None
open(logf + '.ready', 'w').close()
srv.serve_forever()
