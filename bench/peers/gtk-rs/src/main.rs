// SPDX-License-Identifier: LGPL-2.1-or-later
//! bench-workload-gtk-rs: one measurement of one workload as gtk-rs
//! futures, the peer of bench-workload (bench/workload.c) and of the
//! other programs bench/run drives: the same options, one JSON line with
//! the same keys.
//!
//!   bench-workload-gtk-rs --workload W --n N [--width P]
//!
//! Every task is an `async` block spawned with
//! `glib::MainContext::spawn_local` on the default main context, run by a
//! `glib::MainLoop`.  A wake-up of a future goes through the context's
//! task source: one main-loop iteration per hand-off.
//!
//!   spawn       N futures that count and finish, all at once or in waves
//!   pingpong    pairs of futures handing a `futures_channel::oneshot`
//!               back and forth (a fresh channel per hand-off)
//!   suspended   N futures each awaiting its own oneshot receiver; the
//!               senders are then all fired
//!   start-many  N futures each awaiting `glib::timeout_future(100 ms)`
//!
//! Exit status 3: this workload is not implemented here.

use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            return rest.trim().trim_end_matches("kB").trim().parse().unwrap_or(-1);
        }
    }
    -1
}

fn count_maps() -> i64 {
    std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count() as i64)
        .unwrap_or(-1)
}

extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

/// One JSON object on one line, as workload-common.h prints it.
fn json(fields: &[(&str, f64)]) {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{}\": {}", k, v)).collect();
    println!("{{{}}}", body.join(", "));
}

struct Bench {
    ctx: glib::MainContext,
    ml: glib::MainLoop,
}

impl Bench {
    fn run(&self) {
        self.ml.run();
    }

    /// Dispatches whatever is ready without blocking.
    fn drain(&self) {
        while self.ctx.iteration(false) {}
    }
}

/// Quits the main loop when `count` reaches `target`.
#[derive(Clone)]
struct Counter {
    count: Rc<Cell<i64>>,
    target: Rc<Cell<i64>>,
    ml: glib::MainLoop,
}

impl Counter {
    fn new(ml: &glib::MainLoop) -> Self {
        Counter { count: Rc::new(Cell::new(0)), target: Rc::new(Cell::new(0)), ml: ml.clone() }
    }

    fn reset(&self, target: i64) {
        self.count.set(0);
        self.target.set(target);
    }

    fn tick(&self) {
        self.count.set(self.count.get() + 1);
        if self.count.get() == self.target.get() {
            self.ml.quit();
        }
    }
}

// --- spawn --------------------------------------------------------------------

fn spawn_run(b: &Bench, n: i64, width: i64) -> f64 {
    let width = if width <= 1 || width > n { n } else { width };
    let done = Counter::new(&b.ml);
    let t0 = Instant::now();
    let mut left = n;
    while left > 0 {
        let wave = width.min(left);
        done.reset(wave);
        for _ in 0..wave {
            let done = done.clone();
            b.ctx.spawn_local(async move { done.tick() });
        }
        b.run();
        left -= wave;
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

// --- pingpong -----------------------------------------------------------------

/// Each side's mailbox: the sender that wakes it.
#[derive(Default)]
struct Pair {
    to_ping: Option<oneshot::Sender<()>>,
    to_pong: Option<oneshot::Sender<()>>,
}

fn pingpong_run(b: &Bench, n: i64, width: i64) -> f64 {
    let rounds = (n / width).max(1);
    let done = Counter::new(&b.ml);
    done.reset(width);
    let t0 = Instant::now();
    for _ in 0..width {
        let pair = Rc::new(RefCell::new(Pair::default()));
        let (tx, mut pong_rx) = oneshot::channel();
        pair.borrow_mut().to_pong = Some(tx);
        let p = pair.clone();
        let d = done.clone();
        b.ctx.spawn_local(async move {
            for i in 0..rounds {
                pong_rx.await.expect("pong: sender dropped");
                let theirs = p.borrow_mut().to_ping.take().expect("pong: no ping waiting");
                if i + 1 < rounds {
                    let (tx, rx) = oneshot::channel();
                    p.borrow_mut().to_pong = Some(tx);
                    pong_rx = rx;
                    let _ = theirs.send(());
                } else {
                    let _ = theirs.send(());
                    d.tick();
                    return;
                }
            }
        });
        let p = pair;
        b.ctx.spawn_local(async move {
            for _ in 0..rounds {
                let (tx, rx) = oneshot::channel();
                let theirs = {
                    let mut p = p.borrow_mut();
                    p.to_ping = Some(tx);
                    p.to_pong.take().expect("ping: no pong waiting")
                };
                let _ = theirs.send(());
                rx.await.expect("ping: sender dropped");
            }
        });
    }
    b.run();
    let ns = t0.elapsed().as_nanos() as f64 / (2.0 * rounds as f64 * width as f64);
    // Let the ping sides (one step behind) finish.
    b.drain();
    ns
}

// --- suspended ----------------------------------------------------------------

fn suspended_spawn(b: &Bench, n: i64, started: &Counter, finished: &Counter) -> Vec<oneshot::Sender<()>> {
    let mut senders = Vec::with_capacity(n as usize);
    started.reset(n);
    finished.reset(n);
    for _ in 0..n {
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        let s = started.clone();
        let f = finished.clone();
        b.ctx.spawn_local(async move {
            s.tick();
            rx.await.expect("suspended: sender dropped");
            f.tick();
        });
    }
    senders
}

fn suspended_measure(b: &Bench, n: i64) {
    let started = Counter::new(&b.ml);
    let finished = Counter::new(&b.ml);

    // Warm-up, then give back what malloc holds.
    let warm = suspended_spawn(b, 100, &started, &finished);
    b.run();
    for tx in warm {
        let _ = tx.send(());
    }
    b.run();
    unsafe {
        malloc_trim(0);
    }

    let rss0 = rss_kib();
    let t0 = Instant::now();
    let senders = suspended_spawn(b, n, &started, &finished);
    // The last one to start stops the loop; it then suspends in its await
    // before this dispatch returns.
    b.run();
    let t1 = t0.elapsed();
    let rss1 = rss_kib();
    let maps = count_maps();
    assert_eq!(started.count.get(), n);
    for tx in senders {
        let _ = tx.send(());
    }
    b.run();
    let t2 = t0.elapsed();
    assert_eq!(finished.count.get(), n);
    json(&[
        ("rss_bytes_per_task", (rss1 - rss0) as f64 * 1024.0 / n as f64),
        ("create_ns_per_task", t1.as_nanos() as f64 / n as f64),
        ("wake_ns_per_task", (t2 - t1).as_nanos() as f64 / n as f64),
        ("maps_lines", maps as f64),
        ("rss_kib", rss1 as f64),
    ]);
}

// --- start-many ---------------------------------------------------------------

const START_MANY_DELAY: Duration = Duration::from_millis(100);

/// Starts n sleepers; returns once each is suspended on its timer.
fn start_many_spawn(b: &Bench, n: i64, started: &Counter, finished: &Counter) {
    started.reset(n);
    finished.reset(n);
    for _ in 0..n {
        let s = started.clone();
        let f = finished.clone();
        b.ctx.spawn_local(async move {
            let nap = glib::timeout_future(START_MANY_DELAY);
            s.tick();
            nap.await;
            f.tick();
        });
    }
    // spawn_local only queues the futures: the loop polls each once, to
    // its first await; the last stops the loop.
    b.run();
}

fn start_many_measure(b: &Bench, n: i64) {
    let started = Counter::new(&b.ml);
    let finished = Counter::new(&b.ml);

    start_many_spawn(b, 100.min(n), &started, &finished);
    b.run();

    let t0 = Instant::now();
    start_many_spawn(b, n, &started, &finished);
    let t1 = t0.elapsed();
    b.run();
    let t2 = t0.elapsed();
    assert_eq!(finished.count.get(), n);
    json(&[("start_s", t1.as_secs_f64()), ("wall_s", t2.as_secs_f64())]);
}

// --- main ---------------------------------------------------------------------

fn main() {
    let mut workload = String::new();
    let mut n: i64 = 100_000;
    let mut width: i64 = 1;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--workload" | "-w" => workload = value,
            "--n" | "-n" => n = value.parse().unwrap_or(0),
            "--width" => width = value.parse().unwrap_or(0),
            "--seconds" | "--impl" => {}
            other => {
                eprintln!("bench-workload-gtk-rs: unknown option {}", other);
                std::process::exit(2);
            }
        }
        i += 2;
    }
    if workload.is_empty() || n < 1 || width < 1 {
        eprintln!("usage: bench-workload-gtk-rs --workload W --n N [--width P]");
        std::process::exit(2);
    }
    let ctx = glib::MainContext::default();
    let _owner = ctx.acquire().expect("the default main context is taken");
    let b = Bench { ml: glib::MainLoop::new(Some(&ctx), false), ctx: ctx.clone() };

    match workload.as_str() {
        "spawn" => {
            spawn_run(&b, n.min(1000), width);
            json(&[("ns_per_op", spawn_run(&b, n, width))]);
        }
        "pingpong" => {
            pingpong_run(&b, n.min(1000 * width), width);
            json(&[("ns_per_op", pingpong_run(&b, n, width))]);
        }
        "suspended" => suspended_measure(&b, n),
        "start-many" => start_many_measure(&b, n),
        other => {
            eprintln!("gtk-rs futures: no {} workload here", other);
            std::process::exit(3);
        }
    }
}
