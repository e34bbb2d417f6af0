//! [`SlackUserGroups`]: the core's [`UserGroupsApi`] over Slack's Web API, for `[[user_groups]]`.
//!
//! - `user_by_email`: `users.lookupByEmail` (scope `users:read.email`); `users_not_found` is "nobody".
//! - `set_members`: the group's id from `usergroups.list` by handle (scope `usergroups:read`, remembered), then
//!   `usergroups.users.update` (scope `usergroups:write`) with the comma-separated user ids.
//!
//! Every call is bounded by `[slack] post_timeout`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use icbot_actors::ports::{ChatError, UserGroupsApi};
use serde::Deserialize;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::chat_out::{chat_error, Poster};

/// User groups through the bot token of the Slack adapter.
pub struct SlackUserGroups {
    poster: Arc<Poster>,
    /// handle -> group id, learned from `usergroups.list`.
    ids: Mutex<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct GroupList {
    #[serde(default)]
    usergroups: Vec<GroupRef>,
}

#[derive(Deserialize)]
struct GroupRef {
    id: String,
    handle: String,
}

#[derive(Deserialize)]
struct Updated {}

impl SlackUserGroups {
    pub(super) fn new(poster: Arc<Poster>) -> Self {
        SlackUserGroups {
            poster,
            ids: Mutex::new(HashMap::new()),
        }
    }

    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, SlackClientError>>,
    ) -> Result<T, ChatError> {
        match tokio::time::timeout(self.poster.post_timeout, call).await {
            Err(_) => Err(ChatError::Timeout),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                let error = chat_error(&e);
                tracing::warn!(error = %error, call = what, "Slack user group call failed");
                Err(error)
            }
        }
    }

    async fn group_id(&self, handle: &str) -> Result<String, ChatError> {
        if let Some(id) = self
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(handle)
        {
            return Ok(id.clone());
        }
        let session = self.poster.client.open_session(&self.poster.token);
        let params: Vec<(&str, Option<&str>)> = vec![("include_disabled", Some("true"))];
        let list: GroupList = self
            .bounded(
                "usergroups.list",
                session
                    .http_session_api
                    .http_get("usergroups.list", &params, None),
            )
            .await?;
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        for g in list.usergroups {
            ids.insert(g.handle, g.id);
        }
        ids.get(handle).cloned().ok_or_else(|| {
            ChatError::Failed(format!(
                "Slack has no user group @{handle} (create it first)"
            ))
        })
    }
}

#[async_trait]
impl UserGroupsApi for SlackUserGroups {
    async fn user_by_email(&self, email: &str) -> Result<Option<String>, ChatError> {
        let session = self.poster.client.open_session(&self.poster.token);
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_string()));
        let call = session.users_lookup_by_email(&request);
        match tokio::time::timeout(self.poster.post_timeout, call).await {
            Err(_) => Err(ChatError::Timeout),
            Ok(Ok(answer)) => Ok(Some(answer.user.id.to_string())),
            Ok(Err(SlackClientError::ApiError(e))) if e.code == "users_not_found" => Ok(None),
            Ok(Err(e)) => Err(chat_error(&e)),
        }
    }

    async fn set_members(&self, handle: &str, users: &[String]) -> Result<(), ChatError> {
        let id = self.group_id(handle).await?;
        let session = self.poster.client.open_session(&self.poster.token);
        let body = serde_json::json!({ "usergroup": id, "users": users.join(",") });
        let _: Updated = self
            .bounded(
                "usergroups.users.update",
                session
                    .http_session_api
                    .http_post("usergroups.users.update", &body, None),
            )
            .await?;
        Ok(())
    }
}
