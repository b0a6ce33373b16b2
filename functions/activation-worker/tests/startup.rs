//! The worker refuses to start without a sender (`MAIL_FROM`): a placeholder sender would have
//! every email refused by Resend, so the deployment must name a real one.

use std::process::Command;

#[test]
fn without_a_sender_the_worker_refuses_to_start_and_says_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_activation-worker"))
        .env_clear()
        .env("TABLE_NAME", "t")
        .env("ACTIVATION_QUEUE_URL", "http://127.0.0.1:9/q")
        .env("FULFILMENT_SECRET_ID", "s")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("MAIL_FROM"), "{said}");
}
