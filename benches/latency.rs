//! `cargo bench --bench latency`: `!ic` answered from the cache, in-process through the gateway to a recording
//! chat. (1) 10,000 commands one after another: p50/p99. (2) 1,000 commands a second for 10 s: none dropped,
//! p99.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use tokio::time::MissedTickBehavior;

const SEQUENTIAL: usize = 10_000;
const RATE_PER_SEC: usize = 1_000;
const RATE_SECS: usize = 10;
/// Smoke mode (`ICBOT_BENCH_SMOKE=1`): 500 sequential, 1,000/s for 1 s.
const SMOKE_SEQUENTIAL: usize = 500;
const SMOKE_RATE_SECS: usize = 1;

#[tokio::main]
async fn main() {
    print_machine();
    let sequential = scaled(SEQUENTIAL, SMOKE_SEQUENTIAL);
    let rate_secs = scaled(RATE_SECS, SMOKE_RATE_SECS);
    let stub = start_stub(stub_data(4, 40, 3)).await;
    let dir = temp_dir("latency");
    let text = config_text(&stub.url(), &dir, 2, 2, "", "");
    let (bot, _chat, mut rx) = start_bot(&text, "bench-latency/").await;

    // The first `!ic` waits for the first refresh; from then on every `!ic` is answered from the snapshot.
    let (first, took) = ask(&bot, &mut rx, "warm", "!ic", Duration::from_secs(10))
        .await
        .expect("first !ic answered");
    assert!(first.text.contains("User "), "{}", first.text);
    println!(
        "first !ic (waits for the first refresh): {}",
        fmt_duration(took)
    );
    for _ in 0..200 {
        ask(&bot, &mut rx, "warm", "!ic", Duration::from_secs(5)).await;
    }

    // (1) One at a time.
    let mut samples = Vec::with_capacity(sequential);
    let started = Instant::now();
    for _ in 0..sequential {
        let (_, took) = ask(&bot, &mut rx, "seq", "!ic", Duration::from_secs(5))
            .await
            .expect("every !ic is answered");
        samples.push(took);
    }
    let seq_wall = started.elapsed();
    let seq = Percentiles::new(samples);

    // (2) A steady 1,000 a second for 10 s, each in its own channel so replies can be matched to sends.
    let total = RATE_PER_SEC * rate_secs;
    let mut sent_at: Vec<Option<Instant>> = vec![None; total];
    let mut replied: HashMap<usize, Instant> = HashMap::with_capacity(total);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / RATE_PER_SEC as u32);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut next = 0;
    let collect = |p: Posted, replied: &mut HashMap<usize, Instant>| {
        if let Some(i) = p
            .channel
            .strip_prefix("r")
            .and_then(|n| n.parse::<usize>().ok())
        {
            replied.insert(i, p.at);
        }
    };
    while next < total {
        tokio::select! {
            _ = tick.tick() => {
                sent_at[next] = Some(Instant::now());
                bot.gateway().deliver(message(&format!("r{next}"), "!ic"));
                next += 1;
            }
            Some(p) = rx.recv() => collect(p, &mut replied),
        }
    }
    let send_wall = started.elapsed();
    let drain_until = tokio::time::Instant::now() + Duration::from_secs(10);
    while replied.len() < total {
        match tokio::time::timeout_at(drain_until, rx.recv()).await {
            Ok(Some(p)) => collect(p, &mut replied),
            _ => break,
        }
    }
    let rate_samples: Vec<Duration> = replied
        .iter()
        .filter_map(|(i, at)| sent_at[*i].map(|s| at.duration_since(s)))
        .collect();
    let dropped = total - rate_samples.len();
    let rate = Percentiles::new(rate_samples);
    let achieved = total as f64 / send_wall.as_secs_f64();

    print_table(
        "latency: !ic from the cache, through the gateway to a recording chat",
        &[
            Row::new(
                "(1) sequential !ic: commands",
                format!("{} in {}", seq.len(), fmt_duration(seq_wall)),
                "10,000",
                None,
            ),
            Row::new("(1) p50", fmt_duration(seq.at(50.0)), "-", None),
            Row::new(
                "(1) p99",
                fmt_duration(seq.at(99.0)),
                "< 1 ms",
                Some(seq.at(99.0) < Duration::from_millis(1)),
            ),
            Row::new("(1) max", fmt_duration(seq.max()), "-", None),
            Row::new(
                "(2) 1,000/s for 10 s: sent",
                format!("{total} in {} ({achieved:.0}/s)", fmt_duration(send_wall)),
                "10,000 at 1,000/s",
                None,
            ),
            Row::new("(2) dropped", dropped.to_string(), "0", Some(dropped == 0)),
            Row::new("(2) p50", fmt_duration(rate.at(50.0)), "-", None),
            Row::new("(2) p99", fmt_duration(rate.at(99.0)), "-", None),
            Row::new("(2) max", fmt_duration(rate.max()), "-", None),
        ],
    );

    assert!(
        !smoke() || dropped == 0,
        "smoke: {dropped} of {total} commands not answered"
    );
    bot.shutdown().await;
    stub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
