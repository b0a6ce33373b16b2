//! The DOTM contract with alloy: `ChainBalances` reads balances with no key at all;
//! `ChainMinter` holds the minter key (only the reward minter builds one): a dry run before
//! every send, transactions signed here, stuck ones replaced, receipts' status checked.
//!
//! # One nonce at a time: a stuck mint is replaced, never doubled
//!
//! A mint that is not mined within `CHAIN_RECEIPT_WAIT_SECS` is sent again with the *same
//! nonce* and fees raised by 25 % (both the max fee and the priority fee; nodes want 10 %),
//! never past `CHAIN_MAX_FEE_GWEI`. Every transaction signed is watched (its hash is known
//! before it is sent, so a send whose answer was lost is watched too) and the mint is done
//! when any of them is mined, with `CHAIN_CONFIRMATIONS` blocks, and its status is success.
//! One mint call gives up after `ChainSettings::give_up_after` (90 s, inside the function's
//! 120 s timeout) and the queue retries it.
//!
//! Nothing is written anywhere before a send: the chain is the record, and a design that
//! also stored (nonce, hashes) would have a second record that can itself fail halfway
//! (written and not sent, sent and not written). What makes it safe, whatever call fails or
//! whenever the process dies:
//!
//! 1. Every attempt reads, at one block `h`, the minter's mined transaction count `N` and
//!    dry-runs the mint (`rewardPaid`, the supply cap) — then sends only with nonce `N`.
//!    So no transaction of ours ever has a nonce above the mined count when it is sent:
//!    all of ours not yet mined share the one nonce `N`, and a node mines at most one
//!    transaction per nonce. A retry after a timeout or a crash reads the same `N` (the
//!    stuck one is not mined) and so *replaces* the stuck transaction instead of adding one.
//! 2. A reward cannot be minted by two mined transactions: they would have nonces
//!    `N1 < N2`; the attempt that sent at `N2` read count `N2` at block `h`, so `N1` was
//!    mined by `h` — and the dry run at `h` saw that mint's `rewardPaid` and sent nothing
//!    (`AlreadyPaid`); both reads name block `h`, so RPC nodes at different heights behind
//!    one URL cannot split them. The contract's `rewardPaid` also refuses a second mint of an id on
//!    chain, whatever happens off it (a reverted receipt is an error here, never "minted").
//! 3. When the nonce is taken by a transaction this call did not send (an earlier, crashed
//!    attempt, maybe for another reward), the attempt starts over from step 1: the dry run
//!    then says whether that transaction paid this reward.
//!
//! What it costs: a mint given up while mined but not yet confirmed, or mined by a crashed
//! attempt, is recorded by the retry as "minted by an earlier attempt", without its hash.
//!
//! Why signing here: alloy's default nonce filler reserves a nonce before gas estimation, so
//! a reverted `send()` leaves a gap and the next receipt never comes; here the nonce is
//! always the chain's. The minter lease (`app::rewards`) keeps a second instance from
//! replacing our transactions with its own, which the argument above tolerates anyway.

mod fees;

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::network::eip2718::Encodable2718;
use alloy::providers::network::{
    Ethereum, EthereumWallet, Network, NetworkTransactionBuilder, ReceiptResponse,
    TransactionBuilder,
};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use async_trait::async_trait;
use tokio::time::Instant;

pub use self::fees::Fees;
use crate::config::ChainSettings;
use crate::domain::rewards::Wei;
use crate::domain::wallet::Wallet;
use crate::ports::{Balances, MintOutcome, Minter, Unavailable};

sol!(
    #[sol(rpc)]
    DOTM,
    "../infra/contracts/DOTM.json"
);

/// A mint starts over from the chain at most this often in one call (each time because the
/// nonce was taken by a transaction of an earlier attempt).
const MAX_ROUNDS: usize = 3;

/// One JSON-RPC call is answered within this, or it fails (and the job is retried): a hung
/// node must not hold the minter until the function's timeout.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

fn rpc_client() -> Result<reqwest::Client, Unavailable> {
    reqwest::Client::builder()
        .timeout(RPC_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| Unavailable::new("chain client", e))
}

fn endpoint(rpc_url: &str, token: &str) -> Result<(reqwest::Url, Address), Unavailable> {
    let url = rpc_url
        .parse()
        .map_err(|e| Unavailable::new("chain", format!("CHAIN_RPC_URL: {e}")))?;
    let token = token
        .parse()
        .map_err(|e| Unavailable::new("chain", format!("DOTM_TOKEN_ADDRESS: {e}")))?;
    Ok((url, token))
}

/// Balances only: a provider with no wallet, so nothing it does can spend or mint.
pub struct ChainBalances {
    provider: DynProvider,
    token: Address,
}

impl ChainBalances {
    pub fn new(rpc_url: &str, token: &str) -> Result<Self, Unavailable> {
        let (url, token) = endpoint(rpc_url, token)?;
        let provider = ProviderBuilder::default()
            .connect_reqwest(rpc_client()?, url)
            .erased();
        Ok(ChainBalances { provider, token })
    }
}

pub struct ChainMinter {
    provider: DynProvider,
    wallet: EthereumWallet,
    from: Address,
    token: Address,
    chain_id: u64,
    settings: ChainSettings,
}

type Request = <Ethereum as Network>::TransactionRequest;

/// How one attempt ended: with an outcome, or because its nonce went to a transaction it did
/// not send (then the mint starts over from the chain).
enum Attempt {
    Done(MintOutcome),
    NonceTaken(u64),
}

/// The transactions of one attempt: one nonce, rising fees.
struct Sent {
    nonce: u64,
    /// Every hash signed for this nonce, sent or maybe sent: any of them may be mined.
    hashes: Vec<B256>,
    fees: Option<Fees>,
    /// When the next (replacement) transaction goes out; None: no replacement possible.
    next_send: Option<Instant>,
    last_error: Option<String>,
    /// The last send was refused as underpriced: the pool holds a transaction of an earlier
    /// attempt at this nonce, with higher fees than ours.
    underpriced: bool,
}

impl ChainMinter {
    /// Signs for `chain_id` (`CHAIN_ID`), whatever the RPC says; [`ChainMinter::check_chain`]
    /// makes sure the RPC serves that chain. `settings`: the waits, confirmations and fee cap.
    pub fn new(
        rpc_url: &str,
        token: &str,
        minter_key: &str,
        chain_id: u64,
        settings: ChainSettings,
    ) -> Result<Self, Unavailable> {
        let signer: PrivateKeySigner = minter_key.trim().parse().map_err(|_| {
            Unavailable::new(
                "chain",
                "the minter key in the minter secret is not a private key",
            )
        })?;
        let from = signer.address();
        let (url, token) = endpoint(rpc_url, token)?;
        // No fillers: nonce, gas and fees are chosen here (module doc), and signed here.
        let provider = ProviderBuilder::default()
            .connect_reqwest(rpc_client()?, url)
            .erased();
        Ok(ChainMinter {
            provider,
            wallet: EthereumWallet::from(signer),
            from,
            token,
            chain_id,
            settings,
        })
    }

    /// The address the minter key signs for.
    pub fn address(&self) -> Address {
        self.from
    }

    /// The RPC serves the chain `CHAIN_ID` names: a minter pointed at another chain (a testnet
    /// RPC with mainnet settings, or the reverse) mints nothing and says why.
    pub async fn check_chain(&self) -> Result<(), Unavailable> {
        let served = self.provider.get_chain_id().await.map_err(chain_err)?;
        if served != self.chain_id {
            let why = format!(
                "CHAIN_RPC_URL serves chain {served} but CHAIN_ID is {}: refusing to mint",
                self.chain_id
            );
            tracing::error!(
                metric = "chain_mismatch",
                served,
                configured = self.chain_id,
                "{why}"
            );
            return Err(chain_err(why));
        }
        Ok(())
    }

    fn contract(&self) -> DOTM::DOTMInstance<DynProvider> {
        DOTM::new(self.token, self.provider.clone())
    }

    /// How often the chain is asked whether a transaction was mined.
    fn poll_every(&self) -> Duration {
        (self.settings.receipt_wait / 8).clamp(Duration::from_millis(100), Duration::from_secs(2))
    }

    /// One attempt (module doc, steps 1 and 3): nonce and dry run at one block, then sends at
    /// that nonce until one is mined, the nonce is taken, or the call's time is up.
    async fn attempt(
        &self,
        to: &Wallet,
        amount: Wei,
        id: B256,
        deadline: Instant,
    ) -> Result<Attempt, Unavailable> {
        let block = self.provider.get_block_number().await.map_err(chain_err)?;
        let nonce = self
            .provider
            .get_transaction_count(self.from)
            .block_id(block.into())
            .await
            .map_err(chain_err)?;
        let contract = self.contract();
        let call = contract
            .mintReward(to.address(), amount.0, id)
            .from(self.from)
            .block(block.into());
        if let Err(e) = call.call().await {
            return match e.as_decoded_interface_error::<DOTM::DOTMErrors>() {
                Some(DOTM::DOTMErrors::RewardAlreadyPaid(_)) => {
                    Ok(Attempt::Done(MintOutcome::AlreadyPaid))
                }
                Some(DOTM::DOTMErrors::OverMaxSupply(err)) => {
                    Ok(Attempt::Done(MintOutcome::OverCap {
                        remaining: Wei(err.remaining),
                    }))
                }
                Some(DOTM::DOTMErrors::NotMinter(_)) => {
                    Err(chain_err("our key is not a minter of the DOTM contract"))
                }
                _ => Err(chain_err(e)),
            };
        }
        let gas = call.estimate_gas().await.map_err(chain_err)?;
        // A quarter more than the estimate at `block`: the state may change a little before it
        // is mined (a first mint to an address costs more), and unused gas is not paid.
        let request = call
            .into_transaction_request()
            .with_nonce(nonce)
            .with_gas_limit(gas.saturating_add(gas / 4))
            .with_chain_id(self.chain_id);
        let mut sent = Sent {
            nonce,
            hashes: Vec::new(),
            fees: None,
            next_send: Some(Instant::now()),
            last_error: None,
            underpriced: false,
        };
        loop {
            // The count before the receipts: a nonce taken before the count is read has its
            // receipt by the time ours are asked for, so "taken" never hides one of ours.
            let mined_count = self
                .provider
                .get_transaction_count(self.from)
                .latest()
                .await
                .map_err(chain_err)?;
            let latest = self.provider.get_block_number().await.map_err(chain_err)?;
            let mut mined = false;
            for hash in &sent.hashes {
                let Some(receipt) = self
                    .provider
                    .get_transaction_receipt(*hash)
                    .await
                    .map_err(chain_err)?
                else {
                    continue;
                };
                mined = true;
                let in_block = receipt.block_number().unwrap_or(latest);
                if latest.saturating_add(1) < in_block.saturating_add(self.settings.confirmations) {
                    continue; // mined, not yet confirmed
                }
                let tx_hash = format!("{hash:#x}");
                if !receipt.status() {
                    // Mined but reverted: another mint of the same id won a race we could not see.
                    return Err(chain_err(format!("mint transaction {tx_hash} reverted")));
                }
                return Ok(Attempt::Done(MintOutcome::Minted { tx_hash }));
            }
            if !mined && mined_count > nonce {
                return Ok(Attempt::NonceTaken(nonce));
            }
            let now = Instant::now();
            if now >= deadline {
                let hashes: Vec<String> = sent.hashes.iter().map(|h| format!("{h:#x}")).collect();
                return Err(chain_err(format!(
                    "mint at nonce {nonce} not {} after {}s (transactions {}; {}); \
                     the retry replaces it at the same nonce",
                    if mined { "confirmed" } else { "mined" },
                    self.settings.give_up_after.as_secs(),
                    hashes.join(", "),
                    sent.last_error.as_deref().unwrap_or("no send error"),
                )));
            }
            if !mined && sent.next_send.is_some_and(|at| now >= at) {
                self.send_next(&request, &mut sent).await?;
                if sent.last_error.is_none() {
                    // Look at once: a chain that mines on arrival (anvil) has the receipt now.
                    continue;
                }
            }
            tokio::time::sleep(self.poll_every()).await;
        }
    }

    /// Sends the attempt's first transaction, or replaces the last one (same nonce, higher
    /// fees), and says when the next replacement is due.
    async fn send_next(&self, request: &Request, sent: &mut Sent) -> Result<(), Unavailable> {
        let estimate = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(chain_err)?;
        let suggested = Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        };
        let cap = self.settings.max_fee_per_gas_wei;
        let fees = match sent.fees {
            None => Fees::first(suggested, cap),
            Some(old) => match old.replacement(suggested, cap) {
                Some(new) => new,
                None => {
                    tracing::warn!(
                        nonce = sent.nonce,
                        max_fee_per_gas_wei = %old.max_fee_per_gas,
                        cap_wei = %cap,
                        "mint transaction not mined and its fees are at CHAIN_MAX_FEE_GWEI: waiting, not replacing"
                    );
                    sent.next_send = None;
                    return Ok(());
                }
            },
        };
        let envelope = request
            .clone()
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .build(&self.wallet)
            .await
            .map_err(chain_err)?;
        let hash = *envelope.tx_hash();
        // Watched before it is sent: a send whose answer is lost may still be mined.
        sent.hashes.push(hash);
        if let (Some(old), Some(old_hash)) = (sent.fees, sent.hashes.iter().rev().nth(1)) {
            let why = if sent.underpriced {
                "refused as underpriced (an earlier attempt's transaction holds the nonce)"
                    .to_owned()
            } else {
                format!("not mined in {}s", self.settings.receipt_wait.as_secs())
            };
            tracing::warn!(
                nonce = sent.nonce,
                old_tx = %format!("{old_hash:#x}"),
                new_tx = %format!("{hash:#x}"),
                old_max_fee_per_gas_wei = %old.max_fee_per_gas,
                new_max_fee_per_gas_wei = %fees.max_fee_per_gas,
                old_max_priority_fee_per_gas_wei = %old.max_priority_fee_per_gas,
                new_max_priority_fee_per_gas_wei = %fees.max_priority_fee_per_gas,
                metric = "mint_replaced",
                "mint transaction {why}: replaced at the same nonce with higher fees"
            );
        }
        sent.fees = Some(fees);
        sent.next_send = Some(Instant::now() + self.settings.receipt_wait);
        sent.underpriced = false;
        match self
            .provider
            .send_raw_transaction(&envelope.encoded_2718())
            .await
        {
            Ok(_) => sent.last_error = None,
            Err(e) => {
                let why = e.to_string();
                let lower = why.to_lowercase();
                if lower.contains("already known") || lower.contains("already imported") {
                    // The very same transaction is in the pool (an earlier attempt sent it).
                    sent.last_error = None;
                } else {
                    tracing::warn!(nonce = sent.nonce, tx = %format!("{hash:#x}"), error = %why, "mint transaction not accepted");
                    if lower.contains("underpriced") {
                        // The pool holds one of ours for this nonce from an earlier attempt,
                        // with fees we do not know: raise again at the next poll.
                        sent.next_send = Some(Instant::now());
                        sent.underpriced = true;
                    }
                    sent.last_error = Some(why);
                }
            }
        }
        Ok(())
    }
}

fn chain_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Unavailable {
    Unavailable::new("chain", e)
}

#[async_trait]
impl Minter for ChainMinter {
    async fn mint(
        &self,
        to: &Wallet,
        amount: Wei,
        reward_id: &str,
    ) -> Result<MintOutcome, Unavailable> {
        let id: B256 = reward_id
            .parse()
            .map_err(|_| chain_err(format!("bad reward id {reward_id}")))?;
        let deadline = Instant::now() + self.settings.give_up_after;
        for _ in 0..MAX_ROUNDS {
            match self.attempt(to, amount, id, deadline).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::NonceTaken(nonce) => tracing::info!(
                    nonce,
                    "nonce taken by a transaction of an earlier attempt: dry-running again"
                ),
            }
        }
        Err(chain_err(
            "the minter's nonce kept moving under this mint; it will be retried",
        ))
    }
}

#[async_trait]
impl Balances for ChainBalances {
    async fn balance(&self, of: &Wallet) -> Result<Wei, Unavailable> {
        let balance: U256 = DOTM::new(self.token, self.provider.clone())
            .balanceOf(of.address())
            .call()
            .await
            .map_err(chain_err)?;
        Ok(Wei(balance))
    }
}
