//! A cold refresh at scale: 200 schedules, 2,000 users (plus people in the account who are not on call), the
//! real schedule cache and PagerDuty client against the stub. The requests are counted at the stub; every
//! on-call user's phones must come out as PagerDuty has them.

use std::sync::Arc;
use std::time::Duration;

use icbot::pagerduty::{PagerDutyClient, PagerDutyConfig};
use icbot::stub::{
    ContactKind, Fault, StubContact, StubData, StubOnCall, StubSchedule, StubServer, StubUser,
};
use icbot_actors::cache::oncall::{Phone, ScheduleRef, UserId};
use icbot_actors::cache::schedule_cache::{
    CacheFacts, ScheduleCacheActor, ScheduleCacheArgs, ScheduleCacheMessage,
};
use icbot_actors::state_store::MemoryStateStore;
use ractor::Actor;
use tokio::sync::watch;

const SCHEDULES: usize = 200;
const USERS: usize = 2_000;
/// In the account but on call nowhere.
const OFF_CALL: usize = 150;
const PER_SCHEDULE: usize = 15;
const MAX_REQUESTS: usize = 100;

fn contact(id: String, kind: ContactKind, address: String, cc: Option<u32>) -> StubContact {
    StubContact {
        id,
        kind,
        label: "Mobile".into(),
        address,
        country_code: cc,
    }
}

/// User `n`: an email always; a phone unless `n` is a multiple of 7; an SMS number too for multiples of 3; the country
/// code varies with `n`.
fn user(n: usize) -> StubUser {
    let id = format!("PU{n:05}");
    let email = format!("user{n}@example.com");
    let mut contact_methods = vec![contact(
        format!("{id}E"),
        ContactKind::Email,
        email.clone(),
        None,
    )];
    contact_methods.extend(expected_phones(n).into_iter().enumerate().map(|(k, p)| {
        let kind = if k == 0 {
            ContactKind::Phone
        } else {
            ContactKind::Sms
        };
        contact(format!("{id}P{k}"), kind, p.number, p.country_code)
    }));
    StubUser {
        id,
        name: format!("User {n}"),
        email,
        contact_methods,
    }
}

fn expected_phones(n: usize) -> Vec<Phone> {
    let mut phones = Vec::new();
    if !n.is_multiple_of(7) {
        phones.push(Phone {
            country_code: Some(1 + (n % 50) as u32),
            number: format!("20255{n:05}"),
        });
    }
    if n.is_multiple_of(3) {
        phones.push(Phone {
            country_code: Some(44),
            number: format!("7700{n:06}"),
        });
    }
    phones
}

fn schedule_id(i: usize) -> String {
    format!("PS{i:04}")
}

/// Schedule `i` has users `(i * USERS / SCHEDULES + k) % USERS` on call: neighbours share people and every
/// one of the 2,000 is on call somewhere. Users 2,000.. are in the account only.
fn data() -> StubData {
    StubData {
        users: (0..USERS + OFF_CALL).map(user).collect(),
        schedules: (0..SCHEDULES)
            .map(|i| StubSchedule {
                id: schedule_id(i),
                name: format!("Schedule {i}"),
                escalation_policy: None,
                on_call: (0..PER_SCHEDULE)
                    .map(|k| StubOnCall {
                        user_id: format!("PU{:05}", (i * USERS / SCHEDULES + k) % USERS),
                        escalation_level: 1,
                        start: Some("-1h".into()),
                        end: Some("+12h".into()),
                    })
                    .collect(),
            })
            .collect(),
        ..StubData::default()
    }
}

#[tokio::test]
async fn a_cold_refresh_of_200_schedules_and_2000_users_takes_at_most_100_requests() {
    let stub = StubServer::start("127.0.0.1:0", data(), Fault::None)
        .await
        .expect("stub starts");
    let client = PagerDutyClient::new(PagerDutyConfig {
        base_url: stub.url(),
        token: secrecy::SecretString::from("test-token"),
        from_email: "icbot@example.com".into(),
        service_id: "PSVC001".into(),
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
        max_rate_limit_retries: 0,
    })
    .expect("client");
    let schedules: Vec<ScheduleRef> = (0..SCHEDULES)
        .map(|i| ScheduleRef {
            id: schedule_id(i),
            label: format!("Team {i}"),
        })
        .collect();
    let args = ScheduleCacheArgs {
        pagerduty: Arc::new(client),
        store: Arc::new(MemoryStateStore::new()),
        incident_commanders: schedules[..10].to_vec(),
        responders: schedules[10..].to_vec(),
        refresh_interval: Duration::from_secs(3600),
        refresh_timeout: Duration::from_secs(120),
        contacts_ttl: Duration::from_secs(3600),
        contact_concurrency: 8,
        facts: watch::channel(CacheFacts::default()).0,
        coordination: Arc::new(icbot_actors::ports::SingleReplica),
        announcer: None,
        user_groups: None,
    };
    let (cache, handle) = Actor::spawn(None, ScheduleCacheActor, args)
        .await
        .expect("cache starts");
    let view = ractor::call_t!(cache, ScheduleCacheMessage::Get, 120_000).expect("cache answers");

    let requests = stub.request_count("/");
    let by_id = stub.request_count("/users/");
    assert!(
        requests <= MAX_REQUESTS,
        "{requests} requests ({} GET /oncalls, {} GET /users pages, {by_id} GET /users/{{id}})",
        stub.request_count("/oncalls"),
        stub.request_count("/users") - by_id
    );
    let snapshot = view.snapshot.expect("a snapshot");
    assert!(view.last_failure.is_none(), "{:?}", view.last_failure);
    assert_eq!(
        snapshot.people.len(),
        USERS,
        "everyone on call, nobody else"
    );
    for n in 0..USERS {
        let person = &snapshot.people[&UserId(format!("PU{n:05}"))];
        assert_eq!(person.phones, expected_phones(n), "phones of user {n}");
        assert_eq!(person.email, format!("user{n}@example.com"));
        assert!(person.contacts_fetched_at.is_some(), "user {n}");
    }
    cache.stop(None);
    handle.await.expect("cache stops");
    stub.shutdown().await;
}
