//! The public catalog endpoints in-process.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn the_whole_catalog() {
    let answer = get("/mcp/api").await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["total_services"], 23);
    assert_eq!(body["services"].as_object().unwrap().len(), 23);
    assert_eq!(body["services"]["global_data_10gb"]["price"], json!(20.0));
    assert_eq!(
        body["services"]["global_data_10gb"]["price_cents"],
        json!(2000)
    );
    assert_eq!(body["services"]["esim_beta"]["price"], json!(1.0));
    assert_eq!(body["categories"].as_array().unwrap().len(), 7);
    assert_eq!(body["categories"][2]["id"], "network_features");
    assert_eq!(body["categories"][2]["service_count"], 5);
}

#[tokio::test]
async fn one_service_and_an_unknown_one() {
    let answer = get("/mcp/service/full_membership").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["price"], json!(66.0));
    assert_eq!(answer.json()["billing"], "yearly");

    let answer = get("/mcp/service/gold_plan").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.json()["type"], "urn:dotm:problem:unknown-service");
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("gold_plan")
    );
}

#[tokio::test]
async fn calculate_prices_a_list() {
    let answer = get("/mcp/calculate?services=basic_membership,network_security").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["pricing"]["monthly_recurring"], json!(7.0));
    assert_eq!(body["pricing"]["annual_total"], json!(84.0));
    assert_eq!(body["services"].as_array().unwrap().len(), 2);
    assert_eq!(body["services"][0]["id"], "basic_membership");
}

#[tokio::test]
async fn calculate_names_every_problem() {
    let answer = get("/mcp/calculate?services=vpn_access,nope,zzz").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.content_type, "application/problem+json");
    let body = answer.json();
    assert_eq!(body["unknown_services"], json!(["nope", "zzz"]));
    assert_eq!(body["detail"], "unknown service ids: nope, zzz");

    let answer = get("/mcp/calculate").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["type"], "urn:dotm:problem:missing-services");

    let answer = get("/mcp/calculate?services=,").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["type"], "urn:dotm:problem:no-services");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems() {
    let answer = get("/mcp/nothing-here").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.content_type, "application/problem+json");
    let answer = post_raw("/mcp/api", "{}").await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.content_type, "application/problem+json");
}
