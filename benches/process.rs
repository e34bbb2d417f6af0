//! `cargo bench --bench process`: the real binary with the shipped demo config (`config.toml`: the embedded
//! stub, console chat). Start to ready (the first `!ic` reply on stdout) with a warm `state/oncall.json`, and
//! idle RSS after start.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 5;
/// Smoke mode (`ICBOT_BENCH_SMOKE=1`): one warm run, idling 200 ms.
const SMOKE_RUNS: usize = 1;
const SMOKE_IDLE: Duration = Duration::from_millis(200);
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How long the bot idles before its RSS is read.
const IDLE: Duration = Duration::from_secs(2);

fn main() {
    print_machine();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_icbot"));
    let dir = temp_dir("process");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"),
        dir.join("config.toml"),
    )
    .expect("copy config.toml");

    // Cold: no state file; the first `!ic` waits for the first refresh (and leaves the state file warm).
    let cold = run_once(&exe, &dir).expect("cold start answers");
    assert!(
        dir.join("state/oncall.json").exists(),
        "the state file is written"
    );

    let mut ready = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..scaled(RUNS, SMOKE_RUNS) {
        let run = run_once(&exe, &dir).expect("warm start answers");
        ready.push(run.ready);
        rss.push(run.idle_rss_kib);
    }
    let ready = Percentiles::new(ready);
    rss.sort();
    let rss_median = rss[rss.len() / 2];
    let rss_max = *rss.last().unwrap_or(&0);

    print_table(
        "process: the release binary with the demo config",
        &[
            Row::new(
                "start to ready, cold (no state file; first !ic reply)",
                fmt_duration(cold.ready),
                "-",
                None,
            ),
            Row::new(
                "start to ready, warm state/oncall.json: median of 5",
                fmt_duration(ready.at(50.0)),
                "< 300 ms",
                Some(ready.at(50.0) < Duration::from_millis(300)),
            ),
            Row::new(
                "start to ready, warm: worst of 5",
                fmt_duration(ready.max()),
                "< 300 ms",
                Some(ready.max() < Duration::from_millis(300)),
            ),
            Row::new(
                "idle RSS after start (VmRSS, 2 s after ready): median / worst",
                format!(
                    "{:.1} MiB / {:.1} MiB",
                    rss_median as f64 / 1024.0,
                    rss_max as f64 / 1024.0
                ),
                "< 25 MiB",
                Some(rss_max < 25 * 1024),
            ),
        ],
    );
    println!("binary: {}", exe.display());
    let _ = std::fs::remove_dir_all(&dir);
}

struct Run {
    ready: Duration,
    idle_rss_kib: u64,
}

/// Starts the bot in `dir`, types `!ic`, waits for the reply, idles, reads its RSS, closes stdin and waits
/// for it to exit (killing it past the limit).
fn run_once(exe: &Path, dir: &Path) -> Option<Run> {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("icbot starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    if stdin
        .write_all(b"!ic\n")
        .and_then(|()| stdin.flush())
        .is_err()
    {
        stop(child, None);
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        // A reply ends with a blank line.
        let mut lines = BufReader::new(stdout).lines();
        let mut got_text = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() && got_text {
                let _ = tx.send(Instant::now());
                break;
            }
            got_text |= !line.trim().is_empty();
        }
        for _ in lines {}
    });
    let ready = match rx.recv_timeout(READY_LIMIT) {
        Ok(at) => at.duration_since(started),
        Err(_) => {
            stop(child, None);
            return None;
        }
    };
    std::thread::sleep(scaled(IDLE, SMOKE_IDLE));
    let idle_rss_kib = rss_kib(&child.id().to_string()).unwrap_or(0);
    stop(child, Some(stdin));
    let _ = reader.join();
    Some(Run {
        ready,
        idle_rss_kib,
    })
}

fn stop(mut child: Child, stdin: Option<std::process::ChildStdin>) {
    drop(stdin);
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
