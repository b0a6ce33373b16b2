//! Unguessable tokens from the operating system's generator.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ports::{RandomSource, Unavailable};

pub struct OsRandom;

impl RandomSource for OsRandom {
    fn token(&self) -> Result<String, Unavailable> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Unavailable::new("random", e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}
