//! Two helpers for `make bench` (infra/bench/) that need the crate's own code. Release build:
//! `cargo build --release -p mcp --example bench`.
//!
//! `bench serve ADDR`
//!     The mcp router (`mcp::router`, what `main.rs` hands the Lambda runtime) served directly
//!     over HTTP/1.1 by axum on ADDR (e.g. 127.0.0.1:3220): no Lambda runtime, no emulator in
//!     between. The in-memory ports (`dotm::adapters::memory`), `mcp::Config::local()` and the
//!     function's own logging (one JSON access-log line per request on stdout), so a request
//!     does exactly what it does in the function. The public tools read only the compiled-in
//!     catalog. The addresses in `PUBLIC_RATE_LIMIT_EXEMPT` (default 127.0.0.1, the load
//!     generator) are not rate limited, as the benchmark's stack is configured.
//!
//! `bench enqueue COUNT OUT [CONCURRENCY]`
//!     Puts COUNT paid eSIM purchases in the activation line through the real use case
//!     (`dotm::app::activation_line::enqueue`: record the activation, reserve its slot on the
//!     throttle item, send the delayed job) and the real adapters, wired from the environment
//!     as the functions are (`dotm::wiring::mcp`: TABLE_NAME, ACTIVATION_QUEUE_URL,
//!     AWS_ENDPOINT_URL, ACTIVATIONS_PER_WINDOW, ...), CONCURRENCY (8) at a time. Each purchase
//!     gets a user with an email address first, so the worker mails it as for a real one.
//!     Writes one line per purchase to OUT: `purchase_id uid ticket slot_ms enqueued_ms` (the
//!     slot is the ETA the person is told). What the webhook does after checking a payment,
//!     without 10,000 Stripe invoices.
//!
//! `bench drain COUNT LIMIT WINDOW_MS OUT`
//!     The drain in one process, for a backlog the local AWS emulator is too slow to carry:
//!     COUNT purchases put in line by the same `enqueue` (users with an email each) while the
//!     activation worker's own code (`dotm::app::activation_worker::process`: the slot, the
//!     claim, the throttle's permit, the carrier, the line, the QR email) drains them, on the
//!     in-memory ports with the machine's clock and the licence set to LIMIT per WINDOW_MS.
//!     In between, what Lambda's SQS event source does: a job becomes visible after its delay
//!     (whole seconds), batches of up to 10, at most 5 in flight (the template's BatchSize and
//!     MaximumConcurrency), each job of a batch handled concurrently (as `handle_batch`), polled
//!     every 50 ms (as infra/sqs_event_source.py against the emulator). The worker's log lines
//!     (JSON on stdout: `[ACTIVATION ALLOWED]` is the permit, right before the carrier call)
//!     give each start; OUT gets the purchases as `enqueue` writes them.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use dotm::domain::purchases::Purchase;
use dotm::domain::users::{Email, Uid, User};
use dotm::ports::CreateUserError;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn serve(addr: &str) -> Result<(), Error> {
    dotm::web::telemetry::init();
    let mut ports = dotm::adapters::memory::MemoryWorld::new().mcp_ports();
    let exempt = std::env::var("PUBLIC_RATE_LIMIT_EXEMPT").unwrap_or_else(|_| "127.0.0.1".into());
    ports.limiter = Arc::new(dotm::web::rate_limit::Limiter {
        exempt: exempt.split(',').map(|a| a.trim().to_owned()).collect(),
        ..(*ports.limiter).clone()
    });
    let app = mcp::router(mcp::Config::local(), ports);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("mcp router on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn enqueue(count: usize, out: &str, concurrency: usize) -> Result<(), Error> {
    let settings = dotm::config::Config::from_env()?;
    let deps = dotm::wiring::mcp(&settings).await?.deps;
    let run = format!("{:x}", now_ms());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (deps, next, run) = (deps.clone(), next.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let mut lines = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let user = user(i, &run)?;
                let uid = user.uid.clone();
                match deps.users.create_user(&user).await {
                    Ok(_) => {}
                    Err(CreateUserError::EmailTaken) => return Err("email taken".into()),
                    Err(CreateUserError::Unavailable(e)) => return Err(e.chain().into()),
                }
                let purchase = Purchase {
                    uid: uid.clone(),
                    purchase_id: format!("in_drain{i:06}{run}"),
                    product_id: "esim_beta".into(),
                    items: vec!["esim_beta".into()],
                    order_id: None,
                    amount_cents: 100,
                    currency: "usd".into(),
                    paid_at: dotm::domain::time::rfc3339(now_ms() / 1000),
                    event_id: format!("evt_drain{i:06}{run}"),
                };
                let activation = dotm::app::activation_line::enqueue(&deps, &purchase, false)
                    .await
                    .map_err(|e| e.chain())?;
                let r = activation.reservation().ok_or("no reservation")?;
                lines.push(format!(
                    "{} {} {} {} {}",
                    purchase.purchase_id,
                    uid.as_str(),
                    r.ticket,
                    r.slot_ms,
                    now_ms()
                ));
                if i > 0 && i % 1000 == 0 {
                    eprintln!("enqueued {i}");
                }
            }
            Ok::<_, Error>(lines)
        }));
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    for t in tasks {
        for line in t.await?? {
            writeln!(file, "{line}")?;
        }
    }
    file.flush()?;
    Ok(())
}

/// The person behind purchase `i`: the uid leads with the index, so its short form in the logs
/// (8 characters) is unique.
fn user(i: usize, run: &str) -> Result<User, Error> {
    Ok(User {
        uid: Uid::parse(&format!("{i:08}d{run}"))?,
        email: Some(Email::parse(&format!("drain{i}.{run}@example.test"))?),
        contact_email: None,
        created_at: dotm::domain::time::rfc3339(now_ms() / 1000),
        stripe_customer_id: None,
        wallet: None,
        roles: vec![],
        carrier_end_user_id: None,
        area_code: None,
    })
}

async fn drain(count: usize, limit: u32, window_ms: i64, out: &str) -> Result<(), Error> {
    use dotm::app::activation_worker::{Worker, process};
    use dotm::domain::activation::{Job, Status};

    dotm::web::telemetry::init();
    let world = dotm::adapters::memory::MemoryWorld::new();
    let deps = dotm::app::Deps {
        clock: Arc::new(dotm::adapters::clock::SystemClock),
        limits: dotm::domain::throttle::ThrottleConfig { limit, window_ms },
        ..world.deps()
    };
    let worker = Arc::new(Worker {
        deps: deps.clone(),
        carrier: world.carrier.clone(),
        line_services: world.line_services.clone(),
        mailer: world.mailer.clone(),
        max_attempts: 5,
    });
    // Put in line while the worker drains, as webhooks and the worker run side by side.
    let run = format!("{:x}", now_ms());
    let enqueuing = {
        let deps = deps.clone();
        tokio::spawn(async move {
            let mut lines = Vec::with_capacity(count);
            for i in 0..count {
                let user = user(i, &run)?;
                let uid = user.uid.clone();
                if let Err(e) = deps.users.create_user(&user).await {
                    return Err::<_, Error>(e.to_string().into());
                }
                let purchase = Purchase {
                    uid: uid.clone(),
                    purchase_id: format!("in_drain{i:06}{run}"),
                    product_id: "esim_beta".into(),
                    items: vec!["esim_beta".into()],
                    order_id: None,
                    amount_cents: 100,
                    currency: "usd".into(),
                    paid_at: dotm::domain::time::rfc3339(now_ms() / 1000),
                    event_id: format!("evt_drain{i:06}{run}"),
                };
                let activation = dotm::app::activation_line::enqueue(&deps, &purchase, false)
                    .await
                    .map_err(|e| e.chain())?;
                let r = activation.reservation().ok_or("no reservation")?;
                lines.push(format!(
                    "{} {} {} {} {}",
                    purchase.purchase_id,
                    uid.as_str(),
                    r.ticket,
                    r.slot_ms,
                    now_ms()
                ));
                if i % 100 == 99 {
                    tokio::task::yield_now().await;
                }
            }
            Ok(lines)
        })
    };

    let in_flight = Arc::new(tokio::sync::Semaphore::new(5));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut waiting: Vec<(i64, Job)> = Vec::new();
    loop {
        let now = now_ms();
        let sent: Vec<(Job, u32)> = std::mem::take(
            &mut *world
                .queue
                .sent
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        waiting.extend(
            sent.into_iter()
                .map(|(job, delay)| (now + i64::from(delay) * 1000, job)),
        );
        waiting.sort_by_key(|(visible_at, _)| *visible_at);
        while waiting.first().is_some_and(|(at, _)| *at <= now) {
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                break;
            };
            let visible = waiting.iter().take_while(|(at, _)| *at <= now).count();
            let batch: Vec<Job> = waiting.drain(..visible.min(10)).map(|(_, j)| j).collect();
            let (worker, failures) = (worker.clone(), failures.clone());
            tokio::spawn(async move {
                let mut jobs = tokio::task::JoinSet::new();
                for job in batch {
                    let worker = worker.clone();
                    jobs.spawn(async move { process(&worker, &job).await.is_ok() });
                }
                while let Some(ok) = jobs.join_next().await {
                    if !matches!(ok, Ok(true)) {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
                drop(permit);
            });
        }
        let done = world
            .activations
            .all()
            .iter()
            .filter(|a| a.status == Status::Active && a.emailed)
            .count();
        if done >= count {
            let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
            for line in enqueuing.await?? {
                writeln!(file, "{line}")?;
            }
            file.flush()?;
            eprintln!(
                "drained {done}, {} failed deliveries",
                failures.load(Ordering::SeqCst)
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", addr] => serve(addr).await,
        ["enqueue", count, out] => enqueue(count.parse()?, out, 8).await,
        ["enqueue", count, out, concurrency] => {
            enqueue(count.parse()?, out, concurrency.parse()?).await
        }
        ["drain", count, limit, window_ms, out] => {
            drain(count.parse()?, limit.parse()?, window_ms.parse()?, out).await
        }
        _ => Err(
            "usage: bench serve ADDR | bench enqueue COUNT OUT [CONCURRENCY] | \
             bench drain COUNT LIMIT WINDOW_MS OUT"
                .into(),
        ),
    }
}
