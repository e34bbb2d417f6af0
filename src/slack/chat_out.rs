//! [`SlackChat`]: the core's [`ChatOut`] over Slack's Web API, the outbound half of the adapter.
//!
//! - Pacing: each channel has its own queue and task (created on first use, gone after a quiet while), so
//!   messages to one channel go out in order, at most one per `per_channel_interval`, and a busy channel never
//!   holds up another. `post()` resolves when Slack accepted the message or it finally failed.
//! - Retries: a 429 waits what `Retry-After` says (at most [`MAX_RETRY_AFTER`]); a timeout, a 5xx, a dropped
//!   connection or one of Slack's "try again" errors is retried with a doubling backoff; at most
//!   [`MAX_ATTEMPTS`] attempts, each bounded by `post_timeout`. Every retry is a warning and a final failure an
//!   error, both with the channel, so no reply is ever lost silently. A retry after a timeout may post twice:
//!   a duplicate is better than a lost page report.
//! - `email_of` and `time_zone_of`: one `users.info` -> `user.profile.email` (scope `users:read.email`) and
//!   `user.tz` (an IANA name), cached together for [`EMAIL_TTL`].
//!
//! Calls go through slack-morphism's client, which already surfaces 429s with their `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use icbot_actors::chat::{ChatTarget, MessageRef};
use icbot_actors::metric_names;
use icbot_actors::ports::{ChatError, ChatOut};
use icbot_actors::reply::Reply;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::client::{api_token, web_api_client, SlackApiClient};
use super::render;
use super::settings::{SlackSecrets, SlackSettings};

/// Attempts per message, the first included.
pub const MAX_ATTEMPTS: u32 = 4;
/// The longest a single 429 wait, whatever `Retry-After` says.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The first backoff after a transient failure; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A channel's task ends after this long without a message (a new one starts on demand).
const QUEUE_IDLE: Duration = Duration::from_secs(300);
/// How long an email address (or its absence) is remembered.
pub const EMAIL_TTL: Duration = Duration::from_secs(3600);

/// The outbound half of the Slack adapter. Build it before the actor tree (the gateway needs it); inbound
/// starts later with [`super::start_inbound`].
pub struct SlackChat {
    poster: Arc<Poster>,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<PostJob>>>,
    emails: Mutex<HashMap<String, (Instant, Profile)>>,
}

/// What the bot reads of a Slack user, cached; both empty for a user Slack does not know.
#[derive(Debug, Clone, Default)]
struct Profile {
    email: Option<String>,
    time_zone: Option<String>,
}

/// What each channel task needs to post.
pub(super) struct Poster {
    pub(super) client: Arc<SlackApiClient>,
    pub(super) token: SlackApiToken,
    pub(super) post_timeout: Duration,
    per_channel_interval: Duration,
}

struct PostJob {
    thread: Option<String>,
    text: String,
    /// Block Kit for a reply with a card; the text stays the notification fallback.
    blocks: Option<Vec<SlackBlock>>,
    /// `Some(ts)`: edit that message (`chat.update`) instead of posting a new one.
    edit: Option<String>,
    /// The posted (or edited) message's `ts`.
    done: oneshot::Sender<Result<String, ChatError>>,
}

impl SlackChat {
    /// The Web API client for `settings.api_url` with the bot token. Makes no call yet.
    pub fn new(settings: &SlackSettings, secrets: &SlackSecrets) -> anyhow::Result<SlackChat> {
        Ok(SlackChat {
            poster: Arc::new(Poster {
                client: web_api_client(&settings.api_url)?,
                token: api_token(&secrets.bot_token),
                post_timeout: settings.post_timeout,
                per_channel_interval: settings.per_channel_interval,
            }),
            queues: Mutex::new(HashMap::new()),
            emails: Mutex::new(HashMap::new()),
        })
    }

    /// `[[user_groups]]` over the same client and token.
    pub fn user_groups(&self) -> super::SlackUserGroups {
        super::SlackUserGroups::new(self.poster.clone())
    }

    pub(super) fn poster(&self) -> &Arc<Poster> {
        &self.poster
    }

    /// Queues a job on the channel's task, starting one when there is none (or it ended while idle).
    fn enqueue(&self, channel: &str, mut job: PostJob) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = queues.get(channel) {
            match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(returned)) => job = returned,
            }
        }
        queues.retain(|_, tx| !tx.is_closed());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(channel_task(self.poster.clone(), channel.to_string(), rx));
        // The receiver is alive: the task was only just spawned.
        let _ = tx.send(job);
        queues.insert(channel.to_string(), tx);
    }

    /// Queues a post (or, with `edit`, an edit) of `reply` on the channel's task and waits for its `ts`.
    async fn send(
        &self,
        channel: &str,
        thread: Option<String>,
        edit: Option<String>,
        reply: &Reply,
    ) -> Result<String, ChatError> {
        let (done, result) = oneshot::channel();
        let job = PostJob {
            thread,
            text: render::mrkdwn(reply),
            blocks: render::card_blocks(reply),
            edit,
            done,
        };
        self.enqueue(channel, job);
        result.await.unwrap_or_else(|_| {
            tracing::error!(%channel, "Slack channel queue stopped before posting");
            Err(ChatError::Failed("the channel queue stopped".to_string()))
        })
    }

    fn cached_profile(&self, user: &str) -> Option<Profile> {
        let emails = self.emails.lock().unwrap_or_else(|e| e.into_inner());
        emails
            .get(user)
            .filter(|(at, _)| at.elapsed() < EMAIL_TTL)
            .map(|(_, profile)| profile.clone())
    }

    /// The user's email and time zone, from the cache or one `users.info`.
    async fn profile(&self, chat_user: &str) -> Result<Profile, ChatError> {
        if let Some(profile) = self.cached_profile(chat_user) {
            return Ok(profile);
        }
        let session = self.poster.client.open_session(&self.poster.token);
        let request = SlackApiUsersInfoRequest::new(SlackUserId::new(chat_user.to_string()));
        let profile = match tokio::time::timeout(
            self.poster.post_timeout,
            session.users_info(&request),
        )
        .await
        {
            Err(_) => return Err(ChatError::Timeout),
            Ok(Ok(answer)) => Profile {
                time_zone: answer.user.tz.clone(),
                email: answer
                    .user
                    .profile
                    .and_then(|p| p.email)
                    .map(|e| e.to_string()),
            },
            Ok(Err(SlackClientError::ApiError(e))) if e.code == "user_not_found" => {
                Profile::default()
            }
            Ok(Err(e)) => {
                let error = chat_error(&e);
                tracing::warn!(user = %chat_user, error = %error, "Slack users.info failed");
                return Err(error);
            }
        };
        if profile.email.is_none() {
            tracing::warn!(user = %chat_user, "Slack shows no email for this user (scope users:read.email?)");
        }
        let mut emails = self.emails.lock().unwrap_or_else(|e| e.into_inner());
        emails.insert(chat_user.to_string(), (Instant::now(), profile.clone()));
        Ok(profile)
    }
}

#[async_trait]
impl ChatOut for SlackChat {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        self.send(&to.channel, to.thread.clone(), None, reply)
            .await
            .map(|_| ())
    }

    async fn post_tracked(
        &self,
        to: &ChatTarget,
        reply: &Reply,
    ) -> Result<Option<MessageRef>, ChatError> {
        let ts = self
            .send(&to.channel, to.thread.clone(), None, reply)
            .await?;
        Ok(Some(MessageRef {
            channel: to.channel.clone(),
            ts,
        }))
    }

    async fn update(&self, message: &MessageRef, reply: &Reply) -> Result<(), ChatError> {
        self.send(&message.channel, None, Some(message.ts.clone()), reply)
            .await
            .map(|_| ())
    }

    async fn email_of(&self, chat_user: &str) -> Result<Option<String>, ChatError> {
        Ok(self.profile(chat_user).await?.email)
    }

    async fn time_zone_of(&self, chat_user: &str) -> Result<Option<String>, ChatError> {
        Ok(self.profile(chat_user).await?.time_zone)
    }
}

/// One channel's queue: posts in order, paced, each retried until accepted or finally failed.
async fn channel_task(
    poster: Arc<Poster>,
    channel: String,
    mut jobs: mpsc::UnboundedReceiver<PostJob>,
) {
    let mut next_allowed = Instant::now();
    while let Ok(Some(job)) = tokio::time::timeout(QUEUE_IDLE, jobs.recv()).await {
        tokio::time::sleep_until(next_allowed).await;
        let result = poster.post_with_retries(&channel, &job).await;
        next_allowed = Instant::now() + poster.per_channel_interval;
        // The caller may have stopped waiting (its own deadline); the outcome is logged either way.
        let _ = job.done.send(result);
    }
}

/// What to do after a failed attempt.
enum Failure {
    /// Try again after this long.
    Retry(Duration, ChatError),
    /// Give up now.
    Fatal(ChatError),
}

impl Poster {
    /// One post or edit, with the retries; the message's `ts` when Slack accepted it.
    async fn post_with_retries(&self, channel: &str, job: &PostJob) -> Result<String, ChatError> {
        let text = job.text.as_str();
        let content = SlackMessageContent::new()
            .with_text(text.to_string())
            .opt_blocks(job.blocks.clone());
        let session = self.client.open_session(&self.token);
        let call = || async {
            match &job.edit {
                None => {
                    let request = SlackApiChatPostMessageRequest::new(
                        SlackChannelId::new(channel.to_string()),
                        content.clone(),
                    )
                    .opt_thread_ts(job.thread.as_ref().map(|t| SlackTs::new(t.clone())));
                    session
                        .chat_post_message(&request)
                        .await
                        .map(|answer| answer.ts.to_string())
                }
                Some(ts) => {
                    let request = SlackApiChatUpdateRequest::new(
                        SlackChannelId::new(channel.to_string()),
                        content.clone(),
                        SlackTs::new(ts.clone()),
                    );
                    session
                        .chat_update(&request)
                        .await
                        .map(|answer| answer.ts.to_string())
                }
            }
        };
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let failure = match tokio::time::timeout(self.post_timeout, call()).await {
                Ok(Ok(ts)) => {
                    if attempt > 1 {
                        tracing::info!(
                            channel,
                            attempt,
                            "Slack accepted the message after retrying"
                        );
                    }
                    metrics::counter!(metric_names::SLACK_POSTS_TOTAL, "result" => "ok")
                        .increment(1);
                    return Ok(ts);
                }
                Ok(Err(e)) => classify(&e, backoff),
                Err(_) => Failure::Retry(backoff, ChatError::Timeout),
            };
            match failure {
                Failure::Fatal(error) => {
                    tracing::error!(channel, attempt, error = %error, message = %text, "Slack refused the message");
                    metrics::counter!(metric_names::SLACK_POSTS_TOTAL, "result" => "failed")
                        .increment(1);
                    return Err(error);
                }
                Failure::Retry(_, error) if attempt == MAX_ATTEMPTS => {
                    tracing::error!(channel, attempt, error = %error, message = %text, "giving up posting to Slack");
                    metrics::counter!(metric_names::SLACK_POSTS_TOTAL, "result" => "failed")
                        .increment(1);
                    return Err(error);
                }
                Failure::Retry(wait, error) => {
                    tracing::warn!(channel, attempt, wait_ms = wait.as_millis() as u64, error = %error, "posting to Slack failed; retrying");
                    let reason = match error {
                        ChatError::RateLimited { .. } => "rate_limited",
                        ChatError::Timeout => "timeout",
                        ChatError::Failed(_) => "error",
                    };
                    metrics::counter!(metric_names::SLACK_POST_RETRIES_TOTAL, "reason" => reason)
                        .increment(1);
                    tokio::time::sleep(wait).await;
                    backoff *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// Slack's errors, sorted into "wait and retry" and "give up".
fn classify(error: &SlackClientError, backoff: Duration) -> Failure {
    match error {
        SlackClientError::RateLimitError(e) => {
            let wait = e
                .retry_after
                .unwrap_or(Duration::from_secs(1))
                .min(MAX_RETRY_AFTER);
            Failure::Retry(
                wait,
                ChatError::RateLimited {
                    retry_after: e.retry_after,
                },
            )
        }
        SlackClientError::ApiError(e) if e.code == "ratelimited" => Failure::Retry(
            Duration::from_secs(1),
            ChatError::RateLimited { retry_after: None },
        ),
        SlackClientError::ApiError(e)
            if matches!(
                e.code.as_str(),
                "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
            ) =>
        {
            Failure::Retry(backoff, chat_error(error))
        }
        SlackClientError::HttpError(e)
            if e.status_code.is_server_error() || e.status_code.as_u16() == 408 =>
        {
            Failure::Retry(backoff, chat_error(error))
        }
        SlackClientError::HttpProtocolError(_) | SlackClientError::EndOfStream(_) => {
            Failure::Retry(backoff, chat_error(error))
        }
        _ => Failure::Fatal(chat_error(error)),
    }
}

/// A short description for the core: Slack's error code or status, never a token.
pub(super) fn chat_error(error: &SlackClientError) -> ChatError {
    match error {
        SlackClientError::RateLimitError(e) => ChatError::RateLimited {
            retry_after: e.retry_after,
        },
        SlackClientError::ApiError(e) => ChatError::Failed(format!("Slack error {}", e.code)),
        SlackClientError::HttpError(e) => ChatError::Failed(format!("HTTP {}", e.status_code)),
        SlackClientError::HttpProtocolError(e) => ChatError::Failed(format!(
            "cannot reach Slack ({})",
            e.cause.as_ref().map(|c| c.to_string()).unwrap_or_default()
        )),
        other => ChatError::Failed(other.to_string()),
    }
}
