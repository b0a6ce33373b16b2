//! The eSIM answer as the client can show it. With MCP Apps the install card gets the code
//! and the QR in the result's `_meta` (which reaches the card, not the model); without, the
//! text carries the code and the install link, and an image block carries the QR.

use base64::Engine;
use dotm::app::esim::ActivationAnswer;
use dotm::domain::lpa::ActivationCode;
use dotm::domain::qr;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, MetaObject};
use serde_json::{Value, json};

use crate::declared::Declared;

/// Android has no install link: the steps a person follows instead.
pub const ANDROID_STEPS: [&str; 3] = [
    "Open Settings > Network & internet > SIMs and tap Add eSIM (Samsung: Settings > Connections > SIM manager > Add eSIM).",
    "Scan the QR code from another screen, or choose to enter the code by hand: the SM-DP+ address, then the activation code.",
    "Keep the phone online until the eSIM says it is ready, then turn on data roaming for it abroad.",
];

fn encode(value: &impl serde::Serialize) -> Result<Value, ErrorData> {
    serde_json::to_value(value)
        .map_err(|e| ErrorData::internal_error(format!("could not encode the answer: {e}"), None))
}

/// `pay_url`: our payment page, shown instead of Stripe's own link when there is one.
pub fn esim_result(
    answer: &ActivationAnswer,
    declared: Declared,
    pay_url: Option<&str>,
) -> Result<CallToolResult, ErrorData> {
    let mut structured = encode(answer)?;
    let ActivationAnswer::Active {
        phone_number,
        lpa_code: Some(lpa),
        ..
    } = answer
    else {
        if let (Some(url), ActivationAnswer::PaymentRequired { .. }) = (pay_url, answer) {
            structured["pay_url"] = json!(url);
        }
        let text = with_pay_url(crate::render::activation(answer), pay_url);
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(structured);
        return Ok(result);
    };
    let code = ActivationCode::parse(lpa).ok();
    let ios = code.as_ref().map(ActivationCode::ios_install_url);
    let png = qr::png(lpa).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let png64 = base64::engine::general_purpose::STANDARD.encode(&png);
    // The data URL is for apps that draw it; in a chat the QR travels as an image or card.
    if let Some(o) = structured.as_object_mut() {
        o.remove("qr_code");
    }
    if declared.apps {
        if let Some(o) = structured.as_object_mut() {
            o.remove("lpa_code");
            o.remove("ios_install_url");
        }
        let message = format!(
            "Your DOT eSIM is active: {phone_number}. The install card shows its QR code, an \
Install on iPhone button and the Android steps; the QR code is also in the person's email."
        );
        structured["message"] = json!(message);
        let mut result = CallToolResult::success(vec![ContentBlock::text(message)]);
        result.structured_content = Some(structured);
        let card = json!({
            "lpa_code": lpa,
            "qr_png_data_url": format!("data:image/png;base64,{png64}"),
            "ios_install_url": ios,
            "smdp_address": code.as_ref().map(ActivationCode::smdp_address),
            "matching_id": code.as_ref().map(ActivationCode::matching_id),
            "confirmation_code_required": code.as_ref().is_some_and(ActivationCode::confirmation_code_required),
            "phone_number": phone_number,
            "android_steps": ANDROID_STEPS,
        });
        let mut meta = serde_json::Map::new();
        meta.insert("dotm/esim".into(), card);
        result.meta = Some(MetaObject(meta));
        return Ok(result);
    }
    let mut text = format!(
        "Your DOT eSIM is active: {phone_number}.\nActivation code (scan the QR code below, or \
enter it by hand): {lpa}\n"
    );
    if let Some(ios) = &ios {
        text.push_str(&format!("iPhone (iOS 17.4+), on the phone itself: {ios}\n"));
    }
    text.push_str(&format!("Android: {}", ANDROID_STEPS.join(" ")));
    let mut result = CallToolResult::success(vec![
        ContentBlock::text(text),
        ContentBlock::image(png64, "image/png"),
    ]);
    result.structured_content = Some(structured);
    Ok(result)
}

fn with_pay_url(text: String, pay_url: Option<&str>) -> String {
    match pay_url {
        Some(url) => format!("{text} Pay here: {url}"),
        None => text,
    }
}
