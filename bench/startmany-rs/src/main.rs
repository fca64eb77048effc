// SPDX-License-Identifier: LGPL-2.1-or-later
//
// bench-startmany-rs N: N futures spawned at once with
// MainContext::spawn_local, each awaiting a 100 ms glib::timeout_future;
// prints start_s (until the last one was first polled and is waiting),
// wall_s (until the last one finished) and the CPU time the process ran
// meanwhile (start_cpu_s, wall_cpu_s) as one JSON line, the keys
// bench-workload prints for Coop.
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

struct Counts {
    started: Cell<u64>,
    finished: Cell<u64>,
    t_started: Cell<i64>,
    cpu_started: Cell<i64>,
}

// CPU time this process ran, ns (/proc/self/schedstat): on a loaded
// machine the wall time also counts the time others ran.
fn cpu_ns() -> i64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(0)
}

fn run_many(main_loop: &glib::MainLoop, n: u64) -> [f64; 4] {
    let ctx = glib::MainContext::default();
    let counts = Rc::new(Counts {
        started: Cell::new(0),
        finished: Cell::new(0),
        t_started: Cell::new(0),
        cpu_started: Cell::new(0),
    });
    let c0 = cpu_ns();
    let t0 = glib::monotonic_time();
    for _ in 0..n {
        let counts = counts.clone();
        let main_loop = main_loop.clone();
        ctx.spawn_local(async move {
            let sleep = glib::timeout_future(Duration::from_millis(100));
            counts.started.set(counts.started.get() + 1);
            if counts.started.get() == n {
                counts.t_started.set(glib::monotonic_time());
                counts.cpu_started.set(cpu_ns());
            }
            sleep.await;
            counts.finished.set(counts.finished.get() + 1);
            if counts.finished.get() == n {
                main_loop.quit();
            }
        });
    }
    main_loop.run();
    [
        (counts.t_started.get() - t0) as f64 / 1e6,
        (glib::monotonic_time() - t0) as f64 / 1e6,
        (counts.cpu_started.get() - c0) as f64 / 1e9,
        (cpu_ns() - c0) as f64 / 1e9,
    ]
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let main_loop = glib::MainLoop::new(None, false);
    // spawn_local() wants the context owned by this thread.
    let ctx = glib::MainContext::default();
    let _owner = ctx.acquire().expect("acquire the main context");
    run_many(&main_loop, n.min(1000)); // warm-up
    let s = run_many(&main_loop, n);
    println!(
        "{{\"start_s\": {:.6}, \"wall_s\": {:.6}, \"start_cpu_s\": {:.6}, \"wall_cpu_s\": {:.6}}}",
        s[0], s[1], s[2], s[3]
    );
}
