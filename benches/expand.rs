//! `cargo bench --bench expand [-- PRESET [RUNS]]`: the in-memory expansion alone (rows to
//! users and grants), on an emulator org read in process. Prints the wall and CPU time of each
//! run of `expand` with an `emit` that only counts the grants.
//!
//! Settings: PRESET (`small`, `medium`, `large`, default `large`), RUNS (default 3),
//! `SF_BENCH_CONNECTED_APPS=1` expands connected-app access too, `SF_BENCH_DROP_ELSEWHERE=1`
//! hands the batches to another thread that drops them (as the store's writer does in a sync,
//! so that freeing them is not counted), `SF_BENCH_DIGEST=1` adds one
//! run that hashes every emitted grant (SHA-256 of the grants' JSON lines, in the order they
//! are emitted): the figure to compare before and after a change that must not change the
//! output.
//! `SF_BENCH_STORE=1` writes each run into a new store, as a sync does (a writer thread fed
//! through a channel), and prints the process's CPU time as well: expansion plus store writer,
//! without the reading and the emulator.

use std::time::{Duration, Instant};

use sf_access::emulator::generate::{Preset, generate};
use sf_access::sync::SyncOptions;
use sf_access::sync::bench::ExpandInput;

/// CPU time of the calling thread (`expand` runs on one thread).
fn thread_cpu() -> Duration {
    // SAFETY: a zeroed timespec is a valid value; clock_gettime fills it.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time of the whole process (user + system).
fn process_cpu() -> Duration {
    // SAFETY: a zeroed rusage is a valid value; getrusage fills it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid `who` and a pointer to a live rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage failed");
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(u.ru_utime) + time(u.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let preset = match args.first().map(String::as_str).unwrap_or("large") {
        "small" => Preset::Small,
        "medium" => Preset::Medium,
        "large" => Preset::Large,
        other => panic!("unknown preset {other:?}: small, medium or large"),
    };
    let runs: usize = args
        .get(1)
        .map_or(3, |r| r.parse().expect("RUNS is a number"));
    let options = SyncOptions {
        sync_connected_apps: std::env::var("SF_BENCH_CONNECTED_APPS").is_ok_and(|v| v == "1"),
        ..SyncOptions::default()
    };
    let drop_elsewhere = std::env::var("SF_BENCH_DROP_ELSEWHERE").is_ok_and(|v| v == "1");
    let started = Instant::now();
    let org = generate(&preset.sizes(), 1);
    let input = ExpandInput::read(&org, options);
    drop(org);
    eprintln!("org generated and read in {:.1?}", started.elapsed());
    let into_store = std::env::var("SF_BENCH_STORE").is_ok_and(|v| v == "1");
    for run in 1..=runs {
        if into_store {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let (wall, cpu, all) = (Instant::now(), thread_cpu(), process_cpu());
            let out = input.expand_into_store(&dir.path().join("bench.db"));
            let (wall, cpu, all) = (wall.elapsed(), thread_cpu() - cpu, process_cpu() - all);
            println!(
                "run {run} into a store: wall {:.3} s, cpu {:.3} s (expansion {:.3} s, writer {:.3} s): {} grants",
                wall.as_secs_f64(),
                all.as_secs_f64(),
                cpu.as_secs_f64(),
                (all - cpu).as_secs_f64(),
                out.grants
            );
            continue;
        }
        let (wall, cpu) = (Instant::now(), thread_cpu());
        let out = input.expand(false, drop_elsewhere);
        let (wall, cpu) = (wall.elapsed(), thread_cpu() - cpu);
        println!(
            "run {run}: wall {:.3} s, cpu {:.3} s: {} users, {} grants ({} dropped) in {} batches",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            out.users,
            out.grants,
            out.dropped,
            out.batches
        );
    }
    if std::env::var("SF_BENCH_DIGEST").is_ok_and(|v| v == "1") {
        let out = input.expand(true, false);
        println!(
            "digest {} ({} grants, {} batches)",
            out.digest.unwrap_or_default(),
            out.grants,
            out.batches
        );
    }
}
