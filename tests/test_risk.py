"""Risk classes that decide how the policy treats an operation (codegen/risk.py)."""

from __future__ import annotations

from codegen.risk import risk_class
from cwm_generated.registry import BY_ID, OPERATIONS


def test_search_posts_are_reads_in_the_rules_and_the_committed_registry():
    assert risk_class("POST", "/service/tickets/search") == "Read"
    assert risk_class("POST", "/service/tickets") == "Write"
    assert risk_class("POST", "/system/bundles/count") == "Write"
    assert BY_ID["postServiceTicketsSearch"].risk == "Read"
    assert BY_ID["postProjectTicketsSearch"].risk == "Read"
    searches = {op.operation_id for op in OPERATIONS if op.method == "POST" and op.risk == "Read"}
    assert searches == {"postServiceTicketsSearch", "postProjectTicketsSearch"}
