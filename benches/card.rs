//! `cargo bench --bench card`: (9) how long a page card takes to follow a change made in PagerDuty itself.
//! A page is sent, the stub's incident is acknowledged directly (as PagerDuty's own app would), and the time
//! until the card is edited is measured, against the target of one `[incidents] poll_interval` plus 1 s.
//! The change lands at a random point of the poll cycle, so the samples spread over one interval.

mod common;

use std::time::{Duration, Instant};

use common::*;

const POLL: Duration = Duration::from_secs(2);
const RUNS: usize = 8;

#[tokio::main]
async fn main() {
    print_machine();
    let stub = start_stub(stub_data(1, 1, 1)).await;
    let dir = temp_dir("card");
    let tail = format!("[incidents]\npoll_interval = \"{}ms\"\n", POLL.as_millis());
    let text = config_text(&stub.url(), &dir, 1, 0, "", &tail);
    let (bot, _chat, mut rx) = start_bot(&text, "bench-card/").await;
    ask(&bot, &mut rx, "warm", "!ic", Duration::from_secs(10))
        .await
        .expect("first !ic answered");

    let mut samples = Vec::new();
    for run in 0..RUNS {
        let channel = format!("c{run}");
        let (page, _) = ask(
            &bot,
            &mut rx,
            &channel,
            "!ic page --again bench",
            Duration::from_secs(10),
        )
        .await
        .expect("page answered");
        let number: u64 = page
            .text
            .split("incident #")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no incident number in {}", page.text));
        // Land the change at a different point of the poll cycle each run.
        tokio::time::sleep(POLL.mul_f64(run as f64 / RUNS as f64)).await;
        let changed = Instant::now();
        assert!(stub.set_incident_status(number, "acknowledged", "PU00000"));
        let edited = format!("update:{channel}");
        let until = tokio::time::Instant::now() + POLL * 3;
        loop {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(p)) if p.channel == edited => {
                    assert!(p.text.starts_with("Status: ACKNOWLEDGED"), "{}", p.text);
                    samples.push(p.at.duration_since(changed));
                    break;
                }
                Ok(Some(_)) => continue,
                _ => panic!("run {run}: the card was not edited within {:?}", POLL * 3),
            }
        }
    }
    let p = Percentiles::new(samples);
    let target = POLL + Duration::from_secs(1);
    print_table(
        &format!(
            "(9) card follows a change made in PagerDuty (poll_interval {}, {RUNS} runs)",
            fmt_duration(POLL)
        ),
        &[
            Row::new(
                "median",
                fmt_duration(p.at(0.5)),
                &format!("≤ {}", fmt_duration(target)),
                Some(p.at(0.5) <= target),
            ),
            Row::new(
                "max",
                fmt_duration(p.max()),
                &format!("≤ {}", fmt_duration(target)),
                Some(p.max() <= target),
            ),
        ],
    );
    bot.shutdown().await;
    stub.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
