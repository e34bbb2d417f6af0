//! `cargo bench --bench stalks`: 10,000 channels stalking. Monitoring probes per poll interval (must be 1 for
//! all of them), memory per stalk actor (RSS delta / 10,000), time to spawn them and to stop them all, and
//! how long a state change takes to reach every channel. `-- bare` measures the floor instead: as many bare
//! ractor actors, named and linked, with no state.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use icbot::stub::StubAlert;
use icbot_actors::chat::ChatTarget;
use icbot_actors::status::stalks::StalksMessage;
use ractor::ActorRef;

const CHANNELS: usize = 10_000;
/// Above the status actor's 3 s reuse window, so each interval really probes.
const POLL_SECS: u64 = 4;
const INTERVALS: u64 = 3;
/// Bound on each phase (spawning, waiting for posts, stopping).
const PHASE_LIMIT: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() {
    print_machine();
    // `cargo bench --bench stalks -- bare`: only the floor, in a fresh process so freed memory is not reused.
    if std::env::args().any(|a| a == "bare") {
        bare_floor().await;
        return;
    }
    let stub = start_stub(stub_data(2, 4, 1)).await;
    let dir = temp_dir("stalks");
    let status = format!(
        "[status]\nsource = \"alertmanager\"\nurl = \"{}\"\npoll_interval = \"{POLL_SECS}s\"\ncheck_timeout = \"2s\"\n",
        stub.url()
    );
    let text = config_text(&stub.url(), &dir, 1, 1, "", &status);
    let (bot, _chat, mut rx) = start_bot(&text, "bench-stalks/").await;
    ask(&bot, &mut rx, "warm", "!ic", Duration::from_secs(10))
        .await
        .expect("first !ic answered");

    // Count every post per channel, with the time of the last one.
    let posts: Arc<Mutex<HashMap<String, (usize, Instant)>>> = Arc::default();
    let counter = {
        let posts = posts.clone();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let mut posts = posts.lock().unwrap();
                let e = posts.entry(p.channel).or_insert((0, p.at));
                e.0 += 1;
                e.1 = p.at;
            }
        })
    };
    let posted_at_least = |n: usize| {
        let posts = posts.lock().unwrap();
        let reached: Vec<Instant> = posts
            .iter()
            .filter(|(c, _)| c.starts_with("s"))
            .filter(|(_, (count, _))| *count >= n)
            .map(|(_, (_, at))| *at)
            .collect();
        (reached.len(), reached.into_iter().max())
    };

    let stalks: ActorRef<StalksMessage> =
        ActorRef::where_is(bot.names().stalks()).expect("stalks actor registered");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_kib("self").unwrap_or(0);

    // Spawn: one `Stalk` after another, as 10,000 `!status stalk`s would arrive.
    let started = Instant::now();
    let mut spawned = 0;
    for i in 0..CHANNELS {
        if started.elapsed() > PHASE_LIMIT {
            break;
        }
        let target = ChatTarget::channel(format!("s{i}"));
        ractor::call_t!(stalks, StalksMessage::Stalk, 5_000, target).expect("stalk answered");
        spawned += 1;
    }
    let spawn_time = started.elapsed();
    // Each new stalk posts the current state once.
    let waited = Instant::now();
    while posted_at_least(1).0 < spawned && waited.elapsed() < PHASE_LIMIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_posts = posted_at_least(1).0;
    let all_posted = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib("self").unwrap_or(0);
    let per_stalk = (rss_after.saturating_sub(rss_before) as f64 * 1024.0) / spawned.max(1) as f64;

    // Probes over whole poll intervals, all stalks subscribed.
    let probes_before = stub.request_count("/api/v2/alerts");
    tokio::time::sleep(Duration::from_secs(POLL_SECS * INTERVALS)).await;
    let probes = stub.request_count("/api/v2/alerts") - probes_before;
    let per_interval = probes as f64 / INTERVALS as f64;

    // A state change reaches every channel at the next poll.
    let changed = Instant::now();
    stub.set_alerts(vec![StubAlert::new("BenchDown", "critical")]);
    while posted_at_least(2).0 < first_posts
        && changed.elapsed() < Duration::from_secs(POLL_SECS * 3)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (told, last_told) = posted_at_least(2);
    let fan_out = last_told.map_or(Duration::ZERO, |t| t.duration_since(changed));

    // Stop them all: one `Unstalk` after another.
    let started = Instant::now();
    let mut stopped = 0;
    for i in 0..spawned {
        if started.elapsed() > PHASE_LIMIT {
            break;
        }
        ractor::call_t!(stalks, StalksMessage::Unstalk, 5_000, format!("s{i}"))
            .expect("unstalk answered");
        stopped += 1;
    }
    let stop_time = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_stopped = rss_kib("self").unwrap_or(0);

    print_table(
        "stalks: 10,000 channels stalking",
        &[
            Row::new(
                "stalks spawned (one Stalk call after another)",
                format!(
                    "{spawned} in {} ({} each)",
                    fmt_duration(spawn_time),
                    fmt_duration(spawn_time / spawned.max(1) as u32)
                ),
                "10,000",
                Some(spawned == CHANNELS),
            ),
            Row::new(
                "first post in every channel",
                format!(
                    "{first_posts} channels, {} after the first Stalk",
                    fmt_duration(all_posted)
                ),
                "-",
                None,
            ),
            Row::new(
                "monitoring probes per poll interval",
                format!("{per_interval:.2} ({probes} in {INTERVALS} intervals of {POLL_SECS} s)"),
                "1",
                Some(probes as u64 <= INTERVALS),
            ),
            Row::new(
                "RSS before / after spawning",
                format!("{rss_before} KiB / {rss_after} KiB"),
                "-",
                None,
            ),
            Row::new(
                "memory per stalk (RSS delta / stalks)",
                format!("{:.2} KiB", per_stalk / 1024.0),
                "< 4 KiB",
                Some(per_stalk < 4096.0),
            ),
            Row::new(
                "state change to every channel (includes the wait for the next poll, up to 4 s)",
                format!("{told} channels told, last after {}", fmt_duration(fan_out)),
                "-",
                None,
            ),
            Row::new(
                "stalks stopped (one Unstalk call after another)",
                format!(
                    "{stopped} in {} ({} each)",
                    fmt_duration(stop_time),
                    fmt_duration(stop_time / stopped.max(1) as u32)
                ),
                "-",
                None,
            ),
            Row::new(
                "RSS after stopping",
                format!("{rss_stopped} KiB"),
                "-",
                None,
            ),
        ],
    );

    let started = Instant::now();
    bot.shutdown().await;
    println!("tree shutdown: {}", fmt_duration(started.elapsed()));
    counter.abort();
    stub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn bare_floor() {
    // The floor: the same number of bare ractor actors (empty state, named, linked to a supervisor).
    let (per_bare, bare_spawn) = bare_actors(CHANNELS).await;
    print_table(
        "stalks: the floor, bare ractor actors",
        &[Row::new(
            "memory per bare ractor actor (named, linked, empty state)",
            format!(
                "{:.2} KiB; spawned in {}",
                per_bare / 1024.0,
                fmt_duration(bare_spawn)
            ),
            "-",
            None,
        )],
    );
}

struct Bare;

impl ractor::Actor for Bare {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        _args: (),
    ) -> Result<(), ractor::ActorProcessingErr> {
        Ok(())
    }
}

/// RSS delta per actor (bytes) and spawn time of `n` named bare actors linked to one supervisor.
async fn bare_actors(n: usize) -> (f64, Duration) {
    let (parent, parent_task) = ractor::Actor::spawn(Some("bench-bare/parent".into()), Bare, ())
        .await
        .expect("parent spawns");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib("self").unwrap_or(0);
    let started = Instant::now();
    let mut children = Vec::with_capacity(n);
    for i in 0..n {
        let (child, _) = ractor::Actor::spawn_linked(
            Some(format!("bench-bare/{i}")),
            Bare,
            (),
            parent.get_cell(),
        )
        .await
        .expect("bare actor spawns");
        children.push(child);
    }
    let spawn = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib("self").unwrap_or(0);
    for child in &children {
        child.stop(None);
    }
    parent.stop(None);
    let _ = parent_task.await;
    (
        after.saturating_sub(before) as f64 * 1024.0 / n as f64,
        spawn,
    )
}
