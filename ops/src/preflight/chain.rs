//! Ethereum: the RPC answers and serves `CHAIN_ID`, the token is deployed there, the minter may
//! mint it and has ETH for gas.

use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use dotm::adapters::secrets::MinterKeys;
use dotm::config::Config;

use super::{Expectations, Row, Status};
use crate::keys::Keys;

const P: &str = "chain";

/// Below this a minter warns: about a hundred mints at 30 gwei and ~60k gas each.
const LOW_BALANCE_WEI: u128 = 200_000_000_000_000_000;

alloy::sol! {
    #[sol(rpc)]
    interface DotmToken {
        function owner() external view returns (address);
        function isMinter(address minter) external view returns (bool);
    }
}

pub(super) async fn check(config: &Config, expect: &Expectations, keys: &Keys) -> Vec<Row> {
    let Some(rpc) = config.chain_rpc_url.as_deref() else {
        return vec![Row::new(P, "rpc", Status::Fail, "CHAIN_RPC_URL is not set")];
    };
    let Some(chain_id) = config.chain_id else {
        return vec![Row::new(P, "chain id", Status::Fail, "CHAIN_ID is not set")];
    };
    let provider = match provider(rpc) {
        Ok(p) => p,
        Err(e) => {
            return vec![Row::new(
                P,
                "rpc",
                Status::Fail,
                format!("CHAIN_RPC_URL {rpc}: {e}"),
            )];
        }
    };
    let mut rows = Vec::new();
    match provider.get_chain_id().await {
        Ok(served) if served == chain_id => rows.push(Row::new(
            P,
            "chain id",
            Status::Ok,
            format!("{rpc} serves chain {served}"),
        )),
        Ok(served) => {
            rows.push(Row::new(
                P,
                "chain id",
                Status::Fail,
                format!("CHAIN_RPC_URL serves chain {served} but CHAIN_ID is {chain_id}"),
            ));
            return rows;
        }
        Err(e) => {
            rows.push(Row::new(
                P,
                "chain id",
                Status::Fail,
                format!("CHAIN_RPC_URL {rpc}: {e}"),
            ));
            return rows;
        }
    }
    let Some(token) = config.dotm_token_address.as_deref() else {
        rows.push(Row::new(
            P,
            "token",
            Status::Fail,
            "DOTM_TOKEN_ADDRESS is not set",
        ));
        return rows;
    };
    let Ok(token) = Address::from_str(token.trim()) else {
        rows.push(Row::new(
            P,
            "token",
            Status::Fail,
            format!("DOTM_TOKEN_ADDRESS `{token}` is not an address"),
        ));
        return rows;
    };
    match provider.get_code_at(token).await {
        Ok(code) if !code.is_empty() => {}
        Ok(_) => {
            rows.push(Row::new(
                P,
                "token",
                Status::Fail,
                format!("DOTM_TOKEN_ADDRESS {token}: no contract there on chain {chain_id}"),
            ));
            return rows;
        }
        Err(e) => {
            rows.push(Row::new(P, "token", Status::Fail, e.to_string()));
            return rows;
        }
    }
    let minter = match minter_address(config, expect, keys).await {
        Ok(a) => a,
        Err(e) => {
            rows.push(Row::new(P, "minter", Status::Fail, e));
            return rows;
        }
    };
    let contract = DotmToken::new(token, &provider);
    let owner = contract
        .owner()
        .call()
        .await
        .map(|o| format!("{o}"))
        .unwrap_or_else(|e| format!("unknown ({e})"));
    rows.push(match contract.isMinter(minter).call().await {
        Ok(true) => Row::new(
            P,
            "token",
            Status::Ok,
            format!("DOTM at {token} (owner {owner}) lets {minter} mint"),
        ),
        Ok(false) => Row::new(
            P,
            "token",
            Status::Fail,
            format!("the minter {minter} may not mint DOTM at {token}: its owner {owner} must call setMinter"),
        ),
        Err(e) => Row::new(
            P,
            "token",
            Status::Fail,
            format!("DOTM_TOKEN_ADDRESS {token} is not the DOTM token ({e})"),
        ),
    });
    rows.push(match provider.get_balance(minter).await {
        Ok(wei) if wei.is_zero() => Row::new(
            P,
            "minter gas",
            Status::Fail,
            format!("the minter {minter} has no ETH to pay for gas"),
        ),
        Ok(wei) if wei < U256::from(LOW_BALANCE_WEI) => Row::new(
            P,
            "minter gas",
            Status::Warn,
            format!("the minter {minter} has {wei} wei: about a hundred mints or fewer"),
        ),
        Ok(wei) => Row::new(
            P,
            "minter gas",
            Status::Ok,
            format!("{minter} has {wei} wei"),
        ),
        Err(e) => Row::new(P, "minter gas", Status::Fail, e.to_string()),
    });
    rows
}

fn provider(rpc: &str) -> Result<DynProvider, String> {
    let url = reqwest::Url::parse(rpc).map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(ProviderBuilder::default()
        .connect_reqwest(http, url)
        .erased())
}

/// `DOTM_MINTER_ADDRESS`, else the address of the minter's key (`DOTM_MINTER_PRIVATE_KEY` or
/// the functions' `MINTER_SECRET_ID`); the key itself goes nowhere.
async fn minter_address(
    config: &Config,
    expect: &Expectations,
    keys: &Keys,
) -> Result<Address, String> {
    if let Some(a) = expect.minter_address.as_deref() {
        return Address::from_str(a.trim())
            .map_err(|_| format!("DOTM_MINTER_ADDRESS `{a}` is not an address"));
    }
    let key = keys
        .get(
            "DOTM_MINTER_PRIVATE_KEY",
            config.secrets.minter.as_deref(),
            "MINTER_SECRET_ID",
            |k: MinterKeys| k.minter_private_key,
        )
        .await?;
    let signer: PrivateKeySigner = key
        .trim()
        .parse()
        .map_err(|_| "the minter's key is not a 0x-hex private key".to_owned())?;
    Ok(signer.address())
}
