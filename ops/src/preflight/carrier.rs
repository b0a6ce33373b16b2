//! OXIO: the credentials (a read-only listing of area codes) and the brand id's presence. OXIO
//! has no read-only call that names a brand: the first end user made checks it.

use std::time::Duration;

use dotm::adapters::carrier::{OxioCarrier, OxioCredentials};
use dotm::adapters::secrets::FulfilmentKeys;
use dotm::config::Config;
use dotm::ports::Carrier;

use super::{Row, Status};
use crate::keys::Keys;

const P: &str = "oxio";

pub(super) async fn check(config: &Config, keys: &Keys) -> Vec<Row> {
    let secret = config.secrets.fulfilment.as_deref();
    let api_key = keys
        .get(
            "OXIO_API_KEY",
            secret,
            "FULFILMENT_SECRET_ID",
            |k: FulfilmentKeys| k.oxio_api_key,
        )
        .await;
    let auth_token = keys
        .get(
            "OXIO_AUTH_TOKEN",
            secret,
            "FULFILMENT_SECRET_ID",
            |k: FulfilmentKeys| k.oxio_auth_token,
        )
        .await;
    let (api_key, auth_token) = match (api_key, auth_token) {
        (Ok(k), Ok(t)) => (k, t),
        (Err(e), _) | (_, Err(e)) => return vec![Row::new(P, "credentials", Status::Fail, e)],
    };
    let carrier = match OxioCarrier::new(
        &config.carrier_api_base,
        OxioCredentials {
            api_key,
            auth_token,
        },
        config.carrier.clone(),
        Duration::from_secs(5),
    ) {
        Ok(c) => c,
        Err(e) => return vec![Row::new(P, "credentials", Status::Fail, e.to_string())],
    };
    let credentials = match carrier.area_codes().await {
        Ok(codes) => Row::new(
            P,
            "credentials",
            Status::Ok,
            format!(
                "accepted by {} ({} area codes listed)",
                config.carrier_api_base,
                codes.len()
            ),
        ),
        Err(e) => Row::new(
            P,
            "credentials",
            Status::Fail,
            format!(
                "OXIO_API_KEY / OXIO_AUTH_TOKEN at CARRIER_API_BASE {}: {e}",
                config.carrier_api_base
            ),
        ),
    };
    let brand = match config.carrier.brand_id.as_deref().map(str::trim) {
        None | Some("") => Row::new(P, "brand", Status::Fail, "OXIO_BRAND_ID is not set"),
        Some(brand) => Row::new(
            P,
            "brand",
            Status::Unchecked,
            format!(
                "OXIO_BRAND_ID {brand} is set; OXIO has no read-only call to confirm a brand: the first end user made checks it"
            ),
        ),
    };
    vec![credentials, brand]
}
