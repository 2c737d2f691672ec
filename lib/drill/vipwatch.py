#!/usr/bin/python3
# lvsplay drill: watches a director's IPv4 addresses through rtnetlink (no polling, no forks) and
# says when the VIPs come and go, timestamped on this host's CLOCK_REALTIME. Runs ON A DIRECTOR.
# Only modules shipped by Debian's python3-minimal are imported (os, signal, socket, struct, sys, time).
#
# Usage:
#   python3 vipwatch.py watch --vip A [--vip B …] [--dev IF] [--clock-port P] --duration SECONDS
#       logs every change until the duration ends or SIGTERM/SIGINT arrives; with --clock-port it
#       also answers clock queries on UDP port P (any address): each datagram is sent back with this
#       host's CLOCK_REALTIME ns appended, so hosts on the LAN can measure their offset to it
#   python3 vipwatch.py wait  --vip A --held 0|1 --timeout SECONDS
#       exits 0 as soon as A's presence equals --held (at once if it already does), 1 on timeout
#   python3 vipwatch.py clock --host IP --port P [--count 20]
#       queries a watcher's clock over UDP, one query at a time (each waits ≤ 1 s for its answer)
#   python3 vipwatch.py beat --host IP --port P [--interval-ms 20] [--misses 25] --duration SECONDS
#       a query every interval without waiting for answers, until --misses queries in a row went
#       unanswered (after at least one answer) or the duration ends: the last answer tells when the
#       watcher's host was last alive (a power cut), on its own clock and on this one
#
# Output, one line per record, fields `key=value` separated by one space (as probe.py):
#   vipwatch v=1 mode=watch|wait pid=N
#   state t_ns=T vip=A held=0|1 initial=0|1     T: CLOCK_REALTIME ns when the change was read
#                                               (initial=1: the state when the watch began)
#   link t_ns=T dev=IF up=0|1 initial=0|1       (only with --dev: the interface's UP flag)
#   end t_ns=T reason=duration|signal|timeout|met
#   sample sent_ns=S remote_ns=R received_ns=V     (clock, beat: S, V on this host, R on the other)
#   silent after_ns=S next_ns=N                    (beat: the last answered query was sent at S, the
#                                                  first of the unanswered run at N, this host's clock)
import os
import select
import signal
import socket
import struct
import sys
import time

NLMSG_HDR = struct.Struct('=LHHLL')  # len, type, flags, seq, pid
IFADDRMSG = struct.Struct('=BBBBi')  # family, prefixlen, flags, scope, index
IFINFOMSG = struct.Struct('=BxHiII')  # family, type, index, flags, change
RTATTR = struct.Struct('=HH')  # len, type
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
RTMGRP_LINK, RTMGRP_IPV4_IFADDR = 0x1, 0x10
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFLA_IFNAME = 3
IFF_UP = 0x1
USAGE = ('usage: vipwatch.py watch --vip A [--vip B] [--dev IF] [--clock-port P] --duration S'
         ' | wait --vip A --held 0|1 --timeout S | clock --host IP --port P [--count N]'
         ' | beat --host IP --port P [--interval-ms 20] [--misses 25] --duration S')


def die(msg):
    sys.stderr.write('vipwatch: %s\n%s\n' % (msg, USAGE))
    sys.exit(2)


class Stop(Exception):
    pass


def on_signal(signum, frame):
    # raised, not recorded: select() is retried after a handler that returns (PEP 475)
    raise Stop()


def now_ns():
    return time.time_ns()


def emit(kind, fields):
    os.write(1, (kind + ''.join(' %s=%s' % kv for kv in fields) + '\n').encode())


def parse_args(argv):
    if not argv or argv[0] not in ('watch', 'wait', 'clock', 'beat'):
        die('first argument must be watch, wait, clock or beat')
    opts = {'mode': argv[0], 'vips': [], 'dev': None, 'duration': None, 'held': None, 'timeout': None,
            'clock_port': None, 'host': None, 'port': None, 'count': 20, 'interval_ms': 20.0, 'misses': 25}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if i + 1 >= len(argv):
            die('option %s needs a value' % arg)
        value = argv[i + 1]
        try:
            if arg == '--vip':
                socket.inet_aton(value)
                opts['vips'].append(value)
            elif arg == '--dev':
                opts['dev'] = value
            elif arg == '--duration':
                opts['duration'] = float(value)
            elif arg == '--timeout':
                opts['timeout'] = float(value)
            elif arg == '--clock-port' or arg == '--port':
                port = int(value)
                if not 0 < port < 65536:
                    raise ValueError(value)
                opts['clock_port' if arg == '--clock-port' else 'port'] = port
            elif arg == '--host':
                socket.inet_aton(value)
                opts['host'] = value
            elif arg == '--interval-ms':
                opts['interval_ms'] = float(value)
                if not 1 <= opts['interval_ms'] <= 10000:
                    raise ValueError(value)
            elif arg == '--misses':
                opts['misses'] = int(value)
                if opts['misses'] < 1:
                    raise ValueError(value)
            elif arg == '--count':
                opts['count'] = int(value)
                if not 0 < opts['count'] <= 1000:
                    raise ValueError(value)
            elif arg == '--held':
                if value not in ('0', '1'):
                    raise ValueError(value)
                opts['held'] = value == '1'
            else:
                die('unknown option %s' % arg)
        except (ValueError, OSError):
            die('option %s: bad value %r' % (arg, value))
        i += 2
    if opts['mode'] in ('clock', 'beat'):
        if not opts['host'] or not opts['port']:
            die('%s needs --host and --port' % opts['mode'])
        if opts['mode'] == 'beat' and not (opts['duration'] and opts['duration'] > 0):
            die('beat needs --duration > 0')
        return opts
    if not opts['vips']:
        die('--vip is required')
    if opts['mode'] == 'watch' and not (opts['duration'] and opts['duration'] > 0):
        die('watch needs --duration > 0')
    if opts['mode'] == 'wait' and (opts['held'] is None or len(opts['vips']) != 1 or not (opts['timeout'] and opts['timeout'] > 0)):
        die('wait needs one --vip, --held 0|1 and --timeout > 0')
    return opts


def attrs(data, offset, end):
    while offset + RTATTR.size <= end:
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size:
            break
        yield kind, data[offset + RTATTR.size:offset + length]
        offset += (length + 3) & ~3


def messages(data):
    offset = 0
    while offset + NLMSG_HDR.size <= len(data):
        length, kind, _flags, _seq, _pid = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size:
            break
        yield kind, data, offset + NLMSG_HDR.size, offset + length
        offset += (length + 3) & ~3


class State:
    def __init__(self, vips, dev):
        self.vips = set(vips)
        self.dev = dev
        self.where = {v: set() for v in vips}  # vip -> interface indexes holding it
        self.dev_index = None
        self.dev_up = None

    def held(self, vip):
        return bool(self.where[vip])

    def apply(self, kind, data, start, end):
        """Applies one rtnetlink message; returns the changes as (record, fields) pairs."""
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            family, _plen, _flags, _scope, index = IFADDRMSG.unpack_from(data, start)
            if family != socket.AF_INET:
                return []
            found = {}
            for akind, value in attrs(data, start + IFADDRMSG.size, end):
                if akind in (IFA_ADDRESS, IFA_LOCAL) and len(value) == 4:
                    found[akind] = socket.inet_ntoa(value)
            ip = found.get(IFA_LOCAL, found.get(IFA_ADDRESS))
            # index 1 is lo (LOOPBACK_IFINDEX): a co-located director keeps every VIP there as a
            # real server; only the LAN side means holding it
            if ip not in self.vips or index == 1:
                return []
            before = self.held(ip)
            if kind == RTM_NEWADDR:
                self.where[ip].add(index)
            else:
                self.where[ip].discard(index)
            return [('state', ip)] if self.held(ip) != before else []
        if kind in (RTM_NEWLINK, RTM_DELLINK) and self.dev:
            _family, _type, index, flags, _change = IFINFOMSG.unpack_from(data, start)
            name = None
            for akind, value in attrs(data, start + IFINFOMSG.size, end):
                if akind == IFLA_IFNAME:
                    name = value.rstrip(b'\0').decode('ascii', 'replace')
            if name != self.dev and index != self.dev_index:
                return []
            self.dev_index = index
            up = kind == RTM_NEWLINK and bool(flags & IFF_UP)
            if up == self.dev_up:
                return []
            self.dev_up = up
            return [('link', self.dev)]
        return []


def dump(sock, kind, seq):
    # rtgenmsg: the family, padded to 4 bytes
    body = struct.pack('=Bxxx', socket.AF_INET if kind == RTM_GETADDR else socket.AF_UNSPEC)
    sock.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)


def clock_queries(opts):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = (opts['host'], opts['port'])
    for i in range(opts['count']):
        tag = b'%d ' % i
        sent = now_ns()
        sock.sendto(tag, addr)
        deadline = time.monotonic() + 1.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            data = sock.recv(256)
            received = now_ns()
            if data.startswith(tag):
                emit('sample', [('sent_ns', sent), ('remote_ns', int(data[len(tag):])), ('received_ns', received)])
                break
    emit('end', [('t_ns', now_ns()), ('reason', 'done')])


def heartbeat(opts):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    addr = (opts['host'], opts['port'])
    interval = opts['interval_ms'] / 1000.0
    end = time.monotonic() + opts['duration']
    sent = {}  # seq -> sent_ns, unanswered so far
    seq = 0
    last_answered = None  # (seq, sent_ns)
    reason = 'duration'
    next_beat = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_beat:
            seq += 1
            sent[seq] = now_ns()
            try:
                sock.sendto(b'%d ' % seq, addr)
            except OSError:
                pass  # no route while the LAN is down: counts as unanswered
            next_beat += interval
            if last_answered and seq - last_answered[0] > opts['misses']:
                emit('silent', [('after_ns', last_answered[1]), ('next_ns', sent[last_answered[0] + 1])])
                reason = 'silent'
                break
        ready = select.select([sock], [], [], max(0.0, min(next_beat, end) - time.monotonic()))[0]
        while ready:
            try:
                data = sock.recv(256)
            except (BlockingIOError, OSError):
                break
            received = now_ns()
            tag, _, remote = data.partition(b' ')
            n = int(tag)
            if n in sent and remote:
                emit('sample', [('sent_ns', sent[n]), ('remote_ns', int(remote)), ('received_ns', received)])
                if not last_answered or n > last_answered[0]:
                    last_answered = (n, sent[n])
                del sent[n]
    emit('end', [('t_ns', now_ns()), ('reason', reason)])


def main():
    opts = parse_args(sys.argv[1:])
    if opts['mode'] == 'clock':
        clock_queries(opts)
        return
    if opts['mode'] == 'beat':
        heartbeat(opts)
        return
    state = State(opts['vips'], opts['dev'])
    groups = RTMGRP_IPV4_IFADDR | (RTMGRP_LINK if opts['dev'] else 0)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((0, groups))  # subscribed before the dumps: no change falls between them

    clock = None
    if opts['clock_port']:
        clock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        clock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        clock.bind(('0.0.0.0', opts['clock_port']))
    emit('vipwatch', [('v', 1), ('mode', opts['mode']), ('pid', os.getpid())])
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Initial state: address dump, then link dump. Events that arrive meanwhile are applied in order.
    pending = [RTM_GETADDR] + ([RTM_GETLINK] if opts['dev'] else [])
    seq = 1
    dump(sock, pending[0], seq)
    initial = True
    limit = opts['duration'] if opts['mode'] == 'watch' else opts['timeout']
    deadline = time.monotonic() + limit

    def report(changes, t, first):
        for record, key in changes:
            if record == 'state':
                emit('state', [('t_ns', t), ('vip', key), ('held', int(state.held(key))), ('initial', int(first))])
            else:
                emit('link', [('t_ns', t), ('dev', key), ('up', int(bool(state.dev_up))), ('initial', int(first))])

    def met():
        return opts['mode'] == 'wait' and not initial and state.held(opts['vips'][0]) == opts['held']

    reason = None
    try:
        while reason is None:
            left = deadline - time.monotonic()
            if left <= 0:
                reason = 'duration' if opts['mode'] == 'watch' else 'timeout'
                break
            ready, _, _ = select.select([sock] + ([clock] if clock else []), [], [], left)
            if clock in ready:
                query, peer = clock.recvfrom(256)
                clock.sendto(query + b'%d' % now_ns(), peer)
            if sock not in ready:
                continue
            data = sock.recv(1 << 16)
            t = now_ns()
            for kind, buf, start, end in messages(data):
                if kind == NLMSG_ERROR:
                    die('rtnetlink dump refused')
                if kind == NLMSG_DONE:
                    pending.pop(0)
                    if pending:
                        seq += 1
                        dump(sock, pending[0], seq)
                    else:
                        initial = False
                        for vip in opts['vips']:
                            emit('state', [('t_ns', t), ('vip', vip), ('held', int(state.held(vip))), ('initial', 1)])
                        if opts['dev']:
                            emit('link', [('t_ns', t), ('dev', opts['dev']), ('up', int(bool(state.dev_up))), ('initial', 1)])
                    continue
                changes = state.apply(kind, buf, start, end)
                if not initial:
                    report(changes, t, False)
            if met():
                reason = 'met'
    except Stop:
        reason = 'signal'
    emit('end', [('t_ns', now_ns()), ('reason', reason)])
    sys.exit(1 if reason == 'timeout' else 0)


if __name__ == '__main__':
    main()
