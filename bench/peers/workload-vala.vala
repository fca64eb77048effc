/* workload-vala.vala: one measurement of one workload as Vala async
 * methods, the peer of bench-workload (bench/workload.c): the same options,
 * one JSON line with the same keys.
 *
 *   bench-workload-vala --workload W --n N [--width P]
 *
 * Every task is an `async` method started with `.begin ()` on the default
 * main context.  A Vala async method runs synchronously up to its first
 * `yield`; what resumes it is its `.callback` (a SourceFunc), which the
 * code below hands to `Idle.add ()` or `Timeout.add ()`, as Vala programs
 * do: a wake-up is one GSource and one main-loop iteration.
 *
 *   spawn       N async methods that count and finish, all at once or in
 *               waves (each wave finished before the next starts).  An
 *               async method that never yields runs to its end inside
 *               begin (): the cost is its state struct and its GTask.
 *   pingpong    pairs of async methods handing control back and forth: each
 *               side stores its own .callback in the pair, adds the other
 *               side's stored callback with Idle.add () and yields.  One
 *               hand-off is one Idle.add () plus one dispatch.
 *   suspended   N async methods each yielding until its own mailbox (a
 *               compact class holding its .callback, the "future") is
 *               completed; completing it is Idle.add (mailbox.resume).
 *   start-many  N async methods each doing Timeout.add (100, callback) and
 *               yield: start_s until each is suspended, wall_s until the
 *               last has finished.
 *
 * Exit status 3: this workload is not implemented here.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

[CCode (cname = "malloc_trim", cheader_filename = "malloc.h")]
extern int malloc_trim (size_t pad);

static MainLoop ml;
static MainContext ctx;

static double elapsed_ns (int64 t0_us) {
    return (double) (GLib.get_monotonic_time () - t0_us) * 1000.0;
}

static int64 rss_kib () {
    string status;
    try {
        FileUtils.get_contents ("/proc/self/status", out status);
    } catch (FileError e) {
        return -1;
    }
    foreach (unowned string line in status.split ("\n")) {
        if (line.has_prefix ("VmRSS:"))
            return int64.parse (line.substring (6).strip ().replace (" kB", ""));
    }
    return -1;
}

static int64 count_maps () {
    string maps;
    try {
        FileUtils.get_contents ("/proc/self/maps", out maps);
    } catch (FileError e) {
        return -1;
    }
    int64 lines = 0;
    for (int i = 0; i < maps.length; i++)
        if (maps[i] == '\n')
            lines++;
    return lines;
}

/* One JSON object on one line, as workload-common.h prints it. */
static int json_fields;

static void json_begin () {
    json_fields = 0;
    stdout.printf ("{");
}

static void json_num (string key, double value) {
    stdout.printf ("%s\"%s\": %.6g", json_fields++ > 0 ? ", " : "", key, value);
}

static void json_end () {
    stdout.printf ("}\n");
    stdout.flush ();
}

/* A counter that quits the main loop when it reaches its target. */
static int64 done_count;
static int64 done_target;

static void tick () {
    if (++done_count == done_target)
        ml.quit ();
}

/* --- spawn ---------------------------------------------------------------- */

async void spawn_body () {
    tick ();
}

static double spawn_run (int64 n, int64 width) {
    if (width <= 1 || width > n)
        width = n;
    int64 t0 = GLib.get_monotonic_time ();
    for (int64 left = n; left > 0; left -= width) {
        int64 wave = int64.min (width, left);
        done_count = 0;
        done_target = wave;
        for (int64 i = 0; i < wave; i++)
            spawn_body.begin ();
        /* Each finished one schedules its GTask's completion: run those. */
        while (ctx.iteration (false)) { }
    }
    return elapsed_ns (t0) / n;
}

/* --- pingpong ------------------------------------------------------------- */

class Pair {
    public int64 rounds;
    public SourceFunc? wake_ping;
    public SourceFunc? wake_pong;
}

async void pong (Pair p) {
    p.wake_pong = pong.callback;
    yield;
    for (int64 i = 0; i < p.rounds; i++) {
        SourceFunc theirs = (owned) p.wake_ping;
        p.wake_ping = null;
        if (i + 1 < p.rounds) {
            p.wake_pong = pong.callback;
            Idle.add ((owned) theirs);
            yield;
        } else {
            Idle.add ((owned) theirs);
            tick ();
        }
    }
}

async void ping (Pair p) {
    for (int64 i = 0; i < p.rounds; i++) {
        SourceFunc theirs = (owned) p.wake_pong;
        p.wake_pong = null;
        p.wake_ping = ping.callback;
        Idle.add ((owned) theirs);
        yield;
    }
}

static double pingpong_run (int64 n, int64 width) {
    int64 rounds = int64.max (n / width, 1);
    var pairs = new Pair[width];
    done_count = 0;
    done_target = width;
    int64 t0 = GLib.get_monotonic_time ();
    for (int64 i = 0; i < width; i++) {
        pairs[i] = new Pair ();
        pairs[i].rounds = rounds;
        pong.begin (pairs[i]);   /* suspends at once, waiting for ping */
        ping.begin (pairs[i]);
    }
    ml.run ();
    double ns = elapsed_ns (t0) / (2.0 * rounds * width);
    /* Let the ping sides (one step behind) finish. */
    while (ctx.iteration (false)) { }
    return ns;
}

/* --- suspended ------------------------------------------------------------ */

[Compact]
class Mailbox {
    public SourceFunc? resume;
}

static Mailbox[] mailboxes;
static int64 susp_started;
static int64 susp_finished;
static int64 susp_target;

async void suspended_body (int64 i) {
    mailboxes[i].resume = suspended_body.callback;
    susp_started++;
    yield;
    if (++susp_finished == susp_target)
        ml.quit ();
}

static void suspended_round (int64 n) {
    mailboxes = new Mailbox[n];
    for (int64 i = 0; i < n; i++)
        mailboxes[i] = new Mailbox ();
    susp_started = susp_finished = 0;
    susp_target = n;
}

static void suspended_measure (int64 n) {
    /* Warm-up, then give back what malloc holds. */
    suspended_round (100);
    for (int64 i = 0; i < 100; i++)
        suspended_body.begin (i);
    for (int64 i = 0; i < 100; i++)
        Idle.add ((owned) mailboxes[i].resume);
    ml.run ();
    mailboxes = null;
    while (ctx.iteration (false)) { }
    malloc_trim (0);

    int64 rss0 = rss_kib ();
    int64 t0 = GLib.get_monotonic_time ();
    suspended_round (n);
    /* begin () runs each to its yield: all are suspended afterwards. */
    for (int64 i = 0; i < n; i++)
        suspended_body.begin (i);
    int64 t1 = GLib.get_monotonic_time ();
    int64 rss1 = rss_kib ();
    int64 maps = count_maps ();
    assert (susp_started == n);
    for (int64 i = 0; i < n; i++)
        Idle.add ((owned) mailboxes[i].resume);
    ml.run ();
    int64 t2 = GLib.get_monotonic_time ();
    assert (susp_finished == n);
    mailboxes = null;

    json_begin ();
    json_num ("rss_bytes_per_task", (rss1 - rss0) * 1024.0 / n);
    json_num ("create_ns_per_task", (t1 - t0) * 1000.0 / n);
    json_num ("wake_ns_per_task", (t2 - t1) * 1000.0 / n);
    json_num ("maps_lines", maps);
    json_num ("rss_kib", rss1);
}

/* --- start-many ----------------------------------------------------------- */

const uint START_MANY_DELAY_MS = 100;

async void sleeper () {
    Timeout.add (START_MANY_DELAY_MS, sleeper.callback);
    yield;
    tick ();
}

static void start_many_measure (int64 n) {
    done_count = 0;
    done_target = int64.min (n, 100);
    for (int64 i = 0; i < done_target; i++)
        sleeper.begin ();
    ml.run ();
    while (ctx.iteration (false)) { }

    done_count = 0;
    done_target = n;
    int64 t0 = GLib.get_monotonic_time ();
    for (int64 i = 0; i < n; i++)
        sleeper.begin ();
    int64 t1 = GLib.get_monotonic_time ();
    ml.run ();
    int64 t2 = GLib.get_monotonic_time ();
    assert (done_count == n);
    json_begin ();
    json_num ("start_s", (t1 - t0) / 1e6);
    json_num ("wall_s", (t2 - t0) / 1e6);
}

/* --- main ----------------------------------------------------------------- */

static string? opt_workload = null;
static string? opt_impl = null;
static int64 opt_n = 100000;
static int64 opt_width = 1;
static double opt_seconds = 3.0;

const OptionEntry[] entries = {
    { "workload", 'w', OptionFlags.NONE, OptionArg.STRING, ref opt_workload, "spawn, pingpong, suspended or start-many", "W" },
    { "impl", 'i', OptionFlags.NONE, OptionArg.STRING, ref opt_impl, "ignored (always vala)", "IMPL" },
    { "n", 'n', OptionFlags.NONE, OptionArg.INT64, ref opt_n, "tasks / round trips", "N" },
    { "width", 0, OptionFlags.NONE, OptionArg.INT64, ref opt_width, "pairs (pingpong) or tasks (spawn waves) at once", "P" },
    { "seconds", 0, OptionFlags.NONE, OptionArg.DOUBLE, ref opt_seconds, "ignored", "S" },
    { null }
};

int main (string[] args) {
    var options = new OptionContext ("- one benchmark measurement");
    options.add_main_entries (entries, null);
    try {
        options.parse (ref args);
    } catch (OptionError e) {
        printerr ("%s\n", e.message);
        return 2;
    }
    if (opt_workload == null || opt_n < 1 || opt_width < 1) {
        printerr ("usage: bench-workload-vala --workload W --n N [--width P]\n");
        return 2;
    }
    ctx = MainContext.default ();
    ml = new MainLoop (ctx, false);

    switch (opt_workload) {
    case "spawn":
        spawn_run (int64.min (opt_n, 1000), opt_width);
        double ns = spawn_run (opt_n, opt_width);
        json_begin ();
        json_num ("ns_per_op", ns);
        break;
    case "pingpong":
        pingpong_run (int64.min (opt_n, 1000 * opt_width), opt_width);
        double ns = pingpong_run (opt_n, opt_width);
        json_begin ();
        json_num ("ns_per_op", ns);
        break;
    case "suspended":
        suspended_measure (opt_n);
        break;
    case "start-many":
        start_many_measure (opt_n);
        break;
    default:
        printerr ("Vala async: no %s workload here\n", opt_workload);
        return 3;
    }
    json_end ();
    return 0;
}
