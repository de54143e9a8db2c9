//! Throughput of the tabulated sweep against two floors measured in the same run.
//!
//! Builds the complete binary tree with `2^24` leaves (`--log2 N` changes it), random losses
//! uniform in `[0, 4)` (seeded), and solves it completely — free energy, all marginals, all
//! entropies and expected losses — at two temperature profiles, then reads every marginal.
//! Reported per level-0 state, best of a few repetitions:
//!
//! * `sweep_ns_per_state`: one full solve — `F`, every level's marginal written out, every
//!   entropy and expected loss — in a loop of solves that recycles its tables
//!   ([`Problem::solve_with_pool`], the way a scan over temperatures or a root search runs).
//!   This is the work the numpy peer's time covers (it too leaves its marginals unread);
//! * `read_ns_per_state`: reading every marginal afterwards (in place with
//!   [`Solution::marginal_slice`], summing with 8 partial sums so the reading runs at memory
//!   speed, not at the latency of one addition chain), on the calling thread;
//! * `solve_and_read_ns_per_state`: the two together, solve by solve;
//! * `fresh_memory_ns_per_state`: the solve with [`Problem::solve`], whose tables are new
//!   memory the operating system zeroes page by page on first touch;
//! * `sweep_cpu_ns_per_state`: the CPU time of the solves without the reading (all threads,
//!   best of the repetitions), which a loaded machine inflates less than the wall time;
//! * `exp_ns`: one scalar `f64::exp` per element over a slice of `N` values (the "exp floor");
//! * `copy_ns`: copying an `N`-element `f64` slice (the memory floor);
//! * `exp_slice_ns`: the crate's vector `exp` per element, out of place over the same `N`
//!   values ([`hmaxent::numerics::exp_into`]: one read and one write, as numpy's
//!   `np.exp(f, out=buf)` whose time is `np_exp_ns`); `exp_slice_copy_ns`: a copy and then
//!   [`hmaxent::numerics::exp_slice`] in place (two passes);
//! * `peak_extra_f64_per_state`: growth of the peak resident set during one solve, in `f64`s
//!   per level-0 state (Linux only; the loss vector and the marginal buffer are the caller's
//!   and allocated before).
//!
//! * `threads`: worker threads of the solve (`--threads N`; default one per core);
//! * `tile_states`: leaves per tile (`--tile N`; `--tile 1000000000` solves in one piece,
//!   the untiled sweep);
//! * `numpy_ns_per_state`, `np_exp_ns`, `speedup_vs_numpy`: the numpy version of the same
//!   solve (`benches/numpy_sweep.py`, run as a child process right after the Rust timings,
//!   when `python3` with numpy is there; `--no-numpy` skips it).
//!
//! ```text
//! cargo run --release --example throughput -- [--log2 24] [--reps 5] [--threads N] [--json]
//! ```

#[macro_use]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use hmaxent::rg::pool::BufferPool;
use hmaxent::{Hierarchy, Problem, Temperatures};
use rand::{Rng, SeedableRng};

struct Args {
    log2: usize,
    reps: usize,
    json: bool,
    threads: usize,
    tile: usize,
    numpy: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        log2: 24,
        reps: 5,
        json: false,
        threads: 0,
        tile: 0,
        numpy: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => args.json = true,
            "--log2" => args.log2 = it.next().and_then(|v| v.parse().ok()).expect("--log2 N"),
            "--reps" => args.reps = it.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--threads" => {
                args.threads = it.next().and_then(|v| v.parse().ok()).expect("--threads N")
            }
            "--tile" => args.tile = it.next().and_then(|v| v.parse().ok()).expect("--tile N"),
            "--no-numpy" => args.numpy = false,
            other => panic!(
                "unknown argument {other} (use --log2 N, --reps N, --threads N, --tile N, --no-numpy, --json)"
            ),
        }
    }
    args.reps = args.reps.max(1);
    args
}

/// A field of `/proc/self/status` in kB (`None` off Linux).
fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak resident set (`VmHWM`) to the current one; `false` if unsupported.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time of this process so far (every thread, user and system), in seconds: under load
/// it counts the work of a solve without the time its threads waited for a core (NaN off
/// Linux).
#[cfg(target_os = "linux")]
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

#[cfg(not(target_os = "linux"))]
fn cpu_seconds() -> f64 {
    f64::NAN
}

/// `sum p` with 8 partial sums: a reader of the marginals bound by memory, not by the
/// latency of one chain of additions (which alone costs about 1.5 ns per leaf over the `2n`
/// marginals of a binary tree).
fn read_sum(p: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = p.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Best time in nanoseconds per element of `f` over `reps` runs.
fn best_ns<F: FnMut()>(reps: usize, n: usize, mut f: F) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e9 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// The numpy version of the same solve, as its JSON line (`None` if it cannot run).
fn numpy_peer(log2: usize) -> Option<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/numpy_sweep.py");
    let out = std::process::Command::new("python3")
        .args([script, "--log2", &log2.to_string(), "--reps", "3", "--json"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn main() -> hmaxent::Result<()> {
    let args = parse_args();
    hmaxent::rg::tiled::set_threads(args.threads);
    hmaxent::rg::tiled::set_tile_states(args.tile);
    let threads = hmaxent::rg::tiled::threads();
    let d = args.log2;
    let h = Arc::new(Hierarchy::complete(2, d)?);
    let n = h.size(0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let loss: Vec<f64> = (0..n).map(|_| 4.0 * rng.random::<f64>()).collect();
    let profiles = [
        ("tau=1", Temperatures::new(&vec![1.0; d + 1])?),
        (
            "tau=0.05*1.3^k",
            Temperatures::new(
                &(0..=d)
                    .map(|k| 0.05 * 1.3f64.powi(k as i32))
                    .collect::<Vec<_>>(),
            )?,
        ),
    ];

    let t = Instant::now();
    let problem = Problem::from_vec(Arc::clone(&h), loss)?;
    let setup_ns = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    let mut buffer = vec![0.0; n];

    // One full solve (F, every marginal, entropy and expected loss, all computed by the solve),
    // then every marginal read out; returns the checksum and the two times in seconds.
    let mut checksum = 0.0;
    let solve = |t: &Temperatures,
                 buffer: &mut [f64],
                 pool: Option<&BufferPool<f64>>|
     -> hmaxent::Result<(f64, f64, f64)> {
        let start = Instant::now();
        let sol = match pool {
            Some(pool) => problem.solve_with_pool(t, pool)?,
            None => problem.solve(t)?,
        };
        let mut acc = sol.free_energy() + sol.entropies().iter().sum::<f64>();
        acc += sol.expected_total_loss();
        let solved = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for k in 0..h.levels() {
            // Complete trees keep the user's order: the marginals are read in place (summed,
            // which also checks they are probabilities); otherwise they are copied out.
            acc += match sol.marginal_slice(k) {
                Some(p) => read_sum(p),
                None => {
                    let out = &mut buffer[..h.size(k)];
                    sol.marginal_into(k, out);
                    read_sum(out)
                }
            };
        }
        let read = start.elapsed().as_secs_f64();
        if let Some(pool) = pool {
            pool.recycle(sol);
        }
        Ok((black_box(acc), solved, read))
    };

    // Peak memory of one solve (first run, before any timing).
    let peak = if reset_peak() {
        let before = status_kb("VmRSS:");
        checksum += solve(&profiles[0].1, &mut buffer, None)?.0;
        let after = status_kb("VmHWM:");
        before
            .zip(after)
            .map(|(b, a)| (a.saturating_sub(b) as f64) * 1024.0 / 8.0 / n as f64)
    } else {
        None
    };

    // Floors over a slice of N values, measured in the same run, interleaved with the
    // solves so that both see the same machine load.
    let src: Vec<f64> = (0..n).map(|_| -8.0 * rng.random::<f64>()).collect();
    let mut dst = vec![0.0; n];
    let mut best = vec![f64::INFINITY; profiles.len()];
    let mut with_read = vec![f64::INFINITY; profiles.len()];
    let mut cpu = vec![f64::INFINITY; profiles.len()];
    let (mut fresh_ns, mut read_ns) = (f64::INFINITY, f64::INFINITY);
    let pool = BufferPool::default();
    let (mut exp_ns, mut copy_then_exp_ns, mut copy_ns) =
        (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let mut exp_into_ns = f64::INFINITY;
    let per_state = |seconds: f64| seconds * 1e9 / n as f64;
    for _ in 0..args.reps {
        let profile_slots = best
            .iter_mut()
            .zip(with_read.iter_mut())
            .zip(cpu.iter_mut());
        for ((_, t), ((b, r), c)) in profiles.iter().zip(profile_slots) {
            let cpu_start = cpu_seconds();
            let (sum, solved, read) = solve(t, &mut buffer, Some(&pool))?;
            *c = c.min(per_state(cpu_seconds() - cpu_start - read));
            checksum += sum;
            *b = b.min(per_state(solved));
            *r = r.min(per_state(solved + read));
            read_ns = read_ns.min(per_state(read));
        }
        let (sum, solved, _) = solve(&profiles[0].1, &mut buffer, None)?;
        checksum += sum;
        fresh_ns = fresh_ns.min(per_state(solved));
        exp_ns = exp_ns.min(best_ns(1, n, || {
            for (d, &s) in dst.iter_mut().zip(black_box(&src)) {
                *d = s.exp();
            }
            black_box(&mut dst);
        }));
        copy_then_exp_ns = copy_then_exp_ns.min(best_ns(1, n, || {
            dst.copy_from_slice(black_box(&src));
            hmaxent::numerics::exp_slice(&mut dst);
            black_box(&mut dst);
        }));
        exp_into_ns = exp_into_ns.min(best_ns(1, n, || {
            let done = hmaxent::numerics::exp_into(black_box(&src), &mut dst);
            black_box((done.is_ok(), &mut dst));
        }));
        copy_ns = copy_ns.min(best_ns(1, n, || {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        }));
    }
    let per_profile: Vec<(&str, f64)> = profiles.iter().map(|p| p.0).zip(best).collect();
    let numpy = if args.numpy { numpy_peer(d) } else { None };
    let numpy_ns = numpy
        .as_ref()
        .and_then(|j| j["numpy_ns_per_state"].as_f64());
    let sweep_ns = per_profile.iter().map(|p| p.1).fold(0.0, f64::max);
    let with_read_ns = with_read.iter().copied().fold(0.0, f64::max);
    black_box(checksum);

    if args.json {
        let mut j = serde_json::json!({
            "states": n,
            "levels": d + 1,
            "depth": d,
            "sweep_ns_per_state": sweep_ns,
            "read_ns_per_state": read_ns,
            "solve_and_read_ns_per_state": with_read_ns,
            "sweep_cpu_ns_per_state": cpu.iter().copied().fold(0.0, f64::max),
            "exp_ns": exp_ns,
            "ratio_to_exp_floor": sweep_ns / exp_ns,
            "copy_ns": copy_ns,
            "ratio_to_copy": sweep_ns / copy_ns,
            "exp_slice_copy_ns": copy_then_exp_ns,
            "exp_slice_ns": exp_into_ns,
            "fresh_memory_ns_per_state": fresh_ns,
            "setup_ns_per_state": setup_ns,
            "reps": args.reps,
            "threads": threads,
            "tile_states": if args.tile == 0 { hmaxent::rg::tiled::DEFAULT_TILE_STATES } else { args.tile },
            "profiles": per_profile
                .iter()
                .map(|(name, ns)| serde_json::json!({"temperatures": name, "ns_per_state": ns}))
                .collect::<Vec<_>>(),
        });
        if let Some(p) = peak {
            j["peak_extra_f64_per_state"] = serde_json::json!(p);
        }
        if let (Some(np), Some(ns)) = (&numpy, numpy_ns) {
            j["numpy_ns_per_state"] = serde_json::json!(ns);
            j["np_exp_ns"] = np["np_exp_ns"].clone();
            j["speedup_vs_numpy"] = serde_json::json!(ns / sweep_ns);
            if let Some(e) = np["np_exp_ns"].as_f64() {
                j["exp_slice_speedup_vs_numpy"] = serde_json::json!(e / exp_into_ns);
            }
        }
        println!("{j}");
    } else {
        println!(
            "complete binary tree, 2^{d} = {n} leaves, {} levels, {threads} thread(s)",
            d + 1
        );
        println!("{:<34} {:>10}", "", "ns/state");
        for (name, ns) in &per_profile {
            println!("{:<34} {:>10.3}", format!("full solve ({name})"), ns);
        }
        println!(
            "{:<34} {:>10.3}",
            "full solve, fresh memory (tau=1)", fresh_ns
        );
        println!("{:<34} {:>10.3}", "reading every marginal after", read_ns);
        println!("{:<34} {:>10.3}", "solve, then reading", with_read_ns);
        println!("{:<34} {:>10.3}", "scalar f64::exp per element", exp_ns);
        println!("{:<34} {:>10.3}", "exp_into per element", exp_into_ns);
        println!(
            "{:<34} {:>10.3}",
            "copy + exp_slice per element", copy_then_exp_ns
        );
        println!("{:<34} {:>10.3}", "copy per element", copy_ns);
        println!("{:<34} {:>10.3}", "Problem::from_vec (once)", setup_ns);
        if let Some(ns) = numpy_ns {
            println!("{:<34} {:>10.3}", "numpy (benches/numpy_sweep.py)", ns);
            println!("speedup vs numpy     {:>8.3}", ns / sweep_ns);
        }
        println!("ratio to exp floor   {:>8.3}", sweep_ns / exp_ns);
        println!("ratio to copy        {:>8.3}", sweep_ns / copy_ns);
        match peak {
            Some(p) => println!("peak extra memory    {p:>8.3} f64 per state"),
            None => println!("peak extra memory    not measured (no /proc/self/clear_refs)"),
        }
    }
    Ok(())
}
