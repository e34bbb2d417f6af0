//! `cargo bench --bench backend`: what the coordination database costs `!ic` (issue 16). The same `!ic`,
//! answered from the cache in-process through the gateway to a recording chat, 200 times one after another
//! on a bot with `[state] backend = "files"` and then on one with `"postgres"` (the only replica, so the
//! leader, on a schema of its own in `ICBOT_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): median and p99 of each. Target: no difference beyond noise,
//! since `!ic` reads the snapshot in memory and never the database.

mod common;

use std::time::Duration;

use common::database::BenchSchema;
use common::*;
use icbot::ha::Role;

const COMMANDS: usize = 200;
const WARM_UP: usize = 50;

fn main() {
    print_machine();
    icbot::crypto::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

/// `COMMANDS` sequential `!ic` on a bot started from `text`, after a warm-up; the percentiles.
async fn measure(text: &str, prefix: &str, database_url: Option<&str>) -> Percentiles {
    let (bot, _chat, mut rx) = start_bot_on(text, prefix, database_url).await;
    if let Some(replica) = bot.replica() {
        let mut role = replica.role();
        tokio::time::timeout(
            Duration::from_secs(30),
            role.wait_for(|r| matches!(r, Role::Leader { .. })),
        )
        .await
        .expect("the only replica leads within 30 s")
        .expect("the lease keeper runs");
    }
    let (first, _) = ask(&bot, &mut rx, "warm", "!ic", Duration::from_secs(10))
        .await
        .expect("first !ic answered");
    assert!(first.text.contains("User "), "{}", first.text);
    for _ in 0..WARM_UP {
        ask(&bot, &mut rx, "warm", "!ic", Duration::from_secs(5)).await;
    }
    let mut samples = Vec::with_capacity(COMMANDS);
    for _ in 0..COMMANDS {
        let (_, took) = ask(&bot, &mut rx, "seq", "!ic", Duration::from_secs(5))
            .await
            .expect("every !ic is answered");
        samples.push(took);
    }
    bot.shutdown().await;
    Percentiles::new(samples)
}

async fn run() {
    let database = BenchSchema::create("backend").await;
    let url = database.url.clone();
    let stub = start_stub(stub_data(4, 40, 3)).await;

    let files_dir = temp_dir("backend-files");
    let files = measure(
        &config_text(&stub.url(), &files_dir, 2, 2, "", ""),
        "bench-files/",
        None,
    )
    .await;
    let postgres_dir = temp_dir("backend-postgres");
    let postgres = measure(
        &config_text(
            &stub.url(),
            &postgres_dir,
            2,
            2,
            "",
            "backend = \"postgres\"\n",
        ),
        "bench-postgres/",
        Some(&url),
    )
    .await;

    let row = |name: &str, p: &Percentiles| {
        Row::new(
            &format!("`!ic` from cache, {COMMANDS} sequential, backend = \"{name}\": p50 / p99"),
            format!(
                "{} / {} (max {})",
                fmt_duration(p.at(50.0)),
                fmt_duration(p.at(99.0)),
                fmt_duration(p.max())
            ),
            "-",
            None,
        )
    };
    print_table(
        "The coordination database's cost on `!ic`",
        &[row("files", &files), row("postgres", &postgres)],
    );
    database.drop_schema().await;
    let _ = std::fs::remove_dir_all(&files_dir);
    let _ = std::fs::remove_dir_all(&postgres_dir);
}
