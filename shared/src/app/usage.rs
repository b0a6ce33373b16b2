//! Data used on the person's line: read from a cache the worker fills (it alone holds the
//! carrier key), asked of the carrier at most once per line per `USAGE_REFRESH_SECONDS`, and the low-data
//! notices at 75 % and 90 % with a one-tap top-up link.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::Deps;
use crate::app::activation_worker::Worker;
use crate::app::{handoff, mail};
use crate::domain::activation::UsageTask;
use crate::domain::handoff::PayTarget;
use crate::domain::usage::LineUsage;
use crate::domain::users::Identity;
use crate::ports::{CarrierError, OutgoingEmail, Unavailable};

/// How long a call waits for the worker's fresh reading before answering the last one.
const WAIT_FOR_READING: Duration = Duration::from_secs(4);
const POLL: Duration = Duration::from_millis(200);
/// Low-data markers outlive any line.
const NOTICE_MARKER_SECONDS: i64 = 400 * 24 * 3600;

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UsageView {
    Active {
        iccid: String,
        data_total_mb: u64,
        data_used_mb: u64,
        data_remaining_mb: u64,
        used_percent: u8,
        /// RFC 3339.
        valid_until: String,
        /// RFC 3339: when the carrier measured it.
        as_of: String,
        /// True when this is the reading of the last minute rather than a new one.
        cached: bool,
        message: String,
    },
    /// The carrier was asked; its answer is not in yet.
    Measuring {
        iccid: String,
        message: String,
    },
    NoLine {
        message: String,
    },
    /// The carrier offers no usage readings (OXIO shows no API for them).
    Unsupported {
        iccid: String,
        message: String,
    },
}

fn view(u: &LineUsage, cached: bool) -> UsageView {
    UsageView::Active {
        iccid: u.iccid.clone(),
        data_total_mb: u.total_mb,
        data_used_mb: u.used_mb,
        data_remaining_mb: u.remaining_mb(),
        used_percent: u.used_percent(),
        valid_until: u.valid_until.clone(),
        as_of: u.as_of.clone(),
        cached,
        message: format!(
            "{} MB of {} MB used ({} %), {} MB left, valid until {} (as of {}).",
            u.used_mb,
            u.total_mb,
            u.used_percent(),
            u.remaining_mb(),
            u.valid_until,
            u.as_of
        ),
    }
}

/// The signed-in person's data; `base_url` is where the low-data emails' links point.
pub async fn usage(
    deps: &Deps,
    identity: &Identity,
    base_url: &str,
) -> Result<UsageView, Unavailable> {
    let activations = deps.activations.activations(&identity.uid).await?;
    let Some(line) = activations.iter().find_map(|a| a.line.as_ref()) else {
        return Ok(UsageView::NoLine {
            message: "No active DOT eSIM yet: activate_esim starts one.".into(),
        });
    };
    if !deps.carrier_usage {
        // OXIO shows no API for usage readings: say so rather than "measuring" for ever.
        return Ok(UsageView::Unsupported {
            iccid: line.iccid.clone(),
            message: "Data usage readings are not available from our carrier yet; your phone's \
                      settings (Mobile Data) show what the line has used."
                .into(),
        });
    }
    let iccid = line.iccid.as_str();
    let now = deps.clock.now_unix();
    let last = deps.usage.cached_usage(iccid).await?;
    if let Some(last) = last
        .as_ref()
        .filter(|u| u.is_fresh(now, deps.usage_refresh_seconds))
    {
        return Ok(view(last, true));
    }
    if deps
        .usage
        .claim_usage_fetch(iccid, now, deps.usage_refresh_seconds)
        .await?
    {
        deps.queue
            .send_usage(&UsageTask {
                usage_for: identity.uid.clone(),
                iccid: iccid.to_owned(),
                base_url: base_url.to_owned(),
            })
            .await?;
    }
    let before = last.as_ref().map_or(i64::MIN, |u| u.fetched_at);
    let deadline = tokio::time::Instant::now() + WAIT_FOR_READING;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        if let Some(new) = deps.usage.cached_usage(iccid).await?
            && new.fetched_at > before
        {
            return Ok(view(&new, false));
        }
    }
    Ok(match last {
        Some(last) => view(&last, true),
        None => UsageView::Measuring {
            iccid: iccid.to_owned(),
            message: "Asked the carrier for your data usage; ask again in a few seconds.".into(),
        },
    })
}

/// The scheduled sweep: a usage task for every tracked line whose reading is stale (each still
/// claims its window, so a sweep and a person asking never ask the carrier twice). Answers how
/// many tasks it queued.
pub async fn sweep(w: &Worker, base_url: &str) -> Result<usize, Unavailable> {
    let deps = &w.deps;
    let now = deps.clock.now_unix();
    let mut queued = 0;
    for line in deps.usage.tracked_lines().await? {
        let stale = deps
            .usage
            .cached_usage(&line.iccid)
            .await?
            .is_none_or(|u| !u.is_fresh(now, deps.usage_refresh_seconds));
        if stale
            && deps
                .usage
                .claim_usage_fetch(&line.iccid, now, deps.usage_refresh_seconds)
                .await?
        {
            deps.queue
                .send_usage(&UsageTask {
                    usage_for: line.uid,
                    iccid: line.iccid,
                    base_url: base_url.to_owned(),
                })
                .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// The worker's part: ask the carrier (unless a reading of the last minute exists), keep the
/// reading, send the low-data notices it calls for. Answers how many emails went out.
pub async fn refresh(w: &Worker, task: &UsageTask) -> Result<usize, Unavailable> {
    let deps = &w.deps;
    let now = deps.clock.now_unix();
    if deps
        .usage
        .cached_usage(&task.iccid)
        .await?
        .is_some_and(|u| u.is_fresh(now, deps.usage_refresh_seconds))
    {
        return Ok(0);
    }
    let mut reading = match w.line_services.usage(&task.iccid).await {
        Ok(reading) => reading,
        Err(CarrierError::Refused(why)) => {
            tracing::warn!(iccid = %task.iccid, why, "the carrier has no usage for this line");
            return Ok(0);
        }
        Err(e @ CarrierError::NotSupported(_)) => {
            crate::app::carrier_line::unsupported(&e);
            return Ok(0);
        }
        Err(e) => return Err(Unavailable::new("carrier usage", e)),
    };
    reading.fetched_at = now;
    deps.usage.save_usage(&reading).await?;
    let mut sent = 0;
    for threshold in reading.thresholds_reached().collect::<Vec<_>>() {
        let key = format!("LOW_DATA#{}", reading.notice_key(threshold));
        if deps.handoff.used(&key).await? {
            continue;
        }
        let Some(to) = deps
            .users
            .user(&task.usage_for)
            .await?
            .and_then(|u| u.email)
        else {
            return Ok(sent);
        };
        let top_up = handoff::pay_link(
            deps,
            &task.usage_for,
            PayTarget::TopUp {
                iccid: reading.iccid.clone(),
            },
            &task.base_url,
        )
        .await?;
        // The email's idempotency key is the marker's, so a crash between the two sends
        // nothing twice; the marker keeps later readings from sending it again.
        mail::deliver(
            w.mailer.as_ref(),
            &low_data_email(to, &reading, threshold, &top_up, &key),
        )
        .await?;
        deps.handoff
            .use_once(&key, now + NOTICE_MARKER_SECONDS)
            .await?;
        sent += 1;
    }
    Ok(sent)
}

fn low_data_email(
    to: crate::domain::users::Email,
    u: &LineUsage,
    threshold: u8,
    top_up: &str,
    key: &str,
) -> OutgoingEmail {
    let (used, total, remaining, percent) = (
        u.used_mb.to_string(),
        u.total_mb.to_string(),
        u.remaining_mb().to_string(),
        u.used_percent().to_string(),
    );
    let threshold = threshold.to_string();
    let values = [
        ("threshold", threshold.as_str()),
        ("used_mb", used.as_str()),
        ("total_mb", total.as_str()),
        ("remaining_mb", remaining.as_str()),
        ("percent", percent.as_str()),
        ("valid_until", u.valid_until.as_str()),
        ("top_up_url", top_up),
    ];
    mail::email(&mail::LOW_DATA, to, &values, key.to_owned())
}
