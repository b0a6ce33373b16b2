//! The chain minter against a real EVM: anvil with mining paused, then resumed. No mocks.
//!
//! Each test starts its own anvil (node_modules/@foundry-rs/anvil-linux-amd64, installed by
//! infra/scripts/bootstrap.sh before `make test` runs `cargo test --workspace`) on a free port
//! the system picks (never the stacks' 8545 or 8645), deploys DOTM from the committed artifact
//! and grants a minter key the role. The receipt wait comes from the config
//! (`CHAIN_RECEIPT_WAIT_SECS=1`), so a replacement is due after a second, not after thirty.
//!
//! Without anvil the tests say so and pass on a developer's machine; under `CI=true` they fail.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use dotm::adapters::chain::ChainMinter;
use dotm::config::Config;
use dotm::domain::rewards::Wei;
use dotm::domain::wallet::Wallet;
use dotm::ports::{MintOutcome, Minter};
use serde_json::Value;

sol!(
    #[sol(rpc)]
    DOTM,
    "../infra/contracts/DOTM.json"
);

/// anvil's first dev account (public knowledge, a local chain only): deploys and owns DOTM.
const OWNER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// The minter under test: a throwaway key, funded with anvil_setBalance.
const MINTER_KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const RECIPIENT: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
/// Ports that belong to the stacks (README): never ours.
const STACK_PORTS: [u16; 4] = [4566, 8545, 8645, 9099];

/// Every log line of this test binary, JSON as in production (a global subscriber: the
/// minter logs from tasks on the runtime's threads).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(|| Capture)
        .try_init();
}

/// The JSON log lines whose fields include `field` = `value`.
fn logged(field: &str, value: &str) -> Vec<Value> {
    String::from_utf8_lossy(&LOGS.lock().unwrap())
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"][field].as_str() == Some(value))
        .collect()
}

struct Anvil {
    child: Child,
    url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn anvil_binary() -> Option<PathBuf> {
    let path = std::env::var_os("ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    if path.is_file() {
        return Some(path);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{} is missing: infra/scripts/bootstrap.sh installs it (npm ci) before the tests",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} is missing (run infra/scripts/bootstrap.sh); CI=true makes this a failure",
        path.display()
    );
    None
}

fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !STACK_PORTS.contains(&port) && !(3000..=3300).contains(&port) {
            return port;
        }
    }
}

async fn start_anvil() -> Option<Anvil> {
    let binary = anvil_binary()?;
    // The port is free when picked; another process may take it before anvil binds, so try
    // a few.
    for _ in 0..3 {
        let port = free_port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", "31337", "--accounts", "1", "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let mut anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let provider: DynProvider = ProviderBuilder::default()
            .connect_http(anvil.url.parse().unwrap())
            .erased();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(id) = provider.get_chain_id().await {
                assert_eq!(id, 31337);
                return Some(anvil);
            }
            if anvil.child.try_wait().ok().flatten().is_some() {
                break; // exited: the port was taken meanwhile
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("anvil did not start");
}

/// A chain with DOTM deployed and the minter key allowed to mint; mining paused.
struct Chain {
    _anvil: Anvil,
    url: String,
    rpc: DynProvider,
    token: Address,
    minter: Address,
}

impl Chain {
    async fn start() -> Option<Chain> {
        let anvil = start_anvil().await?;
        let url = anvil.url.clone();
        let owner: PrivateKeySigner = OWNER_KEY.parse().unwrap();
        let minter = MINTER_KEY.parse::<PrivateKeySigner>().unwrap().address();
        let owner_rpc = ProviderBuilder::new()
            .wallet(owner)
            .connect_http(url.parse().unwrap())
            .erased();
        let dotm = DOTM::deploy(owner_rpc.clone()).await.expect("DOTM deploys");
        dotm.setMinter(minter, true)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let rpc = ProviderBuilder::default()
            .connect_http(url.parse().unwrap())
            .erased();
        let _: Value = rpc
            .raw_request(
                "anvil_setBalance".into(),
                (minter, U256::from(10u64).pow(U256::from(19u64))),
            )
            .await
            .unwrap();
        let chain = Chain {
            _anvil: anvil,
            url,
            rpc,
            token: *dotm.address(),
            minter,
        };
        chain.automine(false).await;
        Some(chain)
    }

    async fn automine(&self, on: bool) {
        let _: Value = self
            .rpc
            .raw_request("evm_setAutomine".into(), (on,))
            .await
            .unwrap();
    }

    async fn mine(&self) {
        let _: Value = self.rpc.raw_request("evm_mine".into(), ()).await.unwrap();
    }

    /// A minter as the reward minter builds it: settings from the config for anvil, with a
    /// receipt wait of one second.
    fn minter(&self) -> Arc<ChainMinter> {
        let env = [
            ("TABLE_NAME", "t"),
            ("ACTIVATION_QUEUE_URL", "q"),
            ("CHAIN_ID", "31337"),
            ("CHAIN_RECEIPT_WAIT_SECS", "1"),
        ];
        let config = Config::from_lookup(|k| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        let mut settings = config.chain;
        assert_eq!(settings.receipt_wait, Duration::from_secs(1));
        assert_eq!(settings.confirmations, 1, "anvil's default");
        settings.give_up_after = Duration::from_secs(20);
        let minter = ChainMinter::new(
            &self.url,
            &self.token.to_string(),
            MINTER_KEY,
            31337,
            settings,
        )
        .unwrap();
        assert_eq!(minter.address(), self.minter);
        Arc::new(minter)
    }

    /// The minter's transactions in anvil's pool: (hash, nonce, max fee, priority fee).
    async fn pool(&self) -> Vec<PoolTx> {
        let content: Value = self
            .rpc
            .raw_request("txpool_content".into(), ())
            .await
            .unwrap();
        let mut found = vec![];
        for section in ["pending", "queued"] {
            let Some(by_sender) = content[section].as_object() else {
                continue;
            };
            for (sender, txs) in by_sender {
                if sender.parse::<Address>().ok() != Some(self.minter) {
                    continue;
                }
                for tx in txs.as_object().into_iter().flat_map(|m| m.values()) {
                    found.push(PoolTx {
                        hash: tx["hash"].as_str().unwrap().to_lowercase(),
                        nonce: quantity(&tx["nonce"]),
                        max_fee: quantity(&tx["maxFeePerGas"]),
                        priority_fee: quantity(&tx["maxPriorityFeePerGas"]),
                    });
                }
            }
        }
        found
    }

    /// Waits until the pool holds a transaction of the minter that `seen` does not name.
    async fn next_pool_tx(&self, seen: &[PoolTx]) -> PoolTx {
        let started = Instant::now();
        loop {
            let pool = self.pool().await;
            if let Some(tx) = pool.iter().find(|t| seen.iter().all(|s| s.hash != t.hash)) {
                assert_eq!(pool.len(), 1, "one transaction of ours at a time: {pool:?}");
                return tx.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no new transaction in the pool; seen {seen:?}, pool {pool:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn nonce(&self) -> u64 {
        self.rpc
            .get_transaction_count(self.minter)
            .latest()
            .await
            .unwrap()
    }

    async fn balance(&self) -> U256 {
        DOTM::new(self.token, self.rpc.clone())
            .balanceOf(RECIPIENT.parse().unwrap())
            .call()
            .await
            .unwrap()
    }

    async fn has_receipt(&self, hash: &str) -> bool {
        self.rpc
            .get_transaction_receipt(hash.parse().unwrap())
            .await
            .unwrap()
            .is_some()
    }
}

#[derive(Debug, Clone)]
struct PoolTx {
    hash: String,
    nonce: u128,
    max_fee: u128,
    priority_fee: u128,
}

fn quantity(v: &Value) -> u128 {
    let text = v.as_str().unwrap_or_default();
    u128::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

fn amount() -> Wei {
    Wei(U256::from(10_330_000_000_000_000_000u128))
}

fn reward(n: u8) -> String {
    format!("{:#x}", B256::repeat_byte(n))
}

type MintTask = tokio::task::JoinHandle<Result<MintOutcome, dotm::ports::Unavailable>>;

fn spawn_mint(minter: &Arc<ChainMinter>, reward_id: String) -> MintTask {
    let minter = minter.clone();
    tokio::spawn(async move {
        let to = Wallet::parse(RECIPIENT).unwrap();
        minter.mint(&to, amount(), &reward_id).await
    })
}

async fn outcome(task: MintTask) -> MintOutcome {
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the mint ends once a block is mined")
        .unwrap()
        .expect("minted")
}

/// The replacement really is one: same nonce, both fees up by at least the 10 % nodes want.
fn assert_replaces(new: &PoolTx, old: &PoolTx) {
    assert_eq!(new.nonce, old.nonce, "same nonce: {new:?} {old:?}");
    assert!(new.max_fee * 10 >= old.max_fee * 11, "{new:?} {old:?}");
    assert!(
        new.priority_fee * 10 >= old.priority_fee * 11,
        "{new:?} {old:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_mint_is_replaced_at_the_same_nonce_and_lands_once() {
    capture_logs();
    let Some(chain) = Chain::start().await else {
        return;
    };
    let started = Instant::now();
    let minter = chain.minter();
    let task = spawn_mint(&minter, reward(1));

    // Mining is paused: the first transaction waits in the pool, then a second replaces it.
    let first = chain.next_pool_tx(&[]).await;
    assert_eq!(first.nonce, 0);
    let second = chain.next_pool_tx(std::slice::from_ref(&first)).await;
    assert_replaces(&second, &first);
    assert_eq!(
        second.max_fee,
        first.max_fee + first.max_fee / 4,
        "+25 % (the suggestion does not move on a paused chain)"
    );

    chain.mine().await;
    chain.automine(true).await;
    let MintOutcome::Minted { tx_hash } = outcome(task).await else {
        panic!("not minted");
    };
    assert_eq!(
        tx_hash, second.hash,
        "the result names the mined transaction"
    );
    // One log line says so, with the nonce and both fees.
    let lines = logged("old_tx", &first.hash);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let f = &lines[0]["fields"];
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(f["nonce"], 0);
    assert_eq!(f["new_tx"], second.hash.as_str());
    assert_eq!(
        f["old_max_fee_per_gas_wei"],
        first.max_fee.to_string().as_str()
    );
    assert_eq!(
        f["new_max_fee_per_gas_wei"],
        second.max_fee.to_string().as_str()
    );
    assert_eq!(
        f["old_max_priority_fee_per_gas_wei"],
        first.priority_fee.to_string().as_str()
    );
    assert_eq!(
        f["new_max_priority_fee_per_gas_wei"],
        second.priority_fee.to_string().as_str()
    );
    assert!(
        !chain.has_receipt(&first.hash).await,
        "the replaced one is never mined"
    );
    assert_eq!(chain.balance().await, amount().0, "minted exactly once");
    assert_eq!(
        chain.nonce().await,
        1,
        "one transaction of the minter mined"
    );

    // Asked again (a queue retry): the chain says it is paid; nothing is sent.
    assert_eq!(
        minter
            .mint(&Wallet::parse(RECIPIENT).unwrap(), amount(), &reward(1))
            .await
            .unwrap(),
        MintOutcome::AlreadyPaid
    );
    assert_eq!(chain.nonce().await, 1);

    // Mining on arrival (the local stacks' anvil): minted at once, nothing replaced.
    let quick = Instant::now();
    let MintOutcome::Minted { tx_hash } = outcome(spawn_mint(&minter, reward(4))).await else {
        panic!("not minted");
    };
    assert!(
        quick.elapsed() < Duration::from_secs(1),
        "{:?}",
        quick.elapsed()
    );
    assert!(chain.has_receipt(&tx_hash).await);
    assert!(logged("old_tx", &tx_hash).is_empty());
    assert_eq!(chain.nonce().await, 2);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mint_interrupted_after_sending_is_not_sent_twice_by_the_next_attempt() {
    let Some(chain) = Chain::start().await else {
        return;
    };

    // The Lambda dies after sending and replacing once: a transaction stays in the pool,
    // unmined, with fees above what the node now suggests.
    let crashed = spawn_mint(&chain.minter(), reward(2));
    let first = chain.next_pool_tx(&[]).await;
    let stuck = chain.next_pool_tx(std::slice::from_ref(&first)).await;
    crashed.abort();

    // The retry is a new process: it knows nothing but the chain, reads the same nonce and
    // replaces the stuck transaction rather than adding a second one; the node refuses its
    // first fees (below the stuck ones), so it raises them until the node takes them.
    let retry = spawn_mint(&chain.minter(), reward(2));
    let replacement = chain.next_pool_tx(&[first.clone(), stuck.clone()]).await;
    assert_replaces(&replacement, &stuck);
    chain.mine().await;
    let MintOutcome::Minted { tx_hash } = outcome(retry).await else {
        panic!("not minted");
    };
    assert_eq!(tx_hash, replacement.hash);
    assert!(!chain.has_receipt(&stuck.hash).await);
    assert!(!chain.has_receipt(&first.hash).await);
    assert_eq!(chain.balance().await, amount().0, "minted exactly once");
    assert_eq!(chain.nonce().await, 1);

    // Dies after sending again, and this time its transaction is mined before the retry:
    // the retry's dry run finds the reward paid and sends nothing.
    let crashed = spawn_mint(&chain.minter(), reward(3));
    let sent = chain.next_pool_tx(&[]).await;
    assert_eq!(sent.nonce, 1);
    crashed.abort();
    chain.mine().await;
    let retry = spawn_mint(&chain.minter(), reward(3));
    assert_eq!(outcome(retry).await, MintOutcome::AlreadyPaid);
    assert!(chain.has_receipt(&sent.hash).await);
    assert_eq!(chain.balance().await, amount().0 * U256::from(2u64));
    assert_eq!(chain.nonce().await, 2, "nothing more was sent");
}
