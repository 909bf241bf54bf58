//! Streaming a NONMEM-style dataset through `twin run --events --out`: rows per second and peak
//! resident memory for 10^5 and 10^6 data rows.
//!
//! The bench writes two datasets into a scratch directory: 10^3 and 10^4 subjects × 100 rows
//! (7 daily oral doses of 100 mg with 93 observations with a `DV` between them; a
//! `weight [kg]` column set on the first row and lowered by 2 kg on day 3, so that every subject
//! is a piecewise solve with a covariate change) for `benches/models/one_compartment_weight.twin`
//! (one-compartment oral, allometric weight scaling, solved exactly). Each run happens in a
//! fresh process, so that each peak is its own:
//!
//! - **library**: this binary again, calling `twin::cmd::run::stream_to_file` (what
//!   `twin run --events --out` calls; summaries to a sink), then reading `VmHWM` from
//!   `/proc/self/status`;
//! - **CLI**: the `twin` binary itself, `twin run MODEL --events DATA --out pred.csv` (its
//!   summaries to /dev/null), its peak from `wait4`'s `ru_maxrss` (which on Linux also counts
//!   the bench process's own peak, kept small and printed at the end);
//! - **in memory**: this binary again, doing what `twin run --events` did before streaming:
//!   read the file whole, `simulate` every subject into `Trajectories`, format the table,
//!   write it atomically.
//!
//! Streaming and in-memory tables are compared byte for byte. Rows per second count data rows
//! over the whole run (compiling the model included, a few milliseconds).
//!
//! Run with `cargo bench --bench dataset`.

use std::time::Instant;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/models/one_compartment_weight.twin"
);

/// Repetitions of each streaming run.
const REPS: usize = 3;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn request() -> twin::cmd::run::Request {
    let text = std::fs::read_to_string(MODEL).unwrap_or_else(|e| fail(format!("{MODEL}: {e}")));
    twin::cmd::run::Request {
        name: MODEL.into(),
        text,
        ..Default::default()
    }
}

/// `subjects` × 100 rows (see the module docs).
fn write_dataset(path: &std::path::Path, subjects: usize) {
    use std::io::Write;
    let file = std::fs::File::create(path).unwrap_or_else(|e| fail(e));
    let mut w = std::io::BufWriter::new(file);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut uniform = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = String::from("ID,TIME,AMT,CMT,EVID,DV,weight [kg]\n");
    for i in 1..=subjects {
        let weight = 50 + (i * 37) % 60;
        for day in 0..7 {
            let t0 = 24 * day;
            let w = match day {
                0 => weight.to_string(),
                3 => (weight - 2).to_string(),
                _ => ".".into(),
            };
            out.push_str(&format!("{i},{t0},100,depot,1,.,{w}\n"));
            // 14 observations on days 1 and 2, 13 on the others: 93 in all.
            let n = if day < 2 { 14 } else { 13 };
            for k in 1..=n {
                let t = t0 as f64 + 24.0 * k as f64 / (n + 1) as f64;
                let dv = 0.1 + 2.9 * uniform();
                out.push_str(&format!("{i},{t:.4},.,.,0,{dv:.3},.\n"));
            }
        }
        if out.len() > 1 << 16 {
            w.write_all(out.as_bytes()).unwrap_or_else(|e| fail(e));
            out.clear();
        }
    }
    w.write_all(out.as_bytes()).unwrap_or_else(|e| fail(e));
    w.flush().unwrap_or_else(|e| fail(e));
}

/// One run in this process (`TWIN_BENCH_DATASET=stream|memory DATA OUT`): prints
/// `rows seconds peak_kib`.
fn child(mode: &str, data: &str, out: &str) {
    let start = Instant::now();
    let req = request();
    let rows = match mode {
        "stream" => {
            let file = std::fs::File::open(data).unwrap_or_else(|e| fail(e));
            let done = twin::cmd::run::stream_to_file(
                &req,
                file,
                std::path::Path::new(out),
                &mut std::io::sink(),
            )
            .unwrap_or_else(|e| fail(e));
            done.rows
        }
        _ => {
            let text = std::fs::read_to_string(data).unwrap_or_else(|e| fail(e));
            let req = twin::cmd::run::Request {
                events: Some(text),
                ..req
            };
            let t = twin::cmd::run::simulate(&req).unwrap_or_else(|e| fail(e));
            let csv = t.csv();
            twin::files::write_atomic(std::path::Path::new(out), &csv).unwrap_or_else(|e| fail(e));
            csv.lines().count() - 1
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let peak = peak_rss_kib().unwrap_or(0);
    println!("{rows} {secs} {peak}");
}

/// Runs this binary as a child in `mode`: (rows, seconds, peak KiB).
fn spawn_self(mode: &str, data: &std::path::Path, out: &std::path::Path) -> (usize, f64, u64) {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let o = std::process::Command::new(exe)
        .env("TWIN_BENCH_DATASET", mode)
        .arg(data)
        .arg(out)
        .output()
        .unwrap_or_else(|e| fail(e));
    let text = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        fail(format!(
            "{mode} run failed: {}{}",
            text,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let v: Vec<&str> = text.split_whitespace().collect();
    match (
        v.first().and_then(|x| x.parse().ok()),
        v.get(1).and_then(|x| x.parse().ok()),
        v.get(2).and_then(|x| x.parse().ok()),
    ) {
        (Some(r), Some(s), Some(p)) => (r, s, p),
        _ => fail(format!("unexpected child output: {text}")),
    }
}

/// Runs `twin run MODEL --events DATA --out OUT`: (seconds, peak KiB from `ru_maxrss`).
fn spawn_cli(data: &std::path::Path, out: &std::path::Path) -> (f64, u64) {
    let start = Instant::now();
    // Reaped by `wait4` below, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_twin"))
        .arg("run")
        .arg(MODEL)
        .arg("--events")
        .arg(data)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(e));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        fail(format!("twin run failed (status {status})"));
    }
    // On Linux ru_maxrss is in KiB.
    (secs, usage.ru_maxrss as u64)
}

/// Whether two files hold the same bytes, compared in chunks: the bench process stays small,
/// because on Linux a child's `ru_maxrss` starts from its parent's peak (the child is spawned
/// sharing the parent's memory until it runs `twin`).
fn same_bytes(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::io::Read;
    let open = |p: &std::path::Path| std::fs::File::open(p).unwrap_or_else(|e| fail(e));
    let (mut fa, mut fb) = (open(a), open(b));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba).unwrap_or_else(|e| fail(e));
        if n == 0 {
            return fb.read(&mut bb[..1]).unwrap_or_else(|e| fail(e)) == 0;
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if let Ok(mode) = std::env::var("TWIN_BENCH_DATASET") {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.len() != 2 {
            fail("usage: TWIN_BENCH_DATASET=stream|memory dataset DATA OUT");
        }
        child(&mode, &args[0], &args[1]);
        return;
    }
    let dir = std::env::temp_dir().join(format!("twin-bench-dataset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(e));
    println!("== dataset: {MODEL}, subjects × 100 rows, `twin run --events --out` ==");
    println!(
        "| rows | run | time (median of {REPS}) | rows/s | peak RSS (max of {REPS}) | output |"
    );
    println!("|---|---|---|---|---|---|");
    for subjects in [1_000usize, 10_000] {
        let data = dir.join(format!("data-{subjects}.csv"));
        write_dataset(&data, subjects);
        let (streamed, cli, memory) = (
            dir.join("streamed.csv"),
            dir.join("cli.csv"),
            dir.join("memory.csv"),
        );
        let (mut lib_secs, mut lib_peak, mut cli_secs, mut cli_peak) =
            (Vec::new(), 0u64, Vec::new(), 0u64);
        let mut rows = 0;
        for _ in 0..REPS {
            let (r, s, p) = spawn_self("stream", &data, &streamed);
            rows = r;
            lib_secs.push(s);
            lib_peak = lib_peak.max(p);
            let (s, p) = spawn_cli(&data, &cli);
            cli_secs.push(s);
            cli_peak = cli_peak.max(p);
        }
        let (mrows, msecs, mpeak) = spawn_self("memory", &data, &memory);
        if mrows != rows || !same_bytes(&streamed, &memory) || !same_bytes(&streamed, &cli) {
            fail("the streamed, CLI and in-memory tables differ");
        }
        let mib = |k: u64| k as f64 / 1024.0;
        let out_mib = std::fs::metadata(&streamed).map_or(0.0, |m| m.len() as f64) / 1048576.0;
        let (ls, cs) = (median(lib_secs), median(cli_secs));
        for (run, secs, peak) in [
            ("streamed (library)", ls, lib_peak),
            ("streamed (`twin run` CLI)", cs, cli_peak),
            ("in memory (before streaming)", msecs, mpeak),
        ] {
            let time = if run.starts_with("in memory") {
                format!("{secs:.2} s (1 run)")
            } else {
                format!("{secs:.2} s")
            };
            println!(
                "| {rows} | {run} | {time} | {:.0} | {:.1} MiB | {out_mib:.1} MiB |",
                rows as f64 / secs,
                mib(peak)
            );
        }
        let _ = std::fs::remove_file(&data);
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(k) = peak_rss_kib() {
        println!(
            "peak RSS of the bench process itself (a floor of the CLI figures): {:.1} MiB",
            k as f64 / 1024.0
        );
    }
}
