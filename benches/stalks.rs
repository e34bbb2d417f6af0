//! `cargo bench --bench stalks`: 10,000 channels stalking. Monitoring probes per poll interval (must be 1 for
//! all of them), memory per stalk actor (RSS delta / 10,000), time to spawn them and to stop them all, and
//! how long a state change takes to reach every channel. The floor is measured in the same run, in a child
//! process (this binary with `bare`, so freed memory is not reused): as many bare ractor actors, named and
//! linked, with no state; `-- bare` measures only the floor.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use icbot::stub::StubAlert;
use icbot_actors::chat::ChatTarget;
use icbot_actors::status::stalks::StalksMessage;
use ractor::ActorRef;

/// Posts to one channel, and when the last arrived.
type PostCount = (usize, Option<Instant>);

/// Live heap bytes, counted by the global allocator: the heap a stalk keeps, without the allocator's
/// fragmentation and caching that RSS also shows.
struct Counting;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(
            new as isize - layout.size() as isize,
            std::sync::atomic::Ordering::Relaxed,
        );
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_heap() -> isize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

const CHANNELS: usize = 10_000;
/// Above the status actor's 3 s reuse window, so each interval really probes.
const POLL_SECS: u64 = 4;
const INTERVALS: u64 = 3;
/// Bound on each phase (spawning, waiting for posts, stopping).
const PHASE_LIMIT: Duration = Duration::from_secs(600);
/// Smoke mode (`ICBOT_BENCH_SMOKE=1`): 200 channels, one poll interval.
const SMOKE_CHANNELS: usize = 200;
const SMOKE_INTERVALS: u64 = 1;
/// The line the `bare` child prints its result on: bytes per bare actor.
const FLOOR_LINE: &str = "floor bytes per bare actor (rss heap): ";

#[tokio::main]
async fn main() {
    print_machine();
    // `cargo bench --bench stalks -- bare`: only the floor, in a fresh process so freed memory is not reused.
    if std::env::args().any(|a| a == "bare") {
        bare_floor().await;
        return;
    }
    let channels = scaled(CHANNELS, SMOKE_CHANNELS);
    let intervals = scaled(INTERVALS, SMOKE_INTERVALS);
    let floor = floor_in_child();
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

    // Count every post per channel `s<i>`, with the time of the last one. Sized before the RSS is read, so the
    // bench's own bookkeeping is not counted as the stalks' memory.
    let posts: Arc<Mutex<Vec<PostCount>>> = Arc::new(Mutex::new(vec![(0, None); channels]));
    let counter = {
        let posts = posts.clone();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let Some(i) = p
                    .channel
                    .strip_prefix('s')
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    continue;
                };
                if let Some(e) = posts.lock().unwrap().get_mut(i) {
                    e.0 += 1;
                    e.1 = Some(p.at);
                }
            }
        })
    };
    let posted_at_least = |n: usize| {
        let posts = posts.lock().unwrap();
        let reached: Vec<Instant> = posts
            .iter()
            .filter(|(count, _)| *count >= n)
            .filter_map(|(_, at)| *at)
            .collect();
        (reached.len(), reached.into_iter().max())
    };

    let stalks: ActorRef<StalksMessage> =
        ActorRef::where_is(bot.names().stalks()).expect("stalks actor registered");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_kib("self").unwrap_or(0);
    let heap_before = live_heap();

    // Spawn: one `Stalk` after another, as 10,000 `!status stalk`s would arrive.
    let started = Instant::now();
    let mut spawned = 0;
    for i in 0..channels {
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
    let heap_per_stalk = (live_heap() - heap_before) as f64 / spawned.max(1) as f64;
    let per_stalk = (rss_after.saturating_sub(rss_before) as f64 * 1024.0) / spawned.max(1) as f64;

    // Probes over whole poll intervals, all stalks subscribed.
    let probes_before = stub.request_count("/api/v2/alerts");
    tokio::time::sleep(Duration::from_secs(POLL_SECS * intervals)).await;
    let probes = stub.request_count("/api/v2/alerts") - probes_before;
    let per_interval = probes as f64 / intervals as f64;

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

    let floor_rows = match floor {
        Some((floor_rss, floor_heap)) => vec![
            Row::new(
                "memory per stalk above the floor (bare ractor actor, same run): RSS",
                format!(
                    "{:.2} KiB ({:.2} KiB per stalk, floor {:.2} KiB)",
                    (per_stalk - floor_rss) / 1024.0,
                    per_stalk / 1024.0,
                    floor_rss / 1024.0
                ),
                "<= 1 KiB",
                Some(per_stalk - floor_rss <= 1024.0),
            ),
            Row::new(
                "memory per stalk above the floor: live heap",
                format!(
                    "{:.2} KiB ({:.2} KiB per stalk, floor {:.2} KiB)",
                    (heap_per_stalk - floor_heap) / 1024.0,
                    heap_per_stalk / 1024.0,
                    floor_heap / 1024.0
                ),
                "-",
                None,
            ),
        ],
        None => vec![Row::new(
            "memory per stalk above the floor",
            "floor not measured (child failed)".into(),
            "<= 1 KiB",
            Some(false),
        )],
    };
    print_table(
        &format!("stalks: {channels} channels stalking"),
        &[
            Row::new(
                "stalks spawned (one Stalk call after another)",
                format!(
                    "{spawned} in {} ({} each)",
                    fmt_duration(spawn_time),
                    fmt_duration(spawn_time / spawned.max(1) as u32)
                ),
                "all",
                Some(spawned == channels),
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
                format!("{per_interval:.2} ({probes} in {intervals} intervals of {POLL_SECS} s)"),
                "1",
                Some(probes as u64 <= intervals),
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
                "-",
                None,
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
        ]
        .into_iter()
        .chain(floor_rows)
        .collect::<Vec<_>>(),
    );

    assert!(
        spawned == channels && first_posts == channels && stopped == channels,
        "{spawned} spawned, {first_posts} posted, {stopped} stopped of {channels}"
    );
    assert!(
        !smoke() || told == channels,
        "smoke: a state change reached {told} of {channels} channels"
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
    let floor = bare_actors(scaled(CHANNELS, SMOKE_CHANNELS)).await;
    print_table(
        "stalks: the floor, bare ractor actors",
        &[Row::new(
            "memory per bare ractor actor (named, linked, empty state): RSS / live heap",
            format!(
                "{:.2} KiB / {:.2} KiB; spawned in {}",
                floor.rss / 1024.0,
                floor.heap / 1024.0,
                fmt_duration(floor.spawn)
            ),
            "-",
            None,
        )],
    );
    println!("{FLOOR_LINE}{:.0} {:.0}", floor.rss, floor.heap);
}

/// Runs this binary with `bare` in a child process and reads the floor it prints (RSS and live heap, bytes
/// per bare actor).
fn floor_in_child() -> Option<(f64, f64)> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe).arg("bare").output().ok()?;
    if !out.status.success() {
        eprintln!(
            "the bare child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix(FLOOR_LINE))?;
    let mut values = line.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((values.next()??, values.next()??))
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

/// What one bare actor costs.
struct Floor {
    /// RSS delta per actor, bytes.
    rss: f64,
    /// Live heap per actor, bytes.
    heap: f64,
    /// Spawning all of them.
    spawn: Duration,
}

/// The floor of `n` named bare actors linked to one supervisor.
async fn bare_actors(n: usize) -> Floor {
    let (parent, parent_task) = ractor::Actor::spawn(Some("bench-bare/parent".into()), Bare, ())
        .await
        .expect("parent spawns");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib("self").unwrap_or(0);
    let heap_before = live_heap();
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
    let heap = (live_heap() - heap_before) as f64 / n as f64;
    for child in &children {
        child.stop(None);
    }
    parent.stop(None);
    let _ = parent_task.await;
    Floor {
        rss: after.saturating_sub(before) as f64 * 1024.0 / n as f64,
        heap,
        spawn,
    }
}
