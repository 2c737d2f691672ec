#!/usr/bin/perl
# An independent prober for test/lab/30-drill.test.ts, deliberately NOT the drill's code path:
# another language, another design (TCP handshake only, no HTTP; select(2) on write bitmasks).
# Every INTERVAL_MS a non-blocking connect() to IP:PORT goes out, whatever earlier attempts are
# doing; each attempt ends when the handshake completes (ok), fails (refused, unreachable…) or its
# own TIMEOUT_MS passes (timeout). The socket is then closed with an RST (SO_LINGER 0).
#
#   perl tcp-prober.pl IP PORT INTERVAL_MS TIMEOUT_MS DURATION_S
#
# Output, one line per attempt in the order they END, times on CLOCK_MONOTONIC in ns (the clock the
# drill's probe logs on, so both line up without any conversion):
#   a SENT_NS DONE_NS ok|timeout|error-ERRNO
use strict;
use warnings;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_ERROR SO_LINGER inet_aton sockaddr_in);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Errno qw(EINPROGRESS);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

@ARGV == 5 or die "usage: tcp-prober.pl IP PORT INTERVAL_MS TIMEOUT_MS DURATION_S\n";
my ($ip, $port, $interval_ms, $timeout_ms, $duration_s) = @ARGV;
my $addr = sockaddr_in($port, inet_aton($ip) // die "bad address $ip\n");
$| = 1;

sub now_ns { return int(clock_gettime(CLOCK_MONOTONIC) * 1e9) }

my $interval = $interval_ms * 1e6;
my $timeout = $timeout_ms * 1e6;
my $start = now_ns();
my $end = $start + $duration_s * 1e9;
my $next = $start;
my %pending;    # fileno => [socket, sent_ns]
$SIG{TERM} = $SIG{INT} = sub { $end = 0 };

sub finish {
    my ($fd, $res) = @_;
    my ($sock, $sent) = @{ delete $pending{$fd} };
    printf "a %d %d %s\n", $sent, now_ns(), $res;
    setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $sock;
}

while (1) {
    my $t = now_ns();
    if ($t >= $next && $next < $end) {
        socket(my $sock, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
        fcntl($sock, F_SETFL, fcntl($sock, F_GETFL, 0) | O_NONBLOCK);
        my $sent = now_ns();
        $pending{ fileno $sock } = [$sock, $sent];
        if (connect($sock, $addr)) { finish(fileno $sock, 'ok') }
        elsif ($! != EINPROGRESS) { finish(fileno $sock, 'error-' . ($! + 0)) }
        $next += $interval while $next <= $t;    # on the grid; slots missed by a late wake-up are dropped
        next;
    }
    last if !%pending && $next >= $end;
    my $wake = $next < $end ? $next : $t + 1e9;
    for my $p (values %pending) { $wake = $p->[1] + $timeout if $p->[1] + $timeout < $wake }
    my $w = '';
    vec($w, $_, 1) = 1 for keys %pending;
    my $wait = ($wake - $t) / 1e9;
    select(undef, my $wout = $w, undef, $wait > 0 ? $wait : 0);
    for my $fd (keys %pending) {
        next unless defined $wout && vec($wout, $fd, 1);
        my $err = unpack('i', getsockopt($pending{$fd}[0], SOL_SOCKET, SO_ERROR));
        finish($fd, $err ? "error-$err" : 'ok');
    }
    $t = now_ns();
    for my $fd (keys %pending) { finish($fd, 'timeout') if $pending{$fd}[1] + $timeout <= $t }
}
