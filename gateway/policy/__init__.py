"""Policy layer: rules, decisions, rate limits, approvals and the audit trail."""
