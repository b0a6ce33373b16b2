//! Accounts: who a verified identity is to DOTM. Reading never writes; a profile is created
//! by the first thing the person does (register, activate, set a wallet).

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::Deps;
use crate::domain::activation::{Notice, NoticeTask};
use crate::domain::beta::BetaStatus;
use crate::domain::entitlements;
use crate::domain::time::rfc3339;
use crate::domain::users::{Email, Identity, Uid, User};
use crate::domain::wallet::Wallet;
use crate::ports::{CreateUserError, Invoicing, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("this email address already belongs to another DOTM account")]
    EmailTaken,
    #[error(
        "an anonymous sign-in cannot buy or earn DOTM: sign in with an email address (and verify it) first"
    )]
    Anonymous,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// The caller's profile as `GET /api/me` shows it. Before registration it is what the token
/// says (`registered: false`), and nothing is stored.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Profile {
    #[schemars(with = "String")]
    pub uid: Uid,
    /// Verified and claimed by this account.
    #[schemars(with = "Option<String>")]
    pub email: Option<Email>,
    /// Given but not verified: contact data only.
    #[schemars(with = "Option<String>")]
    pub contact_email: Option<Email>,
    pub registered: bool,
    pub created_at: Option<String>,
    pub stripe_customer_id: Option<String>,
    pub wallet: Option<String>,
    pub roles: Vec<String>,
    /// RFC 3339: when the paid membership ends, while one runs.
    pub member_until: Option<String>,
    /// The beta request's status (`pending`, `approved`, `rejected`), if any.
    pub beta: Option<String>,
    /// Active eSIM lines.
    pub lines: usize,
}

impl Profile {
    fn of(user: User) -> Profile {
        Profile {
            uid: user.uid,
            email: user.email,
            contact_email: user.contact_email,
            registered: true,
            created_at: Some(user.created_at),
            stripe_customer_id: user.stripe_customer_id,
            wallet: user.wallet,
            roles: user.roles,
            member_until: None,
            beta: None,
            lines: 0,
        }
    }
}

pub async fn profile(deps: &Deps, identity: &Identity) -> Result<Profile, Unavailable> {
    Ok(match deps.users.user(&identity.uid).await? {
        Some(user) => {
            let standing = standing(deps, &user.uid, Some(&user)).await?;
            let activations = deps.activations.activations(&user.uid).await?;
            Profile {
                roles: standing.roles,
                member_until: standing.member_until.map(rfc3339),
                beta: standing.beta.map(|b| b.word().to_owned()),
                lines: activations.iter().filter(|a| a.line.is_some()).count(),
                ..Profile::of(user)
            }
        }
        None => Profile {
            uid: identity.uid.clone(),
            email: identity.email.clone(),
            contact_email: identity.unverified_email.clone(),
            registered: false,
            created_at: None,
            stripe_customer_id: None,
            wallet: None,
            roles: Vec::new(),
            member_until: None,
            beta: None,
            lines: 0,
        },
    })
}

/// What a person is now, from one read of each record.
struct Standing {
    roles: Vec<String>,
    member_until: Option<i64>,
    beta: Option<BetaStatus>,
}

/// The roles: `member` while a paid membership runs, `admin` when operators listed the uid
/// (`ADMIN_UIDS`), `beta` once the beta request was approved, and any stored on the profile.
/// Computed, never cached.
async fn standing(deps: &Deps, uid: &Uid, user: Option<&User>) -> Result<Standing, Unavailable> {
    let now = deps.clock.now_unix();
    let entitlements = deps.entitlements.entitlements(uid).await?;
    let beta = deps.beta.beta_request(uid).await?.map(|b| b.status);
    let mut roles = entitlements::roles(&entitlements, now);
    if deps.admins.contains(uid) {
        roles.push(entitlements::ADMIN.to_owned());
    }
    if beta == Some(BetaStatus::Approved) {
        roles.push(entitlements::BETA.to_owned());
    }
    roles.extend(user.iter().flat_map(|u| u.roles.iter().cloned()));
    roles.sort();
    roles.dedup();
    Ok(Standing {
        roles,
        member_until: entitlements::member_until(&entitlements, now),
        beta,
    })
}

pub async fn has_role(deps: &Deps, uid: &Uid, role: &str) -> Result<bool, Unavailable> {
    let user = deps.users.user(uid).await?;
    let standing = standing(deps, uid, user.as_ref()).await?;
    Ok(standing.roles.iter().any(|r| r == role))
}

/// The user's customer at the payment provider, made once and kept on the profile.
pub async fn stripe_customer(
    deps: &Deps,
    invoicing: &dyn Invoicing,
    user: &User,
) -> Result<String, Unavailable> {
    if let Some(id) = &user.stripe_customer_id {
        return Ok(id.clone());
    }
    let email = user.email.as_ref().ok_or_else(|| {
        Unavailable::new("stripe customer", "only a verified email gets a customer")
    })?;
    let id = invoicing.customer(&user.uid, email).await?;
    deps.users.set_stripe_customer(&user.uid, &id).await
}

/// Registers the caller (once: a second call answers the stored profile). True when this
/// call created it.
pub async fn register(deps: &Deps, identity: &Identity) -> Result<(Profile, bool), AccountError> {
    let (user, created) = find_or_create(deps, identity).await?;
    Ok((Profile::of(user), created))
}

/// Finds the caller's user, creating it on the first call. Only a verified email is claimed
/// (one account per address); an unverified one is kept as contact data and blocks nobody.
/// A verified address that arrives later (the person verified it) is claimed then.
pub async fn find_or_create_user(deps: &Deps, identity: &Identity) -> Result<User, AccountError> {
    Ok(find_or_create(deps, identity).await?.0)
}

/// The user, and whether this call created it (one read of the profile either way).
async fn find_or_create(deps: &Deps, identity: &Identity) -> Result<(User, bool), AccountError> {
    let claimed = |r: Result<User, CreateUserError>| match r {
        Ok(user) => Ok(user),
        Err(CreateUserError::EmailTaken) => Err(AccountError::EmailTaken),
        Err(CreateUserError::Unavailable(e)) => Err(AccountError::Unavailable(e)),
    };
    if let Some(user) = deps.users.user(&identity.uid).await? {
        let user = match (&user.email, &identity.email) {
            (None, Some(verified)) => claimed(deps.users.claim_email(&user.uid, verified).await)?,
            _ => user,
        };
        return Ok((user, false));
    }
    let user = User {
        uid: identity.uid.clone(),
        email: identity.email.clone(),
        contact_email: identity.unverified_email.clone(),
        created_at: rfc3339(deps.clock.now_unix()),
        stripe_customer_id: None,
        wallet: None,
        roles: Vec::new(),
        carrier_end_user_id: None,
        area_code: None,
    };
    let stored = claimed(deps.users.create_user(&user).await)?;
    // `create_user` answers the stored profile when a racing first call won: only the
    // winner (whose record this is) says welcome.
    let created = stored.created_at == user.created_at;
    if created {
        tracing::info!(uid = %stored.uid.short(), "user created");
        let notice = Notice::Welcome {
            uid: stored.uid.clone(),
        };
        deps.queue.send_notice(&NoticeTask { notice }).await?;
    }
    Ok((stored, created))
}

/// Sets where DOTM rewards go, and asks for whatever waited for it to be minted (only when
/// something waits: setting a wallet again and again queues nothing). An anonymous sign-in
/// cannot earn, so it has no wallet.
pub async fn set_wallet(
    deps: &Deps,
    identity: &Identity,
    wallet: &Wallet,
) -> Result<(), AccountError> {
    if identity.anonymous {
        return Err(AccountError::Anonymous);
    }
    let user = find_or_create_user(deps, identity).await?;
    deps.users.set_wallet(&user.uid, wallet).await?;
    if crate::app::rewards::has_pending(deps, &user.uid).await? {
        deps.queue.send_mint(&user.uid).await?;
    }
    tracing::info!(uid = %user.uid.short(), "wallet set");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryWorld;
    use crate::ports::{RewardStore, UserStore};

    fn ada() -> Identity {
        Identity::verified(
            Uid::parse("ada-uid").unwrap(),
            Some(Email::parse("ada@example.com").unwrap()),
        )
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
        assert!(
            world.rewards.rewards(&ada().uid).await.unwrap().is_empty(),
            "joining is the first paid purchase, not registration"
        );
    }

    #[tokio::test]
    async fn an_unverified_email_claims_nothing_and_never_blocks_its_verified_owner() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let stranger = Identity {
            unverified_email: ada().email,
            ..Identity::verified(Uid::parse("stranger").unwrap(), None)
        };
        let (profile, _) = register(&deps, &stranger).await.unwrap();
        assert_eq!(profile.email, None);
        assert_eq!(profile.contact_email, ada().email, "kept as contact data");
        let (owner, created) = register(&deps, &ada()).await.unwrap();
        assert!(created);
        assert_eq!(owner.email, ada().email, "the verified owner claims it");
        // Verifying it later claims it then, unless someone verified it first.
        let late = Identity::verified(Uid::parse("stranger").unwrap(), ada().email);
        assert!(matches!(
            find_or_create_user(&deps, &late).await,
            Err(AccountError::EmailTaken)
        ));
        let own = Identity::verified(
            Uid::parse("stranger").unwrap(),
            Some(Email::parse("stranger@example.com").unwrap()),
        );
        let claimed = find_or_create_user(&deps, &own).await.unwrap();
        assert_eq!(claimed.email, own.email);
    }

    #[tokio::test]
    async fn an_anonymous_sign_in_cannot_set_a_wallet() {
        let world = MemoryWorld::new();
        let anonymous = Identity {
            anonymous: true,
            ..Identity::verified(Uid::parse("anon").unwrap(), None)
        };
        let wallet = Wallet::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").unwrap();
        assert!(matches!(
            set_wallet(&world.deps(), &anonymous, &wallet).await,
            Err(AccountError::Anonymous)
        ));
        assert!(world.users.user(&anonymous.uid).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_email_belongs_to_one_account() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        register(&deps, &ada()).await.unwrap();
        let impostor = Identity::verified(
            Uid::parse("other-uid").unwrap(),
            Some(Email::parse("ADA@example.com").unwrap()),
        );
        assert!(matches!(
            register(&deps, &impostor).await,
            Err(AccountError::EmailTaken)
        ));
    }
}
