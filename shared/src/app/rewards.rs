//! DOTM rewards: credited as records when earned, minted by a job when the person has a
//! wallet (never inside a webhook request), one at a time under the minter lease.

use std::time::Duration;

use serde::Serialize;

use crate::app::Deps;
use crate::domain::purchases::Purchase;
use crate::domain::rewards::{self, Reward, RewardKind, RewardStatus, Wei};
use crate::domain::time::rfc3339;
use crate::domain::users::{Identity, Uid};
use crate::domain::wallet::Wallet;
use crate::ports::{Balances, Clock, MintOutcome, Minter, RewardStore, Unavailable, UserStore};

/// The minter lease, renewed before every mint: longer than one mint can take (the chain
/// minter gives up after 90 s, `ChainSettings::give_up_after`, plus one bounded RPC call), so
/// it never runs out under a live holder; a crashed holder frees it after this long. A mint
/// given up is retried from the queue on the same nonce, replacing what is still pending.
const LEASE_MS: i64 = 120_000;

/// Credits what a paid purchase earns; asks for a mint when there is somewhere to mint to.
///
/// Joining DOTM is a first paid purchase by a person with a verified email: it earns the
/// new-member bonus, credited once per person here and paid once per wallet when minted.
pub async fn credit_purchase(deps: &Deps, purchase: &Purchase) -> Result<(), Unavailable> {
    let now = rfc3339(deps.clock.now_unix());
    let user = deps.users.user(&purchase.uid).await?;
    let mut earned = rewards::for_purchase(purchase, &deps.cashback, &now);
    if user.as_ref().is_some_and(|u| u.email.is_some()) {
        earned.push(rewards::new_member_bonus(&purchase.uid, &now));
    }
    let mut any = false;
    for reward in earned {
        any |= deps.rewards.credit(&reward).await?;
    }
    let has_wallet = user.is_some_and(|u| u.wallet.is_some());
    if any && has_wallet {
        deps.queue.send_mint(&purchase.uid).await?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct RewardView {
    pub kind: rewards::RewardKind,
    pub source: String,
    pub amount: String,
    pub amount_wei: Wei,
    pub status: RewardStatus,
    pub reward_id: String,
    pub created_at: String,
    pub tx_hash: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RewardsView {
    pub wallet: Option<String>,
    /// On chain, when there is a wallet.
    pub balance: Option<String>,
    pub balance_wei: Option<Wei>,
    pub pending: Vec<RewardView>,
    pub minted: Vec<RewardView>,
    pub refused: Vec<RewardView>,
}

fn describe(r: Reward) -> RewardView {
    RewardView {
        kind: r.kind,
        source: r.key,
        amount: r.amount_wei.to_dotm_string(),
        amount_wei: r.amount_wei,
        status: r.status,
        reward_id: r.reward_id,
        created_at: r.created_at,
        tx_hash: r.tx_hash,
        reason: r.reason,
    }
}

/// The caller's rewards and balance. Reads only: an unknown person has none.
pub async fn view(
    deps: &Deps,
    balances: &dyn Balances,
    identity: &Identity,
) -> Result<RewardsView, Unavailable> {
    let user = deps.users.user(&identity.uid).await?;
    let wallet = user
        .and_then(|u| u.wallet)
        .and_then(|w| Wallet::parse(&w).ok());
    let balance = match &wallet {
        Some(w) => Some(balances.balance(w).await?),
        None => None,
    };
    let mut v = RewardsView {
        wallet: wallet.map(|w| w.to_string()),
        balance: balance.map(|b| b.to_dotm_string()),
        balance_wei: balance,
        pending: vec![],
        minted: vec![],
        refused: vec![],
    };
    for r in deps.rewards.rewards(&identity.uid).await? {
        match r.status {
            RewardStatus::Pending => v.pending.push(describe(r)),
            RewardStatus::Minted => v.minted.push(describe(r)),
            RewardStatus::Refused => v.refused.push(describe(r)),
        }
    }
    Ok(v)
}

/// What a mint job did.
#[derive(Debug, PartialEq, Eq)]
pub enum Minted {
    /// Another instance holds the minter lease: try again shortly.
    Busy,
    Done {
        minted: usize,
        refused: usize,
    },
}

/// What the reward-minter function holds: the shared ports and the only minter key.
#[derive(Clone)]
pub struct RewardMinter {
    pub deps: Deps,
    pub minter: std::sync::Arc<dyn Minter>,
}

/// Mints a user's next pending reward (one transaction and its receipt per message, so a
/// message always fits the function's timeout), then asks for the next one if more wait.
/// Waits a little for the minter lease; if another job keeps it, asks again later rather
/// than failing.
pub async fn mint(m: &RewardMinter, uid: &Uid) -> Result<Minted, Unavailable> {
    let deps = &m.deps;
    for _ in 0..20 {
        let done = mint_pending(
            deps.users.as_ref(),
            deps.rewards.as_ref(),
            m.minter.as_ref(),
            deps.clock.as_ref(),
            uid,
            1,
        )
        .await?;
        match done {
            Minted::Busy => tokio::time::sleep(Duration::from_millis(250)).await,
            Minted::Done { minted, refused } => {
                let more = deps
                    .rewards
                    .rewards(uid)
                    .await?
                    .iter()
                    .any(|r| r.status == RewardStatus::Pending);
                if minted + refused > 0 && more {
                    deps.queue.send_mint(uid).await?;
                }
                return Ok(done);
            }
        }
    }
    deps.queue.send_mint(uid).await?;
    Ok(Minted::Busy)
}

/// True when the person has a reward waiting to be minted.
pub async fn has_pending(deps: &Deps, uid: &Uid) -> Result<bool, Unavailable> {
    Ok(deps
        .rewards
        .rewards(uid)
        .await?
        .iter()
        .any(|r| r.status == RewardStatus::Pending))
}

/// Mints up to `at_most` of the user's pending rewards, if the lease is free. Holding the
/// lease, this is the only sender of the minter key; a reward the contract already paid (a
/// retry after a crash) is recorded as minted.
pub async fn mint_pending(
    users: &dyn UserStore,
    rewards_store: &dyn RewardStore,
    minter: &dyn Minter,
    clock: &dyn Clock,
    uid: &Uid,
    at_most: usize,
) -> Result<Minted, Unavailable> {
    let holder = format!("{uid}-{}-{}", clock.now_unix_ms(), std::process::id());
    if !rewards_store
        .acquire_minter(&holder, clock.now_unix_ms(), LEASE_MS)
        .await?
    {
        return Ok(Minted::Busy);
    }
    let result = mint_all(users, rewards_store, minter, uid, &holder, clock, at_most).await;
    rewards_store.release_minter(&holder).await?;
    result
}

async fn mint_all(
    users: &dyn UserStore,
    rewards_store: &dyn RewardStore,
    minter: &dyn Minter,
    uid: &Uid,
    holder: &str,
    clock: &dyn Clock,
    at_most: usize,
) -> Result<Minted, Unavailable> {
    let wallet = users
        .user(uid)
        .await?
        .and_then(|u| u.wallet)
        .and_then(|w| Wallet::parse(&w).ok());
    let Some(wallet) = wallet else {
        return Ok(Minted::Done {
            minted: 0,
            refused: 0,
        });
    };
    let (mut minted, mut refused) = (0, 0);
    for reward in rewards_store.rewards(uid).await? {
        if reward.status != RewardStatus::Pending {
            continue;
        }
        if minted + refused >= at_most {
            break;
        }
        // Ten accounts on one wallet join once: the bonus goes to the first to claim it.
        if reward.kind == RewardKind::NewMemberBonus
            && !rewards_store.claim_wallet_bonus(&wallet, uid).await?
        {
            let reason = "this wallet already received the new-member bonus with another account";
            rewards_store
                .settle(&reward, RewardStatus::Refused, None, Some(reason))
                .await?;
            tracing::warn!(uid = %uid.short(), "new-member bonus refused: wallet already paid one");
            refused += 1;
            continue;
        }
        if !rewards_store
            .acquire_minter(holder, clock.now_unix_ms(), LEASE_MS)
            .await?
        {
            return Err(Unavailable::new(
                "minter lease",
                "lost the minter lease; the job will be retried",
            ));
        }
        match minter
            .mint(&wallet, reward.amount_wei, &reward.reward_id)
            .await?
        {
            MintOutcome::Minted { tx_hash } => {
                rewards_store
                    .settle(&reward, RewardStatus::Minted, Some(&tx_hash), None)
                    .await?;
                tracing::info!(uid = %uid.short(), reward = %reward.key, tx = %tx_hash, "reward minted");
                minted += 1;
            }
            MintOutcome::AlreadyPaid => {
                // An earlier job minted it and died before recording: the chain is the truth.
                rewards_store
                    .settle(
                        &reward,
                        RewardStatus::Minted,
                        None,
                        Some("minted by an earlier attempt"),
                    )
                    .await?;
                minted += 1;
            }
            MintOutcome::OverCap { remaining } => {
                let reason = format!(
                    "the DOTM supply cap is reached: {} DOTM left, {} needed",
                    remaining.to_dotm_string(),
                    reward.amount_wei.to_dotm_string()
                );
                rewards_store
                    .settle(&reward, RewardStatus::Refused, None, Some(&reason))
                    .await?;
                tracing::warn!(uid = %uid.short(), reward = %reward.key, "reward refused: supply cap");
                refused += 1;
            }
        }
    }
    Ok(Minted::Done { minted, refused })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryWorld, paid_event};
    use crate::domain::users::Email;

    const WALLET: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    fn ada() -> Identity {
        Identity::verified(
            Uid::parse("ada").unwrap(),
            Some(Email::parse("ada@example.com").unwrap()),
        )
    }

    async fn mint_now(world: &MemoryWorld, uid: &Uid) -> Minted {
        mint_pending(
            world.users.as_ref(),
            world.rewards.as_ref(),
            world.ledger.as_ref(),
            world.clock.as_ref(),
            uid,
            usize::MAX,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn without_a_wallet_rewards_wait_then_mint_after_it_is_set() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        crate::app::accounts::find_or_create_user(&deps, &ada())
            .await
            .unwrap();
        crate::app::payments::apply_event(
            &deps,
            &paid_event(&deps, "evt_1", "in_1", "ada").await,
            0,
        )
        .await
        .unwrap();
        let view = view(&deps, world.ledger.as_ref(), &ada()).await.unwrap();
        assert_eq!(view.pending.len(), 2, "sign-up bonus and cashback");
        assert!(
            world.queue.mints.lock().unwrap().is_empty(),
            "nothing to mint to yet"
        );

        crate::app::accounts::set_wallet(&deps, &ada(), &Wallet::parse(WALLET).unwrap())
            .await
            .unwrap();
        assert_eq!(world.queue.mints.lock().unwrap().len(), 1);
        assert_eq!(
            mint_now(&world, &ada().uid).await,
            Minted::Done {
                minted: 2,
                refused: 0
            }
        );
        let balance = world
            .ledger
            .balance(&Wallet::parse(WALLET).unwrap())
            .await
            .unwrap();
        assert_eq!(
            balance.to_dotm_string(),
            "10.4333",
            "10.33 bonus + 0.1033 cashback on $1"
        );
        // A second job mints nothing more.
        assert_eq!(
            mint_now(&world, &ada().uid).await,
            Minted::Done {
                minted: 0,
                refused: 0
            }
        );
    }

    #[tokio::test]
    async fn a_mint_past_the_cap_is_refused_with_the_reason() {
        let mut world = MemoryWorld::new();
        world.ledger = std::sync::Arc::new(crate::adapters::memory::MemoryLedger::with_cap(
            Wei::dotm(5),
        ));
        let deps = world.deps();
        crate::app::accounts::set_wallet(&deps, &ada(), &Wallet::parse(WALLET).unwrap())
            .await
            .unwrap();
        crate::app::payments::apply_event(
            &deps,
            &paid_event(&deps, "evt_1", "in_1", "ada").await,
            0,
        )
        .await
        .unwrap();
        // 0.1033 DOTM of cashback fits under the 5 DOTM cap; the 10.33 bonus does not.
        assert_eq!(
            mint_now(&world, &ada().uid).await,
            Minted::Done {
                minted: 1,
                refused: 1
            }
        );
        let view = view(&deps, world.ledger.as_ref(), &ada()).await.unwrap();
        assert!(
            view.refused[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("supply cap")
        );
    }

    #[tokio::test]
    async fn another_holder_of_the_lease_makes_the_job_wait() {
        let world = MemoryWorld::new();
        assert!(
            world
                .rewards
                .acquire_minter("someone-else", 1_795_608_000_000, 60_000)
                .await
                .unwrap()
        );
        assert_eq!(mint_now(&world, &ada().uid).await, Minted::Busy);
    }

    #[tokio::test]
    async fn ten_accounts_on_one_wallet_get_one_bonus() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let wallet = Wallet::parse(WALLET).unwrap();
        for i in 0..10 {
            let who = Identity::verified(
                Uid::parse(&format!("sybil-{i}")).unwrap(),
                Some(Email::parse(&format!("sybil{i}@example.com")).unwrap()),
            );
            crate::app::accounts::set_wallet(&deps, &who, &wallet)
                .await
                .unwrap();
            let event = paid_event(
                &deps,
                &format!("evt_{i}"),
                &format!("in_{i}"),
                who.uid.as_str(),
            )
            .await;
            crate::app::payments::apply_event(&deps, &event, 0)
                .await
                .unwrap();
            mint_now(&world, &who.uid).await;
        }
        // Ten cashbacks of 0.1033 and one bonus of 10.33.
        assert_eq!(
            world
                .ledger
                .balance(&wallet)
                .await
                .unwrap()
                .to_dotm_string(),
            "11.363"
        );
        let refused = refused_bonuses(&world).await;
        assert_eq!(refused, 9, "nine bonuses refused with the reason");
    }

    async fn refused_bonuses(world: &MemoryWorld) -> usize {
        let mut refused = 0;
        for i in 0..10 {
            let uid = Uid::parse(&format!("sybil-{i}")).unwrap();
            for r in world.rewards.rewards(&uid).await.unwrap() {
                if r.status == RewardStatus::Refused {
                    assert!(r.reason.unwrap().contains("already received"));
                    refused += 1;
                }
            }
        }
        refused
    }

    #[tokio::test]
    async fn a_person_without_a_verified_email_earns_cashback_but_no_bonus() {
        let world = MemoryWorld::new();
        let deps = world.deps();
        let unverified = Identity {
            unverified_email: Some(Email::parse("who@example.com").unwrap()),
            ..Identity::verified(Uid::parse("who").unwrap(), None)
        };
        crate::app::accounts::register(&deps, &unverified)
            .await
            .unwrap();
        crate::app::payments::apply_event(
            &deps,
            &paid_event(&deps, "evt_1", "in_1", "who").await,
            0,
        )
        .await
        .unwrap();
        let kinds: Vec<RewardKind> = world
            .rewards
            .rewards(&unverified.uid)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(kinds, [RewardKind::Cashback]);
    }
}
