//! QR codes of LPA strings as PNG images, for the activation email and the apps.

use qrcodegen::{QrCode, QrCodeEcc};

/// Pixels per QR module, and modules of quiet zone around the code (the standard asks 4).
const SCALE: u32 = 8;
const BORDER: u32 = 4;

#[derive(Debug, thiserror::Error)]
#[error("could not make the QR code: {0}")]
pub struct QrError(String);

/// A black-on-white PNG of `text`, medium error correction (scannable from a screen).
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let code =
        QrCode::encode_text(text, QrCodeEcc::Medium).map_err(|e| QrError(format!("{e:?}")))?;
    let modules = code.size() as u32;
    let side = (modules + 2 * BORDER) * SCALE;
    let mut pixels = vec![255u8; (side * side) as usize];
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = (
                (x / SCALE) as i32 - BORDER as i32,
                (y / SCALE) as i32 - BORDER as i32,
            );
            if code.get_module(mx, my) {
                pixels[(y * side + x) as usize] = 0;
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| QrError(e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| QrError(e.to_string()))?;
    }
    Ok(out)
}

/// The same PNG as a `data:` URL, for JSON answers.
pub fn data_url(text: &str) -> Result<String, QrError> {
    use base64::Engine;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png(text)?)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_square_png() {
        let bytes = png("LPA:1$smdp.example.com$K2-ABC").unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert!(info.width >= (21 + 8) * SCALE);
        assert!(
            data_url("x")
                .unwrap()
                .starts_with("data:image/png;base64,iVBOR")
        );
    }
}
