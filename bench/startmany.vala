/* startmany.vala: the Vala async peer of bench-workload's startmany.
 *
 *   valac --pkg gio-2.0 -X -O2 startmany.vala -o bench-startmany-vala
 *   bench-startmany-vala N
 *
 * N async methods started at once, each yielding to a 100 ms GLib timeout;
 * prints start_s (until the last one reached its yield), wall_s (until
 * the last one finished) and the CPU time the process ran meanwhile
 * (start_cpu_s, wall_cpu_s) as one JSON line, the keys bench-workload
 * prints.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

int64 started;
int64 finished;
int64 target;
int64 t_started;
int64 cpu_started;

/* CPU time this process ran, ns (/proc/self/schedstat): on a loaded
 * machine the wall time also counts the time others ran. */
int64 cpu_ns () {
    string text;
    try {
        FileUtils.get_contents ("/proc/self/schedstat", out text);
    } catch (FileError e) {
        return 0;
    }
    return int64.parse (text.split (" ")[0]);
}
MainLoop main_loop;

async void sleeper () {
    Timeout.add (100, sleeper.callback);
    if (++started == target) {
        t_started = get_monotonic_time ();
        cpu_started = cpu_ns ();
    }
    yield;
    if (++finished == target)
        main_loop.quit ();
}

void run_many (int64 n, double[] s) {
    started = finished = 0;
    target = n;
    int64 c0 = cpu_ns ();
    int64 t0 = get_monotonic_time ();
    for (int64 i = 0; i < n; i++)
        sleeper.begin ();
    main_loop.run ();
    s[0] = (t_started - t0) / 1e6;
    s[1] = (get_monotonic_time () - t0) / 1e6;
    s[2] = (cpu_started - c0) / 1e9;
    s[3] = (cpu_ns () - c0) / 1e9;
}

int main (string[] args) {
    int64 n = args.length > 1 ? int64.parse (args[1]) : 100000;
    double[] s = new double[4];

    main_loop = new MainLoop (null, false);
    run_many (int64.min (n, 1000), s);   /* warm-up */
    run_many (n, s);
    print ("{\"start_s\": %.6f, \"wall_s\": %.6f, \"start_cpu_s\": %.6f, \"wall_cpu_s\": %.6f}\n",
           s[0], s[1], s[2], s[3]);
    return 0;
}
