#!/usr/bin/perl
# An independent prober for test/lab/30-drill.test.ts, deliberately NOT the drill's code path:
# another language, another design (select(2) on read/write bitmasks, raw sockets, no HTTP library).
# Every INTERVAL_MS a non-blocking connect() to IP:PORT goes out, whatever earlier attempts are
# doing. MODE tcp: the attempt ends when the handshake completes (ok). MODE http (the default): it
# then sends `GET / HTTP/1.0` and reads to the server's close; ok when the answer's status line is
# 2xx/3xx. Either fails on an error (refused, reset, unreachable…), a close without an answer (eof),
# another status (http-CODE) or its own TIMEOUT_MS (timeout). The socket is then closed with an RST
# (SO_LINGER 0). A timeout counts the time this process was awake: when select(2) returns more than
# one interval late (the VM was descheduled), the attempts in flight get that time back, since their
# answers may have come while it slept.
#
#   perl tcp-prober.pl IP PORT INTERVAL_MS TIMEOUT_MS DURATION_S [http|tcp]
#
# Output, one line per attempt in the order they END, times on CLOCK_MONOTONIC in ns (the clock the
# drill's probe logs on, so both line up without any conversion):
#   a SENT_NS DONE_NS ok|timeout|eof|http-CODE|error-ERRNO
use strict;
use warnings;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_ERROR SO_LINGER inet_aton sockaddr_in);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Errno qw(EINPROGRESS EAGAIN EWOULDBLOCK);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

(@ARGV == 5 || @ARGV == 6) or die "usage: tcp-prober.pl IP PORT INTERVAL_MS TIMEOUT_MS DURATION_S [http|tcp]\n";
my ($ip, $port, $interval_ms, $timeout_ms, $duration_s, $mode) = @ARGV;
$mode //= 'http';
$mode eq 'http' || $mode eq 'tcp' or die "mode: http or tcp, not $mode\n";
my $addr = sockaddr_in($port, inet_aton($ip) // die "bad address $ip\n");
my $request = "GET / HTTP/1.0\r\nHost: $ip\r\nUser-Agent: lvsplay-tcp-prober\r\n\r\n";
$| = 1;

sub now_ns { return int(clock_gettime(CLOCK_MONOTONIC) * 1e9) }

my $interval = $interval_ms * 1e6;
my $timeout = $timeout_ms * 1e6;
my $start = now_ns();
my $end = $start + $duration_s * 1e9;
my $next = $start;
my %pending;    # fileno => { sock, sent, deadline, phase: connect|read, buf }
$SIG{TERM} = $SIG{INT} = sub { $end = 0 };

sub finish {
    my ($fd, $res) = @_;
    my $p = delete $pending{$fd};
    printf "a %d %d %s\n", $p->{sent}, now_ns(), $res;
    setsockopt($p->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $p->{sock};
}

sub connected {
    my ($fd) = @_;
    return finish($fd, 'ok') if $mode eq 'tcp';
    my $p = $pending{$fd};
    my $n = syswrite($p->{sock}, $request);    # a few dozen bytes into an empty send buffer
    return finish($fd, 'error-' . ($! + 0)) unless defined $n && $n == length $request;
    $p->{phase} = 'read';
}

sub readable {
    my ($fd) = @_;
    my $p = $pending{$fd};
    my $n = sysread($p->{sock}, my $chunk, 65536);
    if (!defined $n) {
        return if $! == EAGAIN || $! == EWOULDBLOCK;
        return finish($fd, 'error-' . ($! + 0));
    }
    if ($n > 0) {
        $p->{buf} .= $chunk if length $p->{buf} < 256;    # the status line is all that is read
        return;
    }
    # the server closed: the answer is complete
    return finish($fd, 'eof') unless $p->{buf} =~ m{^HTTP/1\.[01] (\d{3})};
    finish($fd, $1 =~ /^[23]/ ? 'ok' : "http-$1");
}

while (1) {
    my $t = now_ns();
    if ($t >= $next && $next < $end) {
        socket(my $sock, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
        fcntl($sock, F_SETFL, fcntl($sock, F_GETFL, 0) | O_NONBLOCK);
        my $sent = now_ns();
        my $fd = fileno $sock;
        $pending{$fd} = { sock => $sock, sent => $sent, deadline => $sent + $timeout, phase => 'connect', buf => '' };
        if (connect($sock, $addr)) { connected($fd) }
        elsif ($! != EINPROGRESS) { finish($fd, 'error-' . ($! + 0)) }
        $next += $interval while $next <= $t;    # on the grid; slots missed by a late wake-up are dropped
        next;
    }
    last if !%pending && $next >= $end;
    my $wake = $next < $end ? $next : $t + 1e9;
    for my $p (values %pending) { $wake = $p->{deadline} if $p->{deadline} < $wake }
    my ($r, $w) = ('', '');
    for my $fd (keys %pending) { vec($pending{$fd}{phase} eq 'connect' ? $w : $r, $fd, 1) = 1 }
    my $wait = ($wake - $t) / 1e9;
    select(my $rout = $r, my $wout = $w, undef, $wait > 0 ? $wait : 0);
    my $late = now_ns() - ($wake > $t ? $wake : $t);
    if ($late > $interval) { $_->{deadline} += $late for values %pending }
    for my $fd (keys %pending) {
        my $p = $pending{$fd} or next;
        if ($p->{phase} eq 'connect' && vec($wout, $fd, 1)) {
            my $err = unpack('i', getsockopt($p->{sock}, SOL_SOCKET, SO_ERROR));
            if ($err) { finish($fd, "error-$err") } else { connected($fd) }
        } elsif ($p->{phase} eq 'read' && vec($rout, $fd, 1)) {
            readable($fd);
        }
    }
    $t = now_ns();
    for my $fd (keys %pending) { finish($fd, 'timeout') if $pending{$fd}{deadline} <= $t }
}
