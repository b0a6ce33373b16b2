//! The DOTM contract with alloy: `ChainBalances` reads balances with no key at all;
//! `ChainMinter` holds the minter key (only the reward minter builds one): nonces from the
//! chain, a dry run before every send, and the receipt's status checked.
//!
//! Why this shape: alloy's default nonce filler reserves a nonce before gas estimation, so a
//! reverted `send()` leaves a gap and the next receipt never comes. Here the call is simulated
//! first (a revert is decoded into the contract's custom error and nothing is sent), nonces
//! are read from the chain for each transaction, and the caller holds the minter lease so no
//! two instances send with the same key at once.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use async_trait::async_trait;

use crate::domain::rewards::Wei;
use crate::domain::wallet::Wallet;
use crate::ports::{Balances, MintOutcome, Minter, Unavailable};

sol!(
    #[sol(rpc)]
    DOTM,
    "../infra/contracts/DOTM.json"
);

/// A mined receipt is awaited at most this long; anvil mines at once, mainnet in ~12 s.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

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
    token: Address,
    chain_id: u64,
}

impl ChainMinter {
    /// Signs for `chain_id` (`CHAIN_ID`), whatever the RPC says; [`ChainMinter::check_chain`]
    /// makes sure the RPC serves that chain.
    pub fn new(
        rpc_url: &str,
        token: &str,
        minter_key: &str,
        chain_id: u64,
    ) -> Result<Self, Unavailable> {
        let signer: PrivateKeySigner = minter_key.trim().parse().map_err(|_| {
            Unavailable::new(
                "chain",
                "the minter key in the minter secret is not a private key",
            )
        })?;
        let (url, token) = endpoint(rpc_url, token)?;
        let provider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .with_chain_id(chain_id)
            .wallet(signer)
            .connect_reqwest(rpc_client()?, url)
            .erased();
        Ok(ChainMinter {
            provider,
            token,
            chain_id,
        })
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
        let contract = self.contract();
        let call = contract.mintReward(to.address(), amount.0, id);
        if let Err(e) = call.call().await {
            return match e.as_decoded_interface_error::<DOTM::DOTMErrors>() {
                Some(DOTM::DOTMErrors::RewardAlreadyPaid(_)) => Ok(MintOutcome::AlreadyPaid),
                Some(DOTM::DOTMErrors::OverMaxSupply(err)) => Ok(MintOutcome::OverCap {
                    remaining: Wei(err.remaining),
                }),
                Some(DOTM::DOTMErrors::NotMinter(_)) => {
                    Err(chain_err("our key is not a minter of the DOTM contract"))
                }
                _ => Err(chain_err(e)),
            };
        }
        let pending = call.send().await.map_err(chain_err)?;
        let receipt = pending
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(chain_err)?;
        let tx_hash = format!("{:#x}", receipt.transaction_hash);
        if !receipt.status() {
            // Mined but reverted: another mint of the same id won a race we could not see.
            return Err(chain_err(format!("mint transaction {tx_hash} reverted")));
        }
        Ok(MintOutcome::Minted { tx_hash })
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
