//! The slack-morphism Web API client, pointed at `[slack] api_url`, and who the bot is (`auth.test`).
//!
//! slack-morphism's stock connector is `https_only`; ours is `https_or_http` so that tests (and a local fake)
//! can serve the Web API on `http://127.0.0.1`. Real Slack is https and TLS is rustls with ring, with the
//! system's root certificates.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::*;

/// The Slack client type used everywhere in this module.
pub type SlackApiClient = SlackHyperClient;

/// A Web API client for `api_url` (for example `https://slack.com/api`, or `http://127.0.0.1:PORT/api`).
pub fn web_api_client(api_url: &str) -> anyhow::Result<Arc<SlackApiClient>> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .context("loading the system's TLS root certificates for Slack")?
        .https_or_http()
        .enable_all_versions()
        .build();
    let connector = SlackClientHyperConnector::with_connector(https)
        .with_slack_api_url(api_url.trim_end_matches('/'));
    Ok(Arc::new(SlackClient::new(connector)))
}

/// A slack-morphism token from a secret. slack-morphism's own `Debug` shows only its length.
pub fn api_token(secret: &SecretString) -> SlackApiToken {
    SlackApiToken::new(SlackApiTokenValue::new(secret.expose_secret().to_string()))
}

/// The bot's own ids, to ignore its own messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: String,
    pub bot_id: Option<String>,
}

/// `auth.test` with the bot token, bounded by `timeout`.
pub async fn who_am_i(
    client: &SlackApiClient,
    token: &SlackApiToken,
    timeout: Duration,
) -> anyhow::Result<BotIdentity> {
    let session = client.open_session(token);
    let answer = tokio::time::timeout(timeout, session.auth_test())
        .await
        .context("Slack auth.test timed out")?
        .map_err(|e| anyhow::anyhow!("Slack auth.test failed: {e}"))?;
    Ok(BotIdentity {
        user_id: answer.user_id.to_string(),
        bot_id: answer.bot_id.map(|b| b.to_string()),
    })
}
