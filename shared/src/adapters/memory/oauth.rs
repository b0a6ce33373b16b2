//! `OAuthStore` in memory.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::oauth::{CodeGrant, OAuthClient, RefreshGrant};
use crate::ports::{OAuthStore, Unavailable};

#[derive(Default)]
pub struct MemoryOAuth {
    clients: Mutex<HashMap<String, OAuthClient>>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
    revoked: Mutex<HashSet<String>>,
}

#[async_trait]
impl OAuthStore for MemoryOAuth {
    async fn client(&self, client_id: &str) -> Result<Option<OAuthClient>, Unavailable> {
        Ok(lock(&self.clients).get(client_id).cloned())
    }

    async fn register_client(&self, client: &OAuthClient) -> Result<(), Unavailable> {
        let mut clients = lock(&self.clients);
        if clients.contains_key(&client.client_id) {
            return Err(Unavailable::new("oauth client", "client id collision"));
        }
        clients.insert(client.client_id.clone(), client.clone());
        Ok(())
    }

    async fn save_code(&self, hash: &str, grant: &CodeGrant) -> Result<(), Unavailable> {
        lock(&self.codes)
            .entry(hash.to_owned())
            .or_insert_with(|| grant.clone());
        Ok(())
    }

    async fn code(&self, hash: &str) -> Result<Option<CodeGrant>, Unavailable> {
        Ok(lock(&self.codes).get(hash).cloned())
    }

    async fn take_code(&self, hash: &str) -> Result<bool, Unavailable> {
        Ok(lock(&self.codes).remove(hash).is_some())
    }

    async fn save_refresh(&self, hash: &str, grant: &RefreshGrant) -> Result<(), Unavailable> {
        lock(&self.refresh)
            .entry(hash.to_owned())
            .or_insert_with(|| grant.clone());
        Ok(())
    }

    async fn refresh(&self, hash: &str) -> Result<Option<RefreshGrant>, Unavailable> {
        Ok(lock(&self.refresh).get(hash).cloned())
    }

    async fn use_refresh(&self, hash: &str) -> Result<bool, Unavailable> {
        Ok(match lock(&self.refresh).get_mut(hash) {
            Some(grant) if !grant.used => {
                grant.used = true;
                true
            }
            _ => false,
        })
    }

    async fn revoke_family(&self, family: &str, _now_unix: i64) -> Result<(), Unavailable> {
        lock(&self.revoked).insert(family.to_owned());
        Ok(())
    }

    async fn family_revoked(&self, family: &str) -> Result<bool, Unavailable> {
        Ok(lock(&self.revoked).contains(family))
    }
}
