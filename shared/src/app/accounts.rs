//! Accounts: who a verified identity is to DOTM. Reading never writes; a profile is created
//! by the first thing the person does (register, activate, set a wallet).

use serde::Serialize;

use crate::app::{Deps, rewards};
use crate::domain::time::rfc3339;
use crate::domain::users::{Email, Identity, Uid, User};
use crate::domain::wallet::Wallet;
use crate::ports::{CreateUserError, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("this email address already belongs to another DOTM account")]
    EmailTaken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// The caller's profile as `GET /api/me` shows it. Before registration it is what the token
/// says (`registered: false`), and nothing is stored.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub uid: Uid,
    pub email: Option<Email>,
    pub registered: bool,
    pub created_at: Option<String>,
    pub stripe_customer_id: Option<String>,
    pub wallet: Option<String>,
    pub roles: Vec<String>,
}

impl Profile {
    fn of(user: User) -> Profile {
        Profile {
            uid: user.uid,
            email: user.email,
            registered: true,
            created_at: Some(user.created_at),
            stripe_customer_id: user.stripe_customer_id,
            wallet: user.wallet,
            roles: user.roles,
        }
    }
}

pub async fn profile(deps: &Deps, identity: &Identity) -> Result<Profile, Unavailable> {
    Ok(match deps.users.user(&identity.uid).await? {
        Some(user) => Profile::of(user),
        None => Profile {
            uid: identity.uid.clone(),
            email: identity.email.clone(),
            registered: false,
            created_at: None,
            stripe_customer_id: None,
            wallet: None,
            roles: Vec::new(),
        },
    })
}

/// Registers the caller (once: a second call answers the stored profile). True when this
/// call created it.
pub async fn register(deps: &Deps, identity: &Identity) -> Result<(Profile, bool), AccountError> {
    if let Some(user) = deps.users.user(&identity.uid).await? {
        return Ok((Profile::of(user), false));
    }
    let user = find_or_create_user(deps, identity).await?;
    Ok((Profile::of(user), true))
}

/// Finds the caller's user, creating it (and claiming its email) on the first call.
pub async fn find_or_create_user(deps: &Deps, identity: &Identity) -> Result<User, AccountError> {
    if let Some(user) = deps.users.user(&identity.uid).await? {
        return Ok(user);
    }
    let user = User {
        uid: identity.uid.clone(),
        email: identity.email.clone(),
        created_at: rfc3339(deps.clock.now_unix()),
        stripe_customer_id: None,
        wallet: None,
        roles: Vec::new(),
    };
    match deps.users.create_user(&user).await {
        Ok(user) => {
            tracing::info!(uid = %user.uid.short(), "user created");
            rewards::credit_signup(deps, &user).await?;
            Ok(user)
        }
        Err(CreateUserError::EmailTaken) => Err(AccountError::EmailTaken),
        Err(CreateUserError::Unavailable(e)) => Err(e.into()),
    }
}

/// Sets where DOTM rewards go, and asks for whatever waited for it to be minted.
pub async fn set_wallet(
    deps: &Deps,
    identity: &Identity,
    wallet: &Wallet,
) -> Result<(), AccountError> {
    let user = find_or_create_user(deps, identity).await?;
    deps.users.set_wallet(&user.uid, wallet).await?;
    // The bonus again: credited once, whatever happened at sign-up.
    rewards::credit_signup(deps, &user).await?;
    deps.queue.send_mint(&user.uid).await?;
    tracing::info!(uid = %user.uid.short(), "wallet set");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryWorld;
    use crate::ports::{RewardStore, UserStore};

    fn ada() -> Identity {
        Identity {
            uid: Uid::parse("ada-uid").unwrap(),
            email: Some(Email::parse("ada@example.com").unwrap()),
        }
    }

    #[tokio::test]
    async fn reading_a_profile_writes_nothing() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let seen = profile(&deps, &ada()).await.unwrap();
        assert!(!seen.registered);
        assert_eq!(seen.email, ada().email);
        assert!(world.users.user(&ada().uid).await.unwrap().is_none());
        assert!(world.rewards.rewards(&ada().uid).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn registering_twice_creates_once() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let (first, created) = register(&deps, &ada()).await.unwrap();
        assert!(created && first.registered);
        let (again, created) = register(&deps, &ada()).await.unwrap();
        assert!(!created);
        assert_eq!(again.created_at, first.created_at);
        assert_eq!(world.rewards.rewards(&ada().uid).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_email_belongs_to_one_account() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        register(&deps, &ada()).await.unwrap();
        let impostor = Identity {
            uid: Uid::parse("other-uid").unwrap(),
            email: Some(Email::parse("ADA@example.com").unwrap()),
        };
        assert!(matches!(
            register(&deps, &impostor).await,
            Err(AccountError::EmailTaken)
        ));
    }
}
