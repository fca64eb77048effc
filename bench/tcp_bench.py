#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Driver of the TCP echo benchmark (bench/README.md, "TCP echo").

For each repetition, runs every server in turn (the order rotates from one
repetition to the next), each as a fresh process on 127.0.0.1, and drives it
with the same load generator (tcp-load, a separate process):

  load:   100 clients x 2,000 round trips of 64 bytes
  active: 10 clients x 2,000 round trips (no idle connections: the baseline)
  idle:   10,000 idle connections held open while 10 clients do 2,000 round
          trips each

Servers: Coop (epoll backend), Coop with COOP_IO_BACKEND=poll, GIO
(GSocketService + *_async), asyncio and uvloop (/usr/bin/python3).  Prints
a Markdown table of the medians with the ratios Coop / peer, and writes every
sample and the medians as JSON.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = '/usr/bin/python3'

SERVERS = ['coop', 'coop-poll', 'gio', 'asyncio', 'uvloop']
# Python loops (bench/python_bench.py) and libuv (bench/run), not in the
# default list.
EXTRA_SERVERS = ['gbulb', 'coop-asyncio', 'coop-asyncio-py', 'libuv']
LABELS = {'coop': 'Coop', 'coop-poll': 'Coop (poll)', 'gio': 'GIO',
          'asyncio': 'asyncio', 'uvloop': 'uvloop', 'gbulb': 'gbulb',
          'coop-asyncio': 'asyncio on Coop', 'coop-asyncio-py': 'asyncio on Coop (pure Python)',
          'libuv': 'libuv'}
PEERS = ['gio', 'asyncio', 'uvloop']

# In the idle test, GIO and Coop's poll backend pay for every idle fd in every
# main-loop iteration (about 8 ms and 100 ms per round trip with 10,000 idle
# connections), so their active clients do fewer round trips there: same
# measurement, fewer samples, and the whole run stays under 5 minutes.
IDLE_ROUNDS_DIVISOR = {'gio': 10, 'coop-poll': 40}


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 (openssl's command), for the
    TLS echo servers.  Returns (cert, key) paths."""
    cert, key = os.path.join(directory, 'cert.pem'), os.path.join(directory, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
                    '-keyout', key, '-out', cert], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def server_cmd(name, build, mode='tcp', cert=None):
    """The echo server's command line.  mode 'tls' serves TLS with cert
    (a (cert, key) pair), 'udp' echoes datagrams."""
    cmd, env = _server_cmd(name, build)
    if mode == 'tls':
        cmd += ['--cert', cert[0], '--key', cert[1]]
    elif mode == 'udp':
        cmd += ['--udp']
    return cmd, env


def _server_cmd(name, build):
    env = dict(os.environ)
    env.pop('COOP_IO_BACKEND', None)
    if name == 'coop':
        return [os.path.join(build, 'bench', 'tcp-server-coop'), '--port', '0'], env
    if name == 'coop-poll':
        env['COOP_IO_BACKEND'] = 'poll'
        return [os.path.join(build, 'bench', 'tcp-server-coop'), '--port', '0'], env
    if name == 'gio':
        return [os.path.join(build, 'bench', 'tcp-server-gio'), '--port', '0'], env
    if name == 'libuv':
        return [os.path.join(build, 'bench', 'tcp-server-uv'), '--port', '0'], env
    cmd = [PYTHON, os.path.join(HERE, 'tcp_server_asyncio.py'), '--port', '0',
           '--loop', {'coop-asyncio': 'coop', 'coop-asyncio-py': 'coop-py'}.get(name, name)]
    return cmd, env


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def run_load(build, port, clients, rounds, idle, mode='tcp'):
    cmd = [os.path.join(build, 'bench', 'tcp-load'), '--port', str(port),
           '--clients', str(clients), '--rounds', str(rounds), '--size', '64',
           '--idle', str(idle)] + ({'tls': ['--tls'], 'udp': ['--udp']}.get(mode, []))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    if out.returncode != 0:
        raise RuntimeError(f'tcp-load failed ({out.returncode}): {out.stderr.strip()}')
    return json.loads(out.stdout)


def run_server(name, build, tests):
    """Starts one server, runs the tests on it, stops it.  Returns
    {test: result} or None when the server is not available."""
    tests = dict(tests)
    if 'idle' in tests:
        clients, rounds, idle = tests['idle']
        tests['idle'] = (clients, max(1, rounds // IDLE_ROUNDS_DIVISOR.get(name, 1)), idle)
    cmd, env = server_cmd(name, build)
    if not os.path.exists(cmd[0]):
        return None
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            return None
        port = int(line)
        results = {}
        for test, (clients, rounds, idle) in tests.items():
            cpu0 = cpu_seconds(proc.pid)
            r = run_load(build, port, clients, rounds, idle)
            r['server_cpu_s'] = cpu_seconds(proc.pid) - cpu0
            r['server_cpu_us_per_req'] = r['server_cpu_s'] * 1e6 / r['requests']
            results[test] = r
        return results
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        time.sleep(0.2)   # let the kernel tear the sockets down


METRICS = [
    # (test, key, label, unit)
    ('load', 'rps', 'load: 100 clients × R round trips', 'k req/s, higher is better'),
    ('load', 'p50_us', 'load: latency p50', 'µs'),
    ('load', 'p99_us', 'load: latency p99', 'µs'),
    ('load', 'server_cpu_us_per_req', 'load: server CPU per request', 'µs'),
    ('active', 'rps', 'active: 10 clients, no idle connections', 'k req/s'),
    ('active', 'p50_us', 'active: latency p50', 'µs'),
    ('active', 'p99_us', 'active: latency p99', 'µs'),
    ('idle', 'rps', 'idle: 10 clients + I idle connections (see rounds below)', 'k req/s'),
    ('idle', 'p50_us', 'idle: latency p50', 'µs'),
    ('idle', 'p99_us', 'idle: latency p99', 'µs'),
    ('idle', 'max_us', 'idle: latency max', 'µs'),
    ('idle', 'idle_open_s', 'idle: time to open the idle connections', 's'),
]


def fmt(v, key):
    if v is None:
        return 'n/a'
    if key == 'rps':
        return f'{v / 1000:.1f}'
    if key == 'idle_open_s':
        return f'{v:.2f}'
    if v >= 1000:
        return f'{v:,.0f}'
    return f'{v:.1f}' if v >= 10 else f'{v:.2f}'


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default='_build', help='meson build directory (default _build)')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--rounds', type=int, default=2000)
    ap.add_argument('--idle', type=int, default=10000)
    ap.add_argument('--only', default=','.join(SERVERS),
                    help='comma-separated servers: ' + ','.join(SERVERS))
    ap.add_argument('--json', default='tcp-bench.json', help='output file (default tcp-bench.json)')
    args = ap.parse_args()

    servers = [s for s in args.only.split(',') if s]
    for s in servers:
        if s not in SERVERS + EXTRA_SERVERS:
            sys.exit(f'unknown server {s!r}')
    tests = {'load': (100, args.rounds, 0),
             'active': (10, args.rounds, 0),
             'idle': (10, args.rounds, args.idle)}

    samples = {s: [] for s in servers}
    unavailable = set()
    t_start = time.monotonic()
    for rep in range(args.reps):
        order = servers[rep % len(servers):] + servers[:rep % len(servers)]
        for s in order:
            if s in unavailable:
                continue
            t0 = time.monotonic()
            res = run_server(s, args.build, tests)
            if res is None:
                print(f'# {s}: not available (n/a)', file=sys.stderr)
                unavailable.add(s)
                continue
            samples[s].append(res)
            print(f'# rep {rep + 1} {s:10s} load {res["load"]["rps"] / 1000:7.1f}k req/s  '
                  f'active p50 {res["active"]["p50_us"]:7.1f} µs  '
                  f'idle p50 {res["idle"]["p50_us"]:8.1f} µs  ({time.monotonic() - t0:.1f} s)',
                  file=sys.stderr, flush=True)

    med = {}
    for s in servers:
        med[s] = {}
        for test in tests:
            med[s][test] = {}
            for _, key, _, _ in METRICS:
                vals = [r[test][key] for r in samples[s] if key in r[test]]
                med[s][test][key] = statistics.median(vals) if vals else None

    def m(s, test, key):
        return med.get(s, {}).get(test, {}).get(key)

    cols = [s for s in SERVERS + EXTRA_SERVERS if s in servers]
    peers = [p for p in PEERS if p in servers]
    head = '| measurement | unit | ' + ' | '.join(LABELS[s] for s in cols)
    if 'coop' in servers:
        head += ' | ' + ' | '.join(f'Coop ÷ {LABELS[p]}' for p in peers)
    lines = [head + ' |', '|' + '---|' * (2 + len(cols) + (len(peers) if 'coop' in servers else 0))]
    for test, key, label, unit in METRICS:
        label = label.replace('R round', f'{args.rounds:,} round').replace('I idle', f'{args.idle:,} idle')
        row = f'| {label} | {unit} | ' + ' | '.join(fmt(m(s, test, key), key) for s in cols)
        if 'coop' in servers:
            ratios = []
            for p in peers:
                a, b = m('coop', test, key), m(p, test, key)
                ratios.append(f'{a / b:.2f}' if a is not None and b else 'n/a')
            row += ' | ' + ' | '.join(ratios)
        lines.append(row + ' |')
    table = '\n'.join(lines)
    print(table)
    print(f'\n{args.reps} repetitions, medians; {time.monotonic() - t_start:.0f} s in all.  '
          'Idle test round trips per active client: ' +
          ', '.join(f'{LABELS[s]} {max(1, args.rounds // IDLE_ROUNDS_DIVISOR.get(s, 1)):,}' for s in cols) + '.')

    with open(args.json, 'w') as f:
        json.dump({'reps': args.reps, 'rounds': args.rounds, 'idle': args.idle, 'size': 64,
                   'tests': tests, 'unavailable': sorted(unavailable),
                   'samples': samples, 'medians': med, 'table': table}, f, indent=1)


if __name__ == '__main__':
    main()
