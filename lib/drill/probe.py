#!/usr/bin/python3
# lvsplay drill probe: runs ON THE CLIENT HOST, hits the VIP and logs what a client sees.
#
# Only modules shipped by Debian's python3-minimal are imported (checked against the
# python3.11-minimal / libpython3.11-minimal packages of bookworm: no json, no http.client).
#
# Usage:
#   python3 probe.py --host VIP --duration SECONDS [--port 80] [--path /]
#                    [--interval-ms 20] [--timeout-ms 300]
#                    [--persistent 2] [--persistent-interval-ms 200] [--persistent-timeout-ms 10000]
#
# Short requests: at every tick of the fixed grid (start + slot * interval) a NEW TCP connection is
# opened, `GET PATH HTTP/1.0` sent and the answer read until the server closes, bounded by
# --timeout-ms. Requests go out on schedule whatever the earlier ones are doing: several are in
# flight at once (non-blocking sockets driven by one poll loop), each with its own timeout. So the
# instant a failure starts or ends is known to one interval, not one timeout. Only when the loop
# itself falls behind (a starved CPU) are slots passed over; they are counted (`skipped=`), and the
# time the loop was stalled does not count against the requests in flight (their answers may have
# come while it slept).
#
# Persistent connections: --persistent threads each keep ONE HTTP/1.1 keep-alive connection and
# send a request on it every --persistent-interval-ms; a request may take up to
# --persistent-timeout-ms (long on purpose: TCP retransmits across a failover, and a connection
# that stalls then recovers has survived). A broken connection is reopened (gen= counts them).
#
# The page served by every real server must name that server in the body (or in a header) as
#   served-by: NAME            (NAME made of [A-Za-z0-9._-], e.g. `served-by: real1`)
# The probe takes the first such occurrence, case-insensitively.
#
# Output: one line per record on stdout, written unbuffered, fields `key=value` separated by one
# space, values never contain spaces. All t_ns are CLOCK_MONOTONIC nanoseconds of the client.
#   probe v=2 host=H port=P path=/ interval_ms=20 timeout_ms=300 duration_s=D persistent=K pinterval_ms=200 ptimeout_ms=10000 pid=N
#   clock mono_ns=M epoch_ns=E err_ns=U          (CLOCK_MONOTONIC M and CLOCK_REALTIME E read together,
#                                                 within ±U; again just before `end`)
#   req seq=I slot=S skipped=K t_ns=T lat_us=L res=R code=C server=NAME
#        T: when the request was sent (the connect call); L: until the answer was complete or failed,
#        so T + L is the answer time. Lines come in the order requests END (sort by T to read them
#        in the order they were sent; seq is the sending order).
#        R: ok (2xx/3xx) | http (other status, see code) | timeout-connect | timeout-read |
#           refused | reset | unreach | eof (closed before a status line) | bad (unparseable) |
#           error-ERRNONAME.  C: HTTP status or -.  NAME: served-by value or -.
#   pconn id=J gen=G ev=EV t_ns=T lat_us=L code=C server=NAME reason=WHY
#        EV: open (connected) | ok (2xx/3xx answer) | http (other status) | fail (request failed: the
#            connection broke, reason as R above; a new connection follows) | closed (the server
#            ended keep-alive cleanly with `Connection: close`) | connect-fail (reason as R)
#   mark n=N t_ns=T                               (SIGUSR1 received: lets the drill mark events
#                                                 on the client's own clock)
#   end t_ns=T reason=duration|signal|alarm reqs=N ok=N skipped=N
import errno
import os
import select
import signal
import socket
import sys
import threading
import time

MONO = time.CLOCK_MONOTONIC
USAGE = 'usage: probe.py --host VIP --duration SECONDS [--port 80] [--path /] [--interval-ms 20] ' \
        '[--timeout-ms 300] [--persistent 2] [--persistent-interval-ms 200] [--persistent-timeout-ms 10000]'


def mono_ns():
    return time.clock_gettime_ns(MONO)


def parse_args(argv):
    spec = {
        '--host': ('host', str), '--port': ('port', int), '--path': ('path', str),
        '--duration': ('duration', float), '--interval-ms': ('interval_ms', float),
        '--timeout-ms': ('timeout_ms', float), '--persistent': ('persistent', int),
        '--persistent-interval-ms': ('pinterval_ms', float),
        '--persistent-timeout-ms': ('ptimeout_ms', float),
    }
    opts = {'host': None, 'port': 80, 'path': '/', 'duration': None, 'interval_ms': 20.0,
            'timeout_ms': 300.0, 'persistent': 2, 'pinterval_ms': 200.0, 'ptimeout_ms': 10000.0}
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if '=' in arg:
            arg, value = arg.split('=', 1)
        if arg not in spec:
            die('unknown option %s' % arg)
        if value is None:
            i += 1
            if i >= len(argv):
                die('option %s needs a value' % arg)
            value = argv[i]
        key, conv = spec[arg]
        try:
            opts[key] = conv(value)
        except ValueError:
            die('option %s: bad value %r' % (arg, value))
        i += 1
    if not opts['host'] or opts['duration'] is None:
        die('--host and --duration are required')
    if opts['duration'] <= 0 or opts['interval_ms'] <= 0 or opts['timeout_ms'] <= 0:
        die('--duration, --interval-ms and --timeout-ms must be > 0')
    if opts['persistent'] < 0 or opts['pinterval_ms'] <= 0 or opts['ptimeout_ms'] <= 0:
        die('--persistent must be >= 0, --persistent-interval-ms and --persistent-timeout-ms > 0')
    if not opts['path'].startswith('/') or any(c in opts['path'] for c in ' \r\n'):
        die('--path must start with / and contain no whitespace')
    return opts


def die(msg):
    sys.stderr.write('probe: %s\n%s\n' % (msg, USAGE))
    sys.exit(2)


# ------------------------------------------------------------------ output

out_lock = threading.RLock()  # re-entrant: signal handlers run on the main thread
out_closed = False


def emit(kind, fields):
    line = kind + ''.join(' %s=%s' % kv for kv in fields) + '\n'
    with out_lock:
        if out_closed:
            return
        try:
            os.write(1, line.encode('ascii', 'replace'))
        except BrokenPipeError:
            os._exit(1)


def clock_line():
    a = mono_ns()
    e = time.clock_gettime_ns(time.CLOCK_REALTIME)
    b = mono_ns()
    emit('clock', [('mono_ns', (a + b) // 2), ('epoch_ns', e), ('err_ns', (b - a + 1) // 2)])


# ------------------------------------------------------------------ HTTP over raw sockets

class Fail(Exception):
    def __init__(self, res):
        Exception.__init__(self, res)
        self.res = res


def errno_res(err):
    if err == errno.ECONNREFUSED:
        return 'refused'
    if err in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return 'reset'
    if err in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN):
        return 'unreach'
    if err == errno.ETIMEDOUT:
        return 'timeout-read'
    return 'error-' + errno.errorcode.get(err, str(err))


def wait_io(sock, events, deadline, phase):
    remaining = deadline - mono_ns()
    if remaining <= 0:
        raise Fail('timeout-' + phase)
    p = select.poll()
    p.register(sock, events)
    if not p.poll(max(1, remaining // 1000000)):
        raise Fail('timeout-' + phase)


def connect(addr, deadline):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            raise Fail(errno_res(err))
        if err:
            wait_io(sock, select.POLLOUT, deadline, 'connect')
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise Fail(errno_res(err))
        return sock
    except BaseException:
        abort(sock)
        raise


def abort(sock):
    # RST instead of FIN: an abandoned attempt must not leave TIME_WAIT sockets behind at 50/s
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
    except OSError:
        pass
    sock.close()


def send_all(sock, data, deadline):
    while data:
        try:
            n = sock.send(data)
            data = data[n:]
        except BlockingIOError:
            wait_io(sock, select.POLLOUT, deadline, 'read')
        except OSError as e:
            raise Fail(errno_res(e.errno))


def recv_some(sock, deadline):
    while True:
        try:
            return sock.recv(65536)
        except BlockingIOError:
            wait_io(sock, select.POLLIN, deadline, 'read')
        except OSError as e:
            raise Fail(errno_res(e.errno))


def status_of(head):
    # 'HTTP/1.1 200 OK' -> 200
    first = head.split(b'\r\n', 1)[0].split(b' ')
    if len(first) < 2 or not first[0].startswith(b'HTTP/') or not first[1].isdigit():
        raise Fail('bad')
    return int(first[1])


def served_by(data):
    i = data.lower().find(b'served-by:')
    if i < 0:
        return '-'
    j = i + len(b'served-by:')
    while j < len(data) and data[j:j + 1] in (b' ', b'\t'):
        j += 1
    k = j
    while k < len(data) and (data[k:k + 1].isalnum() or data[k:k + 1] in (b'.', b'_', b'-')):
        k += 1
    return data[j:k].decode('ascii', 'replace') or '-'


def result_of(code):
    return 'ok' if 200 <= code < 400 else 'http'


class ShortRequest:
    """One short request driven by the poll loop: connect, send, read to EOF, each step non-blocking."""

    def __init__(self, seq, slot, skipped, addr, request, timeout_ns):
        self.seq, self.slot, self.skipped = seq, slot, skipped
        self.request = request
        self.data = b''
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t0 = mono_ns()
        self.deadline = self.t0 + timeout_ns
        self.phase = 'connect'
        self.result = None  # (res, code, server) once done
        err = self.sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            self.finish(errno_res(err), clean=False)

    def events(self):
        return select.POLLOUT if self.phase == 'connect' or self.request else select.POLLIN

    def on_ready(self):
        try:
            if self.phase == 'connect':
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    return self.finish(errno_res(err), clean=False)
                self.phase = 'read'
            if self.request:
                n = self.sock.send(self.request)
                self.request = self.request[n:]
                return None
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError as e:
            return self.finish(errno_res(e.errno), clean=False)
        if chunk:
            self.data += chunk
            return None
        if not self.data:
            return self.finish('eof', clean=True)
        try:
            code = status_of(self.data)
        except Fail as f:
            return self.finish(f.res, clean=True)
        self.finish(result_of(code), str(code), served_by(self.data), clean=True)

    def on_timeout(self):
        self.finish('timeout-' + self.phase, clean=False)

    def finish(self, res, code='-', server='-', clean=True):
        self.result = (res, code, server)
        self.t1 = mono_ns()
        if clean:
            self.sock.close()
        else:
            abort(self.sock)


class KeepAlive:
    """One HTTP/1.1 keep-alive request on an open connection."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def read_more(self, deadline):
        chunk = recv_some(self.sock, deadline)
        if not chunk:
            raise Fail('eof')
        self.buf += chunk

    def take(self, n, deadline):
        while len(self.buf) < n:
            self.read_more(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def take_line(self, deadline):
        while b'\r\n' not in self.buf:
            self.read_more(deadline)
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def request(self, request, deadline):
        """Returns (code, server, server_closes)."""
        send_all(self.sock, request, deadline)
        while b'\r\n\r\n' not in self.buf:
            self.read_more(deadline)
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        code = status_of(head)
        headers = {}
        for line in head.split(b'\r\n')[1:]:
            name, _, value = line.partition(b':')
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b'transfer-encoding', b'') == b'chunked':
            body = b''
            while True:
                size = int(self.take_line(deadline).split(b';')[0], 16)
                body += self.take(size, deadline)
                self.take(2, deadline)
                if size == 0:
                    break
        elif b'content-length' in headers:
            body = self.take(int(headers[b'content-length']), deadline)
        else:
            raise Fail('bad')  # no framing: cannot stay alive
        return code, served_by(head + b'\r\n' + body), headers.get(b'connection') == b'close'


def persistent_worker(ident, addr, opts, stop):
    request = ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lvsplay-probe\r\n'
               'Connection: keep-alive\r\n\r\n' % (opts['path'], opts['host'])).encode()
    interval_ns = int(opts['pinterval_ms'] * 1e6)
    timeout_ns = int(opts['ptimeout_ms'] * 1e6)
    connect_ns = int(opts['timeout_ms'] * 1e6)
    gen = 0
    while not stop.is_set():
        gen += 1
        t0 = mono_ns()
        try:
            sock = connect(addr, t0 + max(connect_ns, 1000000000))
        except Fail as f:
            emit('pconn', [('id', ident), ('gen', gen), ('ev', 'connect-fail'), ('t_ns', t0),
                           ('lat_us', (mono_ns() - t0) // 1000), ('reason', f.res)])
            stop.wait(interval_ns / 1e9)
            continue
        emit('pconn', [('id', ident), ('gen', gen), ('ev', 'open'), ('t_ns', t0),
                       ('lat_us', (mono_ns() - t0) // 1000)])
        conn = KeepAlive(sock)
        next_t = t0
        broken = True
        try:
            while not stop.is_set():
                t0 = mono_ns()
                try:
                    code, server, closes = conn.request(request, t0 + timeout_ns)
                except Fail as f:
                    emit('pconn', [('id', ident), ('gen', gen), ('ev', 'fail'), ('t_ns', t0),
                                   ('lat_us', (mono_ns() - t0) // 1000), ('reason', f.res)])
                    break
                emit('pconn', [('id', ident), ('gen', gen), ('ev', 'ok' if result_of(code) == 'ok' else 'http'),
                               ('t_ns', t0), ('lat_us', (mono_ns() - t0) // 1000), ('code', code),
                               ('server', server)])
                if closes:
                    emit('pconn', [('id', ident), ('gen', gen), ('ev', 'closed'), ('t_ns', mono_ns()),
                                   ('reason', 'server-close')])
                    broken = False
                    break
                next_t += interval_ns
                stop.wait(max(0, next_t - mono_ns()) / 1e9)
            else:
                broken = False
        finally:
            if broken:
                abort(sock)
            else:
                sock.close()
        if broken:
            stop.wait(interval_ns / 1e9)


# ------------------------------------------------------------------ main

def main():
    global out_closed
    opts = parse_args(sys.argv[1:])
    try:
        ip = socket.getaddrinfo(opts['host'], opts['port'], socket.AF_INET, socket.SOCK_STREAM)[0][4]
    except OSError as e:
        die('cannot resolve %s: %s' % (opts['host'], e))
    stats = {'reqs': 0, 'ok': 0, 'skipped': 0}
    marks = [0]

    def finish(reason):
        global out_closed
        with out_lock:
            clock_line()
            emit('end', [('t_ns', mono_ns()), ('reason', reason), ('reqs', stats['reqs']),
                         ('ok', stats['ok']), ('skipped', stats['skipped'])])
            out_closed = True
        os._exit(0)

    def on_mark(signum, frame):
        marks[0] += 1
        emit('mark', [('n', marks[0]), ('t_ns', mono_ns())])

    signal.signal(signal.SIGUSR1, on_mark)
    signal.signal(signal.SIGTERM, lambda s, f: finish('signal'))
    signal.signal(signal.SIGINT, lambda s, f: finish('signal'))
    # Hard stop even if something blocks: the duration plus the longest single wait, plus slack.
    signal.signal(signal.SIGALRM, lambda s, f: finish('alarm'))
    signal.alarm(int(opts['duration'] + opts['timeout_ms'] / 1000.0) + 5)

    emit('probe', [('v', 2), ('host', opts['host']), ('port', opts['port']), ('path', opts['path']),
                   ('interval_ms', opts['interval_ms']), ('timeout_ms', opts['timeout_ms']),
                   ('duration_s', opts['duration']), ('persistent', opts['persistent']),
                   ('pinterval_ms', opts['pinterval_ms']), ('ptimeout_ms', opts['ptimeout_ms']),
                   ('pid', os.getpid())])
    clock_line()
    start = mono_ns()
    end = start + int(opts['duration'] * 1e9)
    interval_ns = int(opts['interval_ms'] * 1e6)
    timeout_ns = int(opts['timeout_ms'] * 1e6)
    request = ('GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: lvsplay-probe\r\n\r\n'
               % (opts['path'], opts['host'])).encode()

    stop = threading.Event()
    for ident in range(opts['persistent']):
        threading.Thread(target=persistent_worker, args=(ident, ip, opts, stop), daemon=True).start()

    pending = {}  # fd -> ShortRequest
    poller = select.poll()

    def done(r):
        emit('req', [('seq', r.seq), ('slot', r.slot), ('skipped', r.skipped), ('t_ns', r.t0),
                     ('lat_us', (r.t1 - r.t0) // 1000), ('res', r.result[0]), ('code', r.result[1]),
                     ('server', r.result[2])])
        stats['reqs'] += 1
        stats['ok'] += r.result[0] == 'ok'

    slot = 0
    seq = 0
    last_slot = (end - start - 1) // interval_ns
    while True:
        now = mono_ns()
        due = start + slot * interval_ns
        if due <= now and due < end:
            # on schedule; if the loop woke more than one slot late, the passed-over slots are counted
            current = min((now - start) // interval_ns, last_slot)
            skipped = max(0, current - slot)
            stats['skipped'] += skipped
            r = ShortRequest(seq, current, skipped, ip, request, timeout_ns)
            seq += 1
            slot = current + 1
            if r.result:
                done(r)
            else:
                pending[r.sock.fileno()] = r
                poller.register(r.sock, r.events())
            continue
        if not pending and due >= end:
            break
        wake = min([r.deadline for r in pending.values()] + ([due] if due < end else []))
        events = poller.poll(max(0, (wake - now + 999999) // 1000000))
        # The client itself was stalled (an emulated CPU descheduled): a request's timeout counts the
        # time this process was awake, so one whose answer came while it slept is not a failure.
        late = mono_ns() - max(wake, now)
        if late > interval_ns:
            for r in pending.values():
                r.deadline += late
        for fd, _ in events:
            r = pending[fd]
            r.on_ready()
            if r.result:
                poller.unregister(fd)
                del pending[fd]
                done(r)
            else:
                poller.modify(fd, r.events())
        now = mono_ns()
        for fd, r in list(pending.items()):
            if r.deadline <= now:
                poller.unregister(fd)
                del pending[fd]
                r.on_timeout()
                done(r)
    stop.set()
    finish('duration')


if __name__ == '__main__':
    main()
