"""Buying through an AI assistant: `buy_services`, `my_account` and `manage_subscriptions`
through the official MCP Python SDK on the running stack, each kind of item paid in the sandbox
until the person has what they bought (issue 12). The API side is tests/test_commerce.py."""

from __future__ import annotations

from typing import Any

import httpx

from activation_support import wait_until
from conftest import Mcp, User, mcp_text
from test_commerce import (
    ADDRESS,
    WORKER_S,
    pay_invoice,
    rewards_from,
    wait_carrier,
    wait_line,
    wait_receipt,
)


def call(mcp: Mcp, user: User, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = mcp.call(tool, args, token=user.token)
    assert not result.is_error, mcp_text(result)
    return result.structured_content


def test_data_membership_and_add_on_bought_in_chat_reach_the_person(
        http: httpx.Client, sandbox: httpx.Client, mcp: Mcp, new_user) -> None:
    user: User = new_user()
    order = call(mcp, user, "buy_services", {"items": [
        {"service_id": "global_data_10gb", "quantity": 1},
        {"service_id": "basic_membership"}, {"service_id": "vpn_access"}]})
    # No line yet: the $1.00 activation joins the data on one invoice; each subscription has its own.
    assert order["status"] == "open" and order["total_cents"] == 2000 + 100 + 2400 + 800, order
    by_services = {tuple(p["services"]): p for p in order["payments"]}
    assert set(by_services) == {("esim_beta", "global_data_10gb"), ("basic_membership",),
                                ("vpn_access",)}, order["payments"]
    assert by_services[("esim_beta", "global_data_10gb")]["amount_cents"] == 2100
    assert all(p["invoice_url"].startswith("http") and not p["paid"] for p in order["payments"])
    assert order["cashback_dotm"] and order["payments"][0]["invoice_url"] in order["message"]

    # The same request again (the assistant retried) is the same order, nothing new invoiced.
    again = call(mcp, user, "buy_services", {"items": [
        {"service_id": "vpn_access"}, {"service_id": "basic_membership"},
        {"service_id": "global_data_10gb"}]})
    assert again["order_id"] == order["order_id"], again

    for p in order["payments"]:
        pay_invoice(sandbox, p["invoice_id"])
    line = wait_line(http, user)
    wait_carrier(sandbox, line["iccid"],
                 lambda ln: ln["data_balance_mb"] == 10240 and "vpn_access" in ln["features"],
                 "10 GB and VPN access")
    for p in order["payments"]:
        wait_receipt(sandbox, user, p["invoice_id"])
        assert rewards_from(http, user, p["invoice_id"], "cashback"), p

    mine = call(mcp, user, "my_account", {})
    assert "member" in mine["profile"]["roles"] and mine["profile"]["member_until"], mine["profile"]
    kinds = {e["service_id"]: e["kind"] for e in mine["entitlements"] if e["active"]}
    assert kinds == {"esim_beta": "esim", "global_data_10gb": "data",
                     "basic_membership": "role", "vpn_access": "feature"}, mine["entitlements"]
    [paid] = [o for o in mine["orders"] if o["order_id"] == order["order_id"]]
    assert all(p["paid"] for p in paid["payments"]), paid

    subs = call(mcp, user, "manage_subscriptions", {})["subscriptions"]
    assert sorted((s["service_id"], s["status"]) for s in subs) == [
        ("basic_membership", "active"), ("vpn_access", "active")], subs
    vpn = next(s for s in subs if s["service_id"] == "vpn_access")
    ended = call(mcp, user, "manage_subscriptions", {"cancel_subscription_id": vpn["subscription_id"]})
    assert ended["cancelled"] == vpn["subscription_id"], ended
    [now] = [s for s in ended["subscriptions"] if s["subscription_id"] == vpn["subscription_id"]]
    assert now["cancel_at_period_end"] and now["status"] == "active", now
    # Until the period ends the feature stays on.
    assert "vpn_access" in wait_carrier(sandbox, line["iccid"], lambda ln: True, "")["features"]
    twice = mcp.call("manage_subscriptions", {"cancel_subscription_id": vpn["subscription_id"]},
                     token=user.token)
    assert twice.is_error and "already set to end" in mcp_text(twice), mcp_text(twice)


def test_a_metal_card_bought_in_chat_is_ordered_with_the_founding_reward(
        http: httpx.Client, sandbox: httpx.Client, mcp: Mcp, new_user) -> None:
    user: User = new_user()
    order = call(mcp, user, "buy_services", {"items": [{"service_id": "dotm_metal_card"}],
                                             "shipping_address": ADDRESS})
    assert order["total_cents"] == 9999 and order["shipping_address"]["country"] == "US", order
    [payment] = order["payments"]
    pay_invoice(sandbox, payment["invoice_id"])
    mine = wait_until(lambda: (m := call(mcp, user, "my_account", {}))["orders"][0]["status"]
                      == "paid" and m, WORKER_S, "the card order to be paid")
    assert mine["orders"][0]["card"] == {"status": "ordered"}, mine["orders"][0]
    assert rewards_from(http, user, f"founding#{payment['invoice_id']}", "founding_member")


def test_wrong_orders_in_chat_are_tool_errors_that_say_what_to_fix(
        mcp: Mcp, new_user) -> None:
    user: User = new_user()
    cases = [
        ({"items": [{"service_id": "dotm_metal_card"}]}, "shipping address"),
        ({"items": [{"service_id": "global_data_10gb", "quantity": 11}]}, "1 to 10"),
        ({"items": [{"service_id": "beta_access"}]}, "beta_access"),
        ({"items": [{"service_id": "no_such_thing"}]}, "no_such_thing"),
        ({"items": []}, "at least one item"),
        ({"items": [{"service_id": "vpn_access"}], "coupon": "FREE"}, "coupon"),
    ]
    for args, why in cases:
        result = mcp.call("buy_services", args, token=user.token)
        assert result.is_error and why in mcp_text(result), (args, mcp_text(result))
    mine = call(mcp, user, "my_account", {})
    assert mine["orders"] == [] and mine["subscriptions"] == [], mine
