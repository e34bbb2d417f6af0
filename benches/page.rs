//! `cargo bench --bench page`: `!ic page` against the stub. (3) 10 targets with every stub request taking
//! 50 ms (`slow:50`): wall time against one request. (4) The stub hanging: time from the command to the
//! fallback reply against the page deadline.

mod common;

use std::time::{Duration, Instant};

use common::*;
use icbot::pagerduty::{PagerDutyClient, PagerDutyConfig};
use icbot::stub::Fault;
use icbot_actors::cache::oncall::UserId;
use icbot_actors::ports::{NewIncident, PagerDutyApi};

const TARGETS: usize = 10;
const SLOW: Duration = Duration::from_millis(50);
const PAGES: usize = 5;
/// Smoke mode (`ICBOT_BENCH_SMOKE=1`): 2 pages, 1 hang run (the hang run takes the 3 s deadline).
const SMOKE_PAGES: usize = 2;
const SMOKE_HANG_RUNS: usize = 1;
/// Short so the hang runs stay short; the target is relative to it.
const PAGE_DEADLINE_SECS: u64 = 3;
const HANG_RUNS: usize = 3;

#[tokio::main]
async fn main() {
    print_machine();
    let pages_n = scaled(PAGES, SMOKE_PAGES);
    let hang_runs = scaled(HANG_RUNS, SMOKE_HANG_RUNS);
    // 10 IC schedules with one (distinct) person each: `!ic page` pages 10 people.
    let stub = start_stub(stub_data(TARGETS, TARGETS, 1)).await;
    let dir = temp_dir("page");
    let extra = format!("page_deadline = \"{PAGE_DEADLINE_SECS}s\"");
    // The bench pages the same 10 people again and again, on purpose: deduplication off, so each `!ic page` is
    // a new page (with the default 2 min window the second would be answered "Not paging again").
    let text = config_text(
        &stub.url(),
        &dir,
        TARGETS,
        0,
        &extra,
        "[pager]\ndedup_window = \"0s\"\n",
    );
    let (bot, _chat, mut rx) = start_bot(&text, "bench-page/").await;
    let (warm, _) = ask(&bot, &mut rx, "warm", "!ic", Duration::from_secs(10))
        .await
        .expect("first !ic answered");
    assert!(
        warm.text.contains(&format!("User {}", TARGETS - 1)),
        "{}",
        warm.text
    );

    stub.set_fault(Fault::Slow(SLOW), None);

    // One request through the same client stack, for the yardstick.
    let client = PagerDutyClient::new(PagerDutyConfig {
        base_url: stub.url(),
        token: secrecy::SecretString::from("bench-token"),
        from_email: BOT_EMAIL.into(),
        service_id: SERVICE.into(),
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(5),
        max_rate_limit_retries: 0,
    })
    .expect("client");
    let mut singles = Vec::new();
    for _ in 0..pages_n {
        let started = Instant::now();
        client
            .create_incident(&NewIncident {
                title: "bench yardstick".into(),
                details: "one request".into(),
                assignee: UserId("PU00000".into()),
                incident_key: None,
            })
            .await
            .expect("incident created");
        singles.push(started.elapsed());
    }
    let single = Percentiles::new(singles).at(50.0);

    // (3) `!ic page` with 10 targets, every request slow.
    let before = stub.pages();
    let mut first_page = Duration::ZERO;
    let mut pages = Vec::new();
    for i in 0..pages_n {
        let (reply, took) = ask(
            &bot,
            &mut rx,
            "page",
            "!ic page bench",
            Duration::from_secs(15),
        )
        .await
        .expect("page answered");
        assert!(
            reply.text.starts_with("Paged"),
            "page {i} not confirmed: {}",
            reply.text
        );
        if i == 0 {
            first_page = took;
        }
        pages.push(took);
    }
    let after = stub.pages();
    let incidents = after.incidents.len() - before.incidents.len();
    let responder_requests = after.responder_requests.len() - before.responder_requests.len();
    let page = Percentiles::new(pages);

    // (4) The stub hangs: the fallback reply must come by the deadline.
    stub.set_fault(Fault::Hang, None);
    let deadline = Duration::from_secs(PAGE_DEADLINE_SECS);
    let mut hangs = Vec::new();
    for _ in 0..hang_runs {
        let (reply, took) = ask(&bot, &mut rx, "hang", "!ic page bench", deadline * 3)
            .await
            .expect("fallback reply");
        assert!(reply.text.contains("NOT CONFIRMED"), "{}", reply.text);
        hangs.push(took);
    }
    let hang = Percentiles::new(hangs);
    let slack = Duration::from_millis(100);

    print_table(
        "page: !ic page against the stub",
        &[
            Row::new(
                &format!("(3) one request at slow:50 (median of {pages_n}, same client)"),
                fmt_duration(single),
                "-",
                None,
            ),
            Row::new(
                "(3) !ic page, 10 targets, first (requester lookup alongside the create)",
                format!(
                    "{} ({:.2}x one request)",
                    fmt_duration(first_page),
                    ratio(first_page, single)
                ),
                "< 3x",
                Some(first_page < single * 3),
            ),
            Row::new(
                &format!("(3) !ic page, 10 targets, median of {pages_n}"),
                format!(
                    "{} ({:.2}x)",
                    fmt_duration(page.at(50.0)),
                    ratio(page.at(50.0), single)
                ),
                "< 3x",
                Some(page.at(50.0) < single * 3),
            ),
            Row::new(
                &format!("(3) !ic page, 10 targets, worst of {pages_n}"),
                format!(
                    "{} ({:.2}x)",
                    fmt_duration(page.max()),
                    ratio(page.max(), single)
                ),
                "< 3x",
                Some(page.max() < single * 3),
            ),
            Row::new(
                "(3) PagerDuty writes per page",
                format!(
                    "{} incident(s) + {} responder request(s) for {pages_n} pages",
                    incidents, responder_requests
                ),
                "1 + 1 per page",
                Some(incidents == pages_n && responder_requests == pages_n),
            ),
            Row::new(
                &format!("(4) hang: command to fallback reply, worst of {hang_runs}"),
                format!(
                    "{} (deadline {PAGE_DEADLINE_SECS} s: {})",
                    fmt_duration(hang.max()),
                    signed(hang.max(), deadline)
                ),
                "deadline + < 100 ms",
                Some(hang.max() < deadline + slack),
            ),
            Row::new(
                &format!("(4) hang: best of {hang_runs}"),
                fmt_duration(hang.at(0.0)),
                "-",
                None,
            ),
        ],
    );

    assert!(
        incidents == pages_n && responder_requests == pages_n,
        "{incidents} incidents and {responder_requests} responder requests for {pages_n} pages"
    );
    stub.set_fault(Fault::None, None);
    bot.shutdown().await;
    stub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// `12.3 ms after` or `249 ms before`: where `a` falls against `b`.
fn signed(a: Duration, b: Duration) -> String {
    if a >= b {
        format!("{} after it", fmt_duration(a - b))
    } else {
        format!("{} before it", fmt_duration(b - a))
    }
}
